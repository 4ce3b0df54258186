"""Card status and the customer reads the server and the tests use (``cards``, ``customers``, ``ledger``)."""

from __future__ import annotations

from typing import Any

from shared.errors import LoyaltyError

from .connection import Database, NotFound


class Cards(Database):
    """Blocking a card (a new customer version), reading a customer and their ledger sum."""

    def set_card_status(self, number: str, status: str, reason: str | None = None) -> int:
        """Block (or reactivate) a card; its customer gets a new version, so every store hears of it.

        Returns the customer's new version. :raises NotFound: no such card.
        """
        if status not in ("active", "blocked", "reassigned"):
            raise LoyaltyError(f"a card's status is active, blocked or reassigned, not {status!r}")
        with self.transaction() as conn:
            row = conn.execute("SELECT customer_id FROM cards WHERE number = ?", (number,)).fetchone()
            if row is None:
                raise NotFound(f"no card {number}")
            conn.execute("UPDATE cards SET status = ?, reason = ? WHERE number = ?", (status, reason, number))
            # the next value of the chain-wide counter, as the ingest allocates it (one writer at a time)
            counter = conn.execute("SELECT value FROM counters WHERE name = 'customer_version'").fetchone()
            version = (counter[0] if counter else 0) + 1
            conn.execute(
                "INSERT INTO counters (name, value) VALUES ('customer_version', ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (version,),
            )
            conn.execute("UPDATE customers SET version = ? WHERE id = ?", (version, row[0]))
        return version

    def card_owner(self, number: str) -> str:
        """The id of the customer a card belongs to. :raises NotFound: no such card."""
        row = self.conn.execute("SELECT customer_id FROM cards WHERE number = ?", (number,)).fetchone()
        if row is None:
            raise NotFound(f"no card {number}")
        return row[0]  # type: ignore[no-any-return]

    def customer(self, customer_id: str) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM customers WHERE id = ?", (customer_id,))
        if not rows:
            raise NotFound(f"no customer {customer_id}")
        return rows[0]

    def ledger_sum(self, customer_id: str) -> int:
        row = self.conn.execute("SELECT COALESCE(SUM(points), 0) FROM ledger WHERE customer_id = ?", (customer_id,)).fetchone()
        return int(row[0])
