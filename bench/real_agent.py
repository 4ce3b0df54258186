"""The real store agent as a bench/sync.py agent: ``--agent-factory bench.real_agent:real_agent_factory``.

Each bench agent process holds a real agent: its SQLite database (agent/store,
WAL, ``synchronous=FULL``: every commit is fsynced), its service layer
(agent/service.py) and its sync client (agent/sync.py) talking to the broker.
Receipts are committed **through the agent service in-process**, the code the
POS API runs for ``POST /v1/receipts`` minus HTTP parsing and the waitress
thread: the benchmark is about the sync, and HTTP on two shared cores would
only measure HTTP (bench/pos_api.py does that).

It offers what bench/sync.py asks of an agent (the SimAgent interface):
``registration``/``purchase`` build requests, ``write_all`` commits them,
``lags`` holds commit-to-ack times, ``go_offline``/``go_online`` stop and
start the sync client, ``hold``/``release`` keep a burst in the outbox until
it is fully committed (so the burst measures the pipeline, not the commit rate,
which ``commit_rate`` reports).
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from agent.config import load_config
from agent.service import Service
from agent.store import Store
from agent.sync import SyncClient
from agent.testing import card_number, prepare_agent


class RealAgent:
    """A real agent's store, service and sync client in this process."""

    def __init__(self, url: str, store: str, agent: str = "a1") -> None:
        self.store, self.agent = store, agent
        self.folder = Path(tempfile.mkdtemp(prefix=f"bench-agent-{store}-"))
        # bench/sync.py --agent-reconnect-max; otherwise the setting's default
        reconnect = (
            {"broker_reconnect_max": int(os.environ["BENCH_AGENT_RECONNECT_MAX"])}
            if os.environ.get("BENCH_AGENT_RECONNECT_MAX")
            else {}
        )
        prepared = prepare_agent(
            self.folder,
            customers=0,
            store_id=store,
            agent_id=agent,
            broker_url=url,
            offline_after_seconds=300,
            **reconnect,
        )
        self.config = load_config(prepared.config, env={})
        self.db = Store(prepared.database, agent_id=agent)
        self.service = Service(self.db, self.config)
        self.sync: SyncClient | None = None
        self.track_lag = False
        self.lags: list[float] = []
        self.acked_at: list[tuple[float, float]] = []
        self._written: collections.deque[tuple[int, float]] = collections.deque()
        self._lock = threading.Lock()
        self._cards: dict[str, str] = {}
        self._store_no = int("".join(c for c in store if c.isdigit()) or 0)
        self.receipts = 0
        self.commit_rate = 0.0
        self._held = False

    # -- the bench's interface -------------------------------------------------------------------

    def start(self) -> RealAgent:
        self.go_online()
        return self

    def stop(self) -> None:
        if self.sync is not None:
            self.sync.stop()
        self.db.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def go_offline(self) -> None:
        """The store's link is down: the sync client stops, the till goes on."""
        if self.sync is not None:
            self.sync.stop()
            self.sync = None

    def go_online(self) -> None:
        self.sync = SyncClient(self.db, self.config)
        self.sync.on_acked = self._acked
        self.sync.start()

    def hold(self) -> None:
        """Commit what follows without sending it (the sync client is stopped)."""
        self._held = True
        self.go_offline()

    def release(self) -> None:
        self._held = False
        self.go_online()

    @property
    def seq(self) -> int:
        """The last seq written to the outbox."""
        with self.db.read() as tx:
            return tx.next_seq() - 1

    def registration(self, cid: str) -> dict[str, Any]:
        k = len(self._cards)
        self._cards[cid] = card_number(self._store_no * 100_000 + k)
        return {
            "phone": f"+79{self._store_no:02d}{k:07d}",
            "card": self._cards[cid],
            "name": cid,
            "consents": {"personal_data": True},
        }

    def purchase(self, cid: str, accrued: int = 100, **_: Any) -> dict[str, Any]:
        """A receipt of 200.00 (it accrues under the example rule set; ``accrued`` is the rule set's)."""
        self.receipts += 1
        return {
            "receipt_id": f"{self.store}-{self.receipts}",
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "customer": {"card": self._cards[cid]},
            "lines": [{"sku": "SKU-7", "quantity": "1", "amount": 20_000}],
            "redeem": 0,
        }

    def write_all(self, docs: list[dict[str, Any]]) -> None:
        """Commit each request through the service, as the POS API would."""
        start = time.monotonic()
        for doc in docs:
            if "lines" not in doc:
                self.service.register("P01", doc)
                continue
            self.service.commit("P01", doc)
            if self.track_lag and not self._held:
                with self.db.read() as tx:
                    seq = tx.c.execute(
                        "SELECT seq FROM receipts WHERE receipt_id = ?", (doc["receipt_id"],)
                    ).fetchone()[0]
                with self._lock:
                    self._written.append((seq, time.monotonic()))
        self.commit_rate = len(docs) / max(1e-9, time.monotonic() - start)

    def wait_drained(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.db.outbox_depth() == 0:
                return True
            time.sleep(0.02)
        return self.db.outbox_depth() == 0

    # -- lag: from the commit at the till to the central server's ack --------------------------------

    def _acked(self, through: int) -> None:
        now = time.monotonic()
        with self._lock:
            while self._written and self._written[0][0] <= through:
                written = self._written.popleft()[1]
                self.lags.append(now - written)
                self.acked_at.append((written, now))


def real_agent_factory(url: str, store: str) -> RealAgent:
    """``--agent-factory bench.real_agent:real_agent_factory``."""
    return RealAgent(url, store)
