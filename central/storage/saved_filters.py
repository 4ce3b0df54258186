"""Saved filters (``saved_filters``): a named query string of a console list page, one's own or shared."""

from __future__ import annotations

from typing import Any

from .connection import Database


class SavedFilters(Database):
    """The ``saved_filters`` table."""

    def saved_filters(self, area: str, user_id: int) -> list[dict[str, Any]]:
        """The user's own filters of a list and those others shared, by name, with the owner's ``username``."""
        return self.rows(
            "SELECT f.*, u.username FROM saved_filters f LEFT JOIN console_users u ON u.id = f.user_id"
            " WHERE f.area = ? AND (f.user_id = ? OR f.shared = 1) ORDER BY f.name",
            (area, user_id),
        )

    def saved_filter(self, filter_id: int) -> dict[str, Any] | None:
        rows = self.rows("SELECT * FROM saved_filters WHERE id = ?", (filter_id,))
        return rows[0] if rows else None

    def save_filter(self, user_id: int, area: str, name: str, query: str, shared: bool, at: str) -> int:
        """Keep the filter (the user's filter of that name is replaced), in the caller's transaction."""
        cur = self.conn.execute(
            "INSERT INTO saved_filters (user_id, area, name, query, shared, created_at) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT (user_id, area, name) DO UPDATE SET query = excluded.query, shared = excluded.shared",
            (user_id, area, name, query, int(shared), at),
        )
        return int(cur.lastrowid or 0)

    def delete_saved_filter(self, filter_id: int) -> None:
        self.conn.execute("DELETE FROM saved_filters WHERE id = ?", (filter_id,))
