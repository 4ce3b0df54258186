"""What head office reviews: open dead letters, debts and flags, recovered events; marking one resolved."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .connection import Database

#: what can be reviewed -> (its table, its key column)
REVIEWABLE = {"dead_letter": ("dead_letters", "id"), "debt": ("debts", "event_id"), "flag": ("flags", "id")}


def _marks(stores: Collection[str]) -> str:
    return ",".join("?" * len(stores)) or "NULL"


class Review(Database):
    """The open rows of ``dead_letters``, ``debts``, ``flags`` and the recovered ``applied_events``."""

    def open_dead_letters(self, stores: list[str], with_storeless: bool) -> list[dict[str, Any]]:
        """The newest 200 unresolved dead letters of these stores (``with_storeless``: and those of no store)."""
        return self.rows(
            f"SELECT id, reason, detail, store, agent, event_id, seq, count, received_at, last_at"
            f" FROM dead_letters WHERE resolved_at IS NULL AND (store IN ({_marks(stores)})"
            f" OR store IS NULL AND ? = 1) ORDER BY id DESC LIMIT 200",
            [*stores, int(with_storeless)],
        )

    def open_debts(self, stores: list[str]) -> list[dict[str, Any]]:
        """The newest 200 unresolved debts of these stores, with their program's name (``program``)."""
        return self.rows(
            f"SELECT d.*, p.name AS program FROM debts d LEFT JOIN programs p ON p.id = d.program_id"
            f" WHERE d.resolved_at IS NULL AND d.store IN ({_marks(stores)})"
            f" ORDER BY d.created_at DESC LIMIT 200",
            stores,
        )

    def open_flags(self, stores: list[str], with_storeless: bool) -> list[dict[str, Any]]:
        return self.rows(
            f"SELECT * FROM flags WHERE resolved_at IS NULL AND (store IN ({_marks(stores)})"
            f" OR store IS NULL AND ? = 1) ORDER BY id DESC LIMIT 200",
            [*stores, int(with_storeless)],
        )

    def recovered_events(self, stores: list[str]) -> list[dict[str, Any]]:
        """Per agent and outcome ('applied' or why not): the events of agents restored from a backup."""
        # the index holds only these rows
        return self.rows(
            f"SELECT store, agent, recovery, COUNT(*) AS events, MIN(seq) AS first_seq,"
            f" MAX(seq) AS last_seq, MAX(applied_at) AS last_at FROM applied_events"
            f" WHERE recovery IS NOT NULL AND store IN ({_marks(stores)}) GROUP BY store, agent, recovery"
            f" ORDER BY last_at DESC LIMIT 200",
            stores,
        )

    def open_review_counts(self, stores: Collection[str] | None = None) -> dict[str, int]:
        """How many dead letters, debts and flags are unresolved (in these stores; None: everywhere)."""
        out = {}
        for table in ("dead_letters", "debts", "flags"):
            if stores is None:
                out[table] = self.count(table, "resolved_at IS NULL")
            else:
                out[table] = self.count(table, f"resolved_at IS NULL AND store IN ({_marks(stores)})", sorted(stores))
        return out

    def open_review_item(self, what: str, ident: str) -> dict[str, Any] | None:
        """The unresolved dead letter, debt or flag (``what``) with this key; None if resolved or absent."""
        table, key = REVIEWABLE[what]
        rows = self.rows(f"SELECT * FROM {table} WHERE {key} = ? AND resolved_at IS NULL", (ident,))
        return rows[0] if rows else None

    def resolve_review_item(self, what: str, ident: str, note: str, at: str) -> None:
        """Mark it resolved (a dead letter keeps the note), in the caller's transaction."""
        table, key = REVIEWABLE[what]
        if table == "dead_letters":
            self.conn.execute("UPDATE dead_letters SET resolved_at = ?, resolution = ? WHERE id = ?", (at, note, ident))
        else:
            self.conn.execute(f"UPDATE {table} SET resolved_at = ? WHERE {key} = ?", (at, ident))
