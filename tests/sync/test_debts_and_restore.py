"""Offline double spending becomes a flagged debt; an agent restored from a backup is caught and recovered."""

from __future__ import annotations

import pytest

from central.storage.store import Store
from tests.polling import wait_for

from .sim_agent import SimAgent

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def test_two_stores_spending_the_same_points_make_a_flagged_debt(mosquitto, central, db_path):
    s1 = SimAgent(mosquitto.url, "S1", "a1").start()
    s2 = SimAgent(mosquitto.url, "S2", "a1").start()
    try:
        s1.write_all([s1.registration("c1"), s1.purchase("c1", total=20_000, accrued=1000)])
        assert s1.wait_drained(10)
        # both stores saw 1000 points and, offline, each let the customer redeem 800
        s1.write(s1.purchase("c1", total=5000, accrued=0, redeemed=800, offline=True))
        s2.write(s2.purchase("c1", total=5000, accrued=0, redeemed=800, offline=True))
        assert s1.wait_drained(10) and s2.wait_drained(10)
        db = Store(db_path)
        customer = db.customer("c1")
        assert customer["balance"] == -600 == db.ledger_sum("c1")  # applied, never dropped
        debts = db.debts()
        assert len(debts) == 1 and debts[0]["shortfall"] == 600 and debts[0]["balance_after"] == -600
        assert db.count("applied_events") == 4
        # the new state reaches both stores as a delta
        assert wait_for(
            lambda: (
                s1.customers.get("c1", {}).get("lots") == [{"id": "c1:permanent", "points": -600, "expires_at": None}]
            ),
            10,
        )
        assert wait_for(lambda: s2.customers.get("c1", {}).get("version") == customer["version"], 10)
        assert s2.customers["c1"]["applied"] == {"a1": 1}  # S2's agent: its seq 1 is reflected
    finally:
        s1.stop()
        s2.stop()


def test_agent_restored_from_a_backup_has_its_new_sales_applied_once(mosquitto, central, db_path):
    agent = SimAgent(mosquitto.url, "S1", "a1").start()
    events = [agent.registration("c1")] + [agent.purchase("c1", accrued=100) for _ in range(9)]  # receipts 1..9
    agent.write_all(events)
    assert agent.wait_drained(10)
    agent.stop()
    db = Store(db_path)
    assert db.customer("c1")["balance"] == 900

    # the store PC died; its database comes back from last night's backup, taken at seq 5 with
    # events 4 and 5 still unacknowledged in its outbox
    restored = SimAgent(mosquitto.url, "S1", "a1", start_seq=5)
    restored.receipts = 100  # its new sales get new receipt numbers
    restored.write_all(events[3:5])
    # seq 6: the till retries receipt 7 (seq 8 before), which the lost database had recorded;
    # seqs 7..12: new sales, the first four under seqs the central server handled before
    retried = restored.envelope("purchase", dict(events[7]["body"]))
    fresh = [restored.purchase("c1", accrued=1) for _ in range(6)]
    restored.write_all([retried, *fresh])
    restored.start()
    try:
        assert restored.wait_drained(15), "the restored agent's outbox was not acknowledged"
        assert wait_for(lambda: db.applied_seq("S1", "a1") == 12, 10)
        assert db.flags("restored_agent"), "head office was not told"
        assert db.get_agent("S1", "a1")["restored_at"] is not None
        assert db.get_agent("S1", "a1")["recovery_end"] is None  # every reused seq came in
        # 4 and 5 were duplicates (same ids); 6 repeats receipt 7: consumed without effect
        assert [(row["seq"], row["event_id"]) for row in db.dead_letters()] == [(6, retried["id"])]
        assert db.dead_letters()[0]["reason"] == "duplicate_receipt"
        # 7..10 applied by recovery, 11 and 12 in sequence: every sale once
        recovered = db.conn.execute("SELECT seq FROM applied_events WHERE recovery = 'applied' ORDER BY seq").fetchall()
        assert [row[0] for row in recovered] == [7, 8, 9, 10]
        assert db.customer("c1")["balance"] == 906 == db.ledger_sum("c1")
        assert db.count("applied_events") == 17
        receipts = db.conn.execute("SELECT receipt_id, COUNT(*) FROM transactions GROUP BY receipt_id").fetchall()
        assert len(receipts) == 15 and all(count == 1 for _, count in receipts)
    finally:
        restored.stop()


def test_hello_behind_the_pointer_flags_a_restore_before_any_event(mosquitto, central, db_path):
    agent = SimAgent(mosquitto.url, "S1", "a1").start()
    agent.write_all([agent.registration("c1")] + [agent.purchase("c1") for _ in range(4)])
    assert agent.wait_drained(10)
    agent.stop()
    restored = SimAgent(mosquitto.url, "S1", "a1", start_seq=2).start()  # a backup taken at seq 2
    db = Store(db_path)
    try:
        assert wait_for(lambda: db.flags("restored_agent"), 10)
        assert "next seq is 3" in db.flags("restored_agent")[0]["detail"]
        assert db.get_agent("S1", "a1")["reported_next_seq"] == 3
        assert restored.ack_mismatches == 0 and not restored.outbox  # the hello's ack deleted nothing
    finally:
        restored.stop()
