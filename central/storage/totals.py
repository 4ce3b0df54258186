"""Machine-readable totals for the JSON API: ledger sums by kind, customers and sales per store, flags and dead
letters as lists (keyset pages by id)."""

from __future__ import annotations

from typing import Any

from .connection import Database


class Totals(Database):
    """Sums over ``ledger``, ``customers``, ``transactions``; pages of ``flags`` and ``dead_letters``."""

    def _ledger_by_kind(
        self, group: str, where: str = "1 = 1", params: list[Any] | None = None
    ) -> dict[Any, dict[str, int]]:
        out: dict[Any, dict[str, int]] = {}
        for key, kind, points in self.conn.execute(
            f"SELECT {group}, kind, SUM(points) FROM ledger WHERE {where} GROUP BY 1, 2", params or []
        ):
            out.setdefault(key, {})[kind] = int(points)
        return out

    def ledger_by_store_and_kind(self) -> dict[str | None, dict[str, int]]:
        """store (None: head office's own entries) -> kind -> the points' signed sum."""
        return self._ledger_by_kind("store")

    def ledger_by_kind(self) -> dict[str, int]:
        """kind -> the points' signed sum over the whole chain."""
        return self._ledger_by_kind("'chain'").get("chain", {})

    def ledger_by_customer_and_kind(self, customer_ids: list[str]) -> dict[str, dict[str, int]]:
        """customer -> kind -> the points' signed sum, for these customers."""
        if not customer_ids:
            return {}
        marks = ",".join("?" * len(customer_ids))
        return self._ledger_by_kind("customer_id", f"customer_id IN ({marks})", list(customer_ids))

    def customers_by_home_store(self) -> dict[str | None, tuple[int, int]]:
        """home store -> (its customers not merged away, the sum of their balances)."""
        return {
            r[0]: (r[1], r[2])
            for r in self.conn.execute(
                "SELECT home_store, COUNT(*), COALESCE(SUM(balance), 0) FROM customers WHERE merged_into IS NULL"
                " GROUP BY home_store"
            )
        }

    def sales_by_store_and_kind(self) -> dict[str, dict[str, dict[str, int]]]:
        """store -> transaction kind -> count, amount, accrued, redeemed."""
        sales: dict[str, dict[str, dict[str, int]]] = {}
        for store, kind, count, amount, accrued, redeemed in self.conn.execute(
            "SELECT store, kind, COUNT(*), COALESCE(SUM(amount), 0), COALESCE(SUM(accrued), 0),"
            " COALESCE(SUM(redeemed), 0) FROM transactions WHERE store IS NOT NULL GROUP BY store, kind"
        ):
            sales.setdefault(store, {})[kind] = {
                "count": count,
                "amount": amount,
                "accrued": accrued,
                "redeemed": redeemed,
            }
        return sales

    def customer_figures_page(self, after: str, limit: int) -> list[dict[str, Any]]:
        """Customers (not merged away) by id above ``after``: balance, spend, visits, dates."""
        return self.rows(
            "SELECT id, home_store, level, balance, spend, visits, created_at, last_purchase_at FROM customers"
            " WHERE merged_into IS NULL AND id > ? ORDER BY id LIMIT ?",
            (after, limit),
        )

    def flags_page(self, include_resolved: bool, after: int, limit: int) -> list[dict[str, Any]]:
        """Flags by id above ``after`` (``detail`` as stored)."""
        return self.rows(
            "SELECT id, kind, store, agent, customer_id, event_id, detail, created_at, resolved_at FROM flags"
            f" WHERE id > ? {'' if include_resolved else 'AND resolved_at IS NULL'} ORDER BY id LIMIT ?",
            (after, limit),
        )

    def dead_letters_page(self, include_resolved: bool, after: int, limit: int) -> list[dict[str, Any]]:
        """Dead letters by id above ``after``, without their raw payload (``detail`` as stored)."""
        return self.rows(
            "SELECT id, reason, detail, topic, store, agent, event_id, seq, count, received_at, last_at, resolved_at,"
            f" resolution FROM dead_letters WHERE id > ? {'' if include_resolved else 'AND resolved_at IS NULL'}"
            " ORDER BY id LIMIT ?",
            (after, limit),
        )
