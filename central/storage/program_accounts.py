"""Bonus accounts per program (``programs``, ``lots.program_id``, the ``default_program`` setting): the queries of
central/points/programs.py, migration 7's included.

Module-level functions on the caller's connection (the ledger reads the store -> program map once per batch in the
ingest's transaction).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence


def default_program_id(conn: sqlite3.Connection) -> int:
    """The default program's id (the settings row ``default_program``)."""
    row = conn.execute("SELECT value FROM settings WHERE name = 'default_program'").fetchone()
    return int(row[0])


def store_program_rows(conn: sqlite3.Connection) -> Iterable[tuple[str, int | None]]:
    """(store, its program or None) of every store."""
    return conn.execute("SELECT id, program_id FROM stores")


def program_rows(conn: sqlite3.Connection) -> Iterable[tuple[int, str, str]]:
    """(id, name, points_per_money) of every program."""
    return conn.execute("SELECT id, name, points_per_money FROM programs")


def program_balances(conn: sqlite3.Connection, customer_id: str) -> Iterable[tuple[int, int]]:
    """(program, the sum of the customer's lots in it) of each program holding any of their lots."""
    return conn.execute(
        "SELECT program_id, SUM(points) FROM lots WHERE customer_id = ? GROUP BY program_id", (customer_id,)
    )


def customer_lots(conn: sqlite3.Connection, customer_id: str) -> Iterable[tuple[int, int, str | None, str | None]]:
    """(program, points, starts_at, expires_at) of each of the customer's lots."""
    return conn.execute(
        "SELECT program_id, points, starts_at, expires_at FROM lots WHERE customer_id = ?", (customer_id,)
    )


def outstanding_rows(
    conn: sqlite3.Connection, home_stores: Iterable[str] | None = None
) -> Iterable[tuple[int, int, int, int]]:
    """Per program: (program, positive balances' sum, negative ones' sum, customers with a balance), the balance
    being a customer's sum of lots in the program; ``home_stores``: only customers of these home stores."""
    where, params = "", []
    if home_stores is not None:
        stores = sorted(home_stores)
        where = (
            f" WHERE l.customer_id IN (SELECT id FROM customers WHERE home_store IN"
            f" ({','.join('?' * len(stores)) or 'NULL'}))"
        )
        params = stores
    return conn.execute(
        "SELECT program_id, SUM(CASE WHEN b > 0 THEN b ELSE 0 END), SUM(CASE WHEN b < 0 THEN b ELSE 0 END),"
        " SUM(CASE WHEN b != 0 THEN 1 ELSE 0 END) FROM (SELECT l.program_id, l.customer_id, SUM(l.points) AS b"
        f" FROM lots l{where} GROUP BY l.program_id, l.customer_id) GROUP BY program_id",
        params,
    )


def customers_with_lots_in(conn: sqlite3.Connection, program_ids: Sequence[int]) -> list[str]:
    """Customers holding any lot (even an empty one) in these programs, by id."""
    marks = ",".join("?" * len(program_ids)) or "NULL"
    return [
        r[0]
        for r in conn.execute(
            f"SELECT DISTINCT customer_id FROM lots WHERE program_id IN ({marks}) ORDER BY customer_id",
            list(program_ids),
        )
    ]


# -- migration 7 (central/storage/schema.py, through central/points/programs.py) ------------------------


def oldest_program_id(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT id FROM programs ORDER BY created_at, id LIMIT 1").fetchone()
    return None if row is None else int(row[0])


def insert_program(conn: sqlite3.Connection, name: str, points_per_money: str, at: str) -> int:
    """A new program; returns its id."""
    return int(
        conn.execute(
            "INSERT INTO programs (name, points_per_money, created_at) VALUES (?, ?, ?)", (name, points_per_money, at)
        ).lastrowid
        or 0
    )


def set_default_program(conn: sqlite3.Connection, program_id: int) -> None:
    conn.execute(
        "INSERT INTO settings (name, value) VALUES ('default_program', ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (str(program_id),),
    )


#: the tables whose rows belong to a program
PROGRAM_TABLES = ("lots", "ledger", "debts")


def add_program_columns(conn: sqlite3.Connection, default: int) -> None:
    """``program_id`` on lots, ledger entries and debts, ``default`` for the rows there are (and rows written
    without a program: older code, tools); SQLite adds such a column without rewriting the table."""
    for table in PROGRAM_TABLES:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN program_id INTEGER NOT NULL DEFAULT {int(default)}")


def customers_homed_in_other_programs(conn: sqlite3.Connection, default: int) -> list[tuple[str, int]]:
    """(customer, program) of each customer whose home store is in a program other than ``default``."""
    return conn.execute(
        "SELECT c.id, s.program_id FROM customers c JOIN stores s ON s.id = c.home_store"
        " WHERE s.program_id IS NOT NULL AND s.program_id != ?",
        (default,),
    ).fetchall()


def move_to_programs(conn: sqlite3.Connection, moves: Sequence[tuple[str, int]]) -> None:
    """Each (customer, program): the customer's lots, ledger entries and debts move to the program."""
    for table in PROGRAM_TABLES:
        conn.executemany(
            f"UPDATE {table} SET program_id = ? WHERE customer_id = ?", [(program, cid) for cid, program in moves]
        )


def rename_lots(conn: sqlite3.Connection, renames: Sequence[tuple[str, str]]) -> None:
    """Each (new id, old id) of a lot."""
    conn.executemany("UPDATE lots SET id = ? WHERE id = ?", renames)


def other_program_in_use(conn: sqlite3.Connection, default: int) -> bool:
    """Whether some store is in a program other than ``default``."""
    return (
        conn.execute("SELECT 1 FROM stores WHERE program_id IS NOT NULL AND program_id != ?", (default,)).fetchone()
        is not None
    )


def customers_with_lots(conn: sqlite3.Connection) -> list[str]:
    """Every customer holding a lot, by id."""
    return [r[0] for r in conn.execute("SELECT DISTINCT customer_id FROM lots ORDER BY 1")]
