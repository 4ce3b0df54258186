"""What the ingest's duplicate check (central/sync/recovery.py) asks the ledger: is this operation there already?"""

from __future__ import annotations

from typing import Any

from .connection import Database


class RecoveryLookups(Database):
    """Stored operations found by their business keys (receipt, refund, registration, manual operation)."""

    def stored_purchase(self, store: str, at_epoch: int, receipt_id: str) -> tuple[str, str, int] | None:
        """(event_id, agent, amount) of the store's purchase with this receipt id at this moment (the
        (store, at_epoch) index finds it)."""
        row = self.conn.execute(
            "SELECT event_id, agent, amount FROM transactions WHERE store = ? AND at_epoch = ?"
            " AND kind = 'purchase' AND receipt_id = ? LIMIT 1",
            (store, at_epoch, receipt_id),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def stored_refunds_and_cancels(self, store: str, receipt_id: str) -> list[tuple[str, str, Any]]:
        """(event_id, kind, detail) of the refunds and cancels of a receipt of the store."""
        return [
            (r[0], r[1], r[2])
            for r in self.conn.execute(
                "SELECT event_id, kind, detail FROM transactions WHERE store = ? AND receipt_id = ?"
                " AND kind IN ('refund', 'cancel')",
                (store, receipt_id),
            )
        ]

    def customer_stub(self, customer_id: str) -> bool | None:
        """Whether the customer is a stub (points arrived before the registration); None: no such customer."""
        row = self.conn.execute("SELECT stub FROM customers WHERE id = ?", (customer_id,)).fetchone()
        return None if row is None else bool(row[0])

    def surviving_customer(self, customer_id: str) -> str | None:
        """The customer a merged customer went into, or the customer itself; None: no such customer."""
        row = self.conn.execute(
            "SELECT COALESCE(merged_into, id) FROM customers WHERE id = ?", (customer_id,)
        ).fetchone()
        return None if row is None else row[0]

    def stored_manual_operations(self, customer_id: str) -> list[tuple[str, Any]]:
        """(event_id, detail) of the customer's manual operations."""
        return [
            (r[0], r[1])
            for r in self.conn.execute(
                "SELECT event_id, detail FROM transactions WHERE customer_id = ? AND kind = 'manual'", (customer_id,)
            )
        ]
