"""Card categories and ranges, issuing the next free number, block, unblock, reassign, main card."""

from __future__ import annotations

import pytest

from central.services import cards
from central.services.access import Forbidden, FormError
from central.sync.deltas import customer_page
from shared.identifiers import luhn_valid

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def _cards_in_delta(db, cid, store="S1"):
    deltas, _, _ = customer_page(db, store, 0, 10_000)
    return next(d for d in deltas if d["customer_id"] == cid)["cards"]


def test_categories_refuse_overlapping_ranges(db, people):
    marketer = people["marketer"]
    cards.add_category(
        db, marketer, {"name": "Plastic", "first_number": "770000000000000", "count": "1000", "luhn": "1"}
    )
    with pytest.raises(FormError) as caught:
        cards.add_category(
            db, marketer, {"name": "Other", "first_number": "770000000000500", "count": "10", "luhn": "1"}
        )
    assert "overlaps" in caught.value.errors["first_number"]
    with pytest.raises(FormError) as caught:
        cards.add_category(db, marketer, {"name": "Plastic", "first_number": "99", "count": "0"})
    assert set(caught.value.errors) == {"name", "first_number", "count"}
    with pytest.raises(Forbidden):
        cards.add_category(db, people["manager"], {"name": "X", "first_number": "5500", "count": "10"})


def test_issue_the_next_free_number_skipping_used_ones(db, people, shoppers):
    marketer = people["marketer"]
    ident = cards.add_category(
        db, marketer, {"name": "Virtual", "first_number": "7700000000", "count": "3", "electronic": "1", "luhn": "1"}
    )
    taken = cards.make_number({"first_number": "7700000000", "luhn": 1}, 0)
    db.conn.execute("INSERT INTO cards (number, customer_id, created_at) VALUES (?, 'c2', 'x')", (taken,))
    number = cards.issue_card(db, marketer, "c3", {"category": str(ident)})
    assert number == cards.make_number({"first_number": "7700000000", "luhn": 1}, 1) and luhn_valid(number)
    assert number.startswith("7700000001")
    account_cards = _cards_in_delta(db, "c3")
    assert account_cards == [{"number": number, "status": "active"}]
    assert db.rows("SELECT main, category_id FROM cards WHERE number = ?", (number,)) == [
        {"main": 1, "category_id": ident}
    ]
    cards.issue_card(db, marketer, "c3", {"category": str(ident)})
    with pytest.raises(FormError) as caught:
        cards.issue_card(db, marketer, "c3", {"category": str(ident)})
    assert "Every number" in caught.value.errors["category"]
    with pytest.raises(FormError):
        cards.issue_card(db, marketer, "c3", {"number": "2000001"})  # c1's card


def test_block_unblock_and_main_card(db, people, shoppers):
    manager = people["manager"]
    with pytest.raises(FormError):
        cards.block_card(db, manager, "2000001", "")
    cards.block_card(db, manager, "2000001", "lost")
    assert _cards_in_delta(db, "c1") == [{"number": "2000001", "status": "blocked", "reason": "lost"}]
    with pytest.raises(Forbidden):
        cards.block_card(db, manager, "2000002", "lost")  # a card of S2's customer
    cards.unblock_card(db, manager, "2000001")
    assert _cards_in_delta(db, "c1") == [{"number": "2000001", "status": "active"}]
    second = cards.issue_card(db, manager, "c1", {"number": "5000 0001"})
    cards.set_main(db, manager, second)
    assert [r["number"] for r in db.rows("SELECT number FROM cards WHERE customer_id = 'c1' AND main = 1")] == [second]
    actions = [r[0] for r in db.conn.execute("SELECT action FROM audit_log WHERE entity = 'card' ORDER BY id")]
    assert actions == ["card.block", "card.unblock", "card.issue", "card.main"]


def test_reassign_moves_the_card_and_both_customers_go_down(db, people, shoppers):
    admin = people["admin"]
    v1, v3 = db.customer("c1")["version"], db.customer("c3")["version"]
    cards.reassign_card(db, admin, "2000001", "c3")
    assert db.customer("c1")["version"] > v1 and db.customer("c3")["version"] > db.customer("c1")["version"] > v3
    assert _cards_in_delta(db, "c1") == [] and _cards_in_delta(db, "c3") == [{"number": "2000001", "status": "active"}]
    with pytest.raises(FormError):
        cards.reassign_card(db, admin, "2000001", "nobody")
    with pytest.raises(Forbidden):
        cards.reassign_card(db, people["manager"], "2000001", "c2")  # c2 is not the manager's
