"""The console's list of transactions (``transactions t``): a checked filter as SQL, a page, the totals.

A filter on a product or a category (a line naming it) is answered by the purchases' packed lines
(central/storage/line_pack.py; there is no table of lines since migration 44): the database keeps the purchases
the rest of the filter allows whose packed lines hold the id's four bytes anywhere (``instr`` on the BLOB, in the
database's C), numpy checks those at their field, and the ids found join the filter as one JSON parameter.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import line_pack
from .connection import Database
from .portable import POSTGRESQL, dialect

#: a type of the list (central/services/transactions.py names them) -> the rows it covers
TRANSACTION_TYPE_SQL: dict[str, str] = {
    "till": "(t.kind = 'purchase' AND t.channel = 'till')",
    "delivery": "(t.kind = 'purchase' AND t.channel = 'delivery')",
    "online": "(t.kind = 'purchase' AND t.channel = 'online')",
    "refund": "t.kind IN ('refund', 'cancel')",
    "promo": "t.kind = 'promo'",
    "admin": "t.kind = 'admin'",
    "store": "t.kind = 'manual'",
    "expiry": "t.kind = 'expire'",
    "import": "t.kind = 'import'",
}


@dataclass
class TransactionFilter:
    """A filter the service has checked: every value is sound, ids are resolved."""

    scope: list[str] | None = None  # a scoped user's stores (their transactions and their customers'); None: all
    epoch_from: int | None = None
    epoch_before: int | None = None
    stores: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)  # keys of TRANSACTION_TYPE_SQL
    direction: str = ""  # "", "accrual", "redemption"
    card: str = ""
    customer: str = ""
    sku_id: int | None = None  # a line with this product
    category_id: int | None = None  # a line of this category
    weekdays: list[int] = field(default_factory=list)
    hours: tuple[int, int] | None = None  # (low, high); low > high runs past midnight
    #: the ids the product or category filter found (a page and its totals scan the packed lines once)
    line_ids: list[int] | None = field(default=None, repr=False, compare=False)


def transaction_filter_sql(f: TransactionFilter, conn: sqlite3.Connection) -> tuple[str, list[Any]]:
    """The WHERE clause over ``transactions t`` and its parameters (``conn``: to find the purchases with a line of
    the filter's product or category)."""
    clauses, params = ["1 = 1"], []
    if f.scope is not None:
        marks = ",".join("?" * len(f.scope)) or "NULL"
        clauses.append(
            f"(t.store IN ({marks}) OR t.store IS NULL AND t.customer_id IN (SELECT id FROM customers"
            f" WHERE home_store IN ({marks})))"
        )
        params += sorted(f.scope) * 2
    if f.epoch_from is not None:
        clauses.append("t.at_epoch >= ?")
        params.append(f.epoch_from)
    if f.epoch_before is not None:
        clauses.append("t.at_epoch < ?")
        params.append(f.epoch_before)
    if f.stores:
        clauses.append(f"t.store IN ({','.join('?' * len(f.stores))})")
        params += f.stores
    if f.types:
        clauses.append("(" + " OR ".join(TRANSACTION_TYPE_SQL[t] for t in f.types) + ")")
    if f.direction == "accrual":
        clauses.append("t.accrued > 0")
    elif f.direction == "redemption":
        clauses.append("t.redeemed > 0")
    if f.card:
        clauses.append("t.card = ?")
        params.append(f.card)
    if f.customer:
        clauses.append("t.customer_id = ?")
        params.append(f.customer)
    if f.weekdays:
        clauses.append(f"t.weekday IN ({','.join('?' * len(f.weekdays))})")
        params += f.weekdays
    if f.hours is not None:
        low, high = f.hours
        clauses.append("t.hour BETWEEN ? AND ?" if low <= high else "(t.hour >= ? OR t.hour <= ?)")
        params += [low, high]
    sql = " AND ".join(clauses)
    wanted = [(name, value) for name, value in (("sku", f.sku_id), ("category", f.category_id)) if value is not None]
    if not wanted:
        return sql, params
    if f.line_ids is None:
        f.line_ids = with_lines(conn, sql, params, wanted)
    ids = f.line_ids
    if dialect(conn) == POSTGRESQL:
        clause = "t.id IN (SELECT x::bigint FROM jsonb_array_elements_text(?::jsonb) x)"
    else:
        clause = "t.id IN (SELECT value FROM json_each(?))"
    return f"{sql} AND {clause}", [*params, json.dumps(ids)]


def with_lines(conn: sqlite3.Connection, sql: str, params: list[Any], wanted: list[tuple[str, int]]) -> list[int]:
    """Ids of the transactions ``WHERE {sql}`` with a line of each (field, catalog id) of ``wanted`` (a line for
    each: not necessarily the same line)."""
    needles = [np.array([value - 1], "<i4").tobytes() for _name, value in wanted]
    find = "position(?::bytea IN t.columns) > 0" if dialect(conn) == POSTGRESQL else "instr(t.columns, ?) > 0"
    found = conn.execute(
        f"SELECT t.id, t.columns FROM transactions t WHERE {sql} AND t.columns IS NOT NULL"
        + f" AND {find}" * len(needles),
        [*params, *needles],
    ).fetchall()
    if not found:
        return []
    lines, sizes = line_pack.records([r[1] for r in found])
    owner = np.repeat(np.arange(len(found)), sizes)
    keep = np.ones(len(found), bool)
    for name, value in wanted:
        has = np.zeros(len(found), bool)
        has[owner[lines[name] == value - 1]] = True
        keep &= has
    return [found[i][0] for i in np.flatnonzero(keep).tolist()]


class TransactionList(Database):
    """Reading the transactions as the console lists them."""

    def stores_of_group_named(self, name: str) -> list[str]:
        """The stores of the store group with this name (none when there is no such group)."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT m.store FROM store_group_members m JOIN store_groups g ON g.id = m.group_id WHERE g.name = ?",
                (name,),
            )
        ]

    def catalog_product_id(self, sku: str) -> int | None:
        row = self.conn.execute("SELECT id FROM catalog_products WHERE sku = ?", (sku,)).fetchone()
        return None if row is None else row[0]

    def catalog_category_id(self, name: str) -> int | None:
        row = self.conn.execute("SELECT id FROM catalog_categories WHERE name = ?", (name,)).fetchone()
        return None if row is None else row[0]

    def transactions_page(
        self, f: TransactionFilter, after: tuple[int, int] | None, limit: int
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` transactions, newest first (by at_epoch, id), below the key ``after``, with the
        customer's name."""
        sql, params = transaction_filter_sql(f, self.conn)
        if after is not None:
            sql += " AND (t.at_epoch, t.id) < (?, ?)"
            params += list(after)
        return self.rows(
            "SELECT t.id, t.kind, t.channel, t.store, t.receipt_id, t.customer_id, t.card, t.at, t.at_epoch, t.amount,"
            " t.accrued, t.redeemed, t.line_count, t.detail, c.name AS customer_name FROM transactions t"
            f" LEFT JOIN customers c ON c.id = t.customer_id WHERE {sql}"
            " ORDER BY t.at_epoch DESC, t.id DESC LIMIT ?",
            [*params, limit],
        )

    def transaction_totals(self, f: TransactionFilter) -> tuple[int, int, int, int, int, int]:
        """(count, sales (refunds negative as stored), accrued, redeemed, purchases, the purchases' sum)."""
        sql, params = transaction_filter_sql(f, self.conn)
        row = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN t.kind IN ('purchase', 'refund', 'cancel') THEN t.amount END), 0),"
            " COALESCE(SUM(t.accrued), 0), COALESCE(SUM(t.redeemed), 0),"
            " COALESCE(SUM(t.kind = 'purchase'), 0), COALESCE(SUM(CASE WHEN t.kind = 'purchase' THEN t.amount END), 0)"
            f" FROM transactions t WHERE {sql}",
            params,
        ).fetchone()
        return tuple(row)  # type: ignore[return-value]
