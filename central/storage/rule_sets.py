"""Rule sets published to stores (``rule_sets``): each store's numbered versions."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from shared.rules import parse_rules

from .clock import now_utc
from .shops import Shops


class RuleSets(Shops):
    """The ``rule_sets`` table."""

    def add_rules(self, store_id: str, doc: Mapping[str, Any], conn: sqlite3.Connection | None = None) -> int:
        """Store a validated rule set as the store's next version; return the version.

        With ``conn`` (an open transaction) it is written there, so that the caller's audit
        row and draft removal commit with it; otherwise in a transaction of its own.
        """
        self.get_store(store_id)
        if conn is None:
            with self.transaction() as own:
                return self.add_rules(store_id, doc, own)
        current = conn.execute("SELECT MAX(version) FROM rule_sets WHERE store = ?", (store_id,)).fetchone()[0] or 0
        version = max(current + 1, int(doc.get("version") or 0))
        document = {**doc, "version": version, "store": store_id}
        parse_rules(document)  # raises RuleSetError listing every problem
        conn.execute(
            "INSERT INTO rule_sets (store, version, document, created_at) VALUES (?, ?, ?, ?)",
            (store_id, version, json.dumps(document, ensure_ascii=False, sort_keys=True), now_utc()),
        )
        return version

    def latest_rules(self) -> dict[str, tuple[int, dict[str, Any]]]:
        """store -> (version, document) of each store's newest rule set."""
        return {
            store: (version, json.loads(document))
            for store, version, document in self.conn.execute(
                "SELECT r.store, r.version, r.document FROM rule_sets r JOIN"
                " (SELECT store, MAX(version) AS version FROM rule_sets GROUP BY store) m"
                " ON m.store = r.store AND m.version = r.version"
            )
        }

    def rule_set_versions(self, store_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The store's newest versions (``version``, ``created_at``), newest first."""
        return self.rows(
            "SELECT version, created_at FROM rule_sets WHERE store = ? ORDER BY version DESC LIMIT ?", (store_id, limit)
        )
