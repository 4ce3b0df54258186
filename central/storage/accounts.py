"""A customer account's console-edited parts: profile, phone, cashier messages, comments, tags (``customers`` and
``customer_messages``, ``customer_comments``, ``customer_tags``). Every write runs in the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .connection import Database


class CustomerAccounts(Database):
    """The console's writes to a customer account (central/services/accounts.py keeps the rules)."""

    def set_customer_profile(
        self,
        customer_id: str,
        name: str | None,
        email: str | None,
        birthday: str | None,
        gender: str | None,
        consents: Mapping[str, bool],
        custom: Mapping[str, Any],
    ) -> None:
        self.conn.execute(
            "UPDATE customers SET name = ?, email = ?, birthday = ?, gender = ?, consents = ?, custom = ? WHERE id = ?",
            (
                name,
                email,
                birthday,
                gender,
                json.dumps(consents, sort_keys=True),
                json.dumps(custom, ensure_ascii=False, sort_keys=True),
                customer_id,
            ),
        )

    def set_customer_custom(self, customer_id: str, custom: Mapping[str, Any]) -> None:
        """The custom questionnaire values alone (the customer's own form on the web card)."""
        self.conn.execute(
            "UPDATE customers SET custom = ? WHERE id = ?",
            (json.dumps(custom, ensure_ascii=False, sort_keys=True), customer_id),
        )

    def phone_taken_by_other(self, phone: str, customer_id: str) -> bool:
        """Whether another customer (not merged away) has this phone."""
        return (
            self.conn.execute(
                "SELECT id FROM customers WHERE phone = ? AND id != ? AND merged_into IS NULL", (phone, customer_id)
            ).fetchone()
            is not None
        )

    def set_customer_phone(self, customer_id: str, phone: str) -> None:
        """A new phone, unconfirmed."""
        self.conn.execute("UPDATE customers SET phone = ?, phone_verified = 0 WHERE id = ?", (phone, customer_id))

    def add_customer_message(
        self, message_id: str, customer_id: str, text: str, until: str | None, at: str, by: str, print_: bool = False
    ) -> None:
        self.conn.execute(
            "INSERT INTO customer_messages (id, customer_id, text, until, created_at, created_by, print)"
            " VALUES (?,?,?,?,?,?,?)",
            (message_id, customer_id, text, until, at, by, int(print_)),
        )

    def live_customer_message(self, customer_id: str, message_id: str) -> dict[str, Any] | None:
        """The customer's message (``text``, ``until``) unless it was deleted; None otherwise."""
        row = self.conn.execute(
            "SELECT text, until FROM customer_messages WHERE id = ? AND customer_id = ? AND deleted_at IS NULL",
            (message_id, customer_id),
        ).fetchone()
        return None if row is None else {"text": row[0], "until": row[1]}

    def delete_customer_message(self, message_id: str, at: str) -> None:
        self.conn.execute("UPDATE customer_messages SET deleted_at = ? WHERE id = ?", (at, message_id))

    def add_customer_comment(self, customer_id: str, username: str, text: str, at: str) -> None:
        self.conn.execute(
            "INSERT INTO customer_comments (customer_id, username, text, created_at) VALUES (?,?,?,?)",
            (customer_id, username, text, at),
        )

    def customer_tags(self, customer_id: str) -> list[str]:
        """The customer's tags, sorted."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT tag FROM customer_tags WHERE customer_id = ? ORDER BY tag", (customer_id,)
            )
        ]

    def replace_customer_tags(self, customer_id: str, tags: list[str]) -> None:
        self.conn.execute("DELETE FROM customer_tags WHERE customer_id = ?", (customer_id,))
        self.conn.executemany(
            "INSERT INTO customer_tags (customer_id, tag) VALUES (?, ?)", [(customer_id, t) for t in tags]
        )
