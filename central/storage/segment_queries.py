"""Named reads and writes of the segments' tables (central/storage/segments.py) for the console's service.

A module of its own: the migrations (central/storage/schema.py) import segments.py for its tables, and
this class extends :class:`~central.storage.connection.Database`, which runs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from . import aggregates
from . import segments as table
from .clock import now_utc
from .connection import Database


class SegmentQueries(Database):
    """Named reads and writes of the segments' tables for the console's service (central/services/segments.py);
    the writes run in the caller's transaction."""

    def segment(self, segment_id: int) -> dict[str, Any] | None:
        return table.segment_row(self.conn, segment_id)

    def segment_list(self) -> list[dict[str, Any]]:
        """Every segment's row, by id."""
        return table.segment_rows(self.conn)

    def segment_id_named(self, name: str) -> int | None:
        row = self.conn.execute("SELECT id FROM segments WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def segment_names(self) -> list[tuple[int, str]]:
        """(id, name) of every segment."""
        return [(int(ident), name) for ident, name in self.conn.execute("SELECT id, name FROM segments")]

    def nested_segments(self) -> dict[int, frozenset[int]]:
        """segment id -> the segments its definition nests ("in segment")."""
        return table.nested_of(self.conn)

    def segment_members(self, segment_id: int) -> set[int]:
        """The customer keys in the segment now."""
        return table.members(self.conn, segment_id)

    def segment_history(self, segment_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """The latest entering and leaving rows, newest first."""
        return table.history(self.conn, segment_id, limit)

    def add_segment(self, name: str, kind: str, definition: str | None, by: str, at: str) -> int:
        """A new segment's row (no members yet); returns its id."""
        cur = self.conn.execute(
            "INSERT INTO segments (name, kind, definition, created_by, created_at, changed_by, changed_at)"
            " VALUES (?,?,?,?,?,?,?)",
            (name, kind, definition, by, at, by, at),
        )
        return int(cur.lastrowid or 0)

    def update_segment(self, segment_id: int, name: str, definition: str | None, by: str, at: str) -> None:
        self.conn.execute(
            "UPDATE segments SET name = ?, definition = ?, changed_by = ?, changed_at = ? WHERE id = ?",
            (name, definition, by, at, segment_id),
        )

    def delete_segment(self, segment_id: int) -> None:
        """The segment with its members and history (its flips expire: a visit too early is harmless)."""
        table.bump_keys(self.conn, table.members(self.conn, segment_id), now_utc())
        for name in ("segment_members", "segment_history"):
            self.conn.execute(f"DELETE FROM {name} WHERE segment_id = ?", (segment_id,))
        self.conn.execute("DELETE FROM segments WHERE id = ?", (segment_id,))

    def change_segment_members(
        self, segment_id: int, entered: Iterable[int], left: Iterable[int], at: str, cause: str
    ) -> tuple[int, int]:
        """Write entering and leaving customers with their history rows; returns (entered, left)."""
        return table.change_members(self.conn, segment_id, entered, left, at, cause)

    def customer_keys_in_stores(self, stores: Iterable[str]) -> set[int]:
        """The keys of the customers whose home store is one of these, or who bought in one of them."""
        stores = sorted(stores)
        marks = ",".join("?" * len(stores)) or "NULL"
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT k.key FROM customer_keys k JOIN customers c ON c.id = k.customer_id WHERE c.home_store IN"
                f" ({marks}) OR EXISTS (SELECT 1 FROM customer_stores s WHERE s.customer_id = c.id AND s.store IN"
                f" ({marks}))",
                stores + stores,
            )
        }

    def customer_ids_of_keys(self, keys: Sequence[int]) -> dict[int, str]:
        """key -> customer id, in one query per 500 keys."""
        out: dict[int, str] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            out.update(
                self.conn.execute(
                    f"SELECT key, customer_id FROM customer_keys WHERE key IN ({','.join('?' * len(chunk))})", chunk
                )
            )
        return out

    def customer_keys(self, customer_ids: Iterable[str]) -> dict[str, int]:
        """customer id -> key, making keys for ids without one (a write: in the caller's transaction)."""
        return aggregates.keys_of(self.conn, customer_ids)

    def chain_today(self) -> int:
        """Today's local date ordinal in the chain's time zone (the segments' "today")."""
        return aggregates.today(self.conn)
