"""Rule-set drafts (``rule_drafts``): the rule set each store's head office is editing, one per store."""

from __future__ import annotations

import json
from typing import Any

from .connection import Database


class RuleDrafts(Database):
    """The ``rule_drafts`` table (documents are stored as JSON, keys sorted)."""

    def rule_drafts(self) -> dict[str, dict[str, Any]]:
        """store -> when (``updated_at``) and by whom (``updated_by``) its draft was last saved."""
        return {r["store"]: r for r in self.rows("SELECT store, updated_at, updated_by FROM rule_drafts")}

    def rule_draft(self, store_id: str) -> dict[str, Any] | None:
        """The store's draft row (``document`` as JSON text); None: no draft."""
        rows = self.rows("SELECT * FROM rule_drafts WHERE store = ?", (store_id,))
        return rows[0] if rows else None

    def rule_draft_document(self, store_id: str) -> dict[str, Any] | None:
        """The store's draft document; None: no draft."""
        row = self.conn.execute("SELECT document FROM rule_drafts WHERE store = ?", (store_id,)).fetchone()
        return None if row is None else json.loads(row[0])  # type: ignore[no-any-return]

    def save_rule_draft(self, store_id: str, document: Any, base_version: int | None, at: str, by: str) -> None:
        """Keep the document as the store's draft (in the caller's transaction)."""
        self.conn.execute(
            "INSERT INTO rule_drafts (store, document, base_version, updated_at, updated_by) VALUES (?,?,?,?,?)"
            " ON CONFLICT (store) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at,"
            " updated_by = excluded.updated_by",
            (store_id, json.dumps(document, ensure_ascii=False, sort_keys=True), base_version, at, by),
        )

    def delete_rule_draft(self, store_id: str) -> None:
        self.conn.execute("DELETE FROM rule_drafts WHERE store = ?", (store_id,))
