"""Customer versions: the chain-wide counter that tells the publisher which customers to send down."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from ..storage import customer_versions as queries
from ..storage.clock import now_utc


class VersionCounter:
    """The chain-wide customer version counter inside a write transaction (docs/sync.md, "Down").

    Call it for each changed customer's next version; ``save()`` before commit. The counter is read at the
    first call, not before: an ingest commit beside others (PostgreSQL) reads it in its tail section, under
    the lock it holds until it commits (central/storage/write_lock.py), so versions follow commit order.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.value: int | None = None

    def __call__(self) -> int:
        if self.value is None:
            self.value = queries.customer_version(self.conn)
        self.value += 1
        return self.value

    def save(self) -> None:
        if self.value is not None:  # never called: the counter is as it was
            queries.save_customer_version(self.conn, self.value)


def bump_versions(conn: sqlite3.Connection, ids: Iterable[str]) -> None:
    """Give customers new versions, so the publisher sends them down as deltas (in the caller's transaction)."""
    counter = VersionCounter(conn)
    queries.set_versions(conn, [(counter(), now_utc(), cid) for cid in dict.fromkeys(ids)])
    counter.save()
