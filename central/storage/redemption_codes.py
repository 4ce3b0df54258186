"""Redemption confirmation codes (``redemption_codes``, migration 24): the reads and writes of
central/messages/confirmations.py, in the caller's transaction."""

from __future__ import annotations

from typing import Any

from .connection import Database


class RedemptionCodes(Database):
    """The ``redemption_codes`` table."""

    def add_redemption_code(self, row: dict[str, Any]) -> None:
        """A new code; the customer's older open codes are superseded (only the newest one counts)."""
        self.conn.execute(
            "UPDATE redemption_codes SET superseded_at = ? WHERE customer_id = ? AND used_at IS NULL"
            " AND superseded_at IS NULL",
            (row["created_at"], row["customer_id"]),
        )
        self.conn.execute(
            "INSERT INTO redemption_codes (id, customer_id, store, agent, points, code_hash, channel, created_at,"
            " expires_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                row["id"],
                row["customer_id"],
                row["store"],
                row["agent"],
                row["points"],
                row["code_hash"],
                row["channel"],
                row["created_at"],
                row["expires_at"],
            ),
        )

    def redemption_code(self, code_id: str) -> dict[str, Any] | None:
        cur = self.conn.execute("SELECT * FROM redemption_codes WHERE id = ?", (code_id,))
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def redemption_codes_since(self, customer_id: str, since: str) -> int:
        """How many codes the customer was sent since ``since`` (the hourly bound)."""
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM redemption_codes WHERE customer_id = ? AND created_at >= ?", (customer_id, since)
            ).fetchone()[0]
        )

    def count_redemption_attempt(self, code_id: str) -> None:
        self.conn.execute("UPDATE redemption_codes SET attempts = attempts + 1 WHERE id = ?", (code_id,))

    def use_redemption_code(self, code_id: str, receipt_id: str, at: str) -> None:
        self.conn.execute(
            "UPDATE redemption_codes SET used_at = ?, receipt_id = ?, attempts = attempts + 1 WHERE id = ?",
            (at, receipt_id, code_id),
        )
