"""The nightly job's scans (central/points/nightly.py): the lots due to expire, the customers page by page.

The job writes through the ledger in transactions of its own; these reads run between them.
"""

from __future__ import annotations

from .connection import Database


class NightlyScans(Database):
    """The reads of the nightly job, a page at a time."""

    def expired_lots(self, now: str, limit: int) -> list[tuple[str, str, str | None]]:
        """Up to ``limit`` lots expired at ``now`` that still hold points: (lot id, customer id, home store)."""
        return self.conn.execute(
            "SELECT l.id, l.customer_id, c.home_store FROM lots l JOIN customers c ON c.id = l.customer_id"
            " WHERE l.expires_at IS NOT NULL AND l.expires_at <= ? AND l.points > 0 LIMIT ?",
            (now, limit),
        ).fetchall()

    def customer_ids_after(self, after: str, limit: int) -> list[str]:
        """The next ``limit`` customers (not merged into another) with an id above ``after``, in id order."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT id FROM customers WHERE id > ? AND merged_into IS NULL ORDER BY id LIMIT ?", (after, limit)
            )
        ]
