"""Shops (the ``stores`` table: a store is a shop of the chain here, not the database)."""

from __future__ import annotations

import zoneinfo
from typing import Any

from shared.errors import LoyaltyError

from .clock import now_utc
from .connection import Database, NotFound


class Shops(Database):
    """The ``stores`` table."""

    def add_store(self, store_id: str, name: str | None = None, timezone: str = "UTC") -> None:
        """Create a store; :class:`LoyaltyError` if the id is taken or invalid."""
        from shared.wire import WireError, check_id

        try:
            check_id(store_id, "store id")
        except WireError as exc:
            raise LoyaltyError(str(exc).removeprefix("invalid: ")) from None
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise LoyaltyError(f"unknown time zone {timezone!r} (use an IANA name like Europe/Moscow)") from None
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM stores WHERE id = ?", (store_id,)).fetchone():
                raise LoyaltyError(f"store {store_id} already exists")
            conn.execute(
                "INSERT INTO stores (id, name, timezone, created_at) VALUES (?, ?, ?, ?)",
                (store_id, name or store_id, timezone, now_utc()),
            )

    def stores(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM stores ORDER BY id")

    def get_store(self, store_id: str) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM stores WHERE id = ?", (store_id,))
        if not rows:
            raise NotFound(f"no store {store_id}")
        return rows[0]

    def store_exists(self, store_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM stores WHERE id = ?", (store_id,)).fetchone() is not None

    def set_store_details(self, store_id: str, city: str | None, base_percent: str, program_id: int | None) -> None:
        """A new store's city, base percent and bonus program (in the caller's transaction)."""
        self.conn.execute(
            "UPDATE stores SET city = ?, base_percent = ?, program_id = ? WHERE id = ?",
            (city, base_percent, program_id, store_id),
        )

    def update_store(
        self, store_id: str, name: str, city: str | None, timezone: str, base_percent: str, program_id: int | None
    ) -> None:
        """Change a store's fields (in the caller's transaction)."""
        self.conn.execute(
            "UPDATE stores SET name = ?, city = ?, timezone = ?, base_percent = ?, program_id = ? WHERE id = ?",
            (name, city, timezone, base_percent, program_id, store_id),
        )
