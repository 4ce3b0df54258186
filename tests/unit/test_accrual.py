"""accrual.md step by step, on both engines (the reference and, where built, the kernel)."""

from __future__ import annotations

import pytest

from shared.errors import RedeemOverLimit
from shared.numbers import MAX_AMOUNT, MAX_K, MAX_PERCENT, MAX_PPM
from shared.receipts import Campaign, CustomerTerms, Line, parse_receipt
from shared.rules import parse_rules

SATURDAY_1730 = "2026-11-21T17:30:00+03:00"
MONDAY_NOON = "2026-11-23T12:00:00+03:00"
TUESDAY_NOON = "2026-11-24T12:00:00+03:00"


def receipt(lines, at=TUESDAY_NOON, redeem=0):
    return parse_receipt({"at": at, "lines": lines, "redeem": redeem})


def simple_rules(**extra):
    doc = {"version": 1, "store": "S1", "timezone": "Europe/Moscow", "base_percent": "10", **extra}
    return parse_rules(doc)


# -- the worked examples of accrual.md ---------------------------------------------------


def test_example_1_product_k_and_weekday_hours(engine, spec_rules):
    q = engine(spec_rules).quote(receipt([{"sku": "SKU-1", "amount": 45000}], SATURDAY_1730))
    assert q.accrued == 10125
    assert (q.k_time, q.k_receipt, q.percent, q.lines[0].k_item) == (1500, 1000, 500, 3000)


def test_example_2_date_beats_hours(engine, spec_rules):
    q = engine(spec_rules).quote(receipt([{"sku": "SKU-1", "amount": 45000}], "2026-12-31T09:00:00+03:00"))
    assert q.accrued == 13500
    assert q.k_time == 2000


def test_example_3_small_receipt_tier_zero(engine, spec_rules):
    q = engine(spec_rules).quote(receipt([{"sku": "X", "amount": 9000}]))
    assert q.accrued == 0
    assert q.k_receipt == 0


def test_example_4_tobacco_not_redeemable_and_earns_nothing(engine, spec_rules):
    lines = [{"sku": "CIG", "category": "TOBACCO", "amount": 30000}, {"sku": "MILK", "amount": 20000}]
    q = engine(spec_rules).quote(receipt(lines, MONDAY_NOON))
    assert q.max_redeemable == 4000
    assert q.lines[0].accrued == 0
    assert q.lines[0].redeemable is False


# -- k_item ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, k_item",
    [
        ({"sku": "SKU-1", "category": "TOBACCO"}, 3000),  # product's own k beats the sent category
        ({"sku": "SUSHI-ROLL", "category": "SUSHI"}, 2000),  # category
        ({"sku": "SOUP", "category": "BIZLUNCH"}, 1500),  # category group
        ({"sku": "SOUP", "category": "DAYMENU"}, 1750),  # the largest of two groups
        ({"sku": "NOTHING"}, 1000),  # nothing applies
        ({"sku": "P-CAT"}, 2000),  # the product's category from the rule set
        ({"sku": "P-CAT", "category": "OTHER"}, 1000),  # the receipt's category wins over it
        ({"sku": "NO-K", "category": "SUSHI"}, 2000),  # product listed without k: its category decides
    ],
)
def test_k_item_precedence(engine, line, k_item):
    rules = simple_rules(
        categories={"SUSHI": {"k": "2"}, "TOBACCO": {"k": "0"}, "PLAIN": {"redeemable": True}},
        category_groups={
            "LUNCH": {"categories": ["BIZLUNCH", "DAYMENU"], "k": "1.5"},
            "MENU": {"categories": ["DAYMENU"], "k": "1.75"},
        },
        products={"SKU-1": {"k": "3"}, "P-CAT": {"category": "SUSHI"}, "NO-K": {"redeemable": False}},
    )
    q = engine(rules).quote(receipt([{**line, "amount": 10000}]))
    assert q.lines[0].k_item == k_item
    assert q.accrued == 10000 * 10 // 100 * k_item // 1000


# -- k_time ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "at, k_time",
    [
        ("2026-12-31T09:00:00+03:00", 2000),  # date beats hours
        ("2026-11-20T17:00:00+03:00", 1500),  # Friday 17:00, weekdays_hours start
        ("2026-11-20T18:59:59+03:00", 1500),  # 17..18 covers 18:59:59
        ("2026-11-20T19:00:00+03:00", 1000),  # and not 19:00
        ("2026-11-23T09:30:00+03:00", 1200),  # Monday: weekdays beats hours
        ("2026-11-24T09:30:00+03:00", 1300),  # Tuesday morning: hours
        ("2026-11-24T06:30:00Z", 1300),  # UTC 06:30 is 09:30 in Moscow
        ("2026-11-24T11:00:00+03:00", 1000),  # nothing matches
    ],
)
def test_k_time_specificity(engine, spec_rules, at, k_time):
    q = engine(spec_rules).quote(receipt([{"sku": "X", "amount": 50000}], at))
    assert q.k_time == k_time


def test_k_time_largest_k_among_rules_of_the_winning_kind(engine):
    rules = simple_rules(
        time_rules=[
            {"type": "hours", "from_hour": 10, "to_hour": 14, "k": "1.2"},
            {"type": "hours", "from_hour": 12, "to_hour": 12, "k": "1.7"},
            {"type": "hours", "from_hour": 11, "to_hour": 13, "k": "0.5"},
        ]
    )
    assert engine(rules).quote(receipt([{"amount": 1000}])).k_time == 1700


@pytest.mark.parametrize(
    "at, k_time",
    [
        ("2026-11-24T23:00:00+03:00", 1500),  # Tuesday 23:00 inside 22..2
        ("2026-11-24T02:59:00+03:00", 1500),  # Tuesday 02:59
        ("2026-11-24T03:00:00+03:00", 1000),
        ("2026-11-24T21:59:00+03:00", 1000),
    ],
)
def test_hours_interval_wraps_past_midnight(engine, at, k_time):
    rules = simple_rules(time_rules=[{"type": "hours", "from_hour": 22, "to_hour": 2, "k": "1.5"}])
    assert engine(rules).quote(receipt([{"amount": 1000}], at)).k_time == k_time


@pytest.mark.parametrize(
    "at, k_time",
    [
        ("2026-11-20T23:30:00+03:00", 1500),  # Friday evening
        ("2026-11-21T01:30:00+03:00", 1500),  # Saturday 01:30 belongs to Friday night
        ("2026-11-20T01:30:00+03:00", 1000),  # Friday 01:30 belongs to Thursday night
        ("2026-11-21T23:30:00+03:00", 1000),  # Saturday evening is not Friday
    ],
)
def test_weekdays_hours_wrap_belongs_to_the_starting_evening(engine, at, k_time):
    rules = simple_rules(
        time_rules=[{"type": "weekdays_hours", "weekdays": [5], "from_hour": 22, "to_hour": 2, "k": "1.5"}]
    )
    assert engine(rules).quote(receipt([{"amount": 1000}], at)).k_time == k_time


def test_sunday_night_wraps_to_monday(engine):
    rules = simple_rules(
        time_rules=[{"type": "weekdays_hours", "weekdays": [7], "from_hour": 20, "to_hour": 5, "k": "2"}]
    )
    assert engine(rules).quote(receipt([{"amount": 1000}], "2026-11-23T04:00:00+03:00")).k_time == 2000


# -- k_receipt -------------------------------------------------------------------------------


@pytest.mark.parametrize("total, k", [(9999, 0), (10000, 1000), (299999, 1000), (300000, 1500)])
def test_receipt_tiers(engine, spec_rules, total, k):
    q = engine(spec_rules).quote(receipt([{"sku": "X", "amount": total}]))
    assert q.k_receipt == k


def test_no_tier_reaches_the_total_means_one(engine):
    rules = simple_rules(receipt_tiers=[{"from": 5000, "k": "2"}])
    assert engine(rules).quote(receipt([{"amount": 100}])).k_receipt == 1000


def test_tier_uses_total_before_redemption(engine):
    rules = simple_rules(
        receipt_tiers=[{"from": 0, "k": "0"}, {"from": 10000, "k": "1"}],
        redemption={"max_percent": "50"},
    )
    q = engine(rules).quote(receipt([{"amount": 10000}], redeem=5000))
    assert q.k_receipt == 1000
    assert q.accrued == 500  # (10000 - 5000) x 10%


# -- percent ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "terms, percent",
    [
        (CustomerTerms(), 500),
        (CustomerTerms(level="Gold"), 500),
        (CustomerTerms(level="Platinum"), 700),
        (CustomerTerms(level="Unknown"), 500),
        (CustomerTerms(level="Platinum", network_percent=900), 900),
        (CustomerTerms(level="Platinum", network_percent=900, store_percent=1250), 1250),
        (CustomerTerms(store_percent=0), 0),
    ],
)
def test_percent_precedence(engine, spec_rules, terms, percent):
    q = engine(spec_rules).quote(receipt([{"sku": "X", "amount": 20000}]), terms)
    assert q.percent == percent
    assert q.accrued == 20000 * percent // 10000


# -- campaigns -------------------------------------------------------------------------------


def test_campaign_multipliers_multiply_and_filter(engine):
    rules = simple_rules()
    campaigns = [
        Campaign(k=2000),
        Campaign(k=1500, categories=frozenset({"FISH"})),
        Campaign(k=3000, skus=frozenset({"S2"})),
    ]
    lines = [
        {"sku": "S1", "category": "FISH", "amount": 10000},
        {"sku": "S2", "amount": 10000},
        {"sku": "S3", "amount": 10000},
    ]
    q = engine(rules).quote(receipt(lines), campaigns=campaigns)
    assert [line.accrued for line in q.lines] == [3000, 6000, 2000]


def test_campaign_product_is_exact_and_capped_at_100(engine):
    rules = simple_rules()
    thirds = [Campaign(k=333), Campaign(k=333), Campaign(k=3)]
    q = engine(rules).quote(receipt([{"amount": 10**10}]), campaigns=thirds)
    assert q.accrued == 10**10 * 10 * 333 * 333 * 3 // (100 * 1000**3)
    huge = [Campaign(k=MAX_K)] * 3
    q = engine(rules).quote(receipt([{"amount": 1000}]), campaigns=huge)
    assert q.accrued == 1000 * 10 // 100 * 100


# -- total_step -------------------------------------------------------------------------------


def test_total_step_takes_difference_from_largest_lines(engine):
    rules = simple_rules(total_step=100)
    lines = [{"amount": 1230}, {"amount": 4560}, {"amount": 4560}, {"amount": 70}]
    q = engine(rules).quote(receipt(lines))
    # 123 + 456 + 456 + 7 = 1042 -> 1000; 42 from the first 456 (lower index on a tie)
    assert [line.accrued for line in q.lines] == [123, 414, 456, 7]
    assert q.accrued == 1000


def test_total_step_spills_to_the_next_line(engine):
    rules = simple_rules(total_step=1000)
    lines = [{"amount": 3000}, {"amount": 2000}, {"amount": 1000}]
    q = engine(rules).quote(receipt(lines))
    # 300 + 200 + 100 = 600 -> 0: everything is taken back, largest first
    assert [line.accrued for line in q.lines] == [0, 0, 0]


# -- redemption ------------------------------------------------------------------------------


def test_reduced_cap_only_when_share_strictly_above_threshold(engine, spec_rules):
    at_threshold = [{"sku": "X", "amount": 75000, "discount": 25000}]
    above = [{"sku": "X", "amount": 74999, "discount": 25001}]
    calc = engine(spec_rules)
    assert calc.quote(receipt(at_threshold)).cap_percent == 2000
    q = calc.quote(receipt(above))
    assert q.cap_percent == 1000
    assert q.max_redeemable == 7499


def test_max_redeemable_is_limited_by_balance(engine, spec_rules):
    calc = engine(spec_rules)
    r = receipt([{"sku": "X", "amount": 50000}])
    assert calc.quote(r, balance=3000).max_redeemable == 3000
    assert calc.quote(r, balance=-50).max_redeemable == 0
    assert calc.quote(r).max_redeemable == 10000


def test_redeem_at_the_cap_passes_and_past_it_is_refused(engine, spec_rules):
    calc = engine(spec_rules)
    lines = [{"sku": "X", "amount": 50000}]
    assert calc.quote(receipt(lines, redeem=10000), balance=20000).redeemed == 10000
    with pytest.raises(RedeemOverLimit) as info:
        calc.quote(receipt(lines, redeem=10001), balance=20000)
    assert info.value.max_redeemable == 10000
    assert info.value.code == "redeem_over_limit"


def test_allocation_largest_remainder_with_ties_to_lower_index(engine):
    rules = simple_rules(redemption={"max_percent": "100"})
    lines = [{"amount": 100}, {"amount": 100}, {"amount": 100}]
    q = engine(rules).quote(receipt(lines, redeem=200))
    assert [line.redeemed for line in q.lines] == [67, 67, 66]
    q = engine(rules).quote(receipt([{"amount": 1}, {"amount": 2}, {"amount": 4}], redeem=5))
    # shares 5/7, 10/7, 20/7 -> floors 0, 1, 2; remainders 5, 3, 6 -> +1 to line 2, then line 0
    assert [line.redeemed for line in q.lines] == [1, 1, 3]


def test_non_redeemable_lines_get_no_allocation_and_accrue_normally(engine, spec_rules):
    lines = [{"sku": "CIG", "category": "TOBACCO", "amount": 30000}, {"sku": "MILK", "amount": 20000}]
    q = engine(spec_rules).quote(receipt(lines, MONDAY_NOON, redeem=4000), balance=4000)
    assert [line.redeemed for line in q.lines] == [0, 4000]
    assert q.lines[1].accrued == (20000 - 4000) * 5 * 1200 // 100_000


def test_accrue_on_redeemed(engine):
    rules = simple_rules(redemption={"max_percent": "100", "accrue_on_redeemed": True})
    q = engine(rules).quote(receipt([{"amount": 10000}], redeem=10000))
    assert q.accrued == 1000
    rules = simple_rules(redemption={"max_percent": "100"})
    q = engine(rules).quote(receipt([{"amount": 10000}], redeem=10000))
    assert q.accrued == 0  # a non-positive base earns nothing


# -- exactness and ranges ------------------------------------------------------------------


def test_points_per_money_and_fractional_percent(engine):
    rules = simple_rules(base_percent="2.55", points_per_money="1.5")
    q = engine(rules).quote(receipt([{"amount": 12345}]))
    assert q.accrued == 12345 * 255 * 1500 // (10**4 * 1000)


def test_extremes_do_not_overflow(engine):
    """The largest receipt the documented ranges allow earns exactly 9 x 10^18 points."""
    rules = parse_rules(
        {
            "version": 1,
            "store": "S1",
            "timezone": "UTC",
            "base_percent": "100",
            "points_per_money": "9",
            "time_rules": [{"type": "hours", "from_hour": 0, "to_hour": 23, "k": "100"}],
            "receipt_tiers": [{"from": 0, "k": "100"}],
            "categories": {"C": {"k": "100"}},
            "redemption": {"max_percent": "100"},
        }
    )
    assert rules.points_per_money == MAX_PPM and rules.base_percent == MAX_PERCENT
    calc = engine(rules)
    one_line = receipt([{"sku": "A", "category": "C", "amount": MAX_AMOUNT}])
    campaigns = [Campaign(k=MAX_K)] * 5
    q = calc.quote(one_line, CustomerTerms(store_percent=MAX_PERCENT), campaigns=campaigns)
    assert q.accrued == 9 * 10**18
    assert q.accrued < 2**63
    # the same total over many lines with a redemption at the cap
    many = receipt([{"sku": "A", "category": "C", "amount": MAX_AMOUNT // 1000}] * 1000, redeem=MAX_AMOUNT)
    q = calc.quote(many, campaigns=campaigns, balance=2**62)
    assert q.redeemed == MAX_AMOUNT and q.accrued == 0
    odd = receipt([{"sku": "A", "category": "C", "amount": MAX_AMOUNT - 7}, {"amount": 7}], redeem=3)
    q = calc.quote(odd, campaigns=campaigns)
    assert q.accrued == sum(line.accrued for line in q.lines)


def test_quote_does_not_need_a_customer(engine, spec_rules):
    q = engine(spec_rules).quote(receipt([{"amount": 20000}]))
    assert q.to_json() == {
        "accrued": 1000,
        "redeemed": 0,
        "max_redeemable": 4000,
        "lines": [{"accrued": 1000, "redeemed": 0}],
    }


def test_line_model_defaults():
    line = Line(amount=5)
    assert line.quantity == 1000 and line.discount == 0 and line.sku is None
