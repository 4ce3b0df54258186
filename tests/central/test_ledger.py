"""The central ledger: spending order of lots, debts, refunds, registrations, idempotency register."""

from __future__ import annotations

import sqlite3

import pytest

from central.storage.store import IngestUnit, Store
from central.sync.deltas import customer_page
from tests.sync.fakes import FakeAgent


def _apply(db: Store, *events) -> set[str]:
    last = events[-1]
    return db.commit_ingest(IngestUnit(events=list(events), pointers={(last["store"], last["agent"]): (last["seq"], last["id"])}))


@pytest.fixture
def store(db) -> Store:
    db.add_store("S1")
    db.add_store("S2")
    db.stream_state("S1", "a1")
    db.stream_state("S2", "a1")
    return db


def _lots(db: Store, cid: str) -> dict[str, int]:
    return dict(db.conn.execute("SELECT id, points FROM lots WHERE customer_id = ? ORDER BY id", (cid,)).fetchall())


def test_spending_takes_temporary_lots_first_earliest_expiry_first(store):
    agent = FakeAgent("S1", "a1")
    _apply(store, agent.registration("c1"), agent.purchase("c1", accrued=1000))
    # head office gave two temporary lots (campaigns); one not yet started, one expired
    rows = [("t-late", 300, None, "2027-03-01T00:00:00+00:00"), ("t-soon", 200, None, "2026-12-01T00:00:00+00:00"),
            ("t-expired", 500, None, "2026-11-01T00:00:00+00:00"), ("t-future", 400, "2027-01-01T00:00:00+00:00", None)]
    store.conn.executemany(
        "INSERT INTO lots (id, customer_id, points, initial, starts_at, expires_at, created_at) VALUES (?, 'c1', ?, ?, ?, ?, 'x')",
        [(i, p, p, s, e) for i, p, s, e in rows],
    )
    store.conn.execute("UPDATE customers SET balance = balance + 1400 WHERE id = 'c1'")
    _apply(store, agent.purchase("c1", accrued=0, redeemed=600))
    lots = _lots(store, "c1")
    # 200 from the soonest-expiring, 300 from the next, 100 from permanent; expired and
    # not-yet-started lots are not touched
    assert lots == {"c1:permanent": 900, "t-expired": 500, "t-future": 400, "t-late": 0, "t-soon": 0}
    assert store.debts() == []


def test_redemption_beyond_the_balance_is_applied_and_flagged(store):
    a1, a2 = FakeAgent("S1", "a1"), FakeAgent("S2", "a1")
    _apply(store, a1.registration("c1"), a1.purchase("c1", accrued=500))
    _apply(store, a2.purchase("c1", accrued=0, redeemed=800, offline=True))
    assert store.customer("c1")["balance"] == -300 == store.ledger_sum("c1")
    (debt,) = store.debts()
    assert debt["shortfall"] == 300 and debt["store"] == "S2" and debt["customer_id"] == "c1"


def test_refund_taking_back_points_may_go_negative_without_a_debt(store):
    agent = FakeAgent("S1", "a1")
    _apply(store, agent.registration("c1"), agent.purchase("c1", total=10_000, accrued=500, redeemed=0),
           agent.manual("c1", -400), agent.refund("c1", "S1-a1-1", amount=10_000, accrued=500, redeemed=0))
    customer = store.customer("c1")
    assert customer["balance"] == -400 == store.ledger_sum("c1")
    assert customer["spend"] == 0
    assert store.debts() == []
    kinds = [r[0] for r in store.conn.execute("SELECT kind FROM ledger ORDER BY id")]
    assert kinds == ["accrue", "manual", "refund_accrued"]


def test_registration_keeps_the_agent_id_and_flags_conflicts(store):
    a1, a2 = FakeAgent("S1", "a1"), FakeAgent("S2", "a1")
    _apply(store, a1.registration("c1", phone="+79120000001", card="2000001"))
    _apply(store, a2.registration("c2", phone="+79120000001", card="2000001"))
    assert store.customer("c2")["home_store"] == "S2"
    assert {f["kind"] for f in store.flags()} == {"phone_conflict", "card_conflict"}
    assert store.conn.execute("SELECT customer_id FROM cards WHERE number = '2000001'").fetchone()[0] == "c1"


def test_points_for_an_unknown_customer_are_kept_on_a_stub(store):
    agent = FakeAgent("S1", "a1")
    _apply(store, agent.purchase("ghost", accrued=70))
    assert store.customer("ghost")["stub"] == 1 and store.customer("ghost")["balance"] == 70
    assert store.flags("unknown_customer")


def test_the_register_makes_a_second_apply_impossible(store):
    agent = FakeAgent("S1", "a1")
    env = agent.purchase(None)
    _apply(store, env)
    with pytest.raises(sqlite3.IntegrityError):
        _apply(store, env)
    assert store.count("applied_events") == 1


def test_versions_grow_with_every_change(store):
    agent = FakeAgent("S1", "a1")
    _apply(store, agent.registration("c1"))
    first = store.customer("c1")["version"]
    _apply(store, agent.purchase("c1"))
    assert store.customer("c1")["version"] > first
    deltas, upto, more = customer_page(store, "S1", first)
    assert [d["customer_id"] for d in deltas] == ["c1"] and upto == store.customer("c1")["version"] and not more
