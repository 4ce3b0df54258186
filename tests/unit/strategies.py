"""Hypothesis strategies for the calculator's inputs: rule sets, receipts, customers, campaigns.

Shared by the kernel == reference properties and the batch tests. Rule sets go
through ``parse_rules`` (so they are valid by construction); receipts are
built directly, the way the agent hands parsed receipts to the calculator.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from hypothesis import strategies as st

from shared.numbers import MAX_AMOUNT, MAX_K, MAX_PERCENT, MAX_PPM, format_scaled
from shared.receipts import MAX_REWARD_POINTS, MAX_REWARDS, Campaign, CustomerTerms, Line, Receipt, Reward
from shared.rules import parse_rules

SKUS = ["S0", "S1", "S2", "S3", "S4"]
CATEGORIES = ["C0", "C1", "C2", "C3"]
LEVELS = ["Base", "Gold", "Platinum"]
ZONES = ["UTC", "Europe/Moscow", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
#: receipts fall around these local days (a DST change in spring and autumn, New Year's Eve)
DAYS = [dt.date(2026, 3, 8), dt.date(2026, 3, 29), dt.date(2026, 4, 5), dt.date(2026, 11, 1), dt.date(2026, 12, 31)]

k_values = st.one_of(st.sampled_from([0, 1, 500, 1000, 1500, 2000, 3333, MAX_K]), st.integers(0, MAX_K))
percents = st.one_of(st.sampled_from([0, 1, 250, 500, 1000, MAX_PERCENT]), st.integers(0, MAX_PERCENT))
hours = st.integers(0, 23)
weekdays = st.lists(st.integers(1, 7), min_size=1, max_size=4, unique=True)
amounts = st.one_of(
    st.integers(0, 1000),
    st.integers(0, 10**6),
    st.integers(0, MAX_AMOUNT),
    st.sampled_from([0, 1, 99, MAX_AMOUNT // 7, MAX_AMOUNT]),
)


def k_text(k: int) -> str:
    return format_scaled(k, 3)


def percent_text(p: int) -> str:
    return format_scaled(p, 2)


time_rules = st.one_of(
    st.builds(lambda d, k: {"type": "date", "date": d.isoformat(), "k": k_text(k)}, st.sampled_from(DAYS), k_values),
    st.builds(
        lambda w, a, b, k: {"type": "weekdays_hours", "weekdays": w, "from_hour": a, "to_hour": b, "k": k_text(k)},
        weekdays,
        hours,
        hours,
        k_values,
    ),
    st.builds(lambda w, k: {"type": "weekdays", "weekdays": w, "k": k_text(k)}, weekdays, k_values),
    st.builds(lambda a, b, k: {"type": "hours", "from_hour": a, "to_hour": b, "k": k_text(k)}, hours, hours, k_values),
)


def _optional(entry: dict, **values: object) -> dict:
    return {**entry, **{key: value for key, value in values.items() if value is not None}}


@st.composite
def rule_docs(draw: st.DrawFn) -> dict:
    """A valid rule-set document using every kind of rule (each may be absent)."""
    maybe_k = st.one_of(st.none(), k_values.map(k_text))
    maybe_bool = st.one_of(st.none(), st.booleans())
    categories = {
        name: _optional({}, k=draw(maybe_k), redeemable=draw(maybe_bool))
        for name in draw(st.lists(st.sampled_from(CATEGORIES), unique=True))
    }
    groups = {
        f"G{i}": {
            "categories": draw(st.lists(st.sampled_from([*CATEGORIES, "C-GROUP-ONLY"]), min_size=1, unique=True)),
            "k": k_text(draw(k_values)),
        }
        for i in range(draw(st.integers(0, 3)))
    }
    products = {
        sku: _optional(
            {},
            category=draw(st.one_of(st.none(), st.sampled_from([*CATEGORIES, "C-PRODUCT-ONLY"]))),
            k=draw(maybe_k),
            redeemable=draw(maybe_bool),
        )
        for sku in draw(st.lists(st.sampled_from(SKUS), unique=True))
    }
    tiers = draw(st.lists(st.one_of(st.integers(0, 10**5), st.integers(0, MAX_AMOUNT)), unique=True, max_size=4))
    levels = draw(st.lists(st.sampled_from(LEVELS), unique=True))
    doc = {
        "version": 1,
        "store": "S1",
        "timezone": draw(st.sampled_from(ZONES)),
        "base_percent": percent_text(draw(percents)),
        "points_per_money": format_scaled(draw(st.one_of(st.just(1000), st.integers(1, MAX_PPM))), 3),
        "time_rules": draw(st.lists(time_rules, max_size=8)),
        "receipt_tiers": [{"from": f, "k": k_text(draw(k_values))} for f in tiers],
        "categories": categories,
        "category_groups": groups,
        "products": products,
        "levels": [
            {"name": n, "from_spend": i * 1000, "percent": percent_text(draw(percents))} for i, n in enumerate(levels)
        ],
        "total_step": draw(st.one_of(st.just(1), st.sampled_from([2, 7, 100, 1000]), st.integers(1, MAX_AMOUNT))),
    }
    if draw(st.booleans()):
        redemption = {"max_percent": percent_text(draw(percents)), "accrue_on_redeemed": draw(st.booleans())}
        if draw(st.booleans()):
            redemption["reduced_max_percent"] = percent_text(draw(percents))
        if draw(st.booleans()):
            redemption["discount_threshold_percent"] = percent_text(draw(percents))
        doc["redemption"] = redemption
    return doc


rule_sets = rule_docs().map(parse_rules)


@st.composite
def moments(draw: st.DrawFn) -> dt.datetime:
    """An aware moment near one of DAYS, with a UTC offset the store's zone may not share."""
    day = draw(st.sampled_from(DAYS)) + dt.timedelta(days=draw(st.integers(-1, 1)))
    seconds = draw(st.integers(0, 86399))
    offset = dt.timedelta(minutes=draw(st.sampled_from([0, 180, -300, 330, 630, 660])))
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone(offset))
    return start + dt.timedelta(seconds=seconds)


lines = st.builds(
    Line,
    amount=amounts,
    sku=st.one_of(st.none(), st.sampled_from([*SKUS, "UNKNOWN"])),
    category=st.one_of(st.none(), st.sampled_from([*CATEGORIES, "C-GROUP-ONLY", "C-PRODUCT-ONLY", "OTHER"])),
    # x1000: 0.001 .. 1,000,000, and 0 (a weighed or service line sent without a quantity)
    quantity=st.one_of(st.integers(1, 10**9), st.just(0)),
    discount=st.one_of(st.just(0), st.integers(0, 10**4), st.integers(0, MAX_AMOUNT)),
)


@st.composite
def receipts(draw: st.DrawFn, max_lines: int = 8) -> Receipt:
    """A receipt whose total stays within the documented range (most of the time)."""
    size = draw(st.one_of(st.integers(1, max_lines), st.just(40)))  # 40: past the kernel's stack buffers
    drawn = draw(st.lists(lines, min_size=size, max_size=size))
    if sum(line.amount for line in drawn) > MAX_AMOUNT and draw(st.integers(0, 9)):
        share = MAX_AMOUNT // len(drawn)
        drawn = [dataclasses.replace(line, amount=min(line.amount, share)) for line in drawn]
    return Receipt(lines=tuple(drawn), at=draw(moments()))


terms = st.builds(
    CustomerTerms,
    level=st.one_of(st.none(), st.sampled_from([*LEVELS, "Unknown"])),
    network_percent=st.one_of(st.none(), percents),
    store_percent=st.one_of(st.none(), percents),
)

campaign = st.builds(
    Campaign,
    k=k_values,
    skus=st.one_of(st.none(), st.frozensets(st.sampled_from([*SKUS, "UNKNOWN"]))),
    categories=st.one_of(st.none(), st.frozensets(st.sampled_from([*CATEGORIES, "C-PRODUCT-ONLY"]))),
)
campaign_lists = st.lists(campaign, max_size=5)

_reward_lines = {
    "skus": st.one_of(st.none(), st.frozensets(st.sampled_from([*SKUS, "UNKNOWN"]))),
    "categories": st.one_of(st.none(), st.frozensets(st.sampled_from([*CATEGORIES, "C-PRODUCT-ONLY"]))),
}
#: promotions' discounts and fixed points at their edges (0, 100 %, more money off than the lines, per-unit
#: points past the cap); docs/accrual.md, "Promotions"
reward = st.one_of(
    st.builds(Reward, kind=st.just("percent_off"), value=st.one_of(percents, st.just(10000)), **_reward_lines),
    st.builds(
        Reward,
        kind=st.just("money_off"),
        value=st.one_of(st.integers(0, 1000), st.integers(0, MAX_AMOUNT), st.sampled_from([1, MAX_AMOUNT])),
        **_reward_lines,
    ),
    st.builds(
        Reward,
        kind=st.just("points"),
        value=st.one_of(st.integers(0, 10**4), st.sampled_from([1, MAX_REWARD_POINTS])),
        per_units=st.one_of(st.just(0), st.sampled_from([1, 500, 1000, 3000]), st.integers(-5, 10**6)),
        **_reward_lines,
    ),
)
reward_lists = st.lists(reward, max_size=6)
#: past the kernel's checks: the reference answers for it
odd_rewards = st.one_of(
    st.lists(reward, min_size=MAX_REWARDS + 1, max_size=MAX_REWARDS + 2),
    st.builds(lambda v: [Reward("percent_off", v)], st.integers(10001, 20000)),
    st.builds(lambda v: [Reward("points", v)], st.integers(MAX_REWARD_POINTS + 1, 2 * MAX_REWARD_POINTS)),
    st.just([Reward("unknown_kind", 5)]),
)

balances = st.one_of(
    st.none(), st.integers(-1000, -1), st.integers(0, 10**4), st.integers(0, MAX_AMOUNT), st.just(2**70)
)


def redeem_choices(max_redeemable: int) -> st.SearchStrategy[int]:
    """Redemption at, just below, past and far past the maximum, or none."""
    return st.sampled_from(
        sorted({0, max_redeemable, max(0, max_redeemable - 1), max_redeemable + 1, max_redeemable // 3, 2**62})
    )
