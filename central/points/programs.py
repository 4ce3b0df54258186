"""Bonus accounts per program: which program a store's points go to, and a customer's balance in each.

A customer's points are held per program (``lots.program_id``); a store accrues
into and redeems from its program's account. ``customers.balance`` stays the
total over programs. Stores without a program are in the *default program*,
whose id is the settings row ``default_program`` (made by migration 7).

Permanent points are one lot per customer and program: ``<cid>:permanent`` in
the default program (so the data and agents from before programs keep their
ids), ``<cid>:permanent:<pid>`` in any other.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from ..storage import program_accounts as queries
from ..storage.clock import now_utc
from .versions import bump_versions

PERMANENT = ":permanent"
DEFAULT_NAME = "Main program"


def default_program(conn: sqlite3.Connection) -> int:
    """The default program's id (stores without a program are in it)."""
    return queries.default_program_id(conn)


def store_programs(conn: sqlite3.Connection) -> tuple[dict[str, int], int]:
    """(store -> program id, the default program id): the map the ledger reads once per batch."""
    default = default_program(conn)
    return {store: program or default for store, program in queries.store_program_rows(conn)}, default


def permanent_lot_id(customer_id: str, program: int, default: int) -> str:
    """The id of a customer's permanent lot in a program."""
    return customer_id + PERMANENT if program == default else f"{customer_id}{PERMANENT}:{program}"


def programs(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every program (id, name, points_per_money, default), the default one first, then by name."""
    default = default_program(conn)
    rows = [
        {"id": pid, "name": name, "points_per_money": rate, "default": pid == default}
        for pid, name, rate in queries.program_rows(conn)
    ]
    return sorted(rows, key=lambda p: (not p["default"], p["name"]))


def by_name(conn: sqlite3.Connection) -> dict[str, int]:
    """Program name -> id."""
    return {name: pid for pid, name, _ in queries.program_rows(conn)}


def balances(conn: sqlite3.Connection, customer_id: str) -> dict[int, int]:
    """A customer's balance in each program that holds any of their lots: program -> points."""
    return {pid: int(points) for pid, points in queries.program_balances(conn, customer_id)}


def customer_programs(conn: sqlite3.Connection, customer_id: str, at: str) -> list[dict[str, Any]]:
    """Every program with the customer's balance and what is spendable at ``at`` (programs with none show 0)."""
    totals: dict[int, list[int]] = {}
    for pid, points, starts, expires in queries.customer_lots(conn, customer_id):
        entry = totals.setdefault(pid, [0, 0])
        entry[0] += points
        if (starts is None or starts <= at) and (expires is None or expires > at):
            entry[1] += points
    out = []
    for program in programs(conn):
        balance, available = totals.pop(program["id"], [0, 0])
        out.append({**program, "balance": balance, "available": available})
    return out


def outstanding(conn: sqlite3.Connection, home_stores: Iterable[str] | None = None) -> dict[int, dict[str, int]]:
    """Per program: points owed (sum of positive per-customer balances), debts (negative ones), customers.

    ``home_stores``: only customers of these home stores (a store manager's view).
    """
    out: dict[int, dict[str, int]] = {}
    for pid, positive, negative, customers in queries.outstanding_rows(conn, home_stores):
        out[pid] = {"outstanding": positive or 0, "negative": negative or 0, "customers": customers or 0}
    return out


def with_outstanding(conn: sqlite3.Connection, home_stores: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """:func:`programs`, each with its :func:`outstanding` figures (zero where no customer holds points)."""
    figures = outstanding(conn, home_stores)
    empty = {"outstanding": 0, "negative": 0, "customers": 0}
    return [{**p, **figures.get(p["id"], empty)} for p in programs(conn)]


def customers_in(conn: sqlite3.Connection, program_ids: Iterable[int]) -> list[str]:
    """Customers holding any lot (even an empty one) in these programs."""
    return queries.customers_with_lots_in(conn, sorted(set(program_ids)))


# -- migration 7 (central/storage/schema.py) ------------------------------------------------------------


def migrate_to_programs(conn: sqlite3.Connection) -> None:
    """Give lots, ledger entries and debts a program; choose (or make) the default program.

    The default program is the oldest existing one, or a new "Main program" at rate 1. Existing rows
    get it through the new columns' default (SQLite adds such a column without rewriting the table),
    except a customer's whose home store is in another program: their rows move to that program.
    If some store is already in another program, every customer with points gets a new version, so
    every store's agents are sent their program's lots instead of the old single balance.
    """
    default = queries.oldest_program_id(conn)
    if default is None:
        default = queries.insert_program(conn, DEFAULT_NAME, "1", now_utc())
    queries.set_default_program(conn, default)
    # the default is the default program: rows written without a program (older code, tools) land there
    queries.add_program_columns(conn, default)
    # a customer whose home store is in another program keeps their points there, where their cashier sees them
    moved = queries.customers_homed_in_other_programs(conn, default)
    queries.move_to_programs(conn, moved)
    queries.rename_lots(conn, [(permanent_lot_id(cid, program, default), cid + PERMANENT) for cid, program in moved])
    if queries.other_program_in_use(conn, default):
        bump_versions(conn, queries.customers_with_lots(conn))
