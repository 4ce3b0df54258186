"""What-if: the draft against the current rules over the store's real receipts, with the batch kernel."""

from __future__ import annotations

import datetime as dt

import pytest
from werkzeug.datastructures import MultiDict

from central.services import rules, whatif
from central.services.access import Forbidden
from shared import accrual
from shared.receipts import CustomerTerms, Line, Receipt

from .conftest import apply_events, sale
from .test_rules import SPEC_FORM, _multi

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def _receipts(db, agents):
    a1 = agents["S1"]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    apply_events(db, a1.registration("c1"), a1.registration("c2"))
    plan = [
        (2, [("SKU-1", "SUSHI", 45_000)], 0),
        (1, [("SKU-9", "TOBACCO", 30_000), ("SKU-8", None, 20_000)], 1_000),
        (1, [("SKU-7", "SUSHI", 5_000)], 0),
        (40, [("SKU-1", "SUSHI", 99_000)], 0),
    ]
    events = []
    for days_ago, lines, redeemed in plan:
        at = (now - dt.timedelta(days=days_ago)).isoformat()
        events.append(sale(a1, "c1", lines, redeemed=redeemed, at=at))
    events.append(sale(a1, None, [("SKU-1", "SUSHI", 10_000)], at=now.isoformat()))  # anonymous: left out
    apply_events(db, *events)
    return plan, now


def _reference(rules_doc, plan, now, days):
    calc = accrual.PythonCalculator(__import__("shared.rules", fromlist=["parse_rules"]).parse_rules(rules_doc))
    total = 0
    for days_ago, lines, redeemed in plan:
        if days_ago > days:
            continue
        receipt = Receipt(
            lines=tuple(Line(amount=a, sku=s, category=c) for s, c, a in lines),
            at=now - dt.timedelta(days=days_ago),
            redeem=redeemed,
        )
        total += calc.quote(receipt, CustomerTerms(), None, ()).accrued
    return total


def test_the_draft_against_the_current_rules(db, people, agents):
    plan, now = _receipts(db, agents)
    rules.publish(db, people["admin"], "S1", _multi(SPEC_FORM))
    draft = _multi({**SPEC_FORM, "base_percent": "10", "categories-0-k": "3"})
    result = whatif.compare(db, people["marketer"], "S1", draft, days=30)
    current_doc = db.latest_rules()["S1"][1]
    assert result.receipts == 3 and result.lines == 4
    assert result.current == _reference(current_doc, plan, now, 30)
    assert result.draft == _reference(
        {**current_doc, "base_percent": "10", "categories": {**current_doc["categories"], "SUSHI": {"k": "3"}}},
        plan,
        now,
        30,
    )
    assert result.draft > result.current > 0
    assert sum(c for _, c, _ in result.by_day) == result.current and sum(d for _, _, d in result.by_day) == result.draft
    by_category = {name: (cur, dra) for name, cur, dra in result.by_category}
    assert by_category.get("TOBACCO", (0, 0)) == (0, 0)  # k 0 earns nothing under both
    assert sum(cur for cur, _ in by_category.values()) == result.current
    assert result.engine in ("native", "python")


def test_a_store_without_rules_compares_against_nothing_and_scope_holds(db, people, agents):
    _receipts(db, agents)
    result = whatif.compare(db, people["admin"], "S1", _multi(SPEC_FORM), days=7)
    assert not result.has_current and result.current == 0 and result.draft > 0
    with pytest.raises(Forbidden):
        whatif.compare(db, people["manager"], "S2", _multi(SPEC_FORM), days=7)
    empty = whatif.compare(db, people["admin"], "S2", MultiDict(SPEC_FORM), days=7)
    assert empty.receipts == 0 and empty.by_day == []
