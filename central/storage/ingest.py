"""The ingest's transaction: events applied, register rows, pointers, dead letters, flags, agents' status.

Writes that belong together run in one transaction (``BEGIN IMMEDIATE``):
:meth:`IngestQueries.commit_ingest` writes the effects of a batch of events, their
idempotency register rows and the agents' sequence pointers in one transaction,
so a crash at any point leaves all or nothing.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..marketing import engine as segments
from ..points.ledger import LedgerBatch
from ..points.receipt_log import ParsedTimes
from ..points.versions import VersionCounter
from . import promotions
from .clock import now_utc
from .connection import Database
from .import_pipeline import Deferred, ImportState, Writer
from .triggers import record_events as trigger_events
from .write_lock import serial_section

log = logging.getLogger(__name__)


@dataclass
class DeadLetter:
    """A message or event set aside, with the reason (a WireError reason or an ingest one)."""

    reason: str
    detail: str
    payload: bytes
    topic: str | None = None
    store: str | None = None
    agent: str | None = None
    event_id: str | None = None
    seq: int | None = None


class Consumed(NamedTuple):
    """A register row (applied_events) for an event consumed without effect (a dead letter)."""

    id: str
    store: str
    agent: str
    seq: int
    kind: str
    status: str  # "dead"
    at: str | None
    recovery: str | None  # "dead" when consumed under a reused seq (central/sync/recovery.py)


class Flag(NamedTuple):
    """Something head office should look at (the flags table): a restored agent, a debt, ..."""

    kind: str
    store: str
    agent: str
    customer_id: str | None
    event_id: str | None
    detail: str


@dataclass
class IngestUnit:
    """Everything one ingest round commits in one transaction."""

    events: list[Mapping[str, Any]] = field(default_factory=list)  # to apply, in order
    #: ids of ``events`` applied by recovery (under a reused seq: central/sync/recovery.py); no pointer moves for them
    recovered: set[str] = field(default_factory=set)
    #: register rows for events consumed without effect
    consumed: list[Consumed] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    #: (store, agent) -> (highest contiguous seq handled, its event id)
    pointers: dict[tuple[str, str], tuple[int, str | None]] = field(default_factory=dict)
    #: (store, agent) -> status payload
    statuses: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    #: (store, agent) -> the next seq the agent said it will write (its hello)
    hellos: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (store, agent) -> the pointer when its restore was found, None once its recovery is over
    recoveries: dict[tuple[str, str], int | None] = field(default_factory=dict)
    #: ids of ``events`` (and of recovered events consumed), kept by the ingest while it builds the unit
    ids: set[str] = field(default_factory=set)
    #: the events' times, already parsed by their maker (a receipt import's batch): the receipt log takes them
    times: ParsedTimes | None = None

    def __bool__(self) -> bool:
        return bool(
            self.events
            or self.consumed
            or self.dead_letters
            or self.flags
            or self.pointers
            or self.statuses
            or self.hellos
            or self.recoveries
        )


class LeaseLost(Exception):
    """An ingest worker's lease ran out before its commit (central/storage/partitions.py): nothing was written."""


class IngestQueries(Database):
    """What the ingest reads and writes (``agents``' pointers, ``applied_events``, ``dead_letters``, ``flags``)."""

    #: PostgreSQL: ingest commits run beside other ingest commits (central/storage/write_lock.py)
    concurrent_ingest = True
    #: concurrent commits that failed (a deadlock, a key two workers both inserted) and were applied again alone
    ingest_retries = 0

    def stream_state(self, store: str, agent: str) -> tuple[int, str | None, int | None] | None:
        """(applied_seq, applied_id, recovery_end) of an agent, None if the store is unknown (agent rows are made)."""
        row = self.conn.execute(
            "SELECT applied_seq, applied_id, recovery_end FROM agents WHERE store = ? AND id = ?", (store, agent)
        ).fetchone()
        if row:
            return row[0], row[1], row[2]
        if not self.conn.execute("SELECT 1 FROM stores WHERE id = ?", (store,)).fetchone():
            return None
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO agents (store, id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (store, agent, now_utc()),
            )
        return 0, None, None

    def known_ids(self, ids: Sequence[str]) -> dict[str, tuple[str, str, int]]:
        """Which of these event ids are in the register: id -> (store, agent, seq)."""
        found: dict[str, tuple[str, str, int]] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for ident, store, agent, seq in self.conn.execute(
                f"SELECT id, store, agent, seq FROM applied_events WHERE id IN ({marks})", chunk
            ):
                found[ident] = (store, agent, seq)
        return found

    def commit_ingest(self, unit: IngestUnit, fence: Callable[[Any], bool] | None = None) -> set[str]:
        """Apply a unit of ingest work in one transaction; return the customer ids changed.

        ``fence``: checked first inside the transaction (one of several ingest workers: does it still hold the
        leases of these agents?); False raises :class:`LeaseLost` and writes nothing.

        On PostgreSQL the commit shares the write lock with other ingest workers' commits (its chain-wide part
        in a tail section, central/storage/write_lock.py); when it fails there (a deadlock, a unique key another
        commit inserted first), it is rolled back and the whole unit applied again under the exclusive lock,
        one writer as on SQLite: nothing of it is dead-lettered for the clash."""
        if self.postgresql and self.concurrent_ingest:
            try:
                return self._commit_ingest(unit, fence, concurrent=True)
            except LeaseLost:
                raise
            except Exception as exc:
                self.ingest_retries += 1
                log.warning("a concurrent ingest commit failed (%s: %s); applied again alone", type(exc).__name__, exc)
        return self._commit_ingest(unit, fence, concurrent=False)

    def _commit_ingest(self, unit: IngestUnit, fence: Callable[[Any], bool] | None, *, concurrent: bool) -> set[str]:
        now = now_utc()
        with self.transaction(concurrent=concurrent) as conn:
            if fence is not None and not fence(conn):
                raise LeaseLost("this ingest worker no longer holds the partition of an agent in the unit")
            touched = self.ingest_body(conn, unit, now, LedgerBatch(conn, now, profiles=segments.any_dynamic(conn)))
        return touched

    def ingest_body(self, conn: Any, unit: IngestUnit, now: str, ledger: LedgerBatch) -> set[str]:
        """The writes of a unit of ingest work on ``conn``, inside the caller's transaction (``ledger``: a fresh
        one, or a pipelined import's, which keeps its customers across batches)."""
        if unit.times is not None:
            ledger.receipts.prime_whens(unit.times)
        ledger.prefetch(unit.events)
        for env in unit.events:
            ledger.apply(env)
        recovered = unit.recovered
        conn.executemany(
            "INSERT INTO applied_events (id, store, agent, seq, kind, status, at, recovery, applied_at)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (
                    e["id"],
                    e["store"],
                    e["agent"],
                    e["seq"],
                    e["kind"],
                    "applied",
                    e["at"],
                    "applied" if e["id"] in recovered else None,
                    now,
                )
                for e in unit.events
            ],
        )
        # consumed without effect (a dead letter): a clash with a registered id must not block the unit
        conn.executemany(
            "INSERT INTO applied_events (id, store, agent, seq, kind, status, at, recovery, applied_at)"
            " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            [(*row, now) for row in unit.consumed],
        )
        counter = VersionCounter(conn)
        touched = ledger.flush(counter)
        serial_section(conn)  # the chain-wide rest, one commit at a time (flush entered it already)
        counter.save()
        promotions.apply_purchases(conn, unit.events, now)  # codes' uses (atomic) and results
        # dynamic segments: the touched customers, against the segments what happened can change
        segments.after_ingest(conn, touched, unit.events, ledger.receipts.keys, ledger.profile_rows())
        trigger_events(conn, unit.events, now)  # the triggers' events outbox (central/marketing/trigger_engine.py)
        conn.executemany(
            "UPDATE agents SET applied_seq = ?, applied_id = ? WHERE store = ? AND id = ?",
            [(seq, ident, store, agent) for (store, agent), (seq, ident) in unit.pointers.items()],
        )
        self._dead_letters(conn, unit.dead_letters, now)
        conn.executemany(
            "INSERT INTO flags (kind, store, agent, customer_id, event_id, detail, created_at) VALUES (?,?,?,?,?,?,?)",
            [(*flag, now) for flag in unit.flags],
        )
        conn.executemany(
            "UPDATE agents SET restored_at = ? WHERE store = ? AND id = ?",
            [(now, flag.store, flag.agent) for flag in unit.flags if flag.kind == "restored_agent"],
        )
        conn.executemany(
            "UPDATE agents SET recovery_end = ? WHERE store = ? AND id = ?",
            [(end, store, agent) for (store, agent), end in unit.recoveries.items()],
        )
        conn.executemany(
            "UPDATE agents SET reported_next_seq = ?, last_seen = ? WHERE store = ? AND id = ?",
            [(next_seq, now, store, agent) for (store, agent), next_seq in unit.hellos.items()],
        )
        for (store, agent), status in unit.statuses.items():
            self._status(conn, store, agent, status, now)
        return touched

    def import_ledger(self) -> LedgerBatch:
        """A ledger for a pipelined import (:meth:`ingest_deferred`), which keeps its customers across batches."""
        return LedgerBatch(self.conn)

    def ingest_deferred(self, unit: IngestUnit, ledger: LedgerBatch, state: ImportState, writer: Writer) -> None:
        """A pipelined import's batch (central/storage/import_pipeline.py): the unit applied on a
        :class:`~central.storage.import_pipeline.Deferred` connection that reads on this one and hands each write
        to ``writer``, in order."""
        now = now_utc()
        deferred = Deferred(self.conn, state, writer)
        ledger.conn = ledger.receipts.conn = deferred  # type: ignore[assignment]
        ledger.recorded_at = ledger.receipts.recorded_at = now
        self.ingest_body(deferred, unit, now, ledger)

    def _dead_letters(self, conn: sqlite3.Connection, letters: Sequence[DeadLetter], now: str) -> None:
        for letter in letters:
            # the same bad message resent a hundred times is one row with a count
            digest = hashlib.sha256(letter.reason.encode() + b"\0" + letter.payload).hexdigest()
            conn.execute(
                "INSERT INTO dead_letters (digest, reason, detail, topic, store, agent, event_id, seq, payload,"
                " received_at, last_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (digest) DO UPDATE SET count = dead_letters.count + 1, last_at = excluded.last_at",
                (
                    digest,
                    letter.reason,
                    letter.detail[:2000],
                    letter.topic,
                    letter.store,
                    letter.agent,
                    letter.event_id,
                    letter.seq,
                    letter.payload,
                    now,
                    now,
                ),
            )

    def dead_letter(self, letter: DeadLetter) -> None:
        """File one dead letter in its own transaction."""
        with self.transaction() as conn:
            self._dead_letters(conn, [letter], now_utc())

    def _status(self, conn: sqlite3.Connection, store: str, agent: str, status: Mapping[str, Any], now: str) -> None:
        conn.execute(
            "INSERT INTO agents (store, id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", (store, agent, now)
        )
        conn.execute(
            "UPDATE agents SET state = ?, status_at = ?, last_seen = ?, outbox_depth = COALESCE(?, outbox_depth),"
            " rules_version = COALESCE(?, rules_version), customers_version = COALESCE(?, customers_version),"
            " last_sync = COALESCE(?, last_sync), software = COALESCE(?, software) WHERE store = ? AND id = ?",
            (
                status["state"],
                status.get("at"),
                now,
                status.get("outbox_depth"),
                status.get("rules_version"),
                status.get("customers_version"),
                status.get("last_sync"),
                status.get("software"),
                store,
                agent,
            ),
        )

    # -- reading for the console and the tests -------------------------------------------------

    def dead_letters(self, reason: str | None = None) -> list[dict[str, Any]]:
        if reason is None:
            return self.rows("SELECT * FROM dead_letters ORDER BY id")
        return self.rows("SELECT * FROM dead_letters WHERE reason = ? ORDER BY id", (reason,))

    def flags(self, kind: str | None = None) -> list[dict[str, Any]]:
        if kind is None:
            return self.rows("SELECT * FROM flags ORDER BY id")
        return self.rows("SELECT * FROM flags WHERE kind = ? ORDER BY id", (kind,))

    def open_problems(self) -> tuple[dict[str, int], dict[str, int]]:
        """Per store: the dead letters and the debts not yet resolved."""
        open_dead = {
            row[0]: row[1]
            for row in self.conn.execute(
                "SELECT store, COUNT(*) FROM dead_letters WHERE resolved_at IS NULL GROUP BY store"
            )
        }
        debts = {
            row[0]: row[1]
            for row in self.conn.execute("SELECT store, COUNT(*) FROM debts WHERE resolved_at IS NULL GROUP BY store")
        }
        return open_dead, debts

    def debts(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM debts ORDER BY created_at, event_id")
