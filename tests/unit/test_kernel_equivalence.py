"""The Cython kernel answers exactly what the reference answers, and raises what it raises.

Random rule sets (every rule kind, wrapping hours, k = 0, total_step > 1,
levels, groups, non-redeemable products and categories, fractional percents
and points_per_money), receipts (3-decimal quantities, amounts up to 10^10,
discounts around the threshold, more lines than the kernel's stack buffers),
customer terms, 0..5 campaigns, balances, redemption at, below and past the
cap, refund sequences. Deterministic (derandomize) so CI never flakes; about
10 s in all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import accrual
from shared.errors import LoyaltyError
from shared.receipts import NO_TERMS, Campaign, Line, Receipt
from shared.results import CommittedLine, LineRefund

from .strategies import (
    balances,
    campaign_lists,
    odd_rewards,
    receipts,
    redeem_choices,
    reward_lists,
    rule_sets,
    terms,
)

pytestmark = [pytest.mark.skipif(accrual.NativeCalculator is None, reason="Cython kernel not built"), pytest.mark.slow]

PROPERTY = settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(calc, *args):
    """The quote, or the refusal as (type, message, max_redeemable): what must be identical."""
    try:
        return calc.quote(*args)
    except LoyaltyError as exc:
        return type(exc), str(exc), exc.to_dict()


def both(rules):
    return accrual.NativeCalculator(rules), accrual.PythonCalculator(rules)


@PROPERTY
@given(rules=rule_sets, receipt=receipts(), customer=terms, balance=balances, campaigns=campaign_lists, data=st.data())
def test_quote_is_identical(rules, receipt, customer, balance, campaigns, data):
    native, reference = both(rules)
    assert native.kernel_ready
    expected = outcome(reference, receipt, customer, balance, campaigns)
    assert outcome(native, receipt, customer, balance, campaigns) == expected
    if isinstance(expected, tuple) and not hasattr(expected, "accrued"):
        return
    # redeem at, below and past the maximum this receipt allows
    redeem = data.draw(redeem_choices(expected.max_redeemable))
    asking = dataclasses.replace(receipt, redeem=redeem)
    assert outcome(native, asking, customer, balance, campaigns) == outcome(
        reference, asking, customer, balance, campaigns
    )


@PROPERTY
@given(rules=rule_sets, receipt=receipts(max_lines=4), scale=st.integers(1, 10**5), offset=st.integers(-1, 1))
def test_discount_share_at_the_threshold(rules, receipt, scale, offset):
    """Discounts exactly at the reduced-cap threshold (strictly above reduces), and one unit either side."""
    threshold = rules.redemption.discount_threshold_percent
    # total = s x (10^4 - t), discounts = s x t: the share is exactly t / 10^4
    total, discounts = scale * (10000 - threshold), scale * threshold + offset
    if total == 0 or discounts < 0:
        return
    first = dataclasses.replace(receipt.lines[0], amount=total, discount=discounts)
    others = tuple(dataclasses.replace(line, amount=0, discount=0) for line in receipt.lines[1:])
    at_threshold = dataclasses.replace(receipt, lines=(first, *others))
    native, reference = both(rules)
    expected = outcome(reference, at_threshold)
    assert outcome(native, at_threshold) == expected
    assert expected.cap_percent == (
        rules.redemption.reduced_max_percent if offset > 0 else rules.redemption.max_percent
    )


@PROPERTY
@given(rules=rule_sets, receipt=receipts(), campaigns=campaign_lists, data=st.data())
def test_refund_sequences_are_identical_and_full_refund_reverses(rules, receipt, campaigns, data):
    native, reference = both(rules)
    quote = reference.quote(receipt, campaigns=campaigns, balance=None)
    redeem = data.draw(st.integers(0, quote.max_redeemable))
    quote = reference.quote(dataclasses.replace(receipt, redeem=redeem), campaigns=campaigns)
    committed = [
        CommittedLine(line.quantity, line.amount, q.accrued, q.redeemed)
        for line, q in zip(receipt.lines, quote.lines, strict=True)
    ]
    done = {"native": [LineRefund()] * len(committed), "python": [LineRefund()] * len(committed)}
    for round_ in range(4):
        left = {i: accrual.refund_units(c) - done["python"][i].quantity for i, c in enumerate(committed)}
        left = {i: q for i, q in left.items() if q > 0}
        if not left:
            break
        if round_ == 3:
            request = left  # the last refund returns everything left
        else:
            chosen = data.draw(st.sets(st.sampled_from(sorted(left)), min_size=1))
            request = {i: data.draw(st.integers(1, left[i])) for i in chosen}
        results = {}
        for name, calc in (("native", native), ("python", reference)):
            results[name] = calc.refund(committed, done[name], request)
            done[name] = [
                LineRefund(p.quantity + r.quantity, p.amount + r.amount, p.accrued + r.accrued, p.redeemed + r.redeemed)
                for p, r in zip(done[name], results[name].lines, strict=True)
            ]
        assert results["native"] == results["python"]
    for name in done:  # everything returned: the exact totals came back on both engines
        assert [d.quantity for d in done[name]] == [accrual.refund_units(c) for c in committed]
        assert sum(d.accrued for d in done[name]) == quote.accrued
        assert sum(d.redeemed for d in done[name]) == quote.redeemed
        assert sum(d.amount for d in done[name]) == receipt.total


@settings(max_examples=100, derandomize=True, deadline=None)
@given(
    rules=rule_sets,
    quantities=st.lists(st.one_of(st.integers(1, 10**9), st.just(0)), min_size=1, max_size=4),
    request=st.dictionaries(st.integers(-1, 5), st.integers(-1, 10**9 + 1), max_size=3),
    already=st.one_of(st.none(), st.just("short")),
)
def test_refund_errors_are_identical(rules, quantities, request, already):
    lines = [CommittedLine(q, 100, 10, 5) for q in quantities]
    previous = [LineRefund()] * (len(lines) - 1) if already == "short" else None
    native, reference = both(rules)
    outcomes = []
    for calc in (native, reference):
        try:
            outcomes.append(calc.refund(lines, previous, request))
        except LoyaltyError as exc:
            outcomes.append((type(exc), str(exc)))
    assert outcomes[0] == outcomes[1]


# -- inputs past the documented ranges go to the reference: still identical ------------------


def test_rule_set_built_by_hand_past_the_ranges(spec_rules):
    wild = dataclasses.replace(spec_rules, base_percent=10**9, total_step=10**30)
    native, reference = both(wild)
    assert not native.kernel_ready
    receipt = Receipt(lines=(Line(amount=10**15, sku="SKU-1"),), at=_moment())
    assert native.quote(receipt) == reference.quote(receipt)


@pytest.mark.parametrize(
    "receipt, campaigns",
    [
        (Receipt(lines=(Line(amount=10**12),), at=None), ()),  # amount past 10^10
        (Receipt(lines=(Line(amount=6 * 10**9), Line(amount=6 * 10**9)), at=None), ()),  # total past 10^10
        (Receipt(lines=(Line(amount=100),), at=None), [Campaign(k=2000)] * 6),  # six campaigns
        (Receipt(lines=(Line(amount=100),), at=None), [Campaign(k=10**6)]),  # k past 100
        (Receipt(lines=(), at=None), ()),  # no lines at all
    ],
)
def test_inputs_past_the_ranges(spec_rules, receipt, campaigns):
    receipt = dataclasses.replace(receipt, at=_moment())
    native, reference = both(spec_rules)
    assert outcome(native, receipt, NO_TERMS, None, campaigns) == outcome(reference, receipt, NO_TERMS, None, campaigns)


@pytest.mark.parametrize("amount", ["100", 1.5, None, True])
def test_wrong_types_give_what_the_reference_gives(spec_rules, amount):
    receipt = Receipt(lines=(Line(amount=amount),), at=_moment())
    outcomes = []
    for calc in both(spec_rules):
        try:
            outcomes.append(calc.quote(receipt))
        except TypeError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]


def _moment() -> dt.datetime:
    return dt.datetime(2026, 11, 21, 17, 30, tzinfo=dt.UTC)


def test_compiling_again_replaces_the_tables(spec_rules):
    native = accrual.NativeCalculator(spec_rules)
    other = dataclasses.replace(spec_rules, base_percent=1234, time_rules=())
    native.__init__(other)
    receipt = Receipt(lines=(Line(amount=45000, sku="SKU-1"),), at=_moment())
    assert native.quote(receipt) == accrual.PythonCalculator(other).quote(receipt)


# -- promotions: discounts and fixed points (docs/accrual.md, "Promotions") ------------------------------


@PROPERTY
@given(
    rules=rule_sets,
    receipt=receipts(),
    customer=terms,
    balance=balances,
    campaigns=campaign_lists,
    rewards=reward_lists,
    data=st.data(),
)
def test_quote_with_rewards_is_identical(rules, receipt, customer, balance, campaigns, rewards, data):
    native, reference = both(rules)
    expected = outcome(reference, receipt, customer, balance, campaigns, rewards)
    assert outcome(native, receipt, customer, balance, campaigns, rewards) == expected
    if isinstance(expected, tuple) and not hasattr(expected, "accrued"):
        return
    redeem = data.draw(redeem_choices(expected.max_redeemable))
    asking = dataclasses.replace(receipt, redeem=redeem)
    got = outcome(native, asking, customer, balance, campaigns, rewards)
    assert got == outcome(reference, asking, customer, balance, campaigns, rewards)
    if hasattr(got, "accrued") and rewards:
        # the totals add up: money off and fixed points per line are the rewards' rows summed
        assert got.discount == sum(line.discount for line in got.lines)
        assert (
            got.bonus
            == sum(line.bonus for line in got.lines)
            == sum(sum(row) for row, r in zip(got.rewards, rewards, strict=True) if r.kind == "points")
        )
        assert all(0 <= line.discount <= source.amount for line, source in zip(got.lines, receipt.lines, strict=True))


@PROPERTY
@given(rules=rule_sets, receipt=receipts(max_lines=4), rewards=odd_rewards)
def test_rewards_past_the_kernels_ranges_get_the_references_answer(rules, receipt, rewards):
    native, reference = both(rules)
    assert outcome(native, receipt, NO_TERMS, None, (), rewards) == outcome(
        reference, receipt, NO_TERMS, None, (), rewards
    )
