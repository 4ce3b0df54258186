"""The ledger's rows (customers, lots, ledger entries, debts, flags, visits, cards): the queries of
central/points/ledger.py's :class:`LedgerBatch`.

Module-level functions on the caller's connection, inside the ingest's (or the console's, the nightly job's)
transaction: the ingest's hot path, so the reads return their cursors as they are, ``ids`` come in chunks the
caller cuts, and each write is one ``executemany`` over the rows of a whole batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .aggregates import known_keys
from .import_pipeline import import_state
from .portable import in_list
from .write_lock import lock_rows

#: the columns :func:`customer_rows` reads, in order; the last three activity times are ACTIVITY's (ledger.py)
CUSTOMER_COLUMNS = (
    "id, balance, spend, level, visits, last_purchase_at, last_accrual_at, last_redemption_at, merged_into"
)

# -- reads ---------------------------------------------------------------------------------------------------


#: the profile's columns the segments' criteria read, which the ingest's read of a customer carries when dynamic
#: segments follow its customers (``customer_rows(profile=True)``; central/storage/aggregates.py ``_PROFILE``)
PROFILE_COLUMNS = "birthday, gender, consents, custom, created_at, home_store"


def customer_rows(conn: sqlite3.Connection, ids: Sequence[str], profile: bool = False) -> Iterable[tuple[Any, ...]]:
    """These customers (those that exist) as :data:`CUSTOMER_COLUMNS` (then :data:`PROFILE_COLUMNS` with
    ``profile``); in an ingest commit beside others (PostgreSQL), their rows are locked, in id order, until the
    commit ends (central/storage/write_lock.py)."""
    marks, params = in_list(list(ids))  # (a few lengths: the statement stays prepared across rounds)
    columns = f"{CUSTOMER_COLUMNS}, {PROFILE_COLUMNS}" if profile else CUSTOMER_COLUMNS
    return conn.execute(f"SELECT {columns} FROM customers WHERE id IN ({marks}){lock_rows(conn)}", params)


def lot_rows(
    conn: sqlite3.Connection, ids: Sequence[str]
) -> Iterable[tuple[str, str, int, str | None, str | None, int]]:
    """The lots of these customers: (id, customer, points, starts_at, expires_at, program)."""
    marks, params = in_list(list(ids))
    return conn.execute(
        f"SELECT id, customer_id, points, starts_at, expires_at, program_id FROM lots WHERE customer_id IN ({marks})",
        params,
    )


def card_owner(conn: sqlite3.Connection, number: str) -> tuple[str, str | None] | None:
    """(customer holding the card, the customer that one was merged into or None); None: no such card."""
    return conn.execute(  # type: ignore[no-any-return]
        "SELECT c.customer_id, u.merged_into FROM cards c LEFT JOIN customers u ON u.id = c.customer_id"
        " WHERE c.number = ?",
        (number,),
    ).fetchone()


def is_live_customer(conn: sqlite3.Connection, customer_id: str) -> bool:
    """Whether the customer exists and is not merged into another."""
    row = conn.execute("SELECT merged_into FROM customers WHERE id = ?", (customer_id,)).fetchone()
    return row is not None and row[0] is None


def other_customer_with_phone(conn: sqlite3.Connection, phone: str, customer_id: str) -> str | None:
    """Another customer with this phone number, if any."""
    row = conn.execute("SELECT id FROM customers WHERE phone = ? AND id != ?", (phone, customer_id)).fetchone()
    return None if row is None else row[0]  # type: ignore[no-any-return]


# -- writes --------------------------------------------------------------------------------------------------


def add_joined_holder(conn: sqlite3.Connection, holder: str, home_store: str, at: str, target: str) -> None:
    """A card holder's customer, born merged into the registered customer ``target`` (unless it exists)."""
    conn.execute(
        "INSERT INTO customers (id, home_store, version, created_at, stub, blocked, merged_into)"
        " VALUES (?, ?, 0, ?, 1, 1, ?) ON CONFLICT (id) DO NOTHING",
        (holder, home_store, at, target),
    )


def update_customer_fields(conn: sqlite3.Connection, customer_id: str, fields: Mapping[str, Any]) -> None:
    """Set these columns of a customer (the ledger's names: profile fields from registrations and confirmations)."""
    cols = sorted(fields)
    assignments = ", ".join(f"{c} = ?" for c in cols)
    conn.execute(f"UPDATE customers SET {assignments} WHERE id = ?", [fields[c] for c in cols] + [customer_id])


def set_languages(conn: sqlite3.Connection, pairs: Sequence[tuple[str, str]]) -> None:
    """(customer id, language) pairs: the language of messages registrations gave."""
    if pairs:
        conn.executemany("UPDATE customers SET language = ? WHERE id = ?", [(lang, cid) for cid, lang in pairs])


def insert_customers(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """(id, home_store, phone, name, consents, confirmation_code, spend, balance, version, created_at, stub,
    phone_verified, visits, last_purchase_at, last_accrual_at, last_redemption_at, channel)."""
    conn.executemany(
        "INSERT INTO customers (id, home_store, phone, name, consents, confirmation_code, spend, balance,"
        " version, created_at, stub, phone_verified, visits, last_purchase_at, last_accrual_at, last_redemption_at,"
        " channel) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    state = import_state(conn)
    if state is not None and rows:
        # a pipelined import: the key each new customer gets from the customers' insert trigger, as SQLite
        # gives it (central/storage/aggregates.py's customer_keys_insert), kept in its memory
        state.give("customer_keys", known_keys(conn, [row[0] for row in rows]))


def update_customer_totals(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """(balance, spend, version, visits, last_purchase_at, last_accrual_at, last_redemption_at, id)."""
    conn.executemany(
        "UPDATE customers SET balance = ?, spend = ?, version = ?, visits = ?, last_purchase_at = ?,"
        " last_accrual_at = ?, last_redemption_at = ? WHERE id = ?",
        rows,
    )


def insert_lots(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """(id, customer_id, points, initial, starts_at, expires_at, source_event, created_at, program_id)."""
    conn.executemany(
        "INSERT INTO lots (id, customer_id, points, initial, starts_at, expires_at, source_event, created_at,"
        " program_id) VALUES (?,?,?,?,?,?,?,?,?)",
        rows,
    )


def update_lot_points(conn: sqlite3.Connection, rows: Sequence[tuple[int, str]]) -> None:
    """(points, lot id)."""
    conn.executemany("UPDATE lots SET points = ? WHERE id = ?", rows)


def insert_ledger_entries(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """(customer_id, points, kind, event_id, store, agent, at, recorded_at, reason, operator, program_id)."""
    conn.executemany(
        "INSERT INTO ledger (customer_id, points, kind, event_id, store, agent, at, recorded_at, reason, operator,"
        " program_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )


def insert_debts(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """(event_id, customer_id, store, agent, shortfall, balance_after, at, created_at, program_id)."""
    conn.executemany(
        "INSERT INTO debts (event_id, customer_id, store, agent, shortfall, balance_after, at, created_at,"
        " program_id) VALUES (?,?,?,?,?,?,?,?,?)",
        rows,
    )


def card_status(conn: sqlite3.Connection, number: str) -> str | None:
    row = conn.execute("SELECT status FROM cards WHERE number = ?", (number,)).fetchone()
    return row[0] if row else None


def card_state(conn: sqlite3.Connection, number: str) -> tuple[str, str | None] | None:
    """The card's status and reason; None: no such card."""
    row = conn.execute("SELECT status, reason FROM cards WHERE number = ?", (number,)).fetchone()
    return (row[0], row[1]) if row else None


def insert_flags(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """(kind, store, agent, customer_id, event_id, detail, created_at)."""
    conn.executemany(
        "INSERT INTO flags (kind, store, agent, customer_id, event_id, detail, created_at) VALUES (?,?,?,?,?,?,?)",
        rows,
    )


def add_customer_stores(conn: sqlite3.Connection, rows: Iterable[tuple[str, str]]) -> None:
    """(customer, store) visits; those known already are left."""
    conn.executemany("INSERT INTO customer_stores (customer_id, store) VALUES (?, ?) ON CONFLICT DO NOTHING", rows)


def mark_messages_read(conn: sqlite3.Connection, rows: Sequence[tuple[str, str, str]]) -> None:
    """(read_at, store, message id) of cashier messages shown at a till; one read already marked stays."""
    conn.executemany("UPDATE customer_messages SET read_at = ?, read_store = ? WHERE id = ? AND read_at IS NULL", rows)


def add_cards(conn: sqlite3.Connection, rows: Sequence[tuple[str, str, str]]) -> None:
    """(number, customer, created_at) of new cards; a number known already is left."""
    conn.executemany("INSERT INTO cards (number, customer_id, created_at) VALUES (?,?,?) ON CONFLICT DO NOTHING", rows)
