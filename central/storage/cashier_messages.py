"""Cashier messages for stores (``store_messages``)."""

from __future__ import annotations

import secrets
from typing import Any

from shared.errors import LoyaltyError

from .clock import now_utc, utc
from .shops import Shops


class CashierMessages(Shops):
    """The ``store_messages`` table."""

    def add_store_message(self, store_id: str, text: str, until: str | None = None) -> str:
        """Add a cashier message for a store; ``until`` is an ISO 8601 time with offset."""
        self.get_store(store_id)
        if not text.strip() or len(text) > 4000:
            raise LoyaltyError("a cashier message must have 1..4000 characters")
        if until is not None:
            try:
                until = utc(until)
            except ValueError:
                raise LoyaltyError(
                    f"until must be an ISO 8601 time like 2026-11-22T00:00:00+03:00, got {until!r}"
                ) from None
        ident = secrets.token_hex(8)
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO store_messages (id, store, text, until, created_at) VALUES (?, ?, ?, ?, ?)",
                (ident, store_id, text, until, now_utc()),
            )
        return ident

    def store_messages(self) -> dict[str, tuple[int, list[dict[str, Any]]]]:
        """store -> (version, active messages); the version is the count of message changes."""
        now = now_utc()
        result: dict[str, tuple[int, list[dict[str, Any]]]] = {}
        for store, ident, text, until, version in self.conn.execute(
            "SELECT m.store, m.id, m.text, m.until, (SELECT COUNT(*) + COUNT(c.deleted_at) FROM store_messages c"
            " WHERE c.store = m.store)"
            " FROM store_messages m WHERE m.deleted_at IS NULL ORDER BY m.created_at, m.id"
        ):
            if until is not None and until <= now:
                continue
            item: dict[str, Any] = {"id": ident, "text": text}
            if until:
                item["until"] = until
            result.setdefault(store, (version, []))[1].append(item)
        return result
