"""Reading customers for the console: the list (keyset pages over a filter's WHERE clause), an account's parts,
its bonus history and purchases, and finding a customer by id, phone or card."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..points import programs as points_programs
from . import line_pack
from .connection import Database

LIST_COLUMNS = (
    "c.id, c.name, c.phone, c.phone_verified, c.email, c.level, c.balance, c.spend, c.visits, c.home_store,"
    " c.created_at, c.last_purchase_at, c.blocked, c.stub,"
    " (SELECT number FROM cards WHERE customer_id = c.id ORDER BY main DESC, created_at LIMIT 1) AS card"
)


#: the customer list's sorts: name -> the SQL of its key (never NULL, so the keyset comparison holds)
SORTS = {
    "created": "c.created_at",
    "name": "COALESCE(c.name, '')",
    "phone": "COALESCE(c.phone, '')",
    "email": "COALESCE(c.email, '')",
    "level": "COALESCE(c.level, '')",
    "balance": "c.balance",
    "spend": "c.spend",
    "visits": "c.visits",
    "store": "COALESCE(c.home_store, '')",
    "last_purchase": "COALESCE(c.last_purchase_at, '')",
}


class CustomerList(Database):
    """The customers as the console reads them. ``where`` is the SQL of a customer filter over ``customers c``
    (central/storage/customer_filter.py builds it, with its parameters)."""

    # -- the list --------------------------------------------------------------------------------

    def customers_page(
        self,
        where: str,
        params: Sequence[Any],
        *,
        after: tuple[Any, str] | None = None,
        before: tuple[Any, str] | None = None,
        limit: int,
        sort: str = "created",
        descending: bool = True,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` customers by (the sort column, id): in the sort's order after ``after``, or the other
        way round after ``before`` (the caller turns that page round). The default, newest first, runs on the
        ``customers_created`` index; the other sorts (:data:`SORTS`) sort the filtered rows."""
        expr = SORTS[sort]
        key = f"({expr}, c.id)"
        sql, values = where, list(params)
        order = "DESC" if descending else "ASC"
        if after is not None:
            sql += f" AND {key} {'<' if descending else '>'} (?, ?)"
            values += list(after)
        elif before is not None:
            sql += f" AND {key} {'>' if descending else '<'} (?, ?)"
            values += list(before)
            order = "ASC" if descending else "DESC"
        return self.rows(
            f"SELECT {LIST_COLUMNS} FROM customers c WHERE {sql} ORDER BY {expr} {order}, c.id {order} LIMIT ?",
            [*values, limit],
        )

    def count_customers(self, where: str, params: Sequence[Any], cap: int | None = None) -> int:
        """How many customers the filter finds; with ``cap``, counting stops after ``cap`` of them."""
        if cap is None:
            return int(self.conn.execute(f"SELECT COUNT(*) FROM customers c WHERE {where}", list(params)).fetchone()[0])
        return int(
            self.conn.execute(
                f"SELECT COUNT(*) FROM (SELECT 1 FROM customers c WHERE {where} LIMIT ?)", [*params, cap]
            ).fetchone()[0]
        )

    # -- one account -------------------------------------------------------------------------------

    def shopped_at_any(self, customer_id: str, stores: Sequence[str]) -> bool:
        """Whether the customer shopped at one of these stores."""
        marks = ",".join("?" * len(stores)) or "NULL"
        return (
            self.conn.execute(
                f"SELECT 1 FROM customer_stores WHERE customer_id = ? AND store IN ({marks})", [customer_id, *stores]
            ).fetchone()
            is not None
        )

    def customer_cards(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's cards, the main one first, each with its ``category`` name."""
        return self.rows(
            "SELECT k.*, cc.name AS category FROM cards k LEFT JOIN card_categories cc ON cc.id = k.category_id"
            " WHERE k.customer_id = ? ORDER BY k.main DESC, k.created_at, k.number",
            (customer_id,),
        )

    def live_customer_messages(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's cashier messages not deleted, oldest first."""
        return self.rows(
            "SELECT * FROM customer_messages WHERE customer_id = ? AND deleted_at IS NULL ORDER BY created_at",
            (customer_id,),
        )

    def customer_lots(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's lots with points or an expiry, soonest expiry first."""
        return self.rows(
            "SELECT * FROM lots WHERE customer_id = ? AND (points != 0 OR expires_at IS NOT NULL)"
            " ORDER BY expires_at IS NULL, expires_at, id",
            (customer_id,),
        )

    def merged_into_customer(self, customer_id: str) -> list[str]:
        """The customers merged into this one, in the order of the merges."""
        return [
            r[0] for r in self.conn.execute("SELECT source FROM merges WHERE target = ? ORDER BY at", (customer_id,))
        ]

    def customer_program_balances(self, customer_id: str, at: str) -> list[dict[str, Any]]:
        """The customer's balance in each bonus program (central/points/programs.py)."""
        return points_programs.customer_programs(self.conn, customer_id, at)

    def customer_comments(self, customer_id: str) -> list[dict[str, Any]]:
        """The comments on the customer, newest first."""
        return self.rows("SELECT * FROM customer_comments WHERE customer_id = ? ORDER BY id DESC", (customer_id,))

    # -- history -------------------------------------------------------------------------------------

    def customer_ledger(self, customer_id: str, before_id: int | None, limit: int) -> list[dict[str, Any]]:
        """The customer's ledger entries, newest first (below ``before_id``), with the ``receipt_id`` and
        ``transaction_id`` they came from and the ``program``'s name."""
        sql = (
            "SELECT l.*, t.receipt_id, t.id AS transaction_id, p.name AS program FROM ledger l"
            " LEFT JOIN transactions t ON t.event_id = l.event_id AND t.customer_id = l.customer_id"
            " LEFT JOIN programs p ON p.id = l.program_id"
            " WHERE l.customer_id = ?"
        )
        params: list[Any] = [customer_id]
        if before_id is not None:
            sql += " AND l.id < ?"
            params.append(before_id)
        return self.rows(sql + " ORDER BY l.at DESC, l.id DESC LIMIT ?", [*params, limit])

    def customer_receipts(self, customer_id: str, before_id: int | None, limit: int) -> list[dict[str, Any]]:
        """The customer's purchases, refunds and cancels, newest first (below ``before_id``)."""
        sql = "SELECT * FROM transactions WHERE customer_id = ? AND kind IN ('purchase', 'refund', 'cancel')"
        params: list[Any] = [customer_id]
        if before_id is not None:
            sql += " AND id < ?"
            params.append(before_id)
        return self.rows(sql + " ORDER BY at_epoch DESC, id DESC LIMIT ?", [*params, limit])

    def lines_of_transactions(self, transaction_ids: Sequence[int]) -> list[dict[str, Any]]:
        """The lines of these transactions, in order, each with its product ``sku`` and ``category`` name."""
        lines = [
            dict(zip(line_pack.LINE_ROW, row, strict=True)) for row in line_pack.lines_of(self.conn, transaction_ids)
        ]
        skus = self._names("catalog_products", "sku", {line["sku_id"] for line in lines})
        categories = self._names("catalog_categories", "name", {line["category_id"] for line in lines})
        for line in lines:
            line["sku"] = skus.get(line["sku_id"])
            line["category"] = categories.get(line["category_id"])
        return lines

    def _names(self, table: str, column: str, ids: set[int | None]) -> dict[int, str]:
        wanted = sorted(i for i in ids if i is not None)
        found: dict[int, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self.conn.execute(f"SELECT id, {column} FROM {table} WHERE id IN ({marks})", chunk))
        return found

    # -- finding one ---------------------------------------------------------------------------------

    def customer_exists(self, customer_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM customers WHERE id = ?", (customer_id,)).fetchone() is not None

    def customer_by_phone(self, phone: str) -> str | None:
        """The id of the customer (not merged away) with this phone."""
        row = self.conn.execute("SELECT id FROM customers WHERE phone = ? AND merged_into IS NULL", (phone,)).fetchone()
        return row[0] if row else None

    def customer_of_card(self, number: str) -> str | None:
        """The id of the customer a card belongs to; None when there is no such card."""
        row = self.conn.execute("SELECT customer_id FROM cards WHERE number = ?", (number,)).fetchone()
        return row[0] if row else None
