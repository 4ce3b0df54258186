"""Kill the central server (``loyalty-central serve``, its triggers' engine inside) between deciding an
action and doing it: after a restart the action is done exactly once (its effect, the register row and
the run's progress are one transaction)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from central.services import triggers as service
from central.services.access import SYSTEM
from central.storage.store import IngestUnit, Store
from tests.messages.conftest import free_port
from tests.polling import wait_for
from tests.sync.fakes import FakeAgent

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql
ROOT = Path(__file__).resolve().parents[2]


def serve(tmp_path: Path, db_file: str, pause: float, name: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "LOYALTY_CENTRAL_DATABASE": json.dumps(db_file),
        "LOYALTY_CENTRAL_EMBEDDED_BROKER_PORT": str(free_port()),
        "LOYALTY_CENTRAL_INGEST": "false",
        "LOYALTY_CENTRAL_MESSAGES_SENDER": "false",
        "LOYALTY_CENTRAL_NIGHTLY_HOUR": "-1",
        "LOYALTY_CENTRAL_TRIGGERS_INTERVAL": "0.2",
        "LOYALTY_TRIGGERS_PAUSE": str(pause),
        "LOYALTY_TRIGGERS_MARK": str(tmp_path / "mark"),
        "PYTHONPATH": str(ROOT),
    }
    with open(tmp_path / f"{name}.log", "w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "central.cli", "serve", "--port", str(free_port())],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )


def promo(db_file: str) -> list[dict]:
    db = Store(db_file)
    try:
        return db.rows("SELECT customer_id, points FROM ledger WHERE kind = 'bonus.promo'")
    finally:
        db.close()


def test_killed_between_deciding_and_doing_the_action_is_done_once(tmp_path):
    db_file = str(tmp_path / "central.sqlite")
    db = Store(db_file)
    db.add_store("S1", "Demo", "Europe/Moscow")
    db.stream_state("S1", "a1")
    agent = FakeAgent("S1")
    event = agent.registration("c1")
    db.commit_ingest(IngestUnit(events=[event], pointers={("S1", "a1"): (event["seq"], event["id"])}))
    doc = service.templates("S1")["welcome"] | {"hours": list(range(24))}
    doc["steps"][0]["actions"].append({"type": "cashier_message", "text": "Welcome!"})
    doc["steps"][0]["actions"].append({"type": "percent", "percent": 7, "days": 30})  # a percent with an end
    tid = service.create(db, SYSTEM, doc)
    service.start(db, SYSTEM, tid, dt.datetime.now(dt.UTC))
    db.close()

    first = serve(tmp_path, db_file, 60, "first")
    try:
        wait_for(lambda: (tmp_path / "mark").exists(), timeout=30)
        os.killpg(first.pid, signal.SIGKILL)  # decided, not yet done
        first.wait(10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert promo(db_file) == []
    db = Store(db_file)
    assert db.rows("SELECT network_percent FROM customers WHERE id = 'c1'") == [{"network_percent": None}]
    db.close()

    second = serve(tmp_path, db_file, 0, "second")
    try:
        wait_for(lambda: promo(db_file), timeout=40)
        time.sleep(1.0)  # more passes: nothing is repeated
    finally:
        second.terminate()
        second.wait(20)
    assert promo(db_file) == [{"customer_id": "c1", "points": 10000}]
    db = Store(db_file)
    assert db.count("customer_messages") == 1
    assert db.count("trigger_actions") == 3
    [row] = db.rows("SELECT network_percent, network_percent_ends_at FROM customers WHERE id = 'c1'")
    assert row["network_percent"] == "7" and row["network_percent_ends_at"] is not None
    assert db.rows("SELECT phase FROM trigger_runs") == [{"phase": "done"}]
    db.close()
