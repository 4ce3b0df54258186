"""The event path's batch evaluation (segments/compiled.py ``Round`` with numpy over a round's customers) against
``evaluate.evaluate``, customer by customer, on many random customers and every criterion it answers at once."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from central.marketing.segments import Context, Day, Facts, Item, evaluate, parse_definition
from central.marketing.segments.compiled import Round
from central.marketing.segments.evaluate import CATEGORY, PRODUCT

pytestmark = pytest.mark.postgresql  # (pure: passes on either backend)

TODAY = dt.date(2026, 6, 15).toordinal()
STORES = ["S1", "S2"]


def customer(key: int, rng: random.Random) -> Facts:
    days = {}
    for _ in range(rng.randint(0, 5)):
        day = TODAY - rng.randint(0, 90)
        days[(day, rng.choice(STORES))] = Day(
            day, "", rng.randint(0, 3), rng.randint(-500, 3000), rng.choice([0, 500, 1000, 2500, 7000])
        )
    items = {}
    for _ in range(rng.randint(0, 6)):
        day, store, kind, item = TODAY - rng.randint(0, 90), rng.choice(STORES), rng.choice([CATEGORY, PRODUCT]), 0
        item = rng.randint(1, 5)
        items[(day, store, kind, item)] = Item(day, store, kind, item, rng.choice([0, 500, 1000, 3000]))
    return Facts(
        key,
        birthday=dt.date(1990, 6, rng.randint(1, 30)),
        home_store=rng.choice(STORES),
        days=tuple(Day(d, s, *v[2:]) for (d, s), v in days.items()),
        items=tuple(items.values()),
    )


def criteria(rng: random.Random) -> list[dict]:
    def bounds(low: int, high: int) -> dict:
        a, b = rng.choice([None, rng.randint(low, high)]), rng.choice([None, rng.randint(low, high)])
        if a is not None and b is not None and a > b:
            a, b = b, a
        return {k: v for k, v in (("from", a), ("to", b)) if v is not None} or {"from": low + 1}

    def period() -> dict:
        return rng.choice([{}, {"period": {"last_days": rng.randint(1, 80)}}])

    def ago(prefix: str) -> dict:
        a, b = rng.choice([None, rng.randint(0, 90)]), rng.choice([None, rng.randint(0, 90)])
        if a is not None and b is not None and a > b:
            a, b = b, a
        if rng.random() < 0.2:
            return {"date_from": dt.date.fromordinal(TODAY - 40).isoformat()}
        return {k: v for k, v in ((prefix + "from", a), (prefix + "to", b)) if v is not None} or {prefix + "to": 90}

    return [
        {"type": "purchases", **bounds(0, 6), **period()},
        {"type": "spend", **bounds(-500, 6000), **period()},
        {"type": "average_check", **bounds(-100, 2000), **period()},
        {"type": "average_items", **period()}
        | {k.replace("from", "from_quantity").replace("to", "to_quantity"): str(v) for k, v in bounds(0, 5).items()},
        {"type": "first_purchase", **ago("days_")},
        {"type": "last_purchase", **ago("days_")},
        {"type": "bought_category", "categories": rng.sample(range(1, 6), rng.randint(1, 3)), **period()}
        | rng.choice([{}, {"min_quantity": str(rng.randint(1, 4))}]),
        {"type": "home_store", "stores": [rng.choice(STORES)]},
    ]


@pytest.mark.parametrize("seed", range(40))
def test_a_batch_at_once_says_what_evaluate_says(seed):
    rng = random.Random(seed)
    facts = {k: customer(k, rng) for k in range(1, 61)}
    ctx = Context(today=TODAY)
    batch = Round(ctx, vector_from=1)
    some = set(rng.sample(sorted(facts), 25)) | {999}  # (a key without facts is never a member)
    for doc in criteria(rng):
        for definition in (
            parse_definition({"audiences": [[doc]]}),
            parse_definition({"audiences": [[{"type": "home_store", "stores": ["S1"]}]], "exclude": [doc]}),
            parse_definition(
                {"audiences": [[doc, {"type": "purchases", "from": 3}], [criteria(rng)[rng.randint(0, 7)]]]}
            ),
        ):
            expected = {k for k, f in facts.items() if evaluate(definition, f, ctx)}
            plan = batch.plan(definition)
            assert batch.members(plan, facts, set(facts)) == expected, definition
            assert batch.members(plan, facts, some) == expected & some, definition


@pytest.mark.parametrize(
    "today",
    [dt.date(2026, 6, 15), dt.date(2026, 12, 30), dt.date(2027, 1, 2), dt.date(2028, 2, 27), dt.date(2027, 2, 28)],
)
def test_the_birthday_window_by_month_and_day_says_what_evaluate_says(today):
    """The compiled birthday window is a table by month and day of birth (asked once of a leap year's date); every
    birthday of a leap and a common year, 29 February included, gets ``evaluate``'s answer."""
    ctx = Context(today=today.toordinal())
    batch = Round(ctx)
    born = [dt.date(1988, 1, 1) + dt.timedelta(days=n) for n in range(366 + 365)]
    facts = {k: Facts(k, birthday=b) for k, b in enumerate(born, 1)} | {9999: Facts(9999)}
    for window in ({"days_before": 3, "days_after": 3}, {"days_before": 0, "days_after": 0}, {"days_after": 40}):
        definition = parse_definition({"audiences": [[{"type": "birthday", **window}]]})
        expected = {k for k, f in facts.items() if evaluate(definition, f, ctx)}
        assert expected
        plan = batch.plan(definition)
        assert {k for k, f in facts.items() if batch.evaluate(plan, f)} == expected
        assert batch.members(plan, facts, set(facts)) == expected


def test_a_round_rebound_to_the_next_batch_answers_afresh():
    """The engine keeps a day's compiled round across ingest rounds (``Round.rebind``): the next batch's answers
    are its own, never the last batch's memos."""
    rng = random.Random(7)
    ctx = Context(today=TODAY)
    kept = Round(ctx)
    definitions = [parse_definition({"audiences": [[doc]]}) for doc in criteria(rng)]
    for _ in range(4):
        facts = {k: customer(k, rng) for k in range(1, 61)}  # the same keys, other facts
        kept.rebind(Context(today=TODAY))
        for definition in definitions:
            expected = {k for k, f in facts.items() if evaluate(definition, f, ctx)}
            plan = kept.plan(definition)
            assert kept.members(plan, facts, set(facts)) == expected, definition
            assert kept.members(plan, facts, {1, 2, 3}) == expected & {1, 2, 3}, definition
