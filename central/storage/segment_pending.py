"""The customers a big batch changed, until the segments' engine follows them (migration 43,
central/storage/schema_seghooks.py): written in the batch's transaction, read and deleted in the engine's."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable


def add(conn: sqlite3.Connection, keys: Iterable[int], cause: str, changes: Iterable[str]) -> int:
    """A row per key, in the caller's transaction; returns how many."""
    what = ",".join(sorted(set(changes)))
    rows = [(key, cause, what) for key in sorted(set(keys))]
    conn.executemany("INSERT INTO segment_pending (key, cause, changes) VALUES (?, ?, ?)", rows)
    return len(rows)


def any_pending(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM segment_pending LIMIT 1").fetchone() is not None


def take(conn: sqlite3.Connection) -> dict[tuple[str, frozenset[str]], set[int]]:
    """Every row, deleted (in the caller's transaction: a rollback keeps them), grouped as (cause, changes) -> keys,
    in the order they were written. ``DELETE ... RETURNING``: on PostgreSQL a second taker waits for the first and
    then finds the rows gone, so none is followed twice."""
    rows = conn.execute("DELETE FROM segment_pending RETURNING seq, key, cause, changes").fetchall()
    out: dict[tuple[str, frozenset[str]], set[int]] = {}
    for _seq, key, cause, changes in sorted(rows):
        out.setdefault((cause, frozenset(c for c in changes.split(",") if c)), set()).add(key)
    return out
