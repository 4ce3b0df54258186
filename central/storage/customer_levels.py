"""The level program's rows and each customer's spend and level: the queries of central/points/levels.py.

Module-level functions on the caller's connection (the ingest's transaction, the nightly job's); ``ids`` come
in chunks the caller cuts (each one ``IN (...)`` list).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence


def level_settings(conn: sqlite3.Connection) -> dict[str, str]:
    """The ``level_window_days``, ``level_auto`` and ``level_demotion`` settings that are set."""
    return dict(
        conn.execute(
            "SELECT name, value FROM settings WHERE name IN ('level_window_days', 'level_auto', 'level_demotion')"
        )
    )


def level_rows(conn: sqlite3.Connection) -> tuple[tuple[str, int, str], ...]:
    """The levels as (name, from_spend, percent), lowest first."""
    return tuple(conn.execute("SELECT name, from_spend, percent FROM levels ORDER BY from_spend"))


def has_levels(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM levels LIMIT 1").fetchone() is not None


def add_levels(conn: sqlite3.Connection, levels: Sequence[tuple[str, int, str]]) -> None:
    conn.executemany("INSERT INTO levels (name, from_spend, percent) VALUES (?, ?, ?)", levels)


def all_time_spend(conn: sqlite3.Connection, ids: Sequence[str]) -> Iterable[tuple[str, int]]:
    """(id, spend) of these customers (``customers.spend``)."""
    marks = ",".join("?" * len(ids))
    return conn.execute(f"SELECT id, spend FROM customers WHERE id IN ({marks})", list(ids))


def spend_since(conn: sqlite3.Connection, ids: Sequence[str], cutoff: int) -> Iterable[tuple[str, int | None]]:
    """(id, purchases minus refunds) of these customers from ``cutoff`` (epoch seconds) on; none without any."""
    marks = ",".join("?" * len(ids))
    return conn.execute(
        f"SELECT customer_id, SUM(amount) FROM transactions WHERE customer_id IN ({marks}) AND at_epoch >= ?"
        " AND kind IN ('purchase', 'refund', 'cancel') GROUP BY customer_id",
        [*ids, cutoff],
    )


def current_levels(conn: sqlite3.Connection, ids: Sequence[str]) -> Iterable[tuple[str, str | None]]:
    """(id, level) of these customers (those that exist)."""
    marks = ",".join("?" * len(ids))
    return conn.execute(f"SELECT id, level FROM customers WHERE id IN ({marks})", list(ids))


def set_levels(conn: sqlite3.Connection, rows: Iterable[tuple[str | None, str]]) -> None:
    """Each (level, customer id): the customer's new level."""
    conn.executemany("UPDATE customers SET level = ? WHERE id = ?", rows)
