"""The outbox: events for the central server, in the agent's sequence order.

Rows are written by the service in the same transaction as their effect and
deleted by the sync only after the central server acknowledged them. The
``seq`` column is the event's sequence number (AUTOINCREMENT: never reused,
and without gaps because a rolled-back transaction takes its seq back).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import msgpack

from shared import events

from .times import iso, parse_time


class OutboxEvent(NamedTuple):
    """One outbox row: ``raw`` is its body's MessagePack bytes, sent up as they are (``body`` decodes them)."""

    seq: int
    id: str
    kind: str
    at: str
    raw: bytes
    created_at: str

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = msgpack.unpackb(self.raw, raw=False)
        return body


class OutboxQueries:
    """Mixin of :class:`~agent.store.tx.Tx`."""

    c: sqlite3.Connection
    #: events this transaction appended (the store wakes the sync after the commit)
    events_added: int

    def add_event(self, kind: str, at: dt.datetime, body: events.Contract | Mapping[str, Any], now: dt.datetime) -> int:
        """Append an event (a shared/events.py body of that ``kind``); returns its seq.

        The body is encoded once, here: the sync sends these bytes as they are.
        """
        cls = events.BODIES.get(kind)
        if cls is None:
            raise ValueError(f"unknown event kind {kind!r}")
        if isinstance(body, events.Contract):
            if type(body) is not cls:
                raise ValueError(f"a {kind} event needs a {cls.__name__}, not a {type(body).__name__}")
            data = events.encode_body(body)
        else:
            data = msgpack.packb(dict(body), use_bin_type=True)
        cursor = self.c.execute(
            "INSERT INTO outbox (id, kind, at, body, created_at) VALUES (?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, kind, iso(at), data, iso(now)),
        )
        self.events_added += 1
        return int(cursor.lastrowid)  # type: ignore[arg-type]

    def next_seq(self) -> int:
        """The seq the next event will get (for bodies that name their own event)."""
        row = self.c.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return (row[0] if row else 0) + 1

    def outbox_batch(self, after_seq: int = 0, limit: int = 100, max_bytes: int | None = None) -> list[OutboxEvent]:
        """Events after ``after_seq`` in seq order; with ``max_bytes``, stop once the bodies reach it (at least one)."""
        rows = self.c.execute(
            "SELECT seq, id, kind, at, body, created_at FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        if max_bytes is not None:
            size = 0
            for count, row in enumerate(rows):
                size += len(row[4])
                if size > max_bytes and count:
                    rows = rows[:count]
                    break
        return [OutboxEvent(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def outbox_ack(self, through: int, ident: str | None) -> int | None:
        """Delete through ``through`` if our event at that seq has id ``ident`` (docs/sync.md, acks).

        Returns how many rows were deleted, or None when the ack is not about our event
        (already deleted, or the seq was reused after a restore from a backup).
        """
        row = self.c.execute("SELECT id FROM outbox WHERE seq = ?", (through,)).fetchone()
        if row is None or row[0] != ident:
            return None
        return self.outbox_delete_through(through)

    def outbox_last(self) -> tuple[int, str] | None:
        """(seq, id) of the newest event still waiting, None when the outbox is empty."""
        row = self.c.execute("SELECT seq, id FROM outbox ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def first_unacked_seq(self) -> int:
        """The seq of the oldest event still waiting, or the next seq when the outbox is empty."""
        row = self.c.execute("SELECT MIN(seq) FROM outbox").fetchone()
        return int(row[0]) if row[0] is not None else self.next_seq()

    def outbox_delete_through(self, seq: int) -> int:
        return self.c.execute("DELETE FROM outbox WHERE seq <= ?", (seq,)).rowcount

    def outbox_delete_ids(self, ids: Iterable[str]) -> int:
        return sum(self.c.execute("DELETE FROM outbox WHERE id = ?", (i,)).rowcount for i in ids)

    def outbox_depth(self) -> int:
        return int(self.c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def oldest_outbox_age(self, now: dt.datetime) -> float | None:
        """Seconds since the oldest waiting event was written; None when the outbox is empty."""
        row = self.c.execute("SELECT created_at FROM outbox ORDER BY seq LIMIT 1").fetchone()
        if row is None:
            return None
        created = parse_time(row[0])
        assert created is not None
        return max(0.0, (now - created).total_seconds())
