"""Customer versions (the ``customer_version`` counter, ``customers.version``): central/points/versions.py's queries.

Module-level functions on the caller's connection, inside its open transaction (the ingest's, the nightly job's).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from .import_pipeline import import_state


def customer_version(conn: sqlite3.Connection) -> int:
    """The chain-wide customer version counter (0 before the first version)."""
    state = import_state(conn)
    if state is not None:  # a pipelined import: the batch before may not be written yet
        return state.top["customer_version"]
    row = conn.execute("SELECT value FROM counters WHERE name = 'customer_version'").fetchone()
    return int(row[0]) if row else 0


def save_customer_version(conn: sqlite3.Connection, value: int) -> None:
    state = import_state(conn)
    if state is not None:
        state.top["customer_version"] = value
    conn.execute(
        "INSERT INTO counters (name, value) VALUES ('customer_version', ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (value,),
    )


def set_versions(conn: sqlite3.Connection, rows: Sequence[tuple[int, str, str]]) -> None:
    """Each (version, updated_at, customer id): the customer's new version and update time."""
    conn.executemany("UPDATE customers SET version = ?, updated_at = ? WHERE id = ?", rows)


def set_version(conn: sqlite3.Connection, customer_id: str, version: int) -> None:
    """A customer's new version (its update time unchanged)."""
    conn.execute("UPDATE customers SET version = ? WHERE id = ?", (version, customer_id))


def set_versions_only(conn: sqlite3.Connection, rows: Sequence[tuple[int, str]]) -> None:
    """Each (version, customer id): the customer's new version (its update time unchanged)."""
    conn.executemany("UPDATE customers SET version = ? WHERE id = ?", rows)
