"""System tests: real `loyalty-agent serve` processes, a real Mosquitto, the real central ingest.

Each agent is a child process (agent/testing.py) with its own SQLite file and
POS API port, configured with the broker; the central ingest runs in the test
process (tests/sync/conftest.py IngestRunner) against a real central database.
Nothing is simulated but the tills, which are HTTP clients here.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.testing import AgentProcess, card_number, prepare_agent, request
from central.storage.store import NotFound
from central.storage.store import Store as CentralStore
from tests.polling import wait_for
from tests.sync.broker import Mosquitto
from tests.sync.conftest import central, mosquitto  # noqa: F401  (the sync tests' fixtures, on db_path below)

ROOT = Path(__file__).resolve().parents[2]
RULES = json.loads((ROOT / "docs" / "examples" / "rules.json").read_text(encoding="utf-8"))
STORES = ("S1", "S2", "S3")


class RealAgent:
    """One real agent process of a store, with the till's calls and read-only looks at its database."""

    def __init__(self, folder: Path, store: str, broker_url: str, agent: str = "a1", **settings: Any) -> None:
        settings.setdefault("broker_reconnect_max", 1)
        settings.setdefault("offline_after_seconds", 30)
        self.store, self.agent = store, agent
        self.prepared = prepare_agent(
            folder, customers=0, rules=False, store_id=store, agent_id=agent, broker_url=broker_url, **settings
        )
        self.process = AgentProcess(self.prepared, log=folder / "agent.log")
        self.log = folder / "agent.log"

    def start(self) -> RealAgent:
        self.process.start()
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.process.kill(sig)

    def stop(self) -> None:
        """SIGTERM: the clean way out (status offline, database closed)."""
        self.process.kill(signal.SIGTERM)

    # -- the till

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return request(self.prepared.port, method, path, body, self.prepared.key, timeout=30)

    def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        return self.call("POST", path, body)

    def health(self) -> dict[str, Any]:
        return self.call("GET", "/v1/health")[1]

    def register(self, i: int) -> str:
        status, body = self.post(
            "/v1/customers",
            {
                "phone": f"+7912{i:07d}",
                "card": card_number(i),
                "name": f"Customer {i}",
                "consents": {"personal_data": True},
            },
        )
        assert status == 201, body
        return body["customer_id"]

    def identify(self, i: int) -> tuple[int, Any]:
        return self.post("/v1/identify", {"card": card_number(i)})

    def commit(self, receipt_id: str, i: int, amount: int, redeem: int = 0) -> tuple[int, Any]:
        return self.post("/v1/receipts", receipt(receipt_id, i, amount, redeem))

    # -- its database, read-only

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        conn = sqlite3.connect(f"file:{self.prepared.database}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def outbox_depth(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM outbox")[0][0])

    def last_seq(self) -> int:
        rows = self.query("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")
        return int(rows[0][0]) if rows else 0

    def state(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM sync_state WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def customer_version(self, customer_id: str) -> int | None:
        rows = self.query("SELECT version FROM customers WHERE id = ?", (customer_id,))
        return rows[0][0] if rows else None

    def wait_drained(self, timeout: float = 60) -> bool:
        return wait_for(lambda: self.outbox_depth() == 0, timeout, 0.1)

    def wait_online(self, timeout: float = 30) -> bool:
        return wait_for(
            lambda: self.health().get("link") == "online" and self.health().get("rules_version"), timeout, 0.1
        )


def receipt(receipt_id: str, i: int, amount: int, redeem: int = 0) -> dict[str, Any]:
    """A one-line receipt (pos-api.md) for the holder of card i."""
    return {
        "receipt_id": receipt_id,
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "customer": {"card": card_number(i)},
        "lines": [{"sku": "SKU-1", "name": "Tea", "quantity": "1", "amount": amount}],
        "redeem": redeem,
    }


def wait_caught_up(agent: RealAgent, db: CentralStore, customer_ids: list[str], timeout: float = 30) -> bool:
    """The agent holds every customer at the central server's current version."""

    def done() -> bool:
        try:
            return all(agent.customer_version(cid) == db.customer(cid)["version"] for cid in customer_ids)
        except NotFound:  # not at the central server yet
            return False

    return wait_for(done, timeout, 0.2)


@pytest.fixture
def broker(mosquitto: Mosquitto) -> Mosquitto:
    """The real Mosquitto of the sync tests (anonymous, persistence on, free port)."""
    return mosquitto


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    """The central database (overrides the sync tests'): stores S1..S3, each with the example rule set."""
    path = str(tmp_path / "central.sqlite")
    db = CentralStore(path)
    for store in STORES:
        db.add_store(store, f"Store {store}", "Europe/Moscow")
        db.add_rules(store, RULES)
    db.close()
    return path


@pytest.fixture
def spawn(tmp_path: Path, broker: Mosquitto) -> Iterator[Any]:
    """spawn(store, agent="a1", **settings) -> a started RealAgent; all are killed at the end."""
    started: list[RealAgent] = []

    def make(store: str, agent: str = "a1", *, start: bool = True, **settings: Any) -> RealAgent:
        real = RealAgent(tmp_path / f"agent-{store}-{agent}", store, broker.url, agent, **settings)
        started.append(real)
        return real.start() if start else real

    yield make
    for real in started:
        real.kill()
