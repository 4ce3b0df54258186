"""The questionnaire's custom fields (``custom_fields``): name, label, type, position, and whether the customer
may edit it on the web card (``customer_edit``)."""

from __future__ import annotations

from typing import Any

from .connection import Database


class CustomFields(Database):
    """The ``custom_fields`` table."""

    def custom_fields(self) -> list[dict[str, Any]]:
        """Every field, in the order the form shows them."""
        return self.rows("SELECT * FROM custom_fields ORDER BY position, name")

    def custom_field(self, name: str) -> dict[str, Any] | None:
        """The field's ``label`` and ``type``; None: no such field."""
        row = self.conn.execute(
            "SELECT label, type, customer_edit FROM custom_fields WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else {"label": row[0], "type": row[1], "customer_edit": bool(row[2])}

    def add_custom_field(self, name: str, label: str, kind: str, at: str, customer_edit: bool = False) -> None:
        """A new field, last in the form (in the caller's transaction)."""
        position = self.conn.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM custom_fields").fetchone()[0]
        self.conn.execute(
            "INSERT INTO custom_fields (name, label, type, position, created_at, customer_edit) VALUES (?,?,?,?,?,?)",
            (name, label, kind, position, at, int(customer_edit)),
        )

    def set_custom_field_customer_edit(self, name: str, customer_edit: bool) -> None:
        self.conn.execute("UPDATE custom_fields SET customer_edit = ? WHERE name = ?", (int(customer_edit), name))

    def delete_custom_field(self, name: str) -> None:
        self.conn.execute("DELETE FROM custom_fields WHERE name = ?", (name,))
