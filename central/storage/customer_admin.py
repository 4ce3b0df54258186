"""The customer's web card (codes, sign-ups, sessions) and head office's customer writes: creating a customer
with the full questionnaire, blocking, card statuses, erasure, list preferences (docs/web-card.md).

Every write runs in the caller's transaction (``with db.transaction()``); the services keep the rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .connection import Database

#: the questionnaire's columns a console create or edit writes (besides phone, consents and custom)
QUESTIONNAIRE = (
    "last_name",
    "first_name",
    "middle_name",
    "name",
    "gender",
    "birthday",
    "email",
    "address",
    "marital_status",
    "children",
)


class CustomerAdmin(Database):
    # -- one-time codes -------------------------------------------------------------------------

    def add_web_code(
        self, purpose: str, phone: str, customer_id: str, code_hash: str, address: str, at: str, expires: str
    ) -> int:
        cur = self.conn.execute(
            "INSERT INTO web_codes (purpose, phone, customer_id, code_hash, address, created_at, expires_at)"
            " VALUES (?,?,?,?,?,?,?)",
            (purpose, phone, customer_id, code_hash, address, at, expires),
        )
        return int(cur.lastrowid or 0)

    def web_codes_since(self, *, phone: str | None = None, address: str | None = None, since: str) -> int:
        """How many codes were asked for a phone (or from an address) since ``since``."""
        column, value = ("phone", phone) if phone is not None else ("address", address)
        row = self.conn.execute(
            f"SELECT COUNT(*) FROM web_codes WHERE {column} = ? AND created_at >= ?", (value, since)
        ).fetchone()
        return int(row[0])

    def web_codes_sent_since(self, since: str) -> int:
        """How many codes were sent (to any phone: rows with a phone, not the lookups') since ``since``; the
        table keeps two days of rows (``drop_expired_web_rows``), so the count scans few."""
        row = self.conn.execute(
            "SELECT COUNT(*) FROM web_codes WHERE created_at >= ? AND phone <> ''", (since,)
        ).fetchone()
        return int(row[0])

    def web_wrong_attempts_since(self, address: str, since: str) -> int:
        """Wrong codes typed from an address since ``since`` (every phone)."""
        row = self.conn.execute(
            "SELECT COALESCE(SUM(attempts), 0) FROM web_codes WHERE address = ? AND created_at >= ?", (address, since)
        ).fetchone()
        return int(row[0])

    def live_web_code(self, phone: str, purpose: str, now: str) -> dict[str, Any] | None:
        """The latest unused, unexpired code of this purpose for a phone (an older one is replaced by a newer)."""
        rows = self.rows(
            "SELECT * FROM web_codes WHERE phone = ? AND purpose = ? ORDER BY id DESC LIMIT 1", (phone, purpose)
        )
        if not rows or rows[0]["used_at"] is not None or rows[0]["expires_at"] <= now:
            return None
        return rows[0]

    def latest_web_code(self, phone: str, purpose: str) -> dict[str, Any] | None:
        rows = self.rows(
            "SELECT * FROM web_codes WHERE phone = ? AND purpose = ? ORDER BY id DESC LIMIT 1", (phone, purpose)
        )
        return rows[0] if rows else None

    def count_web_code_attempt(self, code_id: int) -> None:
        self.conn.execute("UPDATE web_codes SET attempts = attempts + 1 WHERE id = ?", (code_id,))

    def use_web_code(self, code_id: int, at: str) -> None:
        self.conn.execute("UPDATE web_codes SET used_at = ? WHERE id = ?", (at, code_id))

    # -- sign-ups -------------------------------------------------------------------------------

    def customers_with_phone(self, phone: str) -> list[str]:
        """Every customer (not merged away) with this phone: a till may register a phone a web sign-up waits on."""
        return [
            row[0]
            for row in self.conn.execute(
                "SELECT id FROM customers WHERE phone = ? AND merged_into IS NULL ORDER BY created_at, id", (phone,)
            )
        ]

    def pending_signup(self, phone: str) -> dict[str, Any] | None:
        rows = self.rows("SELECT * FROM web_signups WHERE phone = ?", (phone,))
        return rows[0] if rows else None

    def add_pending_customer(
        self, customer_id: str, store: str, phone: str, fields: Mapping[str, Any], consents: Mapping[str, bool], at: str
    ) -> None:
        """A potential customer (no card, version 0: not sent to the stores) waiting for the SMS code."""
        self.conn.execute(
            "INSERT INTO customers (id, home_store, phone, name, first_name, last_name, birthday, consents, version,"
            " created_at, channel, updated_at) VALUES (?,?,?,?,?,?,?,?,0,?,'web',?)",
            (
                customer_id,
                store,
                phone,
                fields.get("name"),
                fields.get("first_name"),
                fields.get("last_name"),
                fields.get("birthday"),
                json.dumps(dict(consents), sort_keys=True),
                at,
                at,
            ),
        )
        self.conn.execute(
            "INSERT INTO web_signups (customer_id, phone, store, created_at) VALUES (?,?,?,?)",
            (customer_id, phone, store, at),
        )

    def refresh_pending_customer(
        self, customer_id: str, store: str, fields: Mapping[str, Any], consents: Mapping[str, bool], at: str
    ) -> None:
        """The same phone signs up again before confirming: the newest form wins."""
        self.conn.execute(
            "UPDATE customers SET home_store = ?, name = ?, first_name = ?, last_name = ?, birthday = ?, consents = ?,"
            " updated_at = ? WHERE id = ?",
            (
                store,
                fields.get("name"),
                fields.get("first_name"),
                fields.get("last_name"),
                fields.get("birthday"),
                json.dumps(dict(consents), sort_keys=True),
                at,
                customer_id,
            ),
        )
        self.conn.execute(
            "UPDATE web_signups SET store = ?, created_at = ? WHERE customer_id = ?", (store, at, customer_id)
        )

    def finish_signup(self, customer_id: str, at: str) -> None:
        """The code was right: the phone is confirmed and the sign-up is no longer pending."""
        self.conn.execute("DELETE FROM web_signups WHERE customer_id = ?", (customer_id,))
        self.conn.execute("UPDATE customers SET phone_verified = 1, updated_at = ? WHERE id = ?", (at, customer_id))

    def web_card_category(self, store: str) -> dict[str, Any] | None:
        """The electronic card range a store's web sign-ups take numbers from.

        The setting ``web_card_category.<store>`` (a category id) names it; without it, the first
        electronic category."""
        row = self.conn.execute("SELECT value FROM settings WHERE name = ?", (f"web_card_category.{store}",)).fetchone()
        if row is not None:
            rows = self.rows("SELECT * FROM card_categories WHERE id = ?", (int(row[0]),))
            if rows:
                return rows[0]
        rows = self.rows("SELECT * FROM card_categories WHERE electronic = 1 ORDER BY id LIMIT 1")
        return rows[0] if rows else None

    # -- sessions -------------------------------------------------------------------------------

    def add_web_session(self, id_hash: str, customer_id: str, at: str, expires: str) -> None:
        self.conn.execute(
            "INSERT INTO web_sessions (id_hash, customer_id, created_at, expires_at) VALUES (?,?,?,?)",
            (id_hash, customer_id, at, expires),
        )

    def web_session_customer(self, id_hash: str, now: str) -> str | None:
        row = self.conn.execute(
            "SELECT customer_id FROM web_sessions WHERE id_hash = ? AND expires_at > ?", (id_hash, now)
        ).fetchone()
        return row[0] if row else None

    def end_web_session(self, id_hash: str) -> None:
        self.conn.execute("DELETE FROM web_sessions WHERE id_hash = ?", (id_hash,))

    def end_customer_web_sessions(self, customer_id: str) -> None:
        self.conn.execute("DELETE FROM web_sessions WHERE customer_id = ?", (customer_id,))

    def drop_expired_web_rows(self, now: str, codes_before: str) -> None:
        """Expired sessions, old codes, and sign-ups never confirmed (their potential customer: no card, never
        sent to the stores) whose codes are that old."""
        self.conn.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (now,))
        self.conn.execute("DELETE FROM web_codes WHERE created_at < ?", (codes_before,))
        stale = "SELECT customer_id FROM web_signups WHERE created_at < ?"
        self.conn.execute(
            f"DELETE FROM customers WHERE id IN ({stale}) AND version = 0"
            " AND NOT EXISTS (SELECT 1 FROM cards k WHERE k.customer_id = customers.id)",
            (codes_before,),
        )
        self.conn.execute("DELETE FROM web_signups WHERE created_at < ?", (codes_before,))

    # -- the card page --------------------------------------------------------------------------

    def level_thresholds(self) -> list[dict[str, Any]]:
        """The chain's levels, lowest spend first: (name, from_spend)."""
        return self.rows("SELECT name, from_spend FROM levels ORDER BY from_spend, name")

    def transaction_points(self, customer_id: str, limit: int) -> list[dict[str, Any]]:
        """The customer's last purchases and refunds with the points of each receipt."""
        return self.rows(
            "SELECT t.id, t.kind, t.at, t.amount, t.accrued, t.redeemed, t.store, s.name AS store_name"
            " FROM transactions t LEFT JOIN stores s ON s.id = t.store"
            " WHERE t.customer_id = ? AND t.kind IN ('purchase', 'refund') ORDER BY t.at_epoch DESC, t.id DESC LIMIT ?",
            (customer_id, limit),
        )

    # -- head office's writes -------------------------------------------------------------------

    def add_console_customer(
        self,
        customer_id: str,
        store: str | None,
        phone: str | None,
        fields: Mapping[str, Any],
        consents: Mapping[str, bool],
        custom: Mapping[str, Any],
        level: str | None,
        at: str,
    ) -> None:
        names = ", ".join(QUESTIONNAIRE)
        marks = ",".join("?" * len(QUESTIONNAIRE))
        self.conn.execute(
            f"INSERT INTO customers (id, home_store, phone, consents, custom, level, version, created_at, channel,"
            f" updated_at, {names}) VALUES (?,?,?,?,?,?,0,?,'console',?,{marks})",
            (
                customer_id,
                store,
                phone,
                json.dumps(dict(consents), sort_keys=True),
                json.dumps(dict(custom), ensure_ascii=False, sort_keys=True),
                level,
                at,
                at,
                *(fields.get(k) for k in QUESTIONNAIRE),
            ),
        )

    def set_questionnaire(self, customer_id: str, fields: Mapping[str, Any], at: str) -> None:
        sets = ", ".join(f"{k} = ?" for k in QUESTIONNAIRE)
        self.conn.execute(
            f"UPDATE customers SET {sets}, updated_at = ? WHERE id = ?",
            (*(fields.get(k) for k in QUESTIONNAIRE), at, customer_id),
        )

    def set_customer_blocked(self, customer_id: str, blocked: bool, reason: str | None, at: str) -> None:
        self.conn.execute(
            "UPDATE customers SET blocked = ?, block_reason = ?, updated_at = ? WHERE id = ?",
            (int(blocked), reason, at, customer_id),
        )

    def set_card_state(self, number: str, status: str, reason: str | None, at: str) -> None:
        self.conn.execute(
            "UPDATE cards SET status = ?, reason = ?, updated_at = ? WHERE number = ?", (status, reason, at, number)
        )

    def set_customer_level(self, customer_id: str, level: str | None, at: str) -> None:
        self.conn.execute("UPDATE customers SET level = ?, updated_at = ? WHERE id = ?", (level, at, customer_id))

    def erase_customer(self, customer_id: str, at: str) -> None:
        """Erase the personal data of a customer (the personal-data law); the ledger, receipts and totals stay
        under the customer's id, which is random and names nobody once these are gone."""
        self.conn.execute(
            "UPDATE customers SET phone = NULL, phone_verified = 0, name = NULL, first_name = NULL, last_name = NULL,"
            " middle_name = NULL, email = NULL, birthday = NULL, gender = NULL, address = NULL,"
            " marital_status = NULL, children = NULL, custom = '{}', consents = '{}', confirmation_code = NULL,"
            " blocked = 1, block_reason = 'erased', erased_at = ?, updated_at = ? WHERE id = ?",
            (at, at, customer_id),
        )
        self.conn.execute(
            "UPDATE cards SET status = 'blocked', reason = 'erased', updated_at = ? WHERE customer_id = ?",
            (at, customer_id),
        )
        for sql in (
            "DELETE FROM customer_comments WHERE customer_id = ?",
            "DELETE FROM customer_messages WHERE customer_id = ?",
            "DELETE FROM customer_channels WHERE customer_id = ?",
            "DELETE FROM web_sessions WHERE customer_id = ?",
            "DELETE FROM web_signups WHERE customer_id = ?",
            "DELETE FROM web_codes WHERE customer_id = ?",
            # what was sent: the addresses and texts named the person
            "UPDATE message_outbox SET address = NULL, body = NULL, subject = NULL, extra = '{}' WHERE customer_id = ?",
            # the audit keeps who did what and when; the values (names, phones, emails) go
            "UPDATE audit_log SET before = NULL, after = NULL WHERE entity = 'customer' AND entity_id = ?",
            "UPDATE merges SET source_state = '{}' WHERE source = ? ",
        ):
            self.conn.execute(sql, (customer_id,))

    # -- console preferences --------------------------------------------------------------------

    def console_preference(self, user_id: int, name: str) -> str | None:
        row = self.conn.execute(
            "SELECT value FROM console_preferences WHERE user_id = ? AND name = ?", (user_id, name)
        ).fetchone()
        return row[0] if row else None

    def set_console_preference(self, user_id: int, name: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO console_preferences (user_id, name, value) VALUES (?,?,?)"
            " ON CONFLICT (user_id, name) DO UPDATE SET value = excluded.value",
            (user_id, name, value),
        )

    def customers_by_ids(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return self.rows(f"SELECT * FROM customers WHERE id IN ({marks})", list(ids))
