"""Customers' personal percents (``customers.network_percent``, ``customer_store_percents``) as agents read them."""

from __future__ import annotations

from collections.abc import Mapping

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

    def set_personal_percents(self, customer_id: str, network: str | None, per_store: Mapping[str, str]) -> None:
        """The customer's network percent and store percents become these (in the caller's transaction)."""
        self.conn.execute("UPDATE customers SET network_percent = ? WHERE id = ?", (network, customer_id))
        self.conn.execute("DELETE FROM customer_store_percents WHERE customer_id = ?", (customer_id,))
        self.conn.executemany(
            "INSERT INTO customer_store_percents (customer_id, store, percent) VALUES (?, ?, ?)",
            [(customer_id, store, value) for store, value in sorted(per_store.items())],
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
