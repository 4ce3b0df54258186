"""Importing customers from a file (central/services/imports.py checks the rows): who already has a phone, card
or id, the customers a file updates, and the writes (in the caller's transaction)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..points import programs as points_programs
from .connection import Database

#: key -> the pairs (key, owner) of the customers who hold it already (a new customer may not reuse any)
_HELD = {
    "phone": "SELECT phone, id FROM customers WHERE merged_into IS NULL AND phone IN ({})",
    "card": "SELECT number, customer_id FROM cards WHERE number IN ({})",
    "id": "SELECT id, id FROM customers WHERE id IN ({})",
}
#: key -> the pairs (key, customer) of live customers (not merged away) it finds
_LIVE = {
    "id": "SELECT id, id FROM customers WHERE merged_into IS NULL AND id IN ({})",
    "card": "SELECT k.number, k.customer_id FROM cards k JOIN customers c ON c.id = k.customer_id"
    " WHERE c.merged_into IS NULL AND k.number IN ({})",
    "phone": "SELECT phone, id FROM customers WHERE merged_into IS NULL AND phone IN ({})",
}
#: the customer columns an update from a file may set
IMPORT_COLUMNS = (
    "name",
    "email",
    "birthday",
    "gender",
    "level",
    "home_store",
    "phone",
    "phone_verified",
    "consents",
    "custom",
    "language",
)
_CHUNK = 500


class CustomerImport(Database):
    """What an import of customers reads and writes."""

    def level_names(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT name FROM levels")}

    def programs_by_name(self) -> dict[str, int]:
        """Bonus program name -> id (central/points/programs.py)."""
        return points_programs.by_name(self.conn)

    def holders(self, key: str, values: Iterable[str]) -> list[tuple[str, str]]:
        """(value, the customer who holds it) for each of ``values`` already taken: ``key`` is "phone" (a live
        customer's), "card" or "id"."""
        return self._pairs(_HELD[key], values)

    def live_customers_by(self, key: str, values: Iterable[str]) -> dict[str, str]:
        """value -> the live customer it finds: ``key`` is "id", "card" or "phone"."""
        return dict(self._pairs(_LIVE[key], values))

    def _pairs(self, sql: str, values: Iterable[str]) -> list[tuple[str, str]]:
        items, found = sorted(set(values)), []
        for start in range(0, len(items), _CHUNK):
            chunk = items[start : start + _CHUNK]
            found += [(r[0], r[1]) for r in self.conn.execute(sql.format(",".join("?" * len(chunk))), chunk)]
        return found

    def customers_with_tags(self, customer_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """id -> the customer's row with its ``tags`` (sorted)."""
        current: dict[str, dict[str, Any]] = {}
        ids = list(customer_ids)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for customer in self.rows(f"SELECT * FROM customers WHERE id IN ({marks})", chunk):
                customer["tags"] = []
                current[customer["id"]] = customer
            for cid, tag in self.conn.execute(
                f"SELECT customer_id, tag FROM customer_tags WHERE customer_id IN ({marks}) ORDER BY tag", chunk
            ):
                current[cid]["tags"].append(tag)
        return current

    def add_imported_customers(
        self,
        customers: Sequence[tuple[Any, ...]],
        cards: Sequence[tuple[Any, ...]],
        tags: Sequence[tuple[str, str]],
        lots: Sequence[tuple[Any, ...]],
        ledger: Sequence[tuple[Any, ...]],
    ) -> None:
        """New customers with their main cards, tags, opening lots and ledger entries (in the caller's
        transaction). ``customers``: (id, home_store, phone, name, email, birthday, gender, level, consents,
        custom, balance, version, created_at, channel); ``cards``: (number, customer, created_at, category,
        updated_at); ``lots``: (id, customer, points, initial, source_event, created_at, program);
        ``ledger``: (customer, points, kind, event_id, store, at, recorded_at, reason, operator, program)."""
        self.conn.executemany(
            "INSERT INTO customers (id, home_store, phone, name, email, birthday, gender, level, consents, custom,"
            " balance, version, created_at, channel) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            customers,
        )
        self.conn.executemany(
            "INSERT INTO cards (number, customer_id, created_at, category_id, main, updated_at)"
            " VALUES (?, ?, ?, ?, 1, ?)",
            cards,
        )
        self.conn.executemany("INSERT INTO customer_tags (customer_id, tag) VALUES (?, ?)", tags)
        self.conn.executemany(
            "INSERT INTO lots (id, customer_id, points, initial, source_event, created_at,"
            " program_id) VALUES (?,?,?,?,?,?,?)",
            lots,
        )
        self.conn.executemany(
            "INSERT INTO ledger (customer_id, points, kind, event_id, store, at, recorded_at, reason,"
            " operator, program_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
            ledger,
        )

    def customer_import_state(self, customer_id: str) -> dict[str, Any]:
        """``consents``, ``custom`` (JSON text) and ``home_store`` of a customer who exists."""
        return self.rows("SELECT consents, custom, home_store FROM customers WHERE id = ?", (customer_id,))[0]

    def add_customer_tags(self, customer_id: str, tags: Iterable[str]) -> None:
        """These tags too (those the customer has stay once)."""
        self.conn.executemany(
            "INSERT OR IGNORE INTO customer_tags (customer_id, tag) VALUES (?, ?)", [(customer_id, tag) for tag in tags]
        )

    def set_custom_values(self, values: Sequence[tuple[str, str]]) -> None:
        """Replace the custom field values (JSON text) of these customers: (customer id, JSON) pairs."""
        self.conn.executemany("UPDATE customers SET custom = ? WHERE id = ?", [(text, cid) for cid, text in values])

    def update_customer_columns(self, customer_id: str, values: Mapping[str, Any]) -> None:
        """Set these columns (of :data:`IMPORT_COLUMNS`) of the customer."""
        unknown = set(values) - set(IMPORT_COLUMNS)
        if unknown:
            raise ValueError(f"not a column an import sets: {sorted(unknown)}")
        if values:
            self.conn.execute(
                f"UPDATE customers SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                [*values.values(), customer_id],
            )
