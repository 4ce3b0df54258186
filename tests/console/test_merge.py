"""Merging two customers: cards, lots, history and balances moved, nothing lost."""

from __future__ import annotations

import pytest

from central.services import accounts, customers, merge
from central.services.access import Forbidden, FormError

from .conftest import apply_events, sale

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

ZONE = "Europe/Moscow"


def test_merge_moves_everything_and_keeps_the_books_balanced(db, people, shoppers, agents):
    admin = people["admin"]
    accounts.give_temporary(db, admin, "c2", {"points": "7", "reason": "promo", "expires": "2099-01-01"}, ZONE)
    accounts.set_tags(db, admin, "c2", "vip")
    accounts.add_comment(db, admin, "c2", "duplicate of c1")
    before = db.customer("c1")["balance"] + db.customer("c2")["balance"]
    ledger = db.count("ledger", "customer_id IN ('c1', 'c2')")
    merge.merge(db, admin, "c2", "c1")
    target = customers.account(db, admin, "c1")
    assert target["balance"] == before == db.ledger_sum("c1")
    assert db.conn.execute("SELECT SUM(points) FROM lots WHERE customer_id = 'c1'").fetchone()[0] == before
    assert db.count("ledger", "customer_id = 'c1'") == ledger
    assert sorted(c["number"] for c in target["cards"]) == ["2000001", "2000002"]
    assert target["tags"] == ["vip"] and target["visits"] == 2 and target["merged_from"] == ["c2"]
    assert len(customers.comments(db, admin, "c1")) == 1
    assert db.count("transactions", "customer_id = 'c1'") == 3  # two purchases + the promo
    source = db.customer("c2")
    assert source["merged_into"] == "c1" and source["phone"] is None and source["balance"] == 0
    assert "c2" not in [r["id"] for r in customers.list_customers(db, admin, customers.CustomerQuery(), ZONE).rows]
    # an agent that did not know yet sends a purchase for c2: it lands on c1
    apply_events(db, sale(agents["S2"], "c2", [("SKU-3", "SUSHI", 1_000)], accrued=50))
    assert db.customer("c1")["balance"] == before + 50 == db.ledger_sum("c1")
    assert db.customer("c2")["balance"] == 0
    with pytest.raises(Forbidden):  # the tombstone cannot be changed: its target is
        accounts.adjust_points(db, admin, "c2", {"points": "1", "reason": "x"})


def test_merge_refusals(db, people, shoppers):
    with pytest.raises(FormError):
        merge.merge(db, people["admin"], "c1", "c1")
    with pytest.raises(FormError):
        merge.merge(db, people["admin"], "c1", "nobody")
    with pytest.raises(Forbidden):
        merge.merge(db, people["manager"], "c1", "c2")  # c2 is in S2
    with pytest.raises(Forbidden):
        merge.merge(db, people["viewer"], "c1", "c3")
    merge.merge(db, people["manager"], "c3", "c1")
    with pytest.raises(FormError):
        merge.merge(db, people["admin"], "c3", "c1")
