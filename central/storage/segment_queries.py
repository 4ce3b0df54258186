"""Named reads and writes of the segments' tables (central/storage/segments.py) for the console's service.

A module of its own: the migrations (central/storage/schema.py) import segments.py for its tables, and
this class extends :class:`~central.storage.connection.Database`, which runs them.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Sequence
from typing import Any

from . import aggregates
from . import segment_engine as engine_queries
from . import segment_pending as pending
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

    def give_owed_versions(self, chunk: int = 20_000) -> int:
        """The new customer versions big membership changes owe (``version_bumps``, migration 46), ``chunk``
        customers per transaction; returns how many were given."""
        given = 0
        while table.bumps_owed(self.conn):
            with self.transaction() as conn:
                taken = table.take_bumps(conn, chunk)
            if not taken:
                break
            given += taken
        return given

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

    def customer_keys_in_stores(self, stores: Iterable[str], home_only: bool = False) -> set[int]:
        """The keys of the customers whose home store is one of these, or (unless ``home_only``) who bought in
        one of them."""
        stores = sorted(stores)
        marks = ",".join("?" * len(stores)) or "NULL"
        if home_only:
            return {
                r[0]
                for r in self.conn.execute(
                    "SELECT k.key FROM customer_keys k JOIN customers c ON c.id = k.customer_id"
                    f" WHERE c.home_store IN ({marks})",
                    stores,
                )
            }
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

    def chain_zone(self) -> zoneinfo.ZoneInfo:
        """The chain's time zone (``chain_timezone``)."""
        return aggregates.chain_zone(self.conn)

    def segments_clock_work(self, now: dt.datetime) -> tuple[bool, bool]:
        """(the chain's local date at ``now`` is past the last refreshed one, customers wait in ``segment_pending``):
        read without writing (the segments' clock, central/marketing/segment_clock.py)."""
        last = engine_queries.refreshed_day(self.conn)
        new_day = last is None or aggregates.today(self.conn, now) > last
        waiting = pending.any_pending(self.conn)
        if self.conn.in_transaction:  # (SQLite's reads opened none; end PostgreSQL's read transaction)
            self.conn.commit()
        return new_day, waiting

    # -- the console's pages (segment page, uploads, bulk tags) -------------------------------------------

    def segment_size_by_slot(self, segment_id: int) -> list[tuple[str, int, int]]:
        """(UTC hour ``YYYY-MM-DDTHH``, quarter of the hour 0..3, entered - left in it) from the segment's history,
        oldest first: every time zone's offset is a whole number of quarter hours, so the caller can fold the slots
        into local days (``at`` is UTC text, as ``now_utc()`` writes it)."""
        return [
            (hour, int(quarter), int(delta))
            for hour, quarter, delta in self.conn.execute(
                "SELECT substr(at, 1, 13) AS hour, CAST(substr(at, 15, 2) AS INTEGER) / 15 AS quarter,"
                " SUM(CASE WHEN entered = 1 THEN 1 ELSE -1 END) FROM segment_history"
                " WHERE segment_id = ? GROUP BY hour, quarter ORDER BY hour, quarter",
                (segment_id,),
            )
        ]

    def segment_history_page(
        self, segment_id: int, before_id: int | None, limit: int, keys: set[int] | None = None
    ) -> list[dict[str, Any]]:
        """Entering and leaving rows, newest first (below ``before_id``), each with the customer's id and name;
        with ``keys``, only those customers' rows (a store manager's)."""
        sql = (
            "SELECT h.id, h.key, k.customer_id, c.name, h.entered, h.at, h.cause FROM segment_history h"
            " JOIN customer_keys k ON k.key = h.key LEFT JOIN customers c ON c.id = k.customer_id"
            " WHERE h.segment_id = ?"
        )
        params: list[Any] = [segment_id]
        if before_id is not None:
            sql += " AND h.id < ?"
            params.append(before_id)
        out = []
        for row in self.conn.execute(sql + " ORDER BY h.id DESC", params):
            if keys is not None and row[1] not in keys:
                continue
            out.append(dict(zip(("id", "key", "customer_id", "name", "entered", "at", "cause"), row, strict=True)))
            if len(out) >= limit:
                break
        return out

    def segments_of_customer(self, customer_id: str) -> list[dict[str, Any]]:
        """The segments the customer is in now (id, name, kind, since)."""
        rows = self.rows(
            "SELECT s.id, s.name, s.kind, m.since FROM segment_members m JOIN segments s ON s.id = m.segment_id"
            " JOIN customer_keys k ON k.key = m.key WHERE k.customer_id = ? ORDER BY s.name",
            (customer_id,),
        )
        return [{**r, "since": table.since_text(r["since"])} for r in rows]

    def customer_rfm_row(self, customer_id: str) -> dict[str, Any] | None:
        """The customer's RFM result (r, f, m, class, days_since, purchases, spend) or None."""
        rows = self.rows(
            "SELECT r.r, r.f, r.m, r.class, r.days_since, r.purchases, r.spend FROM customer_rfm r"
            " JOIN customer_keys k ON k.key = r.key WHERE k.customer_id = ?",
            (customer_id,),
        )
        return rows[0] if rows else None

    def catalog_product_ids(self) -> dict[str, int]:
        """SKU -> catalog product id."""
        return {sku: int(ident) for ident, sku in self.conn.execute("SELECT id, sku FROM catalog_products")}

    def catalog_category_choices(self) -> list[tuple[int, str]]:
        """(id, name) of every catalog category, by name."""
        return [(int(i), n) for i, n in self.conn.execute("SELECT id, name FROM catalog_categories ORDER BY name")]

    def customers_by_cards(self, numbers: Sequence[str]) -> dict[str, str]:
        """card number -> customer id (customers merged away: the one they were merged into)."""
        return self._lookup(
            "SELECT k.number, COALESCE(c.merged_into, c.id) FROM cards k"
            " JOIN customers c ON c.id = k.customer_id WHERE k.number IN ({})",
            numbers,
        )

    def customers_by_phones(self, phones: Sequence[str]) -> dict[str, str]:
        """phone (+7...) -> customer id (not merged away)."""
        return self._lookup("SELECT phone, id FROM customers WHERE merged_into IS NULL AND phone IN ({})", phones)

    def _lookup(self, sql: str, values: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        values = list(values)
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            out.update(self.conn.execute(sql.format(",".join("?" * len(chunk))), chunk))
        return out

    def customer_ids_where(self, where: str, params: Sequence[Any]) -> list[str]:
        """The ids of the customers a checked customer filter finds (central/storage/customer_filter.py)."""
        return [r[0] for r in self.conn.execute(f"SELECT c.id FROM customers c WHERE {where}", list(params))]

    def customers_home(self, customer_ids: Sequence[str]) -> dict[str, str | None]:
        """customer id -> home store."""
        return self._lookup("SELECT id, home_store FROM customers WHERE id IN ({})", customer_ids)  # type: ignore[return-value]

    def tagged_customers(self, tag: str, customer_ids: Sequence[str]) -> set[str]:
        """Which of these customers have the tag."""
        found: set[str] = set()
        for start in range(0, len(customer_ids), 500):
            chunk = list(customer_ids[start : start + 500])
            found.update(
                r[0]
                for r in self.conn.execute(
                    "SELECT customer_id FROM customer_tags WHERE tag = ? AND customer_id IN"
                    f" ({','.join('?' * len(chunk))})",
                    [tag, *chunk],
                )
            )
        return found

    def add_tag_to(self, tag: str, customer_ids: Sequence[str]) -> None:
        """Tag these customers (in the caller's transaction; those tagged already stay so)."""
        self.conn.executemany(
            "INSERT INTO customer_tags (customer_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(c, tag) for c in customer_ids],
        )

    def remove_tag_from(self, tag: str, customer_ids: Sequence[str]) -> None:
        self.conn.executemany(
            "DELETE FROM customer_tags WHERE customer_id = ? AND tag = ?", [(c, tag) for c in customer_ids]
        )

    def all_tags(self) -> list[tuple[str, int]]:
        """(tag, customers) of every tag, most used first."""
        return [
            (t, int(n))
            for t, n in self.conn.execute(
                "SELECT tag, COUNT(*) AS n FROM customer_tags GROUP BY tag ORDER BY n DESC, tag LIMIT 200"
            )
        ]

    def customers_named(self, customer_ids: Sequence[str]) -> list[dict[str, Any]]:
        """id, name and phone of these customers."""
        out: list[dict[str, Any]] = []
        ids = list(customer_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            out += self.rows(f"SELECT id, name, phone FROM customers WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        return out
