"""Run a real agent process on a free loopback port (crash tests, benchmarks, demos).

``prepare_agent(folder, customers=...)`` writes a config and a database with
the example rule set, a terminal key and customers; ``AgentProcess`` runs
``python -m agent serve`` on it and waits until ``/v1/health`` answers.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.identifiers import luhn_check_digit

from .auth import add_terminal
from .config import write_config
from .store import Store

EXAMPLE_RULES = Path(__file__).resolve().parent.parent / "docs" / "examples" / "rules.json"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def card_number(i: int) -> str:
    """The i-th card of the test range 7700 (16 digits, Luhn-valid)."""
    body = f"7700{i:011d}"
    return body + luhn_check_digit(body)


def customer_deltas(count: int, points: int) -> Iterator[dict[str, Any]]:
    """``count`` CustomerDeltas with a card each and ``points`` permanent points."""
    for i in range(count):
        yield {
            "customer_id": f"c{i:07d}",
            "version": 1,
            "name": f"Customer {i}",
            "phone": f"+7900{i:07d}",
            "phone_verified": True,
            "level": "Base",
            "network_percent": None,
            "store_percent": None,
            "blocked": False,
            "cards": [{"number": card_number(i), "status": "active"}],
            "lots": [{"id": "L1", "points": points, "expires_at": None}] if points else [],
            "applied": {},
            "messages": [],
            "consents": {"personal_data": True},
        }


@dataclass
class PreparedAgent:
    config: Path
    database: Path
    key: str
    port: int


def prepare_agent(
    folder: Path, *, customers: int = 10, points: int = 1_000_000, rules: bool = True, **settings: Any
) -> PreparedAgent:
    """A config file and a ready database in ``folder``: rules (unless the central server
    sends them), terminal P01, customers."""
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "agent.sqlite"
    port = free_port()
    config = write_config(
        {
            "store_id": "S001",
            "agent_id": "S001-1",
            "terminals": ["P01"],
            "database": str(database),
            "listen_port": port,
            "card_ranges": [{"prefix": "7700", "length": 16, "luhn": True}],
            **settings,
        },
        folder / "agent.toml",
    )
    store = Store(database, agent_id=config.effective_agent_id)
    try:
        if rules:
            store.set_rules(EXAMPLE_RULES.read_text(encoding="utf-8"))
        key = add_terminal(store, "P01", "bench")
        batch: list[dict[str, Any]] = []
        for delta in customer_deltas(customers, points):
            batch.append(delta)
            if len(batch) == 10_000:
                store.apply_customer_deltas(batch)
                batch = []
        store.apply_customer_deltas(batch)
    finally:
        store.close()
    return PreparedAgent(folder / "agent.toml", database, key, port)


class AgentProcess:
    """``python -m agent serve`` as a child process."""

    def __init__(self, prepared: PreparedAgent, *, log: Path | None = None) -> None:
        self.prepared = prepared
        self.log = log
        self.proc: subprocess.Popen | None = None
        self._out: Any = None

    def start(self, timeout: float = 30.0) -> None:
        env = {**os.environ, "LOYALTY_AGENT_CONFIG": str(self.prepared.config)}
        self._close_log()
        self._out = self.log.open("ab") if self.log else None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "serve", "--port", str(self.prepared.port)],
            env=env,
            stdout=self._out or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the agent exited with status {self.proc.returncode} (log: {self.log})")
            try:
                status, _ = request(self.prepared.port, "GET", "/v1/health", None, None, timeout=1)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the agent did not answer /v1/health within {timeout} s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (default SIGKILL: no chance to clean up) and wait for the process to end."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self._close_log()

    def _close_log(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_kib(self) -> int:
        """Resident memory of the process (Linux /proc), KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")


def request(
    port: int,
    method: str,
    path: str,
    body: Any,
    key: str | None,
    *,
    timeout: float = 10,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, Any]:
    """One HTTP request to the agent on 127.0.0.1: (status, decoded JSON)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        if own:
            conn.close()
