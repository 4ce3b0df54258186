"""The batch quote over columns == the reference, receipt by receipt (kernel or fallback)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import accrual, batch
from shared.columns import local_time, prepare_columns
from shared.errors import ReceiptError
from shared.receipts import NO_TERMS, Campaign, CustomerTerms, Line, Receipt

from .strategies import balances, campaign_lists, receipts, reward_lists, rule_sets, terms

AT = dt.datetime(2026, 11, 21, 17, 30, tzinfo=dt.UTC)
items = st.lists(st.tuples(receipts(max_lines=6), terms, balances, campaign_lists), max_size=12)


def same_as_reference(rules, chosen, threads=0):
    prepared = batch.prepare(rules, chosen)
    got = batch.quote_batch(rules, prepared, threads)
    expected = batch.quote_batch_reference(rules, chosen)
    assert got.equals(expected)
    return prepared, got


@pytest.mark.slow
@settings(max_examples=150, derandomize=True, deadline=None)
@given(rules=rule_sets, chosen=items, threads=st.sampled_from([1, 2]), data=st.data())
def test_random_batches_equal_the_reference(rules, chosen, threads, data):
    # fit the receipts in the documented ranges (the batch refuses the rest) and redeem some points
    fitted = []
    for receipt, customer, balance, campaigns in chosen:
        if receipt.total > 10**10:
            continue
        redeem = data.draw(st.sampled_from([0, 1, 100, 10**4, 10**9]))
        fitted.append((dataclasses.replace(receipt, redeem=redeem), customer, balance, campaigns))
    prepared, _ = same_as_reference(rules, fitted, threads)
    # the columns give the inputs back (what the pure-Python fallback quotes)
    assert batch.quote_batch_reference(rules, batch.items_of(prepared)).equals(
        batch.quote_batch_reference(rules, fitted)
    )


def test_hand_made_receipts_with_a_refused_one(spec_rules):
    at = dt.datetime(2026, 11, 21, 17, 30, tzinfo=dt.timezone(dt.timedelta(hours=3)))  # Saturday 17:30
    chosen = [
        (Receipt(lines=(Line(45000, sku="SKU-1"),), at=at), NO_TERMS, None, ()),  # worked example 1: 10125
        (Receipt(lines=(Line(30000, "CIG", "TOBACCO"), Line(20000, "MILK")), at=at, redeem=4001), NO_TERMS, None, ()),
        (Receipt(lines=(Line(30000, "CIG", "TOBACCO"), Line(20000, "MILK")), at=at, redeem=4000), NO_TERMS, 9000, ()),
        (Receipt(lines=(), at=at), CustomerTerms(level="Gold"), -5, (Campaign(k=2000),)),  # no lines at all
    ]
    _, result = same_as_reference(spec_rules, chosen)
    assert result.accrued[0] == 10125
    assert result.status.tolist() == [batch.OK, batch.REDEEM_OVER_LIMIT, batch.OK, batch.OK]
    assert result.max_redeemable[1] == 4000 and result.accrued[1] == 0
    assert result.line_redeemed[3:5].tolist() == [0, 4000]


def test_no_receipts(spec_rules):
    prepared, result = same_as_reference(spec_rules, [])
    assert prepared.receipts == 0 and len(result.accrued) == 0 and len(result.line_accrued) == 0
    assert batch.totals_by_day(prepared, result) == {}


def test_pure_python_fallback_keeps_every_feature(spec_rules, monkeypatch):
    at = dt.datetime(2026, 12, 31, 9, tzinfo=dt.UTC)
    chosen = [(Receipt(lines=(Line(45000, "SKU-1"), Line(100, "X", "SUSHI")), at=at, redeem=50), NO_TERMS, 10, ())]
    prepared = batch.prepare(spec_rules, chosen)
    monkeypatch.setattr(accrual, "NativeCalculator", None)
    assert batch.quote_batch(spec_rules, prepared).equals(batch.quote_batch_reference(spec_rules, chosen))


def test_rule_set_of_another_zone_is_refused(spec_rules):
    prepared = batch.prepare(spec_rules, [])
    with pytest.raises(ValueError, match="prepared in Europe/Moscow"):
        batch.quote_batch(dataclasses.replace(spec_rules, timezone="UTC"), prepared)


@pytest.mark.parametrize(
    "item, path",
    [
        ((Receipt(lines=(Line(10**10 + 1),), at=AT), NO_TERMS, None, ()), "items[0].lines[0].amount"),
        ((Receipt(lines=(Line(6 * 10**9),) * 2, at=AT), NO_TERMS, None, ()), "items[0].lines"),
        ((Receipt(lines=(Line(1),), at=AT), NO_TERMS, None, (Campaign(k=1000),) * 6), "items[0].campaigns"),
        ((Receipt(lines=(Line(1),), at=AT), CustomerTerms(store_percent=10001), None, ()), "items[0].store_percent"),
        ((Receipt(lines=(Line(1),), at=AT, redeem=-1), NO_TERMS, None, ()), "items[0].redeem"),
    ],
)
def test_items_past_the_ranges_are_refused_with_their_path(spec_rules, item, path):
    with pytest.raises(ReceiptError) as info:
        batch.prepare(spec_rules, [item])
    assert path in [p.path for p in info.value.problems]


def test_a_bad_line_is_named_within_its_receipt(spec_rules):
    good = (Receipt(lines=(Line(1), Line(2)), at=AT), NO_TERMS, None, ())
    bad = (Receipt(lines=(Line(1), Line(1, discount=10**11)), at=AT), NO_TERMS, None, ())
    with pytest.raises(ReceiptError) as info:
        batch.prepare(spec_rules, [good, bad])
    assert [str(p) for p in info.value.problems] == ["items[1].lines[1].discount: must be 0..10000000000"]


def test_huge_balance_and_redeem_are_clamped_not_refused(spec_rules):
    at = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
    chosen = [
        (Receipt(lines=(Line(50000),), at=at, redeem=2**70), NO_TERMS, 2**70, ()),
        (Receipt(lines=(Line(50000),), at=at, redeem=100), NO_TERMS, -(2**70), ()),
        (Receipt(lines=(Line(50000),), at=at, redeem=100), NO_TERMS, 2**70, ()),
    ]
    _, result = same_as_reference(spec_rules, chosen)
    assert result.status.tolist() == [1, 1, 0]


# -- columns straight from arrays (the central server's what-if) ------------------------------


@pytest.mark.parametrize("zone", ["Europe/Moscow", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"])
def test_local_time_equals_astimezone_across_transitions(zone):
    tz = zoneinfo.ZoneInfo(zone)
    # every 7 minutes over two days around each of 2026's transitions, plus random moments
    starts = [dt.datetime(2026, m, d, tzinfo=dt.UTC) for m, d in ((3, 7), (3, 28), (4, 4), (10, 3), (10, 31))]
    seconds = [int(s.timestamp()) + k * 420 for s in starts for k in range(2 * 24 * 60 // 7)]
    seconds += np.random.default_rng(7).integers(-(2**31), 2**33, 2000).tolist()
    day, weekday, hour = local_time(zone, seconds)
    for i, ts in enumerate(seconds):
        local = dt.datetime.fromtimestamp(ts, dt.UTC).astimezone(tz)
        assert (day[i], weekday[i], hour[i]) == (local.toordinal(), local.isoweekday(), local.hour), ts


def test_prepare_columns_equals_prepare(spec_rules):
    at = [
        dt.datetime(2026, 11, 21, 14, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 31, 6, tzinfo=dt.UTC),
    ]
    chosen = [
        (Receipt(lines=(Line(45000, "SKU-1"), Line(100, None, "SUSHI")), at=at[0]), NO_TERMS, None, ()),
        (Receipt(lines=(Line(45000, "SKU-1", discount=5),), at=at[1]), NO_TERMS, None, ()),
    ]
    prepared = prepare_columns(
        spec_rules.timezone,
        at=[int(a.timestamp()) for a in at],
        line_start=[0, 2, 3],
        sku=[0, -1, 0],
        category=[-1, 0, -1],
        amount=[45000, 100, 45000],
        discount=[0, 0, 5],
        skus=["SKU-1"],
        categories=["SUSHI"],
    )
    result = batch.quote_batch(spec_rules, prepared)
    assert result.equals(batch.quote_batch_reference(spec_rules, chosen))
    assert result.line_accrued.tolist() == [10125, 15, 13500]  # worked examples 1 and 2, and a SUSHI line
    assert batch.totals_by_day(prepared, result) == {dt.date(2026, 11, 21): 10140, dt.date(2026, 12, 31): 13500}
    assert batch.totals_by_category(spec_rules, prepared, result) == {"SUSHI": 10125 + 15 + 13500}


def test_prepare_columns_refuses_bad_columns(spec_rules):
    good = dict(at=[0], line_start=[0, 1], sku=[-1], category=[-1], amount=[5], discount=[0], skus=[], categories=[])
    prepare_columns("UTC", **good)
    with pytest.raises(ReceiptError, match="line_start"):
        prepare_columns("UTC", **{**good, "line_start": [0, 2]})
    with pytest.raises(ReceiptError, match="amount"):
        prepare_columns("UTC", **{**good, "amount": [1.5]})
    with pytest.raises(ReceiptError, match="sku"):
        prepare_columns("UTC", **{**good, "sku": [3]})
    with pytest.raises(ReceiptError, match="distinct"):
        prepare_columns("UTC", **{**good, "skus": ["A", "A"]})


with_rewards = st.lists(
    st.tuples(receipts(max_lines=6), terms, balances, st.builds(lambda c, r: [*c, *r], campaign_lists, reward_lists)),
    max_size=12,
)


@pytest.mark.slow
@settings(max_examples=150, derandomize=True, deadline=None)
@given(rules=rule_sets, chosen=with_rewards, threads=st.sampled_from([1, 2]), data=st.data())
def test_batches_with_promotions_equal_the_reference(rules, chosen, threads, data):
    """Promotions' discounts and fixed points in the batch (what-if with a draft promotion): the kernel's
    columns give what the reference gives receipt by receipt, money off per line included."""
    fitted = []
    for receipt, customer, balance, entries in chosen:
        if receipt.total > 10**10:
            continue
        redeem = data.draw(st.sampled_from([0, 1, 100, 10**4]))
        fitted.append((dataclasses.replace(receipt, redeem=redeem), customer, balance, entries))
    prepared, got = same_as_reference(rules, fitted, threads)
    assert batch.quote_batch_reference(rules, batch.items_of(prepared)).equals(
        batch.quote_batch_reference(rules, fitted)
    )
    assert (got.line_discount >= 0).all() and (got.line_discount <= prepared.amount).all()
