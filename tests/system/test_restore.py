"""A real agent restored from a backup of its database: the central server sees seqs again,
flags the restore, applies the new sales once (a till's retry of a lost sale too, once) and
nothing twice."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from central.storage.store import Store as CentralStore
from tests.polling import wait_for

from .conftest import RealAgent, receipt

pytestmark = pytest.mark.slow


def _sale(receipt_id: str, cid: str) -> dict[str, Any]:
    return {**receipt(receipt_id, 0, 20_000), "customer": {"id": cid}}


def _commit(agent: RealAgent, body: dict[str, Any]) -> int:
    status, answer = agent.post("/v1/receipts", body)
    assert status == 201, answer
    return int(answer["accrued"])


def test_agent_restored_from_a_backup_gets_every_acknowledged_sale_in_once(broker, central, db_path, spawn, tmp_path):
    agent = spawn("S1")
    assert agent.wait_online(30)
    cid = agent.register(0)  # seq 1
    earned = {f"A{n}": _commit(agent, _sale(f"A{n}", cid)) for n in range(5)}  # seqs 2..6
    assert agent.wait_drained(10)
    broker.kill()
    earned |= {f"B{n}": _commit(agent, _sale(f"B{n}", cid)) for n in range(3)}  # seqs 7..9, not yet acknowledged
    # last night's backup (SQLite's online backup, while the agent runs)
    backup = tmp_path / "backup.sqlite"
    with sqlite3.connect(agent.prepared.database) as source, sqlite3.connect(backup) as target:
        source.backup(target)
    broker.restart()
    lost = {f"C{n}": _sale(f"C{n}", cid) for n in range(5)}  # seqs 10..14: only the central server keeps them
    earned |= {rid: _commit(agent, body) for rid, body in lost.items()}
    assert agent.wait_drained(20)
    db = CentralStore(db_path)
    assert db.applied_seq("S1", "a1") == 14 and db.customer(cid)["balance"] == sum(earned.values())

    # the store PC's disk dies; the technician restores last night's backup and restarts
    agent.stop()
    for suffix in ("", "-wal", "-shm"):
        agent.prepared.database.with_name(agent.prepared.database.name + suffix).unlink(missing_ok=True)
    backup.rename(agent.prepared.database)
    assert agent.last_seq() == 9 and agent.outbox_depth() == 3  # 7..9 are still waiting there
    agent.start()
    # its hello names its last event (seq 9), which the central server handled: that proves nothing
    # (a stale hello the broker delivered again looks the same), so the restore is noticed by the
    # first new event under a handled seq
    assert agent.wait_online(30)
    assert not db.flags("restored_agent")
    # the till retries C2 (it never saw its answer, say): the restored database does not know it,
    # so the agent commits it again (seq 10). Then new sales: seqs 11..14 again (new ids), then 15..18.
    assert _commit(agent, lost["C2"]) == earned["C2"]
    assert wait_for(lambda: db.flags("restored_agent"), 20), "the new id under seq 10 was not caught"
    earned |= {f"D{n}": _commit(agent, _sale(f"D{n}", cid)) for n in range(8)}
    assert agent.wait_drained(30), agent.outbox_depth()

    assert wait_for(lambda: db.applied_seq("S1", "a1") == 18, 20)
    assert db.get_agent("S1", "a1")["restored_at"] is not None
    assert db.get_agent("S1", "a1")["recovery_end"] is None  # every reused seq came in
    # the retry repeats C2, which the ledger holds: consumed without effect, and said so
    [retry] = db.dead_letters()
    assert (retry["reason"], retry["seq"]) == ("duplicate_receipt", 10) and "receipt C2 " in retry["detail"]
    recovered = db.conn.execute("SELECT seq FROM applied_events WHERE recovery = 'applied' ORDER BY seq").fetchall()
    assert [row[0] for row in recovered] == [11, 12, 13, 14]
    # 7..9 were duplicates by id (applied before the restore). Every sale the till got a 201 for
    # (before the backup, between the backup and the restore, after it) is in the ledger once.
    in_ledger = dict(
        db.conn.execute(
            "SELECT receipt_id, COUNT(*) FROM transactions WHERE kind = 'purchase' GROUP BY receipt_id"
        ).fetchall()
    )
    assert in_ledger == dict.fromkeys(earned, 1)
    accrued = dict(db.conn.execute("SELECT receipt_id, accrued FROM transactions").fetchall())
    assert accrued == earned
    assert db.customer(cid)["balance"] == db.ledger_sum(cid) == sum(earned.values())
    assert db.count("applied_events") == 14 + 1 + 8  # the retry is registered too (consumed)
