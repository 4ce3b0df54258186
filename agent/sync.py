"""The agent's sync client: outbox up, rule sets, cashier messages and customers down.

The only agent module that talks MQTT (through ``transport.mqtt.MqttLink``).
It follows docs/sync.md ("The agent's sync client"):

* up: outbox events in seq order, in batches (QoS 1), at most ``window``
  unacknowledged; a row is deleted only on an ``ack {through, id}`` whose id is
  our own event's at that seq; unacknowledged events go again after every
  (re)connect (from the central server's answer to our hello, so what it
  already holds is not sent twice), on a ``resend`` request and when acks
  stop coming;
* down: rule sets (newer versions only), the store's cashier messages and
  customer deltas (pages over the chain-wide version, pulled from a cursor
  kept in ``sync_state``);
* presence: a retained ``status`` (and the broker's last will ``offline``);
* ``sync_state``: ``link`` (online/offline), ``last_sync_at`` (the last answer
  from the central server, which drives the offline redemption bound),
  ``customers_version`` (the cursor) and ``store_messages``.

Threads: the link's (paho) thread only queues what arrives; one worker thread
does everything else, so the protocol state needs no lock. The till never
waits on MQTT: its commits only touch SQLite, and the store wakes the worker
after a commit that wrote an outbox event (``Store.outbox_listeners``).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from shared import wire
from shared.errors import LoyaltyError
from shared.events import SCHEMA_VERSION
from transport.mqtt import LinkConfig, MqttLink

from .config import Config
from .store import Store, StoreError
from .store.times import iso, utcnow
from .version import __version__

log = logging.getLogger("loyalty.agent.sync")

#: unacknowledged events in flight at most (docs/sync.md, "Up")
WINDOW = 20_000
#: events per `events` message at most (and about wire.TARGET_BATCH_BYTES of bodies)
BATCH = 500
#: resend the unacknowledged after this long without ack progress, doubling up to ACK_TIMEOUT_MAX
ACK_TIMEOUT = 10.0
ACK_TIMEOUT_MAX = 60.0
#: after a reconnect with events in flight, the unacknowledged go again from where the central server's
#: answer to our hello (an ack) says it stands; without an answer this long, from our last ack
HELLO_ANSWER_WAIT = 2.0
#: a status is republished when something changed, at most this often
STATUS_INTERVAL = 10.0
#: a snapshot request without an answer is repeated after this long
PULL_RETRY = 30.0
#: the worker looks at the outbox at least this often (events written by another process)
POLL = 0.5
#: customer deltas applied per transaction (the till's commits wait at most for one chunk)
DELTA_CHUNK = 100
#: last_sync_at is written at most this often outside acks
CONTACT_WRITE = 1.0
#: under load, a batch waits this long after the previous one so that commits coalesce (far
#: fewer, fuller messages for the broker and the ingest; an idle link sends at once)
LINGER = 0.01
#: how long a till waits for the central server's answer to a code reservation; past it the code is judged by
#: the list's offline policy (docs/sync.md, "Code reservations")
RESERVE_TIMEOUT = 2.0
#: how long a quote waits for the central server's word on a code (short: the till waits; docs/promotions.md)
CHECK_TIMEOUT = 0.3
#: a code_release older than this is useless: the central server has let the reservation expire by then
RELEASE_EXPIRY = 120
#: what reserve_code returns when no answer came in time
NO_ANSWER = "no_answer"


def link_config(config: Config) -> LinkConfig:
    """The MQTT link settings from the agent's config (written by ``setup --enroll``)."""
    store, agent = config.store_id, config.effective_agent_id
    will = wire.encode("status", {"store": store, "agent": agent, "state": "offline", "at": iso(utcnow())})
    return LinkConfig(
        url=config.broker_url,
        client_id=config.broker_client_id or f"agent-{store}-{agent}",
        username=config.broker_username or None,
        password=config.broker_password or None,
        protocol=config.broker_protocol,
        will=(wire.agent_topic(store, agent, "status"), will),
        ca_file=config.broker_ca_file or None,
        backoff_max=float(config.broker_reconnect_max),
        # paho's in-flight limit must not throttle our window of 500-event batches
        max_inflight=1000,
    )


class SyncClient:
    """Keeps one agent's database in sync with the central server through the broker."""

    def __init__(
        self,
        store: Store,
        config: Config,
        *,
        link: LinkConfig | None = None,
        window: int = WINDOW,
        batch: int = BATCH,
        ack_timeout: float = ACK_TIMEOUT,
        status_interval: float = STATUS_INTERVAL,
    ) -> None:
        if not config.broker_url:
            raise ValueError("no broker_url configured: a standalone store has no sync")
        self.store = store
        self.store_id = wire.check_id(config.store_id, "store_id")
        self.agent = wire.check_id(config.effective_agent_id, "agent_id")
        self.window, self.batch = window, batch
        self.ack_timeout_base = ack_timeout
        self.status_interval = status_interval
        # well inside offline_after_seconds, so an idle but healthy link never looks offline
        self.contact_interval = max(1.0, min(60.0, config.offline_after_seconds / 4))
        self.link = MqttLink(
            link or link_config(config),
            wire.agent_subscriptions(self.store_id, self.agent),
            self._received,
            self._connected,
        )
        self.inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: called with the acknowledged seq after each ack that deleted rows (benchmarks measure lag)
        self.on_acked: Callable[[int], None] | None = None
        self.stats = {
            "sent_events": 0,
            "messages": 0,
            "acks": 0,
            "ack_mismatches": 0,
            "resends": 0,
            "timeouts": 0,
            "deltas": 0,
            "pages": 0,
            "dropped": 0,
        }
        # protocol state, touched by the worker thread only
        self.acked = 0
        self.sent_through = 0
        self.ack_timeout = ack_timeout
        self.last_progress = time.monotonic()
        self.cursor = 0
        self.pull_at: float | None = None
        self.last_contact = 0.0
        self._contact_written = 0.0
        self._greeted = 0
        #: after a reconnect: the events in flight then (through _held_through) wait for the answer to our
        #: hello until _resume_at; then what it did not cover goes again, after _resend_after
        self._resume_at: float | None = None
        self._held_through = 0
        self._resend_after: int | None = None
        self._last_send = 0.0
        self._online: bool | None = None
        self._status_at = 0.0
        self._status_sent: dict[str, Any] | None = None
        #: questions a till waits on (``ask``): request id -> [event, answer]
        self._questions: dict[str, list[Any]] = {}
        self._questions_lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> SyncClient:
        """Read where we stand from the database, then connect and run the worker."""
        with self.store.read() as tx:
            self.acked = tx.first_unacked_seq() - 1
            self.cursor = int(tx.state("customers_version") or 0)
        self.sent_through = self.acked
        # after a crash sync_state may still say online: nothing is connected yet
        self.store.set_state("link", "offline")
        self._online = False
        self.store.outbox_listeners.append(self._wake.set)
        self._thread = threading.Thread(target=self._run, name="agent-sync", daemon=True)
        self._thread.start()
        self.link.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Say offline (retained), disconnect cleanly and stop; the outbox keeps what is unacked."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.store.outbox_listeners.remove(self._wake.set)
        except ValueError:
            pass
        if self.link.connected.is_set():
            try:
                info = self._publish("status", "status", self._status_fields("offline"), retain=True)
                info.wait_for_publish(min(timeout, 2.0))
            except (RuntimeError, ValueError, OSError):
                pass  # the broker went away meanwhile: its will says offline anyway
        self.link.stop(timeout)
        try:
            self.store.set_state("link", "offline")
        except Exception:  # the database may already be closed by a crashing caller
            log.debug("could not record link offline", exc_info=True)

    def wake(self) -> None:
        """Look at the outbox now (something was written by another process)."""
        self._wake.set()

    # -- the link's thread: queue and wake, nothing else ------------------------------------------------

    def _received(self, topic: str, payload: bytes) -> None:
        if topic.endswith("/answers"):  # a till is waiting on it: answered here, not behind the worker's queue
            self._answer(topic, payload)
            return
        self.inbox.put((topic, payload))
        self._wake.set()

    # -- questions to the central server, asked while a till waits (docs/sync.md, "Answers") ------------

    def ask(self, kind: str, fields: Mapping[str, Any], timeout: float) -> dict[str, Any] | None:
        """Publish a question on our ``requests`` topic and wait for its answer on ``answers``; None when the
        link is down or no answer came within ``timeout`` seconds (the caller treats that as offline).

        The question expires at the broker after ``timeout`` (MQTT v5), so a late one does not make the
        central server send a code nobody waits for; a late answer is dropped (nobody waits for it)."""
        if not self.link.connected.is_set():
            return None
        request = uuid.uuid4().hex
        waiter: list[Any] = [threading.Event(), None]
        with self._questions_lock:
            self._questions[request] = waiter
        try:
            payload = {"store": self.store_id, "agent": self.agent, "request": request, **fields}
            self.link.publish(
                wire.agent_topic(self.store_id, self.agent, "requests"),
                wire.encode(kind, payload),
                expiry=max(1, int(timeout)),
                kind=kind,
            )
            if not waiter[0].wait(timeout):
                log.warning("no answer to %s within %.1f s", kind, timeout)
                return None
            return dict(waiter[1])
        finally:
            with self._questions_lock:
                self._questions.pop(request, None)

    def _answer(self, topic: str, payload: bytes) -> None:
        try:
            msg = wire.decode(payload, channel=wire.parse_topic(topic).channel)
        except wire.WireError as exc:
            log.warning("dropped an answer on %s: %s", topic, exc)
            return
        with self._questions_lock:
            waiter = self._questions.get(msg["request"])
        if waiter is not None:
            waiter[1] = {k: v for k, v in msg.payload.items() if k not in ("v", "k")}
            waiter[0].set()

    # -- code reservations: called by the till's request thread (agent/service.py commit) ---------------

    def reserve_code(
        self, code: str, receipt_id: str, customer_id: str | None, timeout: float = RESERVE_TIMEOUT
    ) -> str | None:
        """Reserve one use of ``code`` at the central server for this receipt, synchronously (a question, see
        ``ask``): None when it is reserved, the central server's refusal (``used_up``, ``unknown``, ``personal``),
        or :data:`NO_ANSWER` (not connected, or no answer within ``timeout``: the offline policy decides)."""
        answer = self.ask("code_reserve", {"code": code, "receipt_id": receipt_id, "customer_id": customer_id}, timeout)
        if answer is None:
            self.stats["reserve_timeouts"] = self.stats.get("reserve_timeouts", 0) + 1
            return NO_ANSWER
        self.stats["reservations"] = self.stats.get("reservations", 0) + 1
        return None if answer["ok"] else str(answer.get("problem") or "used_up")

    def check_code(self, code: str, customer_id: str | None, timeout: float = CHECK_TIMEOUT) -> str | None:
        """Whether ``code`` is still available at the central server for a quote, reserving nothing
        (``code_check``, answered by ``code_status``): None when it is, the central server's refusal, or
        :data:`NO_ANSWER` (the quote keeps its local check)."""
        answer = self.ask("code_check", {"code": code, "customer_id": customer_id}, timeout)
        if answer is None:
            self.stats["check_timeouts"] = self.stats.get("check_timeouts", 0) + 1
            return NO_ANSWER
        return None if answer["ok"] else str(answer.get("problem") or "used_up")

    def release_code(self, code: str, receipt_id: str) -> bool:
        """Give back a reservation this receipt did not use (its commit failed, or no longer applied the code):
        ``code_release`` on the ``requests`` channel, fire-and-forget (nobody waits; the till's error is already
        on its way). False when the link is down: the central server then releases it when it expires."""
        if not self.link.connected.is_set():
            return False
        payload = {"store": self.store_id, "agent": self.agent, "request": uuid.uuid4().hex, "code": code}
        self.link.publish(
            wire.agent_topic(self.store_id, self.agent, "requests"),
            wire.encode("code_release", {**payload, "receipt_id": receipt_id}),
            expiry=RELEASE_EXPIRY,
            kind="code_release",
        )
        self.stats["releases"] = self.stats.get("releases", 0) + 1
        return True

    def _connected(self, session_present: bool) -> None:
        self._wake.set()

    # -- the worker ------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(POLL)
            self._wake.clear()
            try:
                self._step()
            except Exception:
                # a database hiccup must not end the sync: the state is rebuilt from the outbox
                log.exception("sync step failed; retrying")
                self._stop.wait(1.0)

    def _step(self) -> None:
        self._handle_inbox()
        connected = self.link.connected.is_set()
        if connected != self._online:
            self.store.set_state("link", "online" if connected else "offline")
            self._online = connected
            log.info("central link %s", "up" if connected else "down")
        if not connected:
            return
        if self._greeted != self.link.connects:
            self._greet()
        self._check_ack_timeout()
        since = time.monotonic() - self._last_send
        if since < LINGER:
            self._stop.wait(LINGER - since)
        while not self._stop.is_set() and self._send_batch():
            self._handle_inbox(limit=20)  # acks keep the window open while a backlog drains
        now = time.monotonic()
        if self.pull_at is not None and now - self.pull_at > PULL_RETRY:
            self._pull()
        elif self.pull_at is None and now - self.last_contact > self.contact_interval:
            self._pull()  # idle: the answer proves the central server is there (last_sync_at)
        self._maybe_status()

    def _greet(self) -> None:
        """On every connect: hello first, then status, then a pull; the unacked go again after the answer.

        Events in flight when the link dropped are not sent again at once: paho redelivers the
        messages the broker had not acknowledged, the broker may still hold copies for the
        ingest, and the central server may have applied them while we were away. Its answer to
        the hello (an ack of its pointer, after everything that came before the hello) says where
        it stands; what it does not cover goes again then (``_resume``), or from our last ack
        after HELLO_ANSWER_WAIT without an answer. Events written since (the outage's backlog)
        are new: they go at once (docs/sync.md, "Catch-up after a broker restart").
        """
        self._greeted = self.link.connects
        self._resend_after = None
        if self.sent_through > self.acked:
            self._held_through = self.sent_through
            self._resume_at = time.monotonic() + HELLO_ANSWER_WAIT
        else:
            self._resume_at = None
        self.ack_timeout = self.ack_timeout_base
        self.last_progress = time.monotonic()
        with self.store.read() as tx:
            next_seq = tx.next_seq()
            rules = tx.rules()
            last = tx.outbox_last() or _parse_last(tx.state("last_acked"))
        hello: dict[str, Any] = {
            "store": self.store_id,
            "agent": self.agent,
            "next_seq": next_seq,
            "customers_version": self.cursor,
            "at": iso(utcnow()),
        }
        if rules is not None:
            hello["rules_version"] = rules[0]
        if last is not None and last[0] == next_seq - 1:
            # our last event's id: a stale copy of this hello, delivered again after the central server
            # went past it, is known by it and ignored (docs/sync.md, "Up")
            hello["last_id"] = last[1]
        self._publish("requests", "hello", hello)
        self._maybe_status(force=True)
        self._pull()

    # -- up ----------------------------------------------------------------------------------------------

    def _send_batch(self) -> bool:
        """Publish the next batch if the window allows; True if something was sent."""
        if self._resume_at is not None and time.monotonic() >= self._resume_at:
            log.info("no answer to our hello: sending again from seq %d", self.acked + 1)
            self._resume()
        if self._resend_after is not None and self._send_held():
            return True
        in_flight = self.sent_through - self.acked
        if in_flight >= self.window:
            return False
        rows = self.store.outbox_batch(
            self.sent_through, min(self.batch, self.window - in_flight), max_bytes=wire.TARGET_BATCH_BYTES
        )
        if not rows:
            return False
        if in_flight == 0:
            self.last_progress = time.monotonic()  # the ack timeout counts from the first send
        self.sent_through = self._publish_rows(rows)
        return True

    def _send_held(self) -> bool:
        """After the hello's answer: the events in flight at the reconnect that it did not cover."""
        start = max(self._resend_after or 0, self.acked)
        if start >= self._held_through:
            self._resend_after = None
            return False
        rows = self.store.outbox_batch(
            start, min(self.batch, self._held_through - start), max_bytes=wire.TARGET_BATCH_BYTES
        )
        if not rows:
            self._resend_after = None
            return False
        self._resend_after = self._publish_rows(rows)
        return True

    def _publish_rows(self, rows: list[Any]) -> int:
        """One ``events`` message of outbox rows (from the first, a few huge ones may be left); its last seq."""
        events = [
            {
                "v": SCHEMA_VERSION,
                "id": r.id,
                "seq": r.seq,
                "store": self.store_id,
                "agent": self.agent,
                "kind": r.kind,
                "at": r.at,
                "body": msgspec.Raw(r.raw),
            }
            for r in rows
        ]  # the outbox's bytes
        while True:
            try:
                # our own events are valid by construction; the central server checks them anyway
                # acked: where our outbox starts, so a central server recovering us after a restore from
                # a backup knows which seqs it must have before acking (central/recovery.py)
                payload = wire.encode(
                    "events",
                    {"store": self.store_id, "agent": self.agent, "events": events, "acked": self.acked},
                    validate=False,
                )
                break
            except wire.WireError:
                if len(events) == 1:
                    raise  # cannot happen: a request is at most 2 MiB, a message may be 4 MiB
                events, rows = events[: len(events) // 2], rows[: len(rows) // 2]  # a few huge receipts
        self.link.publish(wire.agent_topic(self.store_id, self.agent, "events"), payload, kind="events")
        self._last_send = time.monotonic()
        self.stats["sent_events"] += len(rows)
        return int(rows[-1].seq)

    def _resume(self) -> None:
        """After a reconnect (the answer to our hello, or none): what was in flight goes again past the ack."""
        self._resume_at = None
        if self._held_through > self.acked:
            self._resend_after = self.acked
        self.last_progress = time.monotonic()

    def _check_ack_timeout(self) -> None:
        if self.sent_through > self.acked and time.monotonic() - self.last_progress > self.ack_timeout:
            log.info("no ack for %.0f s: sending again from seq %d", self.ack_timeout, self.acked + 1)
            self.stats["timeouts"] += 1
            self._resume_at = self._resend_after = None  # everything goes again
            self.sent_through = self.acked
            self.last_progress = time.monotonic()
            self.ack_timeout = min(ACK_TIMEOUT_MAX, self.ack_timeout * 2)

    def _acks(self, acks: list[tuple[int, str | None]]) -> None:
        """Acks that arrived together: one transaction; the highest one of ours deletes through it."""
        self.stats["acks"] += len(acks)
        now = utcnow()
        matched = None
        with self.store.write(durable=False) as tx:  # lost by a power cut: the events go again
            for through, ident in sorted(acks, key=lambda ack: ack[0], reverse=True):
                if tx.outbox_ack(through, ident) is not None:
                    matched = through
                    # the outbox may now be empty: the hello still names our last event by this
                    tx.set_state("last_acked", f"{through} {ident}")
                    break
            tx.set_state("last_sync_at", iso(now))
        self._contact(written=True)
        if matched is None:
            # already deleted, or an ack about a seq we reused after a restore: nothing of ours
            self.stats["ack_mismatches"] += 1
            if self._resume_at is not None:
                self._resume()  # the central server answered: what we hold unacked goes again
            return
        self.acked = max(self.acked, matched)
        self.sent_through = max(self.sent_through, self.acked)
        self.last_progress = time.monotonic()
        self.ack_timeout = self.ack_timeout_base
        if self._resume_at is not None:
            self._resume()  # the answer to our hello: send again what follows it
        if self.on_acked is not None:
            self.on_acked(matched)

    # -- down --------------------------------------------------------------------------------------------

    def _handle_inbox(self, limit: int | None = None) -> None:
        handled = 0
        acks: list[tuple[int, str | None]] = []
        while limit is None or handled < limit:
            try:
                topic, payload = self.inbox.get_nowait()
            except queue.Empty:
                break
            handled += 1
            self.stats["messages"] += 1
            try:
                where = wire.parse_topic(topic)
                msg = wire.decode(payload, channel=where.channel)
            except wire.WireError as exc:
                self.stats["dropped"] += 1
                log.warning("dropped a message on %s: %s", topic, exc)
                continue
            if msg.kind == "ack":
                acks.append((msg["through"], msg.get("id")))  # handled together, in one transaction
                continue
            if acks:
                self._acks(acks)
                acks = []
            self._handle(msg)
        if acks:
            self._acks(acks)

    def _handle(self, msg: wire.Message) -> None:
        kind = msg.kind
        if kind == "resend":
            self.stats["resends"] += 1
            self._contact()
            self._resume_at = self._resend_after = None  # everything from there goes again
            self.sent_through = max(self.acked, min(self.sent_through, msg["from_seq"] - 1))
        elif kind in ("customers", "snapshot"):
            if msg["store"] == self.store_id:
                self._page(msg)
        elif kind == "rules":
            if msg["store"] == self.store_id:
                if not self._rules(msg["version"], msg["rules"]):
                    return  # an older or refused rules message changes nothing (not the flag beside it either)
                # the program's redemption confirmation comes with every rules message (absent: not required)
                required = "1" if msg.get("confirm_redemption") else "0"
                if self.store.state("confirm_redemption") != required:
                    self.store.set_state("confirm_redemption", required)
                if msg.get("promotions") is not None:
                    self._promotions(msg["promotions"])
        elif kind == "messages":
            if msg["store"] == self.store_id:
                self._store_messages(msg["version"], msg["messages"])

    def _page(self, msg: wire.Message) -> None:
        """A page of customer deltas: apply, then move the cursor (docs/sync.md, "Down")."""
        snapshot = msg.kind == "snapshot"
        if snapshot:
            self._contact()
        self.stats["pages"] += 1
        contiguous = msg["after"] <= self.cursor
        cursor = max(self.cursor, msg["upto"]) if contiguous else self.cursor
        self._apply_deltas(msg["deltas"], cursor if cursor != self.cursor else None)
        self.cursor = cursor
        if contiguous:
            if snapshot:
                if msg["more"]:
                    self._pull()
                else:
                    self.pull_at = None
        elif self.pull_at is None or time.monotonic() - self.pull_at > PULL_RETRY:
            log.info("customer page after %d but our cursor is %d: pulling from the cursor", msg["after"], self.cursor)
            self._pull()

    def _apply_deltas(self, deltas: Sequence[Mapping[str, Any]], cursor: int | None) -> None:
        """Apply in chunks (short transactions between the till's); the cursor with the last chunk."""
        chunks = [deltas[i : i + DELTA_CHUNK] for i in range(0, len(deltas), DELTA_CHUNK)] or [[]]
        for number, chunk in enumerate(chunks):
            last = number == len(chunks) - 1
            try:
                self._apply_chunk(chunk, cursor if last else None)
            except Exception:
                log.exception("a chunk of customer deltas failed; applying them one by one")
                for delta in chunk:
                    try:
                        self._apply_chunk([delta], None)
                    except Exception:
                        # the cursor moves on: the customer's next change brings a whole new state
                        log.exception(
                            "customer delta %s version %s set aside", delta.get("customer_id"), delta.get("version")
                        )
                if last and cursor is not None:
                    self.store.set_state("customers_version", str(cursor))
        self.stats["deltas"] += len(deltas)

    def _apply_chunk(self, deltas: Sequence[Mapping[str, Any]], cursor: int | None) -> None:
        if not deltas and cursor is None:
            return
        now = utcnow()
        with self.store.write(durable=False) as tx:  # lost by a power cut: pulled again from the cursor
            for delta in deltas:
                tx.apply_customer_delta(delta, now)
            if cursor is not None:
                tx.set_state("customers_version", str(cursor))

    def _promotions(self, document: Mapping[str, Any]) -> None:
        """The store's promotions, beside the rule set in its retained message (versioned on their own)."""
        try:
            if self.store.set_promotions(document):
                log.info("promotions version %s installed", document.get("version"))
        except (StoreError, LoyaltyError, ValueError) as exc:
            log.error("promotions from the central server refused: %s", exc)

    def _rules(self, version: int, document: Mapping[str, Any]) -> bool:
        """Install a newer rule set; False if the message is older than the one held or its rule set is refused
        (the same version again is current: a changed flag or promotions come under it)."""
        held = self.store.rules()
        if held is not None and held[0] >= version:
            if held[0] > version:
                log.warning("rules message version %d is older than the held %d: ignored", version, held[0])
            return held[0] == version
        try:
            self.store.set_rules(document, version)
        except (StoreError, LoyaltyError, ValueError) as exc:
            log.error("rule set version %d from the central server refused: %s", version, exc)
            return False
        log.info("rule set version %d installed", version)
        self._status_at = 0.0  # tell the central server now, not at the next status interval
        return True

    def _store_messages(self, version: int, messages: Sequence[Mapping[str, Any]]) -> None:
        held = json.loads(self.store.state("store_messages") or '{"version": 0}')
        if version <= held.get("version", 0):
            return
        self.store.set_state(
            "store_messages", json.dumps({"version": version, "messages": list(messages)}, ensure_ascii=False)
        )

    def _pull(self) -> None:
        self.pull_at = time.monotonic()
        self._publish(
            "requests", "snapshot_request", {"store": self.store_id, "agent": self.agent, "after": self.cursor}
        )

    def _contact(self, *, written: bool = False) -> None:
        """The central server answered: record it as the last sync (at most every second)."""
        now = time.monotonic()
        self.last_contact = now
        if self._status_sent is not None and self._status_sent.get("last_sync") is None:
            self._status_at = 0.0  # the first sync ever: worth a status at once
        if written:
            self._contact_written = now
        elif now - self._contact_written >= CONTACT_WRITE:
            self._contact_written = now
            with self.store.write(durable=False) as tx:
                tx.set_state("last_sync_at", iso(utcnow()))

    # -- presence ----------------------------------------------------------------------------------------

    def _status_fields(self, state: str) -> dict[str, Any]:
        with self.store.read() as tx:
            rules = tx.rules()
            fields: dict[str, Any] = {
                "store": self.store_id,
                "agent": self.agent,
                "state": state,
                "at": iso(utcnow()),
                "outbox_depth": tx.outbox_depth(),
                "rules_version": rules[0] if rules else None,
                "customers_version": self.cursor,
                "last_sync": tx.state("last_sync_at"),
                "next_seq": tx.next_seq(),
                "software": f"loyalty-agent {__version__}",
            }
        return fields

    def _maybe_status(self, *, force: bool = False) -> None:
        """Publish the retained status on connect, and when something changed (at most every 10 s)."""
        now = time.monotonic()
        if not force and now - self._status_at < self.status_interval:
            return
        fields = self._status_fields("online")
        same = self._status_sent is not None and all(
            fields[k] == self._status_sent.get(k)
            for k in ("outbox_depth", "rules_version", "customers_version", "last_sync")
        )
        self._status_at = now
        if same and not force:
            return
        self._status_sent = fields
        self._publish("status", "status", fields, retain=True)

    def _publish(self, channel: str, kind: str, payload: Mapping[str, Any], *, retain: bool = False) -> Any:
        return self.link.publish(
            wire.agent_topic(self.store_id, self.agent, channel), wire.encode(kind, payload), retain=retain, kind=kind
        )


def start_sync(app: Any) -> SyncClient | None:
    """Start the sync client of a served agent app; None for a standalone store (no broker_url)."""
    ext = app.extensions["loyalty_agent"]
    if not ext.config.broker_url:
        return None
    client = SyncClient(ext.store, ext.config).start()
    ext.service.central = client  # online questions: the redemption confirmation code
    ext.service.reserve_code = client.reserve_code  # single-use codes reserved online before a commit
    ext.service.release_code = client.release_code  # ... and given back at once when the commit fails
    ext.service.check_code = client.check_code  # ... and asked about (nothing reserved) by a quote
    return client


def _parse_last(value: str | None) -> tuple[int, str] | None:
    """sync_state ``last_acked`` ("seq id") as (seq, id)."""
    try:
        seq, ident = (value or "").split(" ", 1)
        return int(seq), ident
    except ValueError:
        return None
