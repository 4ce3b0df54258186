"""Two ingest workers on one central database (PostgreSQL with --backend=postgresql), real agents through a real
Mosquitto, one worker SIGKILLed mid-stream and started again: nothing lost, nothing doubled, each agent's events
applied in their order, its partitions taken over by the other worker meanwhile (docs/scale.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from central.storage.store import Store as CentralStore
from tests.polling import wait_for

from .conftest import RULES, STORES, wait_caught_up
from .test_crashes import _check_exactly_once
from .tills import Ledger, Till, register_customers

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 8  # S1/a1 -> 3, S2/a1 -> 5, S3/a1 -> 0: the first worker keeps 0-3, the second takes 4-7
RECEIPTS = 1500


@pytest.fixture
def db_path(central_database: str) -> str:
    """The central database of the sync tests' choice (SQLite file or PostgreSQL), with the example rules."""
    db = CentralStore(central_database)
    for store in STORES:
        db.add_store(store, f"Store {store}", "Europe/Moscow")
        db.add_rules(store, RULES)
    db.close()
    return central_database


class Worker:
    """``loyalty-central ingest --worker NAME``: one ingest process of several."""

    def __init__(self, name: str, db: str, broker_url: str, folder: Path) -> None:
        self.name, self.log = name, folder / f"ingest-{name}.log"
        self.args = [sys.executable, "-m", "central.cli", "ingest", "--worker", name, "--db", db]
        self.args += ["--mqtt-url", broker_url]
        self.env = {
            **os.environ,
            "LOYALTY_CENTRAL_INGEST_PARTITIONS": str(PARTITIONS),
            "LOYALTY_CENTRAL_INGEST_LEASE_SECONDS": "2.0",
            "LOYALTY_CENTRAL_GAP_WAIT": "0.5",
            "LOYALTY_CENTRAL_NIGHTLY_HOUR": json.dumps(-1),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(self.args, env=self.env, cwd=ROOT, stdout=out, stderr=out)
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _holders(db: CentralStore) -> dict[int, str]:
    try:
        return dict(db.conn.execute("SELECT part, holder FROM ingest_leases").fetchall())
    except Exception:  # the table comes with the first worker's first beat
        return {}


def test_two_workers_one_killed_mid_stream_lose_and_double_nothing(broker, db_path, spawn, tmp_path):
    workers = [Worker("w1", db_path, broker.url, tmp_path)]
    db = CentralStore(db_path)
    try:
        workers[0].start()
        # a worker process on a loaded machine takes a while to import, connect and take its first leases
        assert wait_for(lambda: len(_holders(db)) == PARTITIONS, 60), workers[0].log.read_text()[-3000:]
        workers.append(Worker("w2", db_path, broker.url, tmp_path).start())
        assert wait_for(lambda: set(_holders(db).values()) == {"w1", "w2"}, 60), _holders(db)
        agents = [spawn(store) for store in STORES]
        assert all(a.wait_online(30) for a in agents)
        ids = register_customers(agents, 30)
        assert all(wait_caught_up(a, db, list(ids.values()), 30) for a in agents)  # down-sync from one publisher
        ledger = Ledger()
        per_till = RECEIPTS // (len(agents) * 2)
        tills = [
            Till(agent, f"{agent.store}-T{t}", list(ids), per_till, ledger, seed=k)
            for k, (agent, t) in enumerate((a, t) for a in agents for t in range(2))
        ]
        for till in tills:
            till.start()
        assert wait_for(lambda: sum(t.done for t in tills) >= RECEIPTS // 3, 120)
        holders = _holders(db)
        victim = workers[0]
        victim.kill()  # mid-stream, mid-batch maybe: no goodbye, its leases just stop being renewed
        busy = sum(a.outbox_depth() for a in agents)
        # the survivor takes the dead worker's partitions once their leases run out
        assert wait_for(lambda: set(_holders(db).values()) == {"w2"}, 30), _holders(db)
        assert wait_for(lambda: sum(t.done for t in tills) >= 2 * RECEIPTS // 3, 120)
        victim.start()  # back again: it gets its share once more
        assert wait_for(lambda: set(_holders(db).values()) == {"w1", "w2"}, 60), _holders(db)
        for till in tills:
            till.join(300)
            assert till.error is None, till.error
        assert all(a.wait_drained(120) for a in agents), [a.outbox_depth() for a in agents]
        assert busy > 0, "the worker was not killed in the middle of traffic"
        _check_exactly_once(db, agents, ledger, ids)
        for agent in agents:
            # per-agent order: the ledger's rows of each agent follow its event sequence
            seqs = [
                r[0]
                for r in db.conn.execute(
                    "SELECT e.seq FROM ledger l JOIN applied_events e ON e.id = l.event_id"
                    " WHERE e.store = ? AND e.agent = ? ORDER BY l.id",
                    (agent.store, agent.agent),
                ).fetchall()
            ]
            assert seqs == sorted(seqs), agent.store
        assert set(holders.values()) == {"w1", "w2"}
        assert all(wait_caught_up(a, db, list(ids.values()), 60) for a in agents)
        time.sleep(0.1)
    finally:
        for worker in workers:
            worker.kill(signal.SIGTERM)
        db.close()
