"""Rule set, sync state, terminals and their API keys, idempotency answers."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import NamedTuple

from .times import iso


class StoredAnswer(NamedTuple):
    """A write's first answer, replayed when the same request comes again."""

    request_hash: str
    status: int
    response: str


class AdminQueries:
    """Mixin of :class:`~agent.store.tx.Tx`."""

    c: sqlite3.Connection

    # -- rule set

    def rules(self) -> tuple[int, str] | None:
        """(version, JSON document) of the installed rule set, or None."""
        row = self.c.execute("SELECT version, document FROM rules WHERE id = 1").fetchone()
        return (row[0], row[1]) if row else None

    def put_rules(self, version: int, document: str, now: dt.datetime) -> None:
        self.c.execute(
            "INSERT INTO rules (id, version, document, installed_at) VALUES (1, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version, document = excluded.document, "
            "installed_at = excluded.installed_at",
            (version, document, iso(now)),
        )

    # -- promotions (shared/promotions.py), published beside the rule set

    def promotions(self) -> tuple[int, str] | None:
        """(version, JSON document) of the installed promotions, or None."""
        row = self.c.execute("SELECT version, document FROM promotions WHERE id = 1").fetchone()
        return (row[0], row[1]) if row else None

    def put_promotions(self, version: int, document: str, now: dt.datetime) -> None:
        self.c.execute(
            "INSERT INTO promotions (id, version, document, installed_at) VALUES (1, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version, document = excluded.document, "
            "installed_at = excluded.installed_at",
            (version, document, iso(now)),
        )

    def promotion_uses(self, customer_id: str) -> dict[str, list[str]]:
        """promotion id -> the local dates of this customer's rewards from it: those the central server knows
        (every store's, from the customer's delta) and those recorded here, each receipt once."""
        seen: dict[str, tuple[str, str]] = {}  # receipt:promotion -> (promotion, day)
        row = self.c.execute("SELECT promotion_uses FROM customers WHERE id = ?", (customer_id,)).fetchone()
        try:
            for promotion, day, receipt_id in json.loads(row[0]) if row and row[0] else ():
                seen[f"{receipt_id}:{promotion}"] = (promotion, day)
        except (ValueError, TypeError):
            pass  # a bad value from the central server must not stop the sale
        for promotion, day, receipt_id in self.c.execute(
            "SELECT promotion, day, receipt_id FROM promotion_uses WHERE customer_id = ? ORDER BY id", (customer_id,)
        ):
            seen[f"{receipt_id}:{promotion}"] = (promotion, day)
        out: dict[str, list[str]] = {}
        for promotion, day in seen.values():
            out.setdefault(promotion, []).append(day)
        return out

    def add_promotion_uses(self, rows: list[tuple[str, str, str, str]]) -> None:
        """(promotion, customer, receipt, local day) of each reward given."""
        self.c.executemany(
            "INSERT INTO promotion_uses (promotion, customer_id, receipt_id, day) VALUES (?, ?, ?, ?)", rows
        )

    def code_uses(self, code: str) -> int:
        """The uses of ``code`` recorded here (a counter: constant time however often a code is used)."""
        row = self.c.execute("SELECT uses FROM code_counts WHERE code = ?", (code,)).fetchone()
        return int(row[0]) if row else 0

    def offline_code_uses(self, promotion_list: str) -> int:
        """Codes of a list used here while offline (the list's offline bound)."""
        return int(
            self.c.execute(
                "SELECT COUNT(*) FROM code_uses WHERE promotion = ? AND online = 0", (promotion_list,)
            ).fetchone()[0]
        )

    def add_code_use(
        self, code: str, receipt_id: str, customer_id: str | None, code_list: str, online: bool, now: dt.datetime
    ) -> None:
        self.c.execute(
            "INSERT INTO code_uses (code, receipt_id, customer_id, promotion, online, at) VALUES (?, ?, ?, ?, ?, ?)",
            (code, receipt_id, customer_id, code_list, int(online), iso(now)),
        )
        self.c.execute(
            "INSERT INTO code_counts (code, uses) VALUES (?, 1) ON CONFLICT (code) DO UPDATE SET uses = uses + 1",
            (code,),
        )

    def remove_receipt_promotions(self, receipt_id: str) -> None:
        """A cancelled receipt gives its codes and limits back."""
        self.c.execute(
            "UPDATE code_counts SET uses = uses - (SELECT COUNT(*) FROM code_uses u WHERE u.receipt_id = ?"
            " AND u.code = code_counts.code) WHERE code IN (SELECT code FROM code_uses WHERE receipt_id = ?)",
            (receipt_id, receipt_id),
        )
        self.c.execute("DELETE FROM code_uses WHERE receipt_id = ?", (receipt_id,))
        self.c.execute("DELETE FROM promotion_uses WHERE receipt_id = ?", (receipt_id,))

    # -- sync state (key/value: link, last_sync_at, ... written by the sync)

    def state(self, key: str) -> str | None:
        row = self.c.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def all_state(self) -> dict[str, str]:
        return dict(self.c.execute("SELECT key, value FROM sync_state ORDER BY key").fetchall())

    def set_state(self, key: str, value: str) -> None:
        self.c.execute(
            "INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- terminals

    def add_terminal(self, terminal: str, name: str | None, key_hash: str, now: dt.datetime) -> None:
        """A terminal with a new key; re-adding a terminal replaces its key and un-revokes it."""
        self.c.execute(
            "INSERT INTO terminals (id, name, key_hash, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET name = COALESCE(excluded.name, name), key_hash = excluded.key_hash, "
            "created_at = excluded.created_at, revoked_at = NULL",
            (terminal, name, key_hash, iso(now)),
        )

    def terminal_by_key(self, key_hash: str) -> sqlite3.Row | None:
        return self.c.execute(
            "SELECT * FROM terminals WHERE key_hash = ? AND revoked_at IS NULL", (key_hash,)
        ).fetchone()

    def terminals(self) -> list[sqlite3.Row]:
        return self.c.execute("SELECT * FROM terminals ORDER BY id").fetchall()

    def revoke_terminal(self, terminal: str, now: dt.datetime) -> bool:
        cursor = self.c.execute(
            "UPDATE terminals SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (iso(now), terminal)
        )
        return cursor.rowcount > 0

    # -- idempotency

    def answer(self, scope: str, key: str) -> StoredAnswer | None:
        row = self.c.execute(
            "SELECT request_hash, status, response FROM idempotency WHERE scope = ? AND key = ?", (scope, key)
        ).fetchone()
        return StoredAnswer(row[0], row[1], row[2]) if row else None

    def put_answer(self, scope: str, key: str, answer: StoredAnswer, now: dt.datetime) -> None:
        self.c.execute(
            "INSERT INTO idempotency (scope, key, request_hash, status, response, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (scope, key, answer.request_hash, answer.status, answer.response, iso(now)),
        )
