"""Ingest commits beside each other on PostgreSQL (central/storage/write_lock.py, docs/scale.md).

Two workers' commits share the write lock: one held open does not stop the other's; one customer is still one
commit's at a time; versions follow commit order; a deadlock is retried as a whole unit, alone, never
dead-lettered. Real PostgreSQL, real locks: a commit is held open by its fence (the first thing it runs inside
its transaction) waiting for the test.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from central.storage.partitions import holds
from central.storage.store import IngestUnit, Store
from central.storage.write_lock import TAIL_LOCK, WRITE_LOCK
from tests.sync.fakes import FakeAgent

pytestmark = pytest.mark.postgresql


@pytest.fixture
def pg(db: Store) -> Store:
    if not db.postgresql:
        pytest.skip("concurrent ingest commits are PostgreSQL's (--backend=postgresql); SQLite has one writer")
    db.add_store("S1")
    db.add_store("S2")
    db.stream_state("S1", "a1")
    db.stream_state("S2", "a1")
    return db


def _unit(*events: dict[str, Any]) -> IngestUnit:
    last = events[-1]
    return IngestUnit(events=list(events), pointers={(last["store"], last["agent"]): (last["seq"], last["id"])})


class Held:
    """A fence that keeps its commit's transaction open until released (and may lock a customer first, as the
    commit's own prefetch would)."""

    def __init__(self, customer: str | None = None) -> None:
        self.customer = customer
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, conn: Any) -> bool:
        if self.customer is not None:
            conn.execute("SELECT id FROM customers WHERE id = ? FOR UPDATE", (self.customer,))
        self.entered.set()
        assert self.release.wait(60)
        return True


def _in_thread(target: Any, *args: Any, **kwargs: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = target(*args, **kwargs)
        except BaseException as exc:  # the test asserts on it
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def _registered(db: Store) -> tuple[FakeAgent, FakeAgent]:
    a1, a2 = FakeAgent("S1", "a1"), FakeAgent("S2", "a1")
    db.commit_ingest(_unit(a1.registration("c1")))
    db.commit_ingest(_unit(a2.registration("c2")))
    return a1, a2


def test_two_ingest_commits_overlap_and_versions_follow_commit_order(pg):
    a1, a2 = _registered(pg)
    first, second, third = Store(pg.path), Store(pg.path), Store(pg.path)
    try:
        held = Held()
        a, a_out = _in_thread(first.commit_ingest, _unit(a1.purchase("c1", accrued=500)), held)
        assert held.entered.wait(30)
        # the other worker's commit goes through while the first one's transaction is open
        b, b_out = _in_thread(second.commit_ingest, _unit(a2.purchase("c2", accrued=300)))
        b.join(30)
        assert not b.is_alive() and "error" not in b_out, b_out
        assert b_out["result"] == {"c2"}
        # any other writer (the console, the nightly job) still waits for every ingest commit
        c, c_out = _in_thread(_exclusive_write, third)
        time.sleep(1.0)
        assert c.is_alive() and a.is_alive()
        held.release.set()
        a.join(30)
        c.join(30)
        assert not a.is_alive() and not c.is_alive()
        assert "error" not in a_out and "error" not in c_out, (a_out, c_out)
        assert a_out["result"] == {"c1"}
    finally:
        for store in (first, second, third):
            store.close()
    assert pg.customer("c1")["balance"] == 500 == pg.ledger_sum("c1")
    assert pg.customer("c2")["balance"] == 300 == pg.ledger_sum("c2")
    # versions and transaction ids are given out in the tail section, in commit order: c2's commit came first
    assert pg.customer("c2")["version"] < pg.customer("c1")["version"]
    ids = dict(pg.conn.execute("SELECT customer_id, id FROM transactions WHERE kind = 'purchase'").fetchall())
    assert ids["c2"] < ids["c1"]
    assert pg.ingest_retries == 0 and first.ingest_retries == 0 and second.ingest_retries == 0
    assert pg.dead_letters() == []


def _exclusive_write(store: Store) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE stores SET name = name WHERE id = 'S1'")


def test_one_customer_is_one_commits_at_a_time(pg):
    a1, a2 = _registered(pg)
    first, second = Store(pg.path), Store(pg.path)
    try:
        held = Held(customer="c1")  # as the first commit's prefetch locks the customers it applies
        a, a_out = _in_thread(first.commit_ingest, _unit(a1.purchase("c1", accrued=500)), held)
        assert held.entered.wait(30)
        b, b_out = _in_thread(second.commit_ingest, _unit(a2.purchase("c1", accrued=300)))
        time.sleep(1.0)
        assert b.is_alive()  # it waits for c1's row, not for the whole write lock
        held.release.set()
        for thread in (a, b):
            thread.join(30)
            assert not thread.is_alive()
        assert "error" not in a_out and "error" not in b_out, (a_out, b_out)
    finally:
        first.close()
        second.close()
    # neither update lost: the second read the customer and its lots after the first committed
    assert pg.customer("c1")["balance"] == 800 == pg.ledger_sum("c1")
    assert pg.count("lots", "customer_id = 'c1'") == 1
    assert first.ingest_retries == 0 and second.ingest_retries == 0


def _waiting_advisory(store: Store) -> int:
    row = store.conn.execute("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()
    return int(row[0])


def test_a_deadlock_is_retried_alone_never_dead_lettered(pg):
    a1, _ = _registered(pg)
    other, watcher = Store(pg.path), Store(pg.path)
    try:
        # another ingest commit (raw SQL, for the order of its locks): it is in its tail section ...
        conn = other.conn
        conn.execute("BEGIN")
        conn.execute("SET LOCAL deadlock_timeout = '20s'")  # so the ingest below is the one PostgreSQL aborts
        conn.execute(f"SELECT pg_advisory_xact_lock_shared({WRITE_LOCK})")
        conn.execute(f"SELECT pg_advisory_xact_lock({TAIL_LOCK})")
        # ... while the ingest's commit locks c1 at its prefetch, applies, and waits for the tail section
        event = a1.purchase("c1", accrued=500)
        t, t_out = _in_thread(pg.commit_ingest, _unit(event))
        deadline = time.monotonic() + 30
        while _waiting_advisory(watcher) == 0:
            assert time.monotonic() < deadline and t.is_alive(), t_out
            time.sleep(0.05)
        # the other one now wants c1: a deadlock; PostgreSQL aborts the ingest's commit (its timeout is shorter)
        conn.execute("SELECT id FROM customers WHERE id = 'c1' FOR UPDATE")
        conn.execute("COMMIT")
        t.join(30)
        assert not t.is_alive() and "error" not in t_out, t_out
    finally:
        other.close()
        watcher.close()
    assert t_out["result"] == {"c1"}
    assert pg.ingest_retries == 1  # rolled back and applied again, alone
    assert pg.customer("c1")["balance"] == 500 == pg.ledger_sum("c1")
    assert pg.count("applied_events", "id = ?", (event["id"],)) == 1
    assert pg.applied_seq("S1", "a1") == event["seq"]
    assert pg.dead_letters() == []


def test_a_lease_renews_during_its_holders_commit_and_is_taken_only_after_it(pg):
    a1, _ = _registered(pg)
    holder, renewer, taker = Store(pg.path), Store(pg.path), Store(pg.path)
    try:
        assert holder.rebalance_partitions("w1", 2, 30.0) == {0, 1}
        release = threading.Event()

        def fence(conn: Any) -> bool:  # the ingest's fence (central/sync/ingest.py), then held open
            ok = holds(conn, "w1", 0) and holds(conn, "w1", 1)
            assert release.wait(60)
            return ok

        a, a_out = _in_thread(holder.commit_ingest, _unit(a1.purchase("c1", accrued=500)), fence)
        time.sleep(0.5)
        # the holder's own renewal does not wait for its commit (else a long commit cost it its leases)
        r, r_out = _in_thread(renewer.rebalance_partitions, "w1", 2, 30.0)
        r.join(10)
        assert not r.is_alive() and r_out.get("result") == {0, 1}, r_out
        # its leases run out (a paused worker): another worker's take waits for the commit in progress
        renewer.conn.execute("UPDATE ingest_leases SET expires_at = '2000-01-01T00:00:00.000+00:00'")
        t, t_out = _in_thread(taker.rebalance_partitions, "w2", 2, 30.0)
        time.sleep(1.0)
        assert t.is_alive() and a.is_alive()
        release.set()
        a.join(30)
        t.join(30)
        assert "error" not in a_out and a_out["result"] == {"c1"}, a_out
        assert "error" not in t_out and t_out["result"], t_out  # taken once the commit ended
    finally:
        for store in (holder, renewer, taker):
            store.close()
    assert pg.customer("c1")["balance"] == 500
