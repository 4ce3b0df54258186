"""Customers' personal percents (``customers.network_percent``, ``customer_store_percents``) as agents read them.

A percent may end (migration 42): ``customers.network_percent_ends_at`` and ``customer_store_percents.ends_at``
hold the first instant (UTC text) at which it no longer applies; NULL: it does not end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .connection import Database


class PersonalPercents(Database):
    """The ``customer_store_percents`` table and the network-wide percent of ``customers``."""

    def store_percents(self, customer_id: str) -> dict[str, str]:
        """store -> the customer's percent there."""
        return dict(
            self.conn.execute(
                "SELECT store, percent FROM customer_store_percents WHERE customer_id = ?", (customer_id,)
            ).fetchall()
        )

    def percent_ends(self, customer_id: str) -> tuple[str | None, dict[str, str]]:
        """(the network percent's end, store -> the end of the store percent): only the percents that end."""
        row = self.conn.execute("SELECT network_percent_ends_at FROM customers WHERE id = ?", (customer_id,)).fetchone()
        stores = self.conn.execute(
            "SELECT store, ends_at FROM customer_store_percents WHERE customer_id = ? AND ends_at IS NOT NULL",
            (customer_id,),
        ).fetchall()
        return (row[0] if row else None), dict(stores)

    def set_personal_percents(
        self,
        customer_id: str,
        network: str | None,
        per_store: Mapping[str, str],
        network_ends_at: str | None = None,
        store_ends: Mapping[str, str] | None = None,
    ) -> None:
        """The customer's network percent and store percents become these, with these ends (none given: the
        percent does not end) (in the caller's transaction)."""
        ends = store_ends or {}
        self.conn.execute(
            "UPDATE customers SET network_percent = ?, network_percent_ends_at = ? WHERE id = ?",
            (network, network_ends_at if network is not None else None, customer_id),
        )
        self.conn.execute("DELETE FROM customer_store_percents WHERE customer_id = ?", (customer_id,))
        self.conn.executemany(
            "INSERT INTO customer_store_percents (customer_id, store, percent, ends_at) VALUES (?, ?, ?, ?)",
            [(customer_id, store, value, ends.get(store)) for store, value in sorted(per_store.items())],
        )

    def percents_in_store(self, store_id: str) -> dict[str, str]:
        """customer -> their percent in this store (only customers who have one)."""
        return dict(
            self.conn.execute(
                "SELECT customer_id, percent FROM customer_store_percents WHERE store = ?", (store_id,)
            ).fetchall()
        )

    def network_percents(self) -> dict[str, str]:
        """customer -> their network-wide percent (only customers who have one)."""
        return dict(
            self.conn.execute(
                "SELECT id, network_percent FROM customers WHERE network_percent IS NOT NULL AND network_percent != ''"
            ).fetchall()
        )

    def ended_percent_customers(self, now: str, limit: int) -> list[tuple[str, str | None]]:
        """Up to ``limit`` customers with a personal percent whose end has come by ``now``: (id, home store)."""
        return self.conn.execute(
            "SELECT id, home_store FROM customers WHERE id IN ("
            " SELECT id FROM customers WHERE network_percent_ends_at IS NOT NULL AND network_percent_ends_at <= ?"
            " UNION SELECT customer_id FROM customer_store_percents WHERE ends_at IS NOT NULL AND ends_at <= ?)"
            " ORDER BY id LIMIT ?",
            (now, now, limit),
        ).fetchall()

    def clear_ended_percents(self, customer_id: str, now: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Remove the customer's percents whose end has come by ``now`` (in the caller's transaction).

        :returns: (before, after): ``network_percent`` and ``store_percents`` with their ends; equal when
            nothing had ended (a second run changes nothing).
        """
        before = self._percents_with_ends(customer_id)
        self.conn.execute(
            "UPDATE customers SET network_percent = NULL, network_percent_ends_at = NULL"
            " WHERE id = ? AND network_percent_ends_at IS NOT NULL AND network_percent_ends_at <= ?",
            (customer_id, now),
        )
        self.conn.execute(
            "DELETE FROM customer_store_percents WHERE customer_id = ? AND ends_at IS NOT NULL AND ends_at <= ?",
            (customer_id, now),
        )
        return before, self._percents_with_ends(customer_id)

    def _percents_with_ends(self, customer_id: str) -> dict[str, Any]:
        row = self.conn.execute(
            "SELECT network_percent, network_percent_ends_at FROM customers WHERE id = ?", (customer_id,)
        ).fetchone()
        stores = self.conn.execute(
            "SELECT store, percent, ends_at FROM customer_store_percents WHERE customer_id = ? ORDER BY store",
            (customer_id,),
        ).fetchall()
        return {
            "network_percent": row[0] if row else None,
            "network_percent_ends_at": row[1] if row else None,
            "store_percents": {store: percent for store, percent, _ in stores},
            "store_percent_ends": {store: ends for store, _, ends in stores if ends},
        }
