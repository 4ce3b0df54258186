"""Figures for the console's reports, read in one query each."""

from __future__ import annotations

from typing import Any

from .connection import Database


class Reports(Database):
    """Reads over ``customers`` and ``transactions`` for the home page and the what-if."""

    def balances_by_home_store(self) -> list[tuple[str | None, int, int | None, int | None]]:
        """Per home store (customers not merged away): (store, customers, sum of positive balances,
        sum of negative balances), by store."""
        return self.conn.execute(
            "SELECT home_store, COUNT(*), SUM(CASE WHEN balance > 0 THEN balance ELSE 0 END),"
            " SUM(CASE WHEN balance < 0 THEN balance ELSE 0 END) FROM customers WHERE merged_into IS NULL"
            " GROUP BY home_store ORDER BY home_store"
        ).fetchall()

    def purchases_since(self, store_id: str, since_epoch: int) -> list[tuple[Any, ...]]:
        """A store's purchases with a customer and packed lines since a moment, oldest first:
        (at_epoch, redeemed, level, accrued, columns, customer_id)."""
        return self.conn.execute(
            "SELECT at_epoch, redeemed, level, accrued, columns, customer_id FROM transactions"
            " WHERE store = ? AND kind = 'purchase'"
            " AND customer_id IS NOT NULL AND at_epoch >= ? AND columns IS NOT NULL ORDER BY at_epoch, id",
            (store_id, since_epoch),
        ).fetchall()
