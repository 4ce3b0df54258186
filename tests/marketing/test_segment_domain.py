"""The segments' pure domain: definitions, validation messages, each criterion at its edges, next flips."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.marketing.segments import Context, Day, Facts, Item, Points, evaluate, next_flip, parse_definition
from central.marketing.segments.definition import DefinitionError, parse_criterion
from central.marketing.segments.evaluate import CATEGORY, PRODUCT, age_on, birthday_in, matches
from central.marketing.segments.rfm import rfm_class, scores

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def D(text: str) -> int:
    return dt.date.fromisoformat(text).toordinal()


def crit(**doc):
    criterion, problems = parse_criterion(doc, "c")
    assert not problems, problems
    return criterion


def hit(doc, facts, today="2026-06-15", **ctx):
    return matches(crit(**doc), facts, Context(today=D(today), **ctx))


def problems(doc):
    with pytest.raises(DefinitionError) as caught:
        parse_definition(doc)
    return caught.value.messages()


# -- validation -------------------------------------------------------------------------------------


def test_unknown_criterion_and_parameter_are_named():
    errors = problems({"audiences": [[{"type": "astrology"}], [{"type": "age", "from": 1, "colour": 2}]]})
    assert errors == {
        "audiences.1.1.type": "unknown criterion 'astrology'",
        "audiences.2.1.colour": "criterion age has no parameter 'colour'",
    }


def test_bad_ranges_and_values():
    errors = problems(
        {
            "audiences": [
                [
                    {"type": "spend", "from": 500, "to": 100},
                    {"type": "age", "from": "x"},
                    {"type": "gender", "values": ["robot"]},
                    {"type": "purchases", "from": 1, "period": {"from": "2026-02-01", "to": "2026-01-01"}},
                    {"type": "bought_category", "categories": [3], "min_quantity": "0.0005"},
                ]
            ]
        }
    )
    assert errors["audiences.1.1.to"] == "to is below from"
    assert errors["audiences.1.2.from"] == "must be a whole number"
    assert errors["audiences.1.3.values"].startswith("unknown value 'robot'")
    assert errors["audiences.1.4.period"] == "the period's start is after its end"
    assert errors["audiences.1.5.min_quantity"] == "at most three decimal places"


def test_missing_parameters_and_shape():
    assert problems({"audiences": []}) == {"audiences": "give at least one audience"}
    assert problems({"audiences": [[]]}) == {"audiences.1": "an audience needs at least one criterion"}
    assert problems({"audiences": [[{"type": "spend"}]]}) == {"audiences.1.1": "spend needs one of: from, to"}
    assert problems({"audiences": [[{"type": "tag"}]]}) == {"audiences.1.1.tags": "tag needs tags"}
    assert problems({"audiences": [[{"type": "age", "from": 1}]], "exclude": [[{"type": "age", "from": 1}]]}) == {
        "exclude": "at most one excluded audience"
    }


def test_nesting_refuses_cycles_and_unknown_segments():
    graph = {1: frozenset({2}), 2: frozenset({3}), 3: frozenset()}
    doc = {"audiences": [[{"type": "in_segment", "segments": [1]}]]}
    # segment 3 nesting 1 closes 3 -> 1 -> 2 -> 3
    with pytest.raises(DefinitionError, match="segment 1 contains this one: a cycle"):
        parse_definition(doc, self_id=3, nested_of=graph.get)
    with pytest.raises(DefinitionError, match="cannot contain itself"):
        parse_definition({"audiences": [[{"type": "in_segment", "segments": [3]}]]}, self_id=3, nested_of=graph.get)
    with pytest.raises(DefinitionError, match="no segment 9"):
        parse_definition({"audiences": [[{"type": "in_segment", "segments": [9]}]]}, nested_of=graph.get)
    assert parse_definition(doc, self_id=4, nested_of=graph.get).nested == {1}


def test_messages_translate_with_gettext():
    def gettext(msgid, **params):
        return {"unknown criterion %(name)s": "неизвестный критерий %(name)s"}.get(msgid, msgid) % params

    with pytest.raises(DefinitionError) as caught:
        parse_definition({"audiences": [[{"type": "zzz"}]]})
    assert caught.value.messages(gettext) == {"audiences.1.1.type": "неизвестный критерий 'zzz'"}


def test_identical_criteria_are_shared_and_round_trip():
    doc = {
        "audiences": [
            [
                {"type": "spend", "from": 100, "period": {"last_days": 30}},
                {"type": "spend", "from": "100", "period": {"last_days": 30}},
            ]
        ],
        "exclude": [{"type": "tag", "tags": ["vip", "staff"], "mode": "none"}],
    }
    definition = parse_definition(doc)
    assert len(definition.audiences[0]) == 1
    assert parse_definition(definition.to_doc()) == definition
    assert definition.audiences[0][0] == parse_definition(doc).audiences[0][0]


# -- criteria at their edges ----------------------------------------------------------------------------


def test_birthday_on_29_february():
    leapling = Facts(1, birthday=dt.date(2000, 2, 29))
    assert birthday_in(dt.date(2000, 2, 29), 2026) == dt.date(2026, 2, 28)
    assert hit({"type": "birthday", "days_before": 0, "days_after": 0}, leapling, "2026-02-28")
    assert not hit({"type": "birthday", "days_before": 0, "days_after": 0}, leapling, "2026-03-01")
    assert hit({"type": "birthday", "days_before": 0, "days_after": 0}, leapling, "2028-02-29")
    assert not hit({"type": "birthday", "days_before": 0, "days_after": 0}, leapling, "2028-02-28")
    # a window across the new year
    december = Facts(1, birthday=dt.date(1990, 1, 2))
    assert hit({"type": "birthday", "days_before": 3}, december, "2026-12-30")
    assert not hit({"type": "birthday", "days_before": 3}, december, "2026-12-29")
    assert hit({"type": "birthday", "days_after": 5}, december, "2026-01-07")
    assert hit({"type": "birthday", "months": [1]}, december)
    assert not hit({"type": "birthday", "months": [2]}, december)
    assert not hit({"type": "birthday", "months": [1]}, Facts(1))


def test_age_turns_on_the_birthday():
    leapling = dt.date(2000, 2, 29)
    assert age_on(leapling, dt.date(2026, 2, 27)) == 25
    assert age_on(leapling, dt.date(2026, 2, 28)) == 26
    facts = Facts(1, birthday=dt.date(2008, 6, 15))
    assert hit({"type": "age", "from": 18}, facts, "2026-06-15")
    assert not hit({"type": "age", "from": 18}, facts, "2026-06-14")
    assert hit({"type": "age", "to": 17}, facts, "2026-06-14")
    assert not hit({"type": "age", "from": 0}, Facts(1))


def test_profile_criteria():
    f = Facts(
        1,
        gender=None,
        consents=frozenset({"sms"}),
        custom={"pet": "Big Dog"},
        home_store="s1",
        has_card=True,
        cards=(("2000000000050", 3),),
        level="gold",
        tags=frozenset({"vip", "staff"}),
        balance=500,
        registered_day=D("2026-06-01"),
    )
    assert hit({"type": "gender", "values": ["unknown"]}, f)
    assert not hit({"type": "gender", "values": ["male", "female"]}, f)
    assert hit({"type": "consent", "channels": ["email", "sms"]}, f)
    assert not hit({"type": "consent", "channels": ["push"]}, f)
    assert hit({"type": "field", "field": "pet", "operator": "contains", "value": "dog"}, f)
    assert hit({"type": "field", "field": "pet", "operator": "=", "value": "big dog"}, f)
    assert hit({"type": "field", "field": "car", "operator": "empty"}, f)
    assert not hit({"type": "field", "field": "pet", "operator": "empty"}, f)
    assert hit({"type": "home_store", "stores": ["s1", "s2"]}, f)
    assert hit({"type": "kind", "values": ["registered"]}, f)
    assert hit({"type": "kind", "values": ["potential"]}, Facts(2))
    assert hit({"type": "card", "categories": [3]}, f)
    assert hit({"type": "card", "number_from": "2000000000050", "number_to": "2000000000050"}, f)
    assert not hit({"type": "card", "number_from": "2000000000051"}, f)
    assert not hit({"type": "card", "categories": [4]}, f)
    assert hit({"type": "level", "levels": ["gold"]}, f)
    assert hit({"type": "tag", "tags": ["vip", "new"]}, f)
    assert not hit({"type": "tag", "tags": ["vip", "new"], "mode": "all"}, f)
    assert hit({"type": "tag", "tags": ["vip", "staff"], "mode": "all"}, f)
    assert hit({"type": "tag", "tags": ["new"], "mode": "none"}, f)
    assert hit({"type": "balance", "from": 500, "to": 500}, f)
    assert not hit({"type": "balance", "from": 501}, f)
    assert hit({"type": "registration", "stores": ["s1"], "days_from": 14, "days_to": 14}, f, "2026-06-15")
    assert not hit({"type": "registration", "days_to": 13}, f, "2026-06-15")
    assert hit({"type": "registration", "date_from": "2026-06-01", "date_to": "2026-06-01"}, f)
    assert not hit({"type": "registration", "stores": ["s2"]}, f)


def purchases_facts():
    return Facts(
        7,
        days=(
            Day(D("2026-06-01"), "s1", 2, 1000, 3000),
            Day(D("2026-06-15"), "s2", 1, 501, 1500),
            Day(D("2026-05-01"), "s1", 0, -200, 0),
        ),
        items=(
            Item(D("2026-06-01"), "s1", CATEGORY, 5, 2500),
            Item(D("2026-06-01"), "s1", PRODUCT, 11, 2500),
            Item(D("2026-06-15"), "s2", PRODUCT, 12, 500),
        ),
        points=(Points(D("2026-06-01"), "purchase", 50, 10), Points(D("2026-06-10"), "admin", -20, 0)),
    )


def test_money_counts_and_empty_periods():
    f = purchases_facts()
    assert hit({"type": "purchases", "from": 3, "to": 3}, f)
    assert hit({"type": "purchases", "to": 0, "period": {"last_days": 1}}, Facts(1))
    assert not hit({"type": "purchases", "from": 1, "period": {"from": "2026-07-01", "to": "2026-07-31"}}, f)
    assert hit({"type": "purchases", "from": 1, "to": 1, "period": {"last_days": 1}}, f, "2026-06-15")
    assert hit({"type": "purchases", "from": 2, "period": {"last_days": 15}}, f, "2026-06-15")
    assert not hit({"type": "purchases", "from": 3, "period": {"last_days": 14}}, f, "2026-06-15")
    assert hit({"type": "purchases", "from": 2, "to": 2, "stores": ["s1"]}, f)
    # spend nets the refund of May
    assert hit({"type": "spend", "from": 1301, "to": 1301}, f)
    assert hit({"type": "spend", "to": -200, "period": {"from": "2026-05-01", "to": "2026-05-31"}}, f)
    # average check 1301 / 3 = 433.67: from 434 fails, to 433 fails, 433..434 passes (exact fraction)
    assert not hit({"type": "average_check", "from": 434}, f)
    assert not hit({"type": "average_check", "to": 433}, f)
    assert hit({"type": "average_check", "from": 433, "to": 434}, f)
    assert not hit({"type": "average_check", "to": 10**9, "period": {"from": "2026-05-01", "to": "2026-05-31"}}, f)
    # items: 4.5 over 3 receipts = 1.5
    assert hit({"type": "average_items", "from_quantity": "1.5", "to_quantity": "1.5"}, f)
    assert not hit({"type": "average_items", "from_quantity": "1.501"}, f)


def test_behaviour_criteria():
    f = purchases_facts()
    assert hit({"type": "bought_category", "categories": [5]}, f)
    assert hit({"type": "bought_category", "categories": [5], "min_quantity": "2.5"}, f)
    assert not hit({"type": "bought_category", "categories": [5], "min_quantity": "2.501"}, f)
    assert not hit({"type": "bought_category", "categories": [5], "stores": ["s2"]}, f)
    assert not hit({"type": "bought_category", "categories": [5], "period": {"last_days": 14}}, f, "2026-06-15")
    assert hit({"type": "bought_products", "products": [11, 12], "mode": "all"}, f)
    assert not hit({"type": "bought_products", "products": [11, 13], "mode": "all"}, f)
    assert hit({"type": "bought_products", "products": [11, 13]}, f)
    assert not hit({"type": "bought_products", "products": [12], "min_quantity": 1}, f)
    names = {11: "Trail Running Shoes", 12: "Protein bar"}
    assert hit({"type": "product_name", "text": "running"}, f, product_names=names)
    assert not hit({"type": "product_name", "text": "running", "period": {"last_days": 1}}, f, product_names=names)
    assert hit({"type": "points", "direction": "accrued", "from": 30, "to": 30}, f)
    assert hit({"type": "points", "direction": "accrued", "from": 50, "types": ["purchase"]}, f)
    assert hit({"type": "points", "direction": "redeemed", "from": 10, "to": 10}, f)


def test_first_and_last_purchase():
    f = purchases_facts()
    assert hit({"type": "first_purchase", "date_from": "2026-06-01", "date_to": "2026-06-01"}, f)
    assert hit({"type": "last_purchase", "days_from": 0, "days_to": 0}, f, "2026-06-15")
    assert hit({"type": "last_purchase", "stores": ["s1"], "days_from": 14}, f, "2026-06-15")
    assert not hit({"type": "last_purchase", "stores": ["s1"], "days_from": 15}, f, "2026-06-15")
    assert not hit({"type": "last_purchase", "days_from": 30}, Facts(1))  # never bought: no inactivity match


def test_rfm_and_outside_criteria():
    f = Facts(
        1,
        rfm=(5, 4, 3, "champion"),
        promotions=frozenset({"P2"}),
        codes=frozenset({("L3", "activated")}),
        triggers=frozenset({(4, 1, "passed")}),
        messages=frozenset({(5, "opened")}),
    )
    assert hit({"type": "rfm", "classes": ["champion"]}, f)
    assert hit({"type": "rfm", "r": [5], "f": [3, 4]}, f)
    assert not hit({"type": "rfm", "m": [5]}, f)
    assert not hit({"type": "rfm", "classes": ["champion"]}, Facts(1))
    assert hit({"type": "promotion", "promotions": ["P2"]}, f)
    assert hit({"type": "promotion", "promotions": ["P9"], "took_part": False}, f)
    assert hit({"type": "promo_code", "lists": ["L3"], "state": "activated"}, f)
    assert not hit({"type": "promo_code", "lists": ["L3"], "state": "received"}, f)
    assert hit({"type": "trigger", "trigger": 4, "step": 1, "state": "passed"}, f)
    assert hit({"type": "trigger", "trigger": 5, "state": "never"}, f)
    assert hit({"type": "message", "mailings": [5], "outcome": "opened"}, f)
    inside = {(10, 1)}
    assert hit({"type": "in_segment", "segments": [10]}, f, member=lambda s, k: (s, k) in inside)
    assert hit({"type": "in_segment", "segments": [11], "in": False}, f, member=lambda s, k: (s, k) in inside)


def test_audiences_and_exclusion():
    f = purchases_facts()
    definition = parse_definition(
        {
            "audiences": [
                [{"type": "purchases", "from": 10}, {"type": "spend", "from": 1}],
                [{"type": "bought_category", "categories": [5]}],
            ],
            "exclude": [{"type": "bought_products", "products": [12]}],
        }
    )
    assert not evaluate(definition, f, Context(D("2026-06-15")))
    definition = parse_definition(
        {
            "audiences": [
                [{"type": "purchases", "from": 10}, {"type": "spend", "from": 1}],
                [{"type": "bought_category", "categories": [5]}],
            ],
            "exclude": [{"type": "bought_products", "products": [13]}],
        }
    )
    assert evaluate(definition, f, Context(D("2026-06-15")))


def test_next_flip():
    f = purchases_facts()
    today = D("2026-06-15")
    last30 = parse_definition({"audiences": [[{"type": "spend", "from": 1, "period": {"last_days": 30}}]]})
    assert next_flip(last30, f, today) == D("2026-07-01")  # the 1 June day leaves the window on 1 July
    inactive = parse_definition({"audiences": [[{"type": "last_purchase", "days_from": 30}]]})
    assert next_flip(inactive, f, today) == D("2026-07-15")
    assert next_flip(parse_definition({"audiences": [[{"type": "spend", "from": 1}]]}), f, today) is None
    bday = parse_definition({"audiences": [[{"type": "birthday", "days_before": 2, "days_after": 1}]]})
    leapling = Facts(1, birthday=dt.date(2000, 2, 29))
    assert next_flip(bday, leapling, D("2026-02-01")) == D("2026-02-26")
    assert next_flip(bday, leapling, D("2026-02-26")) == D("2026-03-02")
    # the flip days are exactly where the answer changes
    for definition, facts in ((last30, f), (inactive, f), (bday, leapling)):
        day = D("2026-01-01")
        while day < D("2027-03-01"):
            flip = next_flip(definition, facts, day)
            answer = evaluate(definition, facts, Context(day))
            end = flip if flip is not None else D("2027-03-01")
            for between in range(day + 1, min(end, D("2027-03-01"))):
                assert evaluate(definition, facts, Context(between)) == answer
            day = end


def test_rfm_scores_ties_take_the_lowest_rank():
    import numpy as np

    assert scores(np.array([10, 20, 20, 30, 40])).tolist() == [1, 2, 2, 4, 5]
    assert scores(np.array([5, 5, 5])).tolist() == [1, 1, 1]
    assert scores(np.array([1, 2]), higher_is_better=False).tolist() == [3, 1]
    assert rfm_class(5, 1) == "new" and rfm_class(2, 5) == "can't lose" and rfm_class(3, 3) == "needs attention"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 400), min_size=1, max_size=200)
    | st.lists(st.integers(-(10**12), 10**12), min_size=1, max_size=200),
    st.booleans(),
)
def test_rfm_scores_are_their_definition(values, higher):
    """Both ways of ranking (a histogram for a few distinct values, a sort for many) give marketing.md's score:
    1 + floor(5 * (rank - 1) / n), the rank counting the values strictly worse."""
    import numpy as np

    keyed = values if higher else [-v for v in values]
    expected = [1 + 5 * sum(1 for w in keyed if w < k) // len(values) for k in keyed]
    assert scores(np.array(values, np.int64), higher_is_better=higher).tolist() == expected


def test_next_flip_reads_items_after_an_item_criterion():
    f = purchases_facts()
    definition = parse_definition(
        {"audiences": [[{"type": "bought_category", "categories": [5], "period": {"last_days": 30}}]]}
    )
    assert evaluate(definition, f, Context(D("2026-06-15")))
    assert next_flip(definition, f, D("2026-06-15")) == D("2026-07-01")
