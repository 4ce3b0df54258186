"""Store groups (``store_groups``, ``store_group_members``): named sets of stores a rule or report can target."""

from __future__ import annotations

from typing import Any

from .clock import now_utc
from .connection import Database


class StoreGroups(Database):
    """The ``store_groups`` and ``store_group_members`` tables."""

    def store_memberships(self) -> dict[str, list[str]]:
        """store -> the names of its groups, by name."""
        out: dict[str, list[str]] = {}
        for store, name in self.conn.execute(
            "SELECT m.store, g.name FROM store_group_members m JOIN store_groups g ON g.id = m.group_id ORDER BY g.name"
        ):
            out.setdefault(store, []).append(name)
        return out

    def store_groups(self) -> list[dict[str, Any]]:
        """Every group with how many stores it holds (``stores``), by name."""
        return self.rows(
            "SELECT g.*, (SELECT COUNT(*) FROM store_group_members m WHERE m.group_id = g.id) AS stores"
            " FROM store_groups g ORDER BY g.name"
        )

    def group_stores(self, group_id: int) -> list[str]:
        return [
            r[0] for r in self.conn.execute("SELECT store FROM store_group_members WHERE group_id = ?", (group_id,))
        ]

    def set_store_groups(self, store_id: str, groups: list[str]) -> None:
        """The store's groups become these names (groups are made as needed), in the caller's transaction."""
        self.conn.execute("DELETE FROM store_group_members WHERE store = ?", (store_id,))
        for name in sorted({g.strip() for g in groups if g.strip()}):
            self.conn.execute(
                "INSERT INTO store_groups (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING", (name, now_utc())
            )
            group_id = self.conn.execute("SELECT id FROM store_groups WHERE name = ?", (name,)).fetchone()[0]
            self.conn.execute("INSERT INTO store_group_members (group_id, store) VALUES (?, ?)", (group_id, store_id))
