"""The promotions model (shared/promotions.py) and promo codes (shared/promo_codes.py): selection at its
edges, the document round trip, the reference's arithmetic on a worked example (docs/accrual.md)."""

from __future__ import annotations

import datetime as dt

import pytest

from shared import _accrual_py as ref
from shared import promo_codes as pc
from shared.promotions import (
    PromotionError,
    Shopper,
    basket,
    calculator_inputs,
    in_birthday_window,
    parse_promotions,
    promotion_doc,
)
from shared.receipts import Line, Receipt, Reward
from shared.rules import parse_rules

MSK = dt.timezone(dt.timedelta(hours=3))
FRI_18 = dt.datetime(2026, 11, 20, 18, 30, tzinfo=MSK)  # a Friday


def doc(*promotions, lists=()):
    return {"version": 1, "promotions": list(promotions), "code_lists": list(lists)}


def bag(*lines, at=FRI_18):
    return basket(at, lines, [line.category for line in lines])


SUSHI = Line(45000, "SKU-1", "SUSHI", 2000)
TEA = Line(5000, "TEA", "DRINKS", 1000)
ME = Shopper("c1", frozenset({3}), "1990-11-21")


def ids(applied):
    return [a.promotion.id for a in applied]


def test_conditions_at_their_edges():
    ps = parse_promotions(
        doc(
            {"id": "min", "name": "m", "conditions": {"min_total": 50000}, "reward": {"kind": "points", "points": 1}},
            {
                "id": "qty",
                "name": "q",
                "conditions": {"skus": ["SKU-1"], "min_quantity": "2"},
                "reward": {"kind": "points", "points": 1},
            },
            {
                "id": "all",
                "name": "a",
                "conditions": {"categories": ["SUSHI", "DRINKS"], "match": "all"},
                "reward": {"kind": "points", "points": 1},
            },
            {
                "id": "hours",
                "name": "h",
                "weekdays": [5],
                "from_hour": 17,
                "to_hour": 18,
                "reward": {"kind": "points", "points": 1},
            },
            {"id": "dates", "name": "d", "from": "2026-11-21", "reward": {"kind": "points", "points": 1}},
            {"id": "store", "name": "s", "stores": ["S2"], "reward": {"kind": "points", "points": 1}},
        )
    )
    assert ids(ps.select("S1", bag(SUSHI, TEA), ME)) == ["min", "qty", "all", "hours"]
    assert ids(ps.select("S1", bag(Line(44999, "SKU-1", "SUSHI", 1999)), ME)) == ["hours"]
    assert ids(ps.select("S1", bag(SUSHI, at=FRI_18.replace(hour=19)), ME)) == ["qty"]
    assert ids(ps.select("S1", bag(SUSHI, at=FRI_18 + dt.timedelta(days=1)), ME)) == ["qty", "dates"]


def test_audience_priority_combinable_limits_and_codes():
    ps = parse_promotions(
        doc(
            {
                "id": "seg",
                "name": "s",
                "audience": "segments",
                "segments": [3],
                "priority": 5,
                "reward": {"kind": "multiplier", "k": "2"},
            },
            {"id": "ident", "name": "i", "audience": "identified", "reward": {"kind": "percent_off", "percent": "10"}},
            {
                "id": "solo",
                "name": "x",
                "priority": 1,
                "combinable": False,
                "reward": {"kind": "money_off", "amount": 100},
            },
            {"id": "code", "name": "c", "conditions": {"code_list": "L"}, "reward": {"kind": "points", "points": 500}},
            {
                "id": "weekly",
                "name": "w",
                "limit": {"times": 1, "per": "week"},
                "reward": {"kind": "points", "points": 5},
            },
            lists=[{"id": "L", "key": "00" * 16}],
        )
    )
    assert ids(ps.select("S1", bag(SUSHI), Shopper())) == ["solo"]  # anonymous: only "everyone" ones
    assert ids(ps.select("S1", bag(SUSHI), ME)) == ["seg", "ident", "weekly"]  # solo does not combine
    assert ids(ps.select("S1", bag(SUSHI), ME, {"L": "CODE1"})) == ["seg", "ident", "code", "weekly"]
    used = Shopper("c1", frozenset({3}), None, {"weekly": ["2026-11-16"]})  # Monday of the same ISO week
    assert ids(ps.select("S1", bag(SUSHI), used)) == ["seg", "ident"]
    later = Shopper("c1", frozenset({3}), None, {"weekly": ["2026-11-15"]})  # the week before
    assert "weekly" in ids(ps.select("S1", bag(SUSHI), later))
    campaigns, rewards = calculator_inputs(ps.select("S1", bag(SUSHI), ME, {"L": "CODE1"}))
    assert [c.k for c in campaigns] == [2000]
    assert [(r.kind, r.value) for r in rewards] == [("percent_off", 1000), ("points", 500), ("points", 5)]


def test_birthday_promotion_on_the_birthday_and_the_day_after():
    ps = parse_promotions(
        doc(
            {
                "id": "bd",
                "name": "Birthday",
                "birthday": {"days_before": 0, "days_after": 0},
                "reward": {"kind": "points", "points": 10000},
            }
        )
    )
    on = dt.datetime(2026, 11, 21, 12, tzinfo=MSK)
    assert ids(ps.select("S1", bag(TEA, at=on), ME)) == ["bd"]
    assert ids(ps.select("S1", bag(TEA, at=on + dt.timedelta(days=1)), ME)) == []
    # once a year: used on the birthday, not again that year
    assert (
        ids(ps.select("S1", bag(TEA, at=on), Shopper("c1", birthday="1990-11-21", uses={"bd": ["2026-11-21"]}))) == []
    )
    assert in_birthday_window("2000-02-29", dt.date(2027, 2, 28), 0, 0)
    assert in_birthday_window("--01-01", dt.date(2026, 12, 30), 3, 0)  # across New Year


def test_the_document_round_trips_and_refuses_typos():
    raw = {
        "id": "P",
        "name": "n",
        "stores": ["S1"],
        "from": "2026-01-01",
        "to": "2026-12-31",
        "weekdays": [1, 2],
        "from_hour": 9,
        "to_hour": 12,
        "audience": "segments",
        "segments": [1],
        "conditions": {"min_total": 1, "skus": ["A"], "min_quantity": "1.5", "match": "all"},
        "reward_lines": {"categories": ["X"]},
        "reward": {"kind": "points", "points": 10, "per_units": "2", "expires_days": 30},
        "limit": {"times": 2, "per": "day"},
        "priority": 3,
        "combinable": False,
    }
    p = parse_promotions(doc(raw)).promotions[0]
    assert parse_promotions(doc(promotion_doc(p))).promotions[0] == p
    with pytest.raises(PromotionError) as err:
        parse_promotions(doc({"id": "P", "name": "n", "reward": {"kind": "points", "pionts": 1}}))
    assert "promotions[0].reward.pionts" in str(err.value)


def test_worked_example_of_docs_accrual():
    """docs/accrual.md, "Promotions", example 1: 10 % off sushi, 100.00 off the receipt, 50 points per receipt."""
    rules = parse_rules(
        {
            "version": 1,
            "store": "S1",
            "timezone": "Europe/Moscow",
            "base_percent": "5",
            "redemption": {"max_percent": "20", "reduced_max_percent": "10", "discount_threshold_percent": "25"},
        }
    )
    receipt = Receipt(
        lines=(Line(45000, "SKU-1", "SUSHI", 1000, discount=5000), Line(5000, "TEA", "DRINKS")), at=FRI_18
    )
    rewards = (
        Reward("percent_off", 1000, categories=frozenset({"SUSHI"})),
        Reward("money_off", 10000),
        Reward("points", 5000),
    )
    q = ref.quote(rules, receipt, rewards=rewards)
    assert [line.discount for line in q.lines] == [4500 + 8901, 1099]
    assert [45000 - 13401, 5000 - 1099] == [31599, 3901]
    # accrual on the discounted amounts: floor(31599 x 5 %) = 1579, floor(3901 x 5 %) = 195; 5000 points by amount
    assert [line.bonus for line in q.lines] == [4451, 549]
    assert [line.accrued for line in q.lines] == [1579 + 4451, 195 + 549]
    # the cap: discounts 5000 + 14500 of a gross 55000 = 35.45 % > 25 %: the reduced 10 % of 35500
    assert q.cap_percent == 1000 and q.max_redeemable == 3550
    assert q.rewards == ((4500, 0), (8901, 1099), (4451, 549))


def test_codes_check_character_and_tag():
    key = pc.list_key(b"chain secret", "SPRING")
    codes = pc.generate(1000, 6, key=key, prefix="SPR")
    assert len(set(codes)) == 1000 and all(c.startswith("SPR") and len(c) == 3 + 6 + 3 + 1 for c in codes)
    assert not set("01OILZ2S5B8G6") & set("".join(c[3:] for c in codes))
    code = codes[0]
    assert pc.well_formed(code, True) and pc.genuine(code, key, "SPR", 3, True)
    typo = code[:4] + ("A" if code[4] != "A" else "C") + code[5:]
    assert not pc.well_formed(typo, True)
    swapped = code[:4] + code[5] + code[4] + code[6:]
    assert code[4] == code[5] or not pc.well_formed(swapped, True)
    forged = pc.make(b"another key", "SPR", code[3:9], 3)
    assert pc.well_formed(forged, True) and not pc.genuine(forged, key, "SPR", 3, True)
    assert pc.normalise(" spr-abc ") == "SPRABC"
    # a typed tag of letters that are not ASCII is no tag (hmac.compare_digest refused it: a 500 at the till)
    accented = code[:9] + "ÉÉÉ"
    assert pc.well_formed(accented + pc.check_char(accented), True)
    assert not pc.genuine(accented + pc.check_char(accented), key, "SPR", 3, True)
