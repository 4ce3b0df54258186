"""A simulated store agent speaking the real sync protocol over a real broker.

It is the reference behaviour of the agent side of docs/sync.md, kept small:
an in-memory outbox (seq -> envelope) stands in for agent/store.py's SQLite
outbox. It publishes batches (several events per message), deletes only what
the central server acknowledged (and only if the acked seq's id is its own),
resends on a resend request, on reconnect and when acks stop coming, says
hello on connect, applies customer deltas and pulls pages from its cursor.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from shared import wire
from transport.mqtt import LinkConfig, MqttLink

from .fakes import FakeAgent


class SimAgent(FakeAgent):
    def __init__(
        self,
        url: str,
        store: str,
        agent: str = "a1",
        *,
        username: str | None = None,
        password: str | None = None,
        ack_timeout: float = 3.0,
        window: int = 20_000,
        batch: int = 500,
        protocol: int = 5,
        start_seq: int = 0,
    ) -> None:
        super().__init__(store, agent, start_seq)
        self.outbox: dict[int, Mapping[str, Any]] = {}
        self.lock = threading.RLock()
        self.sent_through = 0
        self.acked = 0
        #: after a reconnect with events in flight: resend when the hello is answered, or at this time
        self.resume_at: float | None = None
        self.held_through = 0
        self.resend_after: int | None = None
        self.ack_timeout = ack_timeout
        self.window = window
        self.batch = batch
        self.last_progress = time.monotonic()
        self.customers: dict[str, Mapping[str, Any]] = {}
        self.cursor = 0
        self.pulling = False
        self.pull_at = 0.0
        self.rules: Mapping[str, Any] | None = None
        self.messages: Mapping[str, Any] | None = None
        self.received: list[wire.Message] = []
        self.ack_mismatches = 0
        self.last_info: Any = None
        #: seq -> when it was written (the till's commit); on ack, the lag is recorded
        self.written_at: dict[int, float] = {}
        self.lags: list[float] = []
        #: (written, acked) monotonic times of each tracked event (bench/sync.py's outage phase)
        self.acked_at: list[tuple[float, float]] = []
        self.track_lag = False
        self.gaps_seen = 0
        will = wire.encode("status", {"store": store, "agent": agent, "state": "offline", "at": _now()})
        self.link_config = LinkConfig(
            url=url,
            client_id=f"agent-{store}-{agent}",
            username=username,
            password=password,
            protocol=protocol,
            will=(wire.agent_topic(store, agent, "status"), will),
            backoff_max=2.0,
        )
        self.link = self._new_link()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sim-{store}-{agent}", daemon=True)

    def _new_link(self) -> MqttLink:
        return MqttLink(
            self.link_config, wire.agent_subscriptions(self.store, self.agent), self._receive, self._connected
        )

    def go_offline(self) -> None:
        """Lose the link (the store's internet is down); the outbox keeps filling."""
        self.link.stop()

    def go_online(self) -> None:
        self.link = self._new_link()
        self.link.start()

    # -- the till side ---------------------------------------------------------------------------

    def write(self, env: Mapping[str, Any]) -> None:
        """Put an event in the outbox (the agent does this in the same transaction as the effect)."""
        self.write_all([env])

    def write_all(self, envs: list[Mapping[str, Any]]) -> None:
        now = time.monotonic()
        with self.lock:
            for env in envs:
                self.outbox[env["seq"]] = env
                if self.track_lag:
                    self.written_at[env["seq"]] = now
        self._wake.set()

    # -- running -----------------------------------------------------------------------------------

    def start(self) -> SimAgent:
        with self.lock:  # as the real agent: what is acknowledged ends where the outbox starts
            self.acked = self.sent_through = min(self.outbox, default=self.seq + 1) - 1
        self.link.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(5)
        self.link.stop()

    def crash(self) -> None:
        """Vanish without a clean disconnect (the broker publishes the last will)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(5)
        self.link._stop.set()
        try:
            self.link.client.socket().close()  # type: ignore[union-attr]
        except Exception:
            pass

    def _connected(self, session_present: bool) -> None:
        # the hello goes before any events of this connection, and next_seq is read under the
        # lock that the send loop publishes under: no event built later can overtake it
        with self.lock:
            # what was in flight goes again after the answer to this hello (an ack), past it, or past
            # our last ack after 2 s without one; new events go at once (agent/sync.py's policy)
            self.resend_after = None
            self.held_through = self.sent_through
            self.resume_at = time.monotonic() + 2.0 if self.sent_through > self.acked else None
            self._publish(
                "requests",
                "hello",
                {
                    "store": self.store,
                    "agent": self.agent,
                    "next_seq": self.seq + 1,
                    "customers_version": self.cursor,
                    "at": _now(),
                },
            )
        self.publish_status("online")
        self._pull()
        self._wake.set()

    def publish_status(self, state: str) -> None:
        with self.lock:
            depth = len(self.outbox)
        self._publish(
            "status",
            "status",
            {
                "store": self.store,
                "agent": self.agent,
                "state": state,
                "at": _now(),
                "outbox_depth": depth,
                "customers_version": self.cursor,
                "rules_version": (self.rules or {}).get("version"),
            },
            retain=True,
        )

    def _publish(self, channel: str, kind: str, payload: dict[str, Any], retain: bool = False) -> None:
        self.link.publish(
            wire.agent_topic(self.store, self.agent, channel), wire.encode(kind, payload), retain=retain, kind=kind
        )

    def _pull(self) -> None:
        self.pulling = True
        self.pull_at = time.monotonic()
        self._publish("requests", "snapshot_request", {"store": self.store, "agent": self.agent, "after": self.cursor})

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.05)
            self._wake.clear()
            if not self.link.connected.is_set():
                continue
            with self.lock:
                if self.resume_at is not None and time.monotonic() >= self.resume_at:
                    self._resume()
                if time.monotonic() - self.last_progress > self.ack_timeout and self.sent_through > self.acked:
                    self.sent_through = self.acked  # acks stopped coming: send the unacked again
                    self.resume_at = self.resend_after = None
                    self.last_progress = time.monotonic()
                envs = []
                if self.resend_after is not None:  # what the hello's answer did not cover
                    start = max(self.resend_after, self.acked) + 1
                    end = min(start + self.batch, self.held_through + 1)
                    envs = [self.outbox[s] for s in range(start, end) if s in self.outbox]
                    if envs:
                        self.resend_after = envs[-1]["seq"]
                    else:
                        self.resend_after = None
                if not envs:
                    if self.sent_through - self.acked >= self.window:
                        continue
                    start = max(self.sent_through, self.acked) + 1
                    envs = [self.outbox[s] for s in range(start, start + self.batch) if s in self.outbox]
                    if not envs:
                        continue
                    self.sent_through = envs[-1]["seq"]
                payload = wire.encode(
                    "events",
                    {"store": self.store, "agent": self.agent, "events": envs, "acked": self.acked},
                    validate=False,
                )
            # Publish outside the lock: paho may run its disconnect callback in this thread, waiting for
            # its callback mutex while the network thread holds it in _ack, waiting for our lock.
            self.last_info = self.link.publish(
                wire.agent_topic(self.store, self.agent, "events"), payload, kind="events"
            )
            self._wake.set()

    def _receive(self, topic: str, payload: bytes) -> None:
        where = wire.parse_topic(topic)
        msg = wire.decode(payload, channel=where.channel)
        self.received.append(msg)
        if msg.kind == "ack":
            self._ack(msg["through"], msg["id"])
        elif msg.kind == "resend":
            with self.lock:
                self.resume_at = self.resend_after = None
                self.sent_through = min(self.sent_through, msg["from_seq"] - 1)
            self._wake.set()
        elif msg.kind in ("customers", "snapshot"):
            self._deltas(msg)
        elif msg.kind == "rules":
            self.rules = msg.payload
        elif msg.kind == "messages":
            self.messages = msg.payload

    def _resume(self) -> None:
        self.resume_at = None
        if self.held_through > self.acked:
            self.resend_after = self.acked
        self.last_progress = time.monotonic()

    def _ack(self, through: int, ident: str | None) -> None:
        with self.lock:
            row = self.outbox.get(through)
            if row is None or row["id"] != ident:
                # nothing of ours to delete (already deleted, or an ack about a seq we reused)
                self.ack_mismatches += row is not None
                if self.resume_at is not None:
                    self._resume()  # the central server answered our hello
                return
            now = time.monotonic()
            for seq in [s for s in self.outbox if s <= through]:
                del self.outbox[seq]
                if self.track_lag and seq in self.written_at:
                    written = self.written_at.pop(seq)
                    self.lags.append(now - written)
                    self.acked_at.append((written, now))
            self.acked = max(self.acked, through)
            self.last_progress = time.monotonic()
            if self.resume_at is not None:
                self._resume()  # the answer to our hello: what follows it goes again
        self._wake.set()

    def _deltas(self, msg: wire.Message) -> None:
        for delta in msg["deltas"]:
            old = self.customers.get(delta["customer_id"])
            if old is None or old["version"] < delta["version"]:
                self.customers[delta["customer_id"]] = delta
        if msg["after"] <= self.cursor:
            self.cursor = max(self.cursor, msg["upto"])
            if msg.kind == "snapshot":
                self.pulling = msg["more"]
                if msg["more"]:
                    self._pull()
        elif not self.pulling or time.monotonic() - self.pull_at > 10:
            self.gaps_seen += 1
            self._pull()

    # -- for tests -----------------------------------------------------------------------------------

    def wait_drained(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self.outbox:
                    return True
            time.sleep(0.05)
        return False


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
