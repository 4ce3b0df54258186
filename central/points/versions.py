"""Customer versions: the chain-wide counter that tells the publisher which customers to send down."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from ..storage.clock import now_utc


class VersionCounter:
    """The chain-wide customer version counter inside a write transaction (docs/sync.md, "Down").

    Call it for each changed customer's next version; ``save()`` before commit.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        row = conn.execute("SELECT value FROM counters WHERE name = 'customer_version'").fetchone()
        self.value = row[0] if row else 0

    def __call__(self) -> int:
        self.value += 1
        return self.value  # type: ignore[no-any-return]

    def save(self) -> None:
        self.conn.execute(
            "INSERT INTO counters (name, value) VALUES ('customer_version', ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (self.value,),
        )


def bump_versions(conn: sqlite3.Connection, ids: Iterable[str]) -> None:
    """Give customers new versions, so the publisher sends them down as deltas (in the caller's transaction)."""
    counter = VersionCounter(conn)
    conn.executemany("UPDATE customers SET version = ?, updated_at = ? WHERE id = ?",
                     [(counter(), now_utc(), cid) for cid in dict.fromkeys(ids)])
    counter.save()
