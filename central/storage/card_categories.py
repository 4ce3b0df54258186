"""Card categories (``card_categories``): named ranges of card numbers and the next offset to issue."""

from __future__ import annotations

from typing import Any

from .connection import Database


class CardCategories(Database):
    """The ``card_categories`` table (the numbers themselves are made by central/services/cards.py)."""

    def card_categories(self) -> list[dict[str, Any]]:
        """Every category, by name."""
        return self.rows("SELECT * FROM card_categories ORDER BY name")

    def card_ranges(self) -> list[dict[str, Any]]:
        """Every category in the order they were added (where ranges could both hold a number, the first wins)."""
        return self.rows("SELECT * FROM card_categories ORDER BY id")

    def cards_issued_per_category(self) -> dict[int, int]:
        """category id -> how many cards of it exist."""
        return dict(
            self.conn.execute(
                "SELECT category_id, COUNT(*) FROM cards WHERE category_id IS NOT NULL GROUP BY category_id"
            )
        )

    def card_category_exists(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM card_categories WHERE name = ?", (name,)).fetchone() is not None

    def add_card_category(self, name: str, first_number: str, count: int, electronic: bool, luhn: bool, at: str) -> int:
        """A new category (in the caller's transaction); returns its id."""
        cur = self.conn.execute(
            "INSERT INTO card_categories (name, first_number, count, electronic, luhn, created_at)"
            " VALUES (?,?,?,?,?,?)",
            (name, first_number, count, int(electronic), int(luhn), at),
        )
        return int(cur.lastrowid or 0)

    def next_card_offset(self, category_id: int) -> int:
        return int(
            self.conn.execute("SELECT next_offset FROM card_categories WHERE id = ?", (category_id,)).fetchone()[0]
        )

    def set_next_card_offset(self, category_id: int, offset: int) -> None:
        self.conn.execute("UPDATE card_categories SET next_offset = ? WHERE id = ?", (offset, category_id))
