"""Publish cursors: what the publisher has sent each store (customers, rules, messages)."""

from __future__ import annotations

from .connection import Database


class PublishCursors(Database):
    """The ``stores.published_*`` columns."""

    def published(self, store_id: str) -> dict[str, int]:
        row = self.conn.execute(
            "SELECT published_customers, published_rules, published_messages FROM stores WHERE id = ?", (store_id,)
        ).fetchone()
        return {"customers": row[0], "rules": row[1], "messages": row[2]} if row else {}

    def set_published(self, store_id: str, what: str, value: int) -> None:
        assert what in ("customers", "rules", "messages")
        with self.transaction() as conn:
            conn.execute(f"UPDATE stores SET published_{what} = ? WHERE id = ?", (value, store_id))
