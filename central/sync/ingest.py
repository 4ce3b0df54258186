"""The central ingest: agents' events in, each applied exactly once in sequence order.

Messages arrive on the MQTT link's thread and are queued; one worker thread
takes them in rounds (up to ``batch_messages`` at a time), and for each round:

1. decodes and validates every message (shared/wire.py); what cannot be
   accepted goes to the dead-letter table with its reason, and the rest flows;
2. routes each agent's events through that agent's :class:`Stream`: a seq
   already handled is a duplicate (same id: nothing happens) or, with a
   different id, a new event of an agent restored from a backup (flagged; the
   event is applied once, unless the ledger already holds the same receipt,
   refund, cancel, registration or operation: central/sync/recovery.py); the next
   seq is applied; a later seq waits for the gap to fill;
3. commits the effects, the idempotency register and the new sequence
   pointers in ONE transaction (central/storage/store.py);
4. only then publishes the application-level acks (and snapshot pages and
   hello answers), and asks agents whose gap has waited too long to resend.

docs/sync.md describes the protocol; docs/central.md the choices.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgpack

from shared import promo_codes, wire
from transport.mqtt import LinkConfig, MqttLink

from ..messages import confirmations
from ..storage import promotions as promotion_store
from ..storage.ingest import LeaseLost
from ..storage.partitions import holds, partition_of
from ..storage.store import Consumed, DeadLetter, Flag, IngestUnit, Store
from .deltas import customer_page
from .publisher import Publisher
from .recovery import Duplicates, Recovery

log = logging.getLogger(__name__)

#: message expiry (MQTT v5) of what the ingest sends down, seconds
ACK_EXPIRY = 300
RESEND_EXPIRY = 60
SNAPSHOT_EXPIRY = 600
#: an answer to a till's question (a redemption code, a code reservation) is of no use after the till stopped waiting
ANSWER_EXPIRY = 30
#: out-of-order events kept per agent while a gap is waited for (the agent resends the rest)
MAX_PENDING = 50_000
#: at most this much of an oversized or unreadable payload is kept in the dead-letter table
DEAD_PAYLOAD_BYTES = 64 * 1024


class Received(NamedTuple):
    """One event of an ``events`` message, as the ingest routes it: valid (``ok``) or a dead letter (``dead``)."""

    seq: int
    id: str
    status: str  # ok | dead | duplicate_id (set when it is queued behind a gap)
    env: Mapping[str, Any]


class Pending(NamedTuple):
    """An event waiting behind a gap in its agent's sequence."""

    status: str
    env: Mapping[str, Any]


@dataclass
class Stream:
    """One agent's sequence: the highest contiguous seq handled, and what waits behind a gap."""

    store: str
    agent: str
    pointer: int
    last_id: str | None
    pending: dict[int, Pending] = field(default_factory=dict)  # by seq
    gap_since: float | None = None
    last_resend: float = 0.0
    resend_every: float = 0.0
    #: while a restored agent's reused seqs are coming in (central/sync/recovery.py)
    recovery: Recovery | None = None

    def ack(self) -> tuple[int, str | None] | None:
        """What the agent may be told: the pointer, or while it recovers what is safe to delete."""
        if self.recovery is not None:
            return self.recovery.ack()
        return (self.pointer, self.last_id) if self.pointer else None


@dataclass
class Reply:
    topic: str
    payload: bytes
    kind: str
    expiry: int | None = None


class Ingest:
    """Consumes agents' messages from the broker and applies them to the central ledger."""

    def __init__(
        self,
        db_path: str,
        link_config: LinkConfig | None,
        *,
        gap_wait: float = 2.0,
        batch_messages: int = 200,
        publish_down: bool = True,
        publish_interval: float = 0.5,
        worker: str | None = None,
        partitions: int = 0,
        lease_ttl: float = 5.0,
    ) -> None:
        self.db_path = db_path
        #: several workers (docs/scale.md): this one applies only the agents of the partitions it leases
        self.worker = worker or f"ingest-{uuid.uuid4().hex[:8]}"
        self.partitions = partitions
        self.lease_ttl = lease_ttl
        self.owned: set[int] = set()
        self._beat_at = 0.0
        self._changed: set[int] = set()
        self._lease_lock = threading.Lock()
        self._unit_streams: set[tuple[str, str]] = set()
        self._beater: threading.Thread | None = None
        self.db = Store(db_path, autocheckpoint=False)
        self.duplicates = Duplicates(self.db)
        self._last_checkpoint = time.monotonic()
        self.gap_wait = gap_wait
        self.batch_messages = batch_messages
        self.inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.streams: dict[tuple[str, str], Stream] = {}
        self.stats = {
            "messages": 0,
            "applied": 0,
            "duplicates": 0,
            "dead_letters": 0,
            "recovered": 0,
            "recovered_duplicates": 0,
            "resends": 0,
            "stale_hellos": 0,
            "foreign_events": 0,  # several workers: events messages of another worker's agents (dropped)
        }
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.link: MqttLink | None = None
        self.publisher: Publisher | None = None
        #: with partitions, the events topics of the agents this worker holds (the only events it receives)
        self._events_subs: set[str] = set()
        self._heard: set[tuple[str, str]] = set()  # agents whose row this worker made sure of
        if link_config is not None:
            self.link = MqttLink(link_config, self._base_subscriptions(), self.receive, self._connected)
            if publish_down:
                self.publisher = Publisher(
                    db_path, self.link, interval=publish_interval, holder=self.worker if partitions else None
                )

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> Ingest:
        """Start the worker, the publisher and the MQTT link (each on its own thread)."""
        if self.partitions:
            self._beater = threading.Thread(target=self._beats, name="ingest-leases", daemon=True)
            self._beater.start()
        self._worker = threading.Thread(target=self._run, name="ingest", daemon=True)
        self._worker.start()
        if self.publisher is not None:
            self.publisher.start()
        if self.link is not None:
            self.link.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.link is not None:
            self.link.stop()
        if self.publisher is not None:
            self.publisher.stop()
        if self._worker is not None:
            self._worker.join(60)
            if self._worker.is_alive():
                # a round still running: closing its connection under it would crash SQLite (a segfault
                # seen under load); the worker stops after its round and the process's exit closes it
                log.warning("the ingest worker is still busy; its database connection is left to it")
                return
        if self._beater is not None:
            self._beater.join(10)
        self.db.close()

    def _base_subscriptions(self) -> list[str]:
        """Every agent's up channels; with partitions, every one but ``events``: a worker subscribes to the events
        of its own partitions' agents only (:meth:`_follow`), so the others' batches never reach it."""
        if not self.partitions:
            return wire.central_subscriptions()
        return [t for t in wire.central_subscriptions() if t != _ALL_EVENTS]

    def _follow(self, agents: set[tuple[str, str]], *, only_add: bool = False) -> None:
        """Subscribe to these agents' events (and, unless ``only_add``, from every other agent's)."""
        if self.link is None:
            return
        topics = {t for t in (_events_topic(store, agent) for store, agent in agents) if t is not None}
        with self._lease_lock:
            if only_add and topics <= self._events_subs:
                return
            self._events_subs = (self._events_subs | topics) if only_add else topics
            wanted = self._base_subscriptions() + sorted(self._events_subs)
        # a persistent session may still hold the all-events filter of a run without partitions
        self.link.set_subscriptions(wanted, forget=[_ALL_EVENTS])

    def _note(self, items: list[tuple[str, bytes]]) -> None:
        """Agents heard of for the first time (whoever's partition they are in): make sure the database knows
        them, so their partition's holder follows their events even if it missed their hello and their
        retained status (delivered once, perhaps before it held any partition)."""
        new = {
            (store, agent)
            for store, agent in map(_topic_ids, (t for t, _ in items))
            if store is not None and agent and (store, agent) not in self._heard
        }
        new = {k for k in new if _events_topic(*k) is not None}
        if new:
            self.db.note_agents(new)
            self._heard |= new

    def _connected(self, session_present: bool) -> None:
        if self.partitions and self.link is not None:
            with self._lease_lock:
                wanted = self._base_subscriptions() + sorted(self._events_subs)
            self.link.set_subscriptions(wanted, forget=[_ALL_EVENTS])
        if self.publisher is not None:
            self.publisher.republish_retained()

    def receive(self, topic: str, payload: bytes) -> None:
        """The link's on_message: queue the message for the worker."""
        self.inbox.put((topic, payload))

    def _beats(self) -> None:
        """The lease thread (its own connection): renew this worker's partitions every quarter of their time,
        whatever a long round of the worker is doing."""
        db = Store(self.db_path)
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    held = db.rebalance_partitions(self.worker, self.partitions, self.lease_ttl)
                except Exception:
                    log.exception("renewing the partition leases failed")
                else:
                    with self._lease_lock:
                        self._changed |= held ^ self.owned
                        if held != self.owned:
                            log.info("ingest %s holds partitions %s", self.worker, sorted(held))
                        self.owned = held
                        self._beat_at = started
                    try:
                        self._follow(db.agents_in(held, self.partitions))
                    except Exception:
                        log.exception("following the partitions' agents failed")
                self._stop.wait(self.lease_ttl / 4)
            try:
                db.release_partitions(self.worker)  # a clean stop: the others take them at their next beat
            except Exception:
                log.exception("releasing the partition leases failed; they expire")
        finally:
            db.close()

    def _forget_moved(self) -> None:
        """In the worker thread: the streams of partitions that changed hands are read again from the database."""
        with self._lease_lock:
            changed, self._changed = self._changed, set()
        if changed:
            for key in [k for k in self.streams if partition_of(k[0], k[1], self.partitions) in changed]:
                del self.streams[key]

    def _leased(self) -> bool:
        """The leases were renewed well within their time (else this round is skipped; the fence checks again)."""
        return not self.partitions or time.monotonic() - self._beat_at < self.lease_ttl * 0.6

    def _fence(self, conn: Any) -> bool:
        parts = {partition_of(store, agent, self.partitions) for store, agent in self._unit_streams}
        return all(holds(conn, self.worker, part) for part in parts)

    def _mine(self, topic: str) -> bool:
        store, agent = _topic_ids(topic)
        if store is None:
            return 0 in self.owned
        return partition_of(store, agent, self.partitions) in self.owned

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.partitions:
                self._forget_moved()
            try:
                first = self.inbox.get(timeout=0.1)
            except queue.Empty:
                self._check_gaps()
                if self.publisher is None and time.monotonic() - self._last_checkpoint > 2:
                    self.db.checkpoint()
                    self._last_checkpoint = time.monotonic()
                continue
            items = [first]
            size = len(first[1])
            # several workers: a round (one commit) stays well within a lease on SQLite, where the lease thread's
            # renewal waits for the commit to end; on PostgreSQL it does not (central/storage/partitions.py
            # ``holds``), and larger rounds cost less per event
            cap = (
                (ROUND_BYTES_WITH_PARTITIONS_PG if self.db.postgresql else ROUND_BYTES_WITH_PARTITIONS)
                if self.partitions
                else None
            )
            while len(items) < self.batch_messages and (cap is None or size < cap):
                try:
                    items.append(self.inbox.get_nowait())
                except queue.Empty:
                    break
                size += len(items[-1][1])
            try:
                self.process(items)
                if self.publisher is None and time.monotonic() - self._last_checkpoint > 2:
                    self.db.checkpoint()  # nobody else does it
                    self._last_checkpoint = time.monotonic()
            except Exception:
                # a database outage: forget what is in memory; the agents resend what was not acked
                log.exception("ingest round failed; state reloaded from the database")
                self.streams.clear()
                time.sleep(1)
            self._check_gaps()

    # -- one round -----------------------------------------------------------------------------------

    def process(self, items: list[tuple[str, bytes]]) -> list[Reply]:
        """Handle a round of messages: validate, sequence, commit, then reply (the replies are returned)."""
        if self.partitions:
            self._note(items)
            if not self._leased():
                # not acked: the agents send again, to whoever holds their partition then
                self.stats["unleased_rounds"] = self.stats.get("unleased_rounds", 0) + 1
                log.info(
                    "ingest %s: its leases not taken or renewed in time; a round of %d messages dropped (sent again)",
                    self.worker,
                    len(items),
                )
                return []
            mine = [item for item in items if self._mine(item[0])]
            self.stats["foreign_events"] += sum(1 for t, _ in items if t.endswith("/events")) - sum(
                1 for t, _ in mine if t.endswith("/events")
            )
            items = mine
            self._unit_streams = {
                (store, agent or "") for store, agent in map(_topic_ids, (t for t, _ in items)) if store is not None
            }
            # an agent of ours not yet followed (new, or its row made just now): its events from now on; what
            # it sent before is not acked and comes again
            self._follow({k for k in self._unit_streams if k[1]}, only_add=True)
        unit = IngestUnit()
        replies: list[Reply] = []
        acks: dict[tuple[str, str, str], tuple[int, str | None]] = {}
        later: list[tuple[str, wire.Topic, wire.Message]] = []
        for topic, payload in items:
            self.stats["messages"] += 1
            parsed = self._accept(topic, payload, unit)
            if parsed is None:
                continue
            where, msg = parsed
            if msg.kind == "events":
                self._events(where, msg, unit, acks)
            elif msg.kind == "status":
                unit.statuses[(where.store, where.agent or "")] = msg.payload
            elif msg.kind == "hello":
                # compared with the pointer as it stands at the hello's place in the stream
                if self._hello(where, msg, unit):
                    later.append((topic, where, msg))
            else:
                later.append((topic, where, msg))  # answered after the commit, from committed state
        try:
            touched = self._commit(unit)
        except LeaseLost:
            # another worker has these agents now: nothing written, nothing acked; they send again to it
            log.warning("ingest %s: a lease ran out before the commit; the round is dropped", self.worker)
            self.streams.clear()
            return []
        for (store, agent, _), (through, ident) in acks.items():
            if through > 0:
                replies.append(self._ack(store, agent, through, ident))
        for _, where, msg in later:
            replies.extend(self._request(where, msg))
        if self.link is not None:
            for reply in replies:
                self.link.publish(reply.topic, reply.payload, expiry=reply.expiry, kind=reply.kind)
        if touched and self.publisher is not None:
            self.publisher.notify()
        return replies

    def _accept(self, topic: str, payload: bytes, unit: IngestUnit) -> tuple[wire.Topic, wire.Message] | None:
        """Decode one message or dead-letter it (and return None)."""
        try:
            where = wire.parse_topic(topic)
            if where.agent is None:
                raise wire.WireError("invalid", f"{topic} is not an agent's topic")
            msg = wire.decode(payload, channel=where.channel)
            if msg["store"] != where.store:
                raise wire.WireError("wrong_store", f"message says store {msg['store']!r} but came on {topic}")
            if msg["agent"] != where.agent:
                raise wire.WireError("wrong_agent", f"message says agent {msg['agent']!r} but came on {topic}")
        except wire.WireError as exc:
            store_agent = _topic_ids(topic)
            self._dead(unit, DeadLetter(exc.reason, str(exc), payload[:DEAD_PAYLOAD_BYTES], topic, *store_agent))
            return None
        if self._stream(where.store, where.agent) is None:
            self._dead(
                unit,
                DeadLetter(
                    "unknown_store",
                    f"store {where.store} is not known to the central server",
                    payload[:DEAD_PAYLOAD_BYTES],
                    topic,
                    where.store,
                    where.agent,
                ),
            )
            return None
        return where, msg

    def _dead(self, unit: IngestUnit, letter: DeadLetter) -> None:
        log.warning("dead letter (%s): %s", letter.reason, letter.detail)
        self.stats["dead_letters"] += 1
        unit.dead_letters.append(letter)

    def _stream(self, store: str, agent: str) -> Stream | None:
        key = (store, agent)
        stream = self.streams.get(key)
        if stream is None:
            state = self.db.stream_state(store, agent)
            if state is None:
                return None
            stream = self.streams[key] = Stream(store, agent, state[0], state[1])
            if state[2] is not None:  # a recovery was under way when the ingest stopped
                stream.recovery = Recovery(state[2])
        return stream

    def _events(
        self,
        where: wire.Topic,
        msg: wire.Message,
        unit: IngestUnit,
        acks: dict[tuple[str, str, str], tuple[int, str | None]],
    ) -> None:
        store, agent = where.store, where.agent or ""
        stream = self.streams[(store, agent)]
        acked = msg.get("acked")  # the agent's outbox starts after this seq
        if stream.recovery is not None:
            stream.recovery.anchor(acked)
        received: dict[int, str] = {}
        items: list[Received] = []
        raws = msg["events"]
        keys = [wire.event_key(raw) for raw in raws]
        # One look-up in the register for the whole message, before any body is checked: an event
        # at or below the pointer whose id the register holds at that very seq of this agent is a
        # copy we already handled (resent after a reconnect, redelivered by QoS 1) and costs no
        # validation (docs/sync.md, "Catch-up").
        known = self.db.known_ids([key[0] for key in keys if key is not None])
        for raw, key in zip(raws, keys, strict=True):
            if key is not None and key[1] <= stream.pointer and known.get(key[0]) == (store, agent, key[1]):
                items.append(Received(key[1], key[0], "ok", raw))
                continue
            try:
                env = wire.check_event(raw, store, agent)
            except wire.WireError as exc:
                self._dead(
                    unit,
                    DeadLetter(
                        exc.reason,
                        str(exc),
                        msgpack.packb(raw, use_bin_type=True)[:DEAD_PAYLOAD_BYTES],
                        None,
                        store,
                        agent,
                        *(key or (None, None)),
                    ),
                )
                if key is not None:
                    # its seq is consumed (the event is kept as a dead letter) so the rest flows
                    items.append(Received(key[1], key[0], "dead", raw))
                continue
            items.append(Received(env["seq"], env["id"], "ok", env))
        if not items:
            return
        for seq, ident, status, env in items:
            received[seq] = ident
            if seq <= stream.pointer:
                if ident in known or ident in unit.ids:
                    self.stats["duplicates"] += 1
                else:
                    self._recover(stream, seq, ident, status, env, unit, acked)
            elif seq not in stream.pending:
                if ident in known and status == "ok":
                    status = "duplicate_id"
                stream.pending[seq] = Pending(status, env)
            if stream.recovery is not None:
                stream.recovery.saw(seq, ident)
        self._drain(stream, unit)
        # The agent deletes through an acked seq only if its own event there has the acked id, so
        # acking the pointer is safe, and a batch wholly below it (duplicates) is acked at its own
        # top too. A restored agent holds new events under handled seqs: it hears only what its
        # recovery has received (central/sync/recovery.py).
        rec = stream.recovery
        if rec is not None and rec.done:
            log.info("agent %s of store %s: every reused seq is in, its recovery is over", agent, store)
            if rec.through == stream.pointer and rec.through_id is not None:
                # the agent's event at the pointer is its new one now: acks must name that id
                stream.last_id = rec.through_id
                unit.pointers[(store, agent)] = (stream.pointer, stream.last_id)
            stream.recovery = rec = None
            unit.recoveries[(store, agent)] = None
        ack = stream.ack()
        if ack is not None:
            acks[(store, agent, "pointer")] = ack
        else:
            acks.pop((store, agent, "pointer"), None)
        top = max(received)
        if rec is not None:
            rec.mark(top, time.monotonic())
        elif top < stream.pointer:
            # one ack per agent and round for batches wholly below the pointer (the highest): the
            # agent deletes through the highest ack that names its own event
            held = acks.get((store, agent, "below"))
            if held is None or held[0] < top:
                acks[(store, agent, "below")] = (top, received[top])

    def _recover(
        self,
        stream: Stream,
        seq: int,
        ident: str,
        status: str,
        env: Mapping[str, Any],
        unit: IngestUnit,
        acked: int | None,
    ) -> None:
        """A handled seq came again with a new id: an agent restored from a backup. Apply it once."""
        store, agent = stream.store, stream.agent
        rec = stream.recovery
        if rec is None:
            rec = self._restored(
                stream,
                unit,
                ident,
                (
                    f"agent {agent} of store {store} sent seq {seq} again with a new event id {ident}: it was restored "
                    f"from a backup (the central server had handled up to seq {stream.pointer})"
                ),
            )
            rec.anchor(acked)
        elif rec.through is not None and seq <= rec.through:
            log.warning("agent %s of store %s: a new id at seq %s again: restored once more", agent, store, seq)
            rec.restart(acked, seq)
        if seq > rec.end:  # the lost machine's last events came in after the restore was noticed
            rec.end = seq
            unit.recoveries[(store, agent)] = seq
        unit.ids.add(ident)
        if status != "ok":  # invalid, so already a dead letter: its seq is consumed
            unit.consumed.append(Consumed(ident, store, agent, seq, str(env.get("kind"))[:40], "dead", None, "dead"))
            return
        found = self.duplicates.check(env, unit)
        if found is None:
            unit.events.append(env)
            unit.recovered.add(ident)
            self.stats["applied"] += 1
            self.stats["recovered"] += 1
            return
        reason, what = found
        self.stats["recovered_duplicates"] += 1
        self._dead(
            unit,
            DeadLetter(
                reason,
                f"{what}: seq {seq} of agent {agent}, sent after its restore from a backup with the new event id "
                f"{ident}, repeats it (the till retried it); consumed without effect",
                msgpack.packb(env, use_bin_type=True),
                None,
                store,
                agent,
                ident,
                seq,
            ),
        )
        unit.consumed.append(Consumed(ident, store, agent, seq, env["kind"], "dead", env["at"], reason))

    def _restored(self, stream: Stream, unit: IngestUnit, ident: str | None, detail: str) -> Recovery:
        """Flag a restore for head office and start counting the agent's reused seqs."""
        log.warning(detail)
        stream.recovery = Recovery(stream.pointer)
        unit.recoveries[(stream.store, stream.agent)] = stream.pointer
        unit.flags.append(
            Flag(
                "restored_agent",
                stream.store,
                stream.agent,
                None,
                ident,
                f"{detail}. Its new events under the reused seqs are applied once (repeats of what the "
                f"ledger holds are set aside); the store should take a fresh backup.",
            )
        )
        return stream.recovery

    def _drain(self, stream: Stream, unit: IngestUnit) -> None:
        """Apply what follows the pointer without a gap."""
        in_unit = unit.ids
        while stream.pointer + 1 in stream.pending:
            seq = stream.pointer + 1
            status, env = stream.pending.pop(seq)
            ident = env["id"]
            if status == "ok" and ident not in in_unit:
                unit.events.append(env)
                in_unit.add(ident)
                self.stats["applied"] += 1
            elif status == "dead":
                unit.consumed.append(
                    Consumed(ident, stream.store, stream.agent, seq, str(env.get("kind"))[:40], "dead", None, None)
                )
            else:
                self._dead(
                    unit,
                    DeadLetter(
                        "duplicate_id",
                        f"event {ident} was applied before under another seq; seq {seq} is consumed without effect",
                        msgpack.packb(env, use_bin_type=True),
                        None,
                        stream.store,
                        stream.agent,
                        ident,
                        seq,
                    ),
                )
            stream.pointer, stream.last_id = seq, ident
            unit.pointers[(stream.store, stream.agent)] = (seq, ident)
        if len(stream.pending) > MAX_PENDING:
            for seq in sorted(stream.pending)[MAX_PENDING:]:
                del stream.pending[seq]  # not acked, so the agent sends them again
        if stream.pending:
            stream.gap_since = stream.gap_since or time.monotonic()
        else:
            stream.gap_since, stream.resend_every = None, 0.0

    def _commit(self, unit: IngestUnit) -> set[str]:
        if not unit:
            return set()
        fence = self._fence if self.partitions else None
        try:
            return self.db.commit_ingest(unit, fence)
        except LeaseLost:
            raise
        except Exception:
            if not unit.events:
                raise
            log.exception("a batch failed to apply; applying its events one by one")
        # one event at a time: a single event whose apply fails is dead-lettered, the rest applied
        touched: set[str] = set()
        for env in unit.events:
            recovered = env["id"] in unit.recovered  # under a reused seq: it moves no pointer
            pointers = {} if recovered else {(env["store"], env["agent"]): (env["seq"], env["id"])}
            one = IngestUnit(events=[env], pointers=pointers, recovered=unit.recovered & {env["id"]})
            try:
                touched |= self.db.commit_ingest(one, fence)
            except LeaseLost:
                raise
            except Exception as exc:
                self.stats["applied"] -= 1
                rest = IngestUnit(
                    consumed=[
                        Consumed(
                            env["id"],
                            env["store"],
                            env["agent"],
                            env["seq"],
                            env["kind"],
                            "dead",
                            env["at"],
                            "dead" if recovered else None,
                        )
                    ],
                    pointers=pointers,
                    dead_letters=[
                        DeadLetter(
                            "apply_failed",
                            f"{type(exc).__name__}: {exc}",
                            msgpack.packb(env, use_bin_type=True),
                            None,
                            env["store"],
                            env["agent"],
                            env["id"],
                            env["seq"],
                        )
                    ],
                )
                self.db.commit_ingest(rest, fence)
        unit.events = []
        touched |= self.db.commit_ingest(unit, fence)
        return touched

    # -- replies -------------------------------------------------------------------------------------

    def _ack(self, store: str, agent: str, through: int, ident: str | None) -> Reply:
        payload = wire.encode("ack", {"through": through, "id": ident})
        return Reply(wire.agent_topic(store, agent, "acks"), payload, "ack", ACK_EXPIRY)

    def _request(self, where: wire.Topic, msg: wire.Message) -> list[Reply]:
        store, agent = where.store, where.agent or ""
        if msg.kind == "code_reserve":
            return [self._reserve(store, agent, msg)]
        if msg.kind == "code_check":
            return [self._check_code(store, agent, msg)]
        if msg.kind == "code_release":
            self._release(store, agent, msg)
            return []  # fire-and-forget: nobody waits for it
        stream = self.streams[(store, agent)]
        if msg.kind == "hello":
            # the agent deletes through `through` only if its own row there has this id
            ack = stream.ack()
            return [self._ack(store, agent, *ack)] if ack is not None else []
        if msg.kind == "snapshot_request":
            deltas, upto, more = customer_page(self.db, store, msg["after"], msg.get("limit") or 500)
            payload = wire.encode(
                "snapshot",
                {"store": store, "after": msg["after"], "upto": upto, "more": more, "deltas": deltas},
                validate=False,
            )
            return [Reply(wire.agent_topic(store, agent, "snapshot"), payload, "snapshot", SNAPSHOT_EXPIRY)]
        if msg.kind in ("redeem_code_request", "redeem_code_check"):
            answer = {"request": msg["request"], **self._redeem_code(store, agent, msg)}
            payload = wire.encode("redeem_code_answer", answer)
            return [Reply(wire.agent_topic(store, agent, "answers"), payload, "redeem_code_answer", ANSWER_EXPIRY)]
        return []

    def _redeem_code(self, store: str, agent: str, msg: wire.Message) -> dict[str, Any]:
        """A till's redemption confirmation: send a code, or check one (central/messages/confirmations.py)."""
        now = dt.datetime.now(dt.UTC)
        try:
            if msg.kind == "redeem_code_request":
                return confirmations.request_code(self.db, store, agent, msg["customer_id"], msg["points"], now)
            return confirmations.check_code(
                self.db, msg["customer_id"], msg["confirmation"], msg["code"], msg["points"], msg["receipt_id"], now
            )
        except Exception:  # a database hiccup: the till hears "cannot be confirmed now", nothing half done
            log.exception("redemption code %s of %s/%s failed", msg.kind, store, agent)
            return {"ok": False, "problem": "confirmation_unavailable"}

    def _reserve(self, store: str, agent: str, msg: wire.Message) -> Reply:
        """A till's promo code reserved before its commit (docs/sync.md, "Code reservations"): one conditional
        update in its own transaction, answered at once on the agent's answers channel (docs/sync.md, "Answers")."""
        with self.db.transaction() as conn:
            problem = promotion_store.reserve_code(
                conn,
                promo_codes.normalise(msg["code"]),
                store,
                agent,
                msg["receipt_id"],
                msg.get("customer_id"),
                dt.datetime.now(dt.UTC),
            )
        self.stats["reservations"] = self.stats.get("reservations", 0) + 1
        payload = wire.encode(
            "code_reservation",
            {"request": msg["request"], "code": msg["code"], "ok": problem is None, "problem": problem},
        )
        return Reply(wire.agent_topic(store, agent, "answers"), payload, "code_reservation", ANSWER_EXPIRY)

    def _check_code(self, store: str, agent: str, msg: wire.Message) -> Reply:
        """A quote asks whether a code is still available (docs/promotions.md): read only, answered at once."""
        with self.db.transaction() as conn:
            problem = promotion_store.code_status(
                conn, promo_codes.normalise(msg["code"]), msg.get("customer_id"), dt.datetime.now(dt.UTC)
            )
        payload = wire.encode(
            "code_status", {"request": msg["request"], "code": msg["code"], "ok": problem is None, "problem": problem}
        )
        return Reply(wire.agent_topic(store, agent, "answers"), payload, "code_status", ANSWER_EXPIRY)

    def _release(self, store: str, agent: str, msg: wire.Message) -> None:
        """A till gives back a reservation its failed commit did not use: released at once, once."""
        with self.db.transaction() as conn:
            done = promotion_store.release_code(
                conn, promo_codes.normalise(msg["code"]), store, agent, msg["receipt_id"]
            )
        self.stats["releases"] = self.stats.get("releases", 0) + int(done)

    def _hello(self, where: wire.Topic, msg: wire.Message, unit: IngestUnit) -> bool:
        """An agent (re)connected: note its next seq; behind our pointer means restored from a backup.

        A hello naming its last event (``last_id``) that the central server has handled at that seq
        is one it has already seen past: a stale hello the broker delivered again (after a crash,
        QoS 1 redelivers what it had not saved as acknowledged). It proves nothing, so it is ignored
        (False: not answered either). A restored agent is then noticed by its first new event under a
        reused seq. So is a hello from before the agent's first event (``next_seq`` 1, nothing to name):
        once the central server is past it, it is the broker's old copy of the agent's first hello as
        often as a restore to an empty backup, and only the reused seq tells them apart. Any other hello
        without ``last_id`` (an older agent) is judged by ``next_seq`` alone.
        """
        store, agent = where.store, where.agent or ""
        stream = self.streams[(store, agent)]
        last_seq, last_id = msg["next_seq"] - 1, msg.get("last_id")
        if last_seq < stream.pointer and (last_id is not None or last_seq == 0):
            seen = last_id is None or (
                self.db.known_ids([last_id]).get(last_id) == (store, agent, last_seq) or last_id in unit.ids
            )
            if seen:
                self.stats["stale_hellos"] += 1
                log.info(
                    "agent %s of store %s: a stale hello (its last event seq %s is behind the pointer %s "
                    "and already handled): ignored",
                    agent,
                    store,
                    last_seq,
                    stream.pointer,
                )
                return False
        unit.hellos[(store, agent)] = msg["next_seq"]
        if last_seq < stream.pointer and stream.recovery is None:
            self._restored(
                stream,
                unit,
                None,
                (
                    f"agent {agent} of store {store} says its next seq is {msg['next_seq']} but the central "
                    f"server has handled up to seq {stream.pointer}: it was restored from a backup"
                ),
            )
        return True

    def _check_gaps(self) -> None:
        """Ask agents to resend when a gap has waited longer than gap_wait (then back off)."""
        now = time.monotonic()
        for stream in self.streams.values():
            if stream.pending and self._due(stream, now):
                self._resend(stream, stream.pointer + 1)
            rec = stream.recovery  # a gap in a restored agent's reused seqs: same timing, same backoff
            if rec is not None and rec.through is not None and self._due(rec, now):
                self._resend(stream, rec.through + 1)

    def _due(self, waiter: Stream | Recovery, now: float) -> bool:
        """A gap has waited long enough for a (first or next) resend request; note it was asked."""
        if waiter.gap_since is None or now - waiter.gap_since < self.gap_wait:
            return False
        if now - waiter.last_resend < waiter.resend_every:
            return False
        waiter.last_resend = now
        waiter.resend_every = min(30.0, max(self.gap_wait, waiter.resend_every * 2))
        return True

    def _resend(self, stream: Stream, from_seq: int) -> None:
        self.stats["resends"] += 1
        log.info("gap before seq %s of %s/%s: asking for a resend", from_seq, stream.store, stream.agent)
        if self.link is not None:
            payload = wire.encode("resend", {"from_seq": from_seq})
            self.link.publish(
                wire.agent_topic(stream.store, stream.agent, "resend"), payload, expiry=RESEND_EXPIRY, kind="resend"
            )


#: the payload bytes of one round (one commit) of a worker among several: about 2,000 events, a second or two
#: of commit on a loaded machine, against INGEST_LEASE_SECONDS (5 s by default)
ROUND_BYTES_WITH_PARTITIONS = 1024 * 1024
#: the same on PostgreSQL, where a renewal does not wait for the commit: about 8,000 events, whose commit costs
#: a fifth less per event than 2,000's (bench/pg_commits.py --batch)
ROUND_BYTES_WITH_PARTITIONS_PG = 4 * 1024 * 1024

#: every agent's events (the topic filter of a single ingest)
_ALL_EVENTS = f"{wire.TOPIC_ROOT}/stores/+/agents/+/events"


def _events_topic(store: str, agent: str) -> str | None:
    try:
        return wire.agent_topic(store, agent, "events")
    except Exception:  # an id the wire format refuses (dead-lettered when it sends)
        return None


def _topic_ids(topic: str) -> tuple[str | None, str | None]:
    parts = topic.split("/")
    store = parts[3] if len(parts) > 3 else None
    agent = parts[5] if len(parts) > 5 else None
    return (store[:64] if store else None), (agent[:64] if agent else None)
