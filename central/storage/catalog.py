"""The product catalog (``catalog_categories``, ``catalog_products``): seen in receipts or added by hand."""

from __future__ import annotations

from typing import Any

from .connection import Database


class Catalog(Database):
    """The ``catalog_categories`` and ``catalog_products`` tables."""

    def catalog_categories(self) -> list[dict[str, Any]]:
        """Every category with how many products it holds (``products``), by name."""
        return self.rows(
            "SELECT c.*, (SELECT COUNT(*) FROM catalog_products p WHERE p.category_id = c.id) AS products"
            " FROM catalog_categories c ORDER BY c.name"
        )

    def catalog_category_exists(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM catalog_categories WHERE name = ?", (name,)).fetchone() is not None

    def add_catalog_category(self, name: str, at: str) -> None:
        """A category added in the console (in the caller's transaction)."""
        self.conn.execute(
            "INSERT INTO catalog_categories (name, source, created_at) VALUES (?, 'console', ?)", (name, at)
        )

    def catalog_skus(self) -> list[str]:
        """Every product's SKU in id order (the batch kernel's SKU codes are positions in this list)."""
        return [r[0] for r in self.conn.execute("SELECT sku FROM catalog_products ORDER BY id")]

    def catalog_category_names(self) -> list[str]:
        """Every category's name in id order (the batch kernel's category codes are positions in this list)."""
        return [r[0] for r in self.conn.execute("SELECT name FROM catalog_categories ORDER BY id")]
