"""Merging two customers' rows (central/points/merging.py): the reads and moves, in the caller's transaction.

Module-level functions on the caller's connection: the console's merge (central/services/merge.py) and the
ingest's join of a card holder (central/points/ledger.py) run them inside their own transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

#: tables whose rows simply change customer
MOVED_TABLES = ("ledger", "transactions", "customer_comments", "customer_messages", "debts", "flags")
#: tables keyed by (customer, key): a row moves unless the target has one with that key
KEYED_TABLES = {"customer_stores": "store", "customer_store_percents": "store", "customer_tags": "tag"}


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def customer_row(conn: sqlite3.Connection, customer_id: str) -> dict[str, Any]:
    """The whole ``customers`` row (IndexError: no such customer)."""
    return _dicts(conn.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)))[0]


def customer_cards(conn: sqlite3.Connection, customer_id: str) -> list[dict[str, Any]]:
    return _dicts(conn.execute("SELECT number, status, reason, main FROM cards WHERE customer_id = ?", (customer_id,)))


def customer_lot_rows(conn: sqlite3.Connection, customer_id: str) -> list[dict[str, Any]]:
    return _dicts(
        conn.execute(
            "SELECT id, points, starts_at, expires_at, program_id FROM lots WHERE customer_id = ?", (customer_id,)
        )
    )


def count_ledger_entries(conn: sqlite3.Connection, customer_id: str) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM ledger WHERE customer_id = ?", (customer_id,)).fetchone()[0])


def count_transactions(conn: sqlite3.Connection, customer_id: str) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM transactions WHERE customer_id = ?", (customer_id,)).fetchone()[0])


def permanent_lots(conn: sqlite3.Connection, customer_id: str, prefix: str) -> list[tuple[int, int]]:
    """(program, points) of the customer's permanent lots: ids ``prefix`` or ``prefix:<program>``, no expiry."""
    return conn.execute(
        "SELECT program_id, points FROM lots WHERE customer_id = ? AND expires_at IS NULL"
        " AND id IN (?, ? || ':' || program_id) ORDER BY program_id",
        (customer_id, prefix, prefix),
    ).fetchall()


def add_to_lot(conn: sqlite3.Connection, lot_id: str, customer_id: str, points: int, at: str, program: int) -> None:
    """Points into a permanent lot, made if missing."""
    conn.execute(
        "INSERT INTO lots (id, customer_id, points, initial, created_at, program_id) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET points = lots.points + excluded.points",
        (lot_id, customer_id, points, points, at, program),
    )


def delete_lot(conn: sqlite3.Connection, lot_id: str) -> None:
    conn.execute("DELETE FROM lots WHERE id = ?", (lot_id,))


def move_lots(conn: sqlite3.Connection, source: str, target: str) -> None:
    conn.execute("UPDATE lots SET customer_id = ? WHERE customer_id = ?", (target, source))


def move_rows(conn: sqlite3.Connection, source: str, target: str) -> None:
    """The source's ledger entries, transactions, comments, messages, debts and flags go to the target; its store
    visits, personal percents and tags too, but those the target has already (which the source loses)."""
    for table in MOVED_TABLES:
        conn.execute(f"UPDATE {table} SET customer_id = ? WHERE customer_id = ?", (target, source))
    for table, key in KEYED_TABLES.items():
        conn.execute(
            f"UPDATE {table} SET customer_id = ? WHERE customer_id = ? AND {key} NOT IN"
            f" (SELECT {key} FROM {table} WHERE customer_id = ?)",
            (target, source, target),
        )
        conn.execute(f"DELETE FROM {table} WHERE customer_id = ?", (source,))


def move_cards(conn: sqlite3.Connection, source: str, target: str, at: str) -> None:
    """The source's cards go to the target; none of them stays main if the target has a main card."""
    has_main = conn.execute("SELECT 1 FROM cards WHERE customer_id = ? AND main = 1", (target,)).fetchone()
    conn.execute(
        "UPDATE cards SET customer_id = ?, main = CASE WHEN ? = 1 THEN 0 ELSE main END, updated_at = ?"
        " WHERE customer_id = ?",
        (target, int(bool(has_main)), at, source),
    )


#: the ``customers`` columns :func:`absorb` may set from the source (the code's names, never the user's)
ABSORBED = frozenset(
    (
        "name",
        "email",
        "birthday",
        "gender",
        "phone",
        "level",
        "network_percent",
        "network_percent_ends_at",
        "home_store",
        "last_purchase_at",
        "last_accrual_at",
        "last_redemption_at",
    )
)


def absorb(
    conn: sqlite3.Connection,
    target: str,
    balance: int,
    spend: int,
    visits: int,
    custom: str,
    consents: str,
    created_at: str,
    fields: Mapping[str, Any],
) -> None:
    """The target adds the source's balance, spend and visits, takes these custom fields, consents, creation time
    and ``fields`` (columns of :data:`ABSORBED`)."""
    unknown = set(fields) - ABSORBED
    if unknown:
        raise ValueError(f"not a merged column: {sorted(unknown)}")
    assignments = "".join(f", {f} = ?" for f in fields)
    conn.execute(
        f"UPDATE customers SET balance = balance + ?, spend = spend + ?, visits = visits + ?, custom = ?,"
        f" consents = ?, created_at = ?{assignments} WHERE id = ?",
        [balance, spend, visits, custom, consents, created_at, *fields.values(), target],
    )


def make_tombstone(conn: sqlite3.Connection, source: str, target: str) -> None:
    """The source stays as a tombstone merged into the target (its id still resolves for late events), and those
    merged into the source now point at the target."""
    conn.execute(
        "UPDATE customers SET merged_into = ?, blocked = 1, phone = NULL, balance = 0, spend = 0,"
        " visits = 0 WHERE id = ?",
        (target, source),
    )
    conn.execute("UPDATE customers SET merged_into = ? WHERE merged_into = ?", (target, source))


def add_merge(conn: sqlite3.Connection, source: str, target: str, username: str, at: str, source_state: str) -> None:
    conn.execute(
        "INSERT INTO merges (source, target, username, at, source_state) VALUES (?,?,?,?,?)",
        (source, target, username, at, source_state),
    )
