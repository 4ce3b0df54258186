"""A real agent restored from a backup of its database: the central server sees seqs again,
flags the restore, sets the reused seqs aside, and applies nothing twice."""

from __future__ import annotations

import sqlite3

import pytest

from central.store import Store as CentralStore
from transport.mqtt import wait_until

from .conftest import RealAgent, receipt

pytestmark = pytest.mark.slow


def _commit(agent: RealAgent, receipt_id: str, cid: str) -> int:
    status, body = agent.post("/v1/receipts", {**receipt(receipt_id, 0, 20_000), "customer": {"id": cid}})
    assert status == 201, body
    return int(body["accrued"])


def test_agent_restored_from_a_backup_is_caught_and_nothing_applies_twice(broker, central, db_path, spawn, tmp_path):
    agent = spawn("S1")
    assert agent.wait_online(30)
    cid = agent.register(0)  # seq 1
    earned = sum(_commit(agent, f"A{n}", cid) for n in range(5))  # seqs 2..6
    assert agent.wait_drained(10)
    broker.kill()
    earned += sum(_commit(agent, f"B{n}", cid) for n in range(3))  # seqs 7..9, not yet acknowledged
    # last night's backup (SQLite's online backup, while the agent runs)
    backup = tmp_path / "backup.sqlite"
    with sqlite3.connect(agent.prepared.database) as source, sqlite3.connect(backup) as target:
        source.backup(target)
    broker.restart()
    earned += sum(_commit(agent, f"C{n}", cid) for n in range(5))  # seqs 10..14
    assert agent.wait_drained(20)
    db = CentralStore(db_path)
    assert db.applied_seq("S1", "a1") == 14 and db.customer(cid)["balance"] == earned

    # the store PC's disk dies; the technician restores last night's backup and restarts
    agent.stop()
    for suffix in ("", "-wal", "-shm"):
        agent.prepared.database.with_name(agent.prepared.database.name + suffix).unlink(missing_ok=True)
    backup.rename(agent.prepared.database)
    assert agent.last_seq() == 9 and agent.outbox_depth() == 3  # 7..9 are still waiting there
    agent.start()
    assert wait_until(lambda: db.flags("restored_agent"), 20), "the hello behind the pointer was not caught"
    # new sales after the restore: seqs 10..14 again (new events, new ids), then 15..17
    after = [_commit(agent, f"D{n}", cid) for n in range(8)]
    assert agent.wait_drained(20), agent.outbox_depth()

    assert wait_until(lambda: db.applied_seq("S1", "a1") == 17, 20)
    reused = db.dead_letters("seq_reused")
    assert sorted(row["seq"] for row in reused) == [10, 11, 12, 13, 14]  # set aside for head office
    assert db.get_agent("S1", "a1")["restored_at"] is not None
    # 7..9 were duplicates by id (applied before the restore): not applied again; 15..17 applied
    assert db.count("applied_events") == 17
    assert db.customer(cid)["balance"] == db.ledger_sum(cid) == earned + sum(after[5:])
