"""Card status and the customer reads the server and the tests use (``cards``, ``customers``, ``ledger``)."""

from __future__ import annotations

from typing import Any

from shared.errors import LoyaltyError

from .connection import Database, NotFound


def replacement_reason(status: str, new: str) -> str:
    """What a replaced (or lost) card's ``reason`` says: the card that took its place."""
    return f"replaced by {new}" if status == "replaced" else f"lost, replaced by {new}"


def mark_card_replaced(conn: Any, old: str, new: str, status: str, at: str) -> None:
    """A replacement's rows, the head office's and a till's alike (central/services/customer_admin.py
    ``replace_card``, central/points/ledger.py ``card_replacement``): the new card, already the customer's,
    becomes their main card, and the old one ``replaced`` (or ``lost``) naming the new one. Whatever the card
    statuses do to subscriptions follows from them (storage/messages.message_customer)."""
    conn.execute(
        "UPDATE cards SET main = CASE WHEN number = ? THEN 1 ELSE 0 END"
        " WHERE customer_id = (SELECT customer_id FROM cards WHERE number = ?)",
        (new, new),
    )
    conn.execute(
        "UPDATE cards SET status = ?, reason = ?, main = 0, updated_at = ? WHERE number = ?",
        (status, replacement_reason(status, new), at, old),
    )


class Cards(Database):
    """Blocking a card (a new customer version), reading a customer and their ledger sum."""

    def set_card_status(self, number: str, status: str, reason: str | None = None) -> int:
        """Block (or reactivate) a card; its customer gets a new version, so every store hears of it.

        Returns the customer's new version. :raises NotFound: no such card.
        """
        if status not in ("active", "blocked", "reassigned"):
            raise LoyaltyError(f"a card's status is active, blocked or reassigned, not {status!r}")
        with self.transaction() as conn:
            row = conn.execute("SELECT customer_id FROM cards WHERE number = ?", (number,)).fetchone()
            if row is None:
                raise NotFound(f"no card {number}")
            conn.execute("UPDATE cards SET status = ?, reason = ? WHERE number = ?", (status, reason, number))
            # the next value of the chain-wide counter, as the ingest allocates it (one writer at a time)
            counter = conn.execute("SELECT value FROM counters WHERE name = 'customer_version'").fetchone()
            version = (counter[0] if counter else 0) + 1
            conn.execute(
                "INSERT INTO counters (name, value) VALUES ('customer_version', ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (version,),
            )
            conn.execute("UPDATE customers SET version = ? WHERE id = ?", (version, row[0]))
        return version

    def card_owner(self, number: str) -> str:
        """The id of the customer a card belongs to. :raises NotFound: no such card."""
        row = self.conn.execute("SELECT customer_id FROM cards WHERE number = ?", (number,)).fetchone()
        if row is None:
            raise NotFound(f"no card {number}")
        return row[0]  # type: ignore[no-any-return]

    def customer(self, customer_id: str) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM customers WHERE id = ?", (customer_id,))
        if not rows:
            raise NotFound(f"no customer {customer_id}")
        return rows[0]

    def ledger_sum(self, customer_id: str) -> int:
        row = self.conn.execute(
            "SELECT COALESCE(SUM(points), 0) FROM ledger WHERE customer_id = ?", (customer_id,)
        ).fetchone()
        return int(row[0])

    # -- the console's card writes (central/services/cards.py), inside the caller's transaction --------------

    def card(self, number: str) -> dict[str, Any]:
        """The card's row. :raises NotFound: no such card."""
        rows = self.rows("SELECT * FROM cards WHERE number = ?", (number,))
        if not rows:
            raise NotFound(f"no card {number}")
        return rows[0]

    def card_exists(self, number: str) -> bool:
        return self.conn.execute("SELECT 1 FROM cards WHERE number = ?", (number,)).fetchone() is not None

    def has_cards(self, customer_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM cards WHERE customer_id = ?", (customer_id,)).fetchone() is not None

    def add_card(self, number: str, customer_id: str, category_id: int | None, main: bool, at: str) -> None:
        """A new active card of the customer (``main``: the others stop being main first)."""
        if main:
            self.conn.execute("UPDATE cards SET main = 0 WHERE customer_id = ?", (customer_id,))
        self.conn.execute(
            "INSERT INTO cards (number, customer_id, status, created_at, category_id, main, updated_at)"
            " VALUES (?, ?, 'active', ?, ?, ?, ?)",
            (number, customer_id, at, category_id, int(main), at),
        )

    def block_card(self, number: str, reason: str, at: str) -> None:
        self.conn.execute(
            "UPDATE cards SET status = 'blocked', reason = ?, updated_at = ? WHERE number = ?", (reason, at, number)
        )

    def unblock_card(self, number: str, at: str) -> None:
        self.conn.execute(
            "UPDATE cards SET status = 'active', reason = NULL, updated_at = ? WHERE number = ?", (at, number)
        )

    def main_card(self, customer_id: str) -> str | None:
        """The number of the customer's main card (None: none is main)."""
        row = self.conn.execute(
            "SELECT number FROM cards WHERE customer_id = ? AND main = 1", (customer_id,)
        ).fetchone()
        return row[0] if row else None

    def make_main_card(self, customer_id: str, number: str) -> None:
        """This card the customer's main one, the others not."""
        self.conn.execute(
            "UPDATE cards SET main = CASE WHEN number = ? THEN 1 ELSE 0 END WHERE customer_id = ?",
            (number, customer_id),
        )

    def move_card(self, number: str, customer_id: str, main: bool, at: str) -> None:
        """Give the card to another customer (``main``: as their main card)."""
        self.conn.execute(
            "UPDATE cards SET customer_id = ?, main = ?, updated_at = ? WHERE number = ?",
            (customer_id, int(main), at, number),
        )

    def promote_next_main_card(self, customer_id: str) -> None:
        """After the main card left: the customer's first active card (else the oldest) becomes main."""
        successor = self.conn.execute(
            "SELECT number FROM cards WHERE customer_id = ? ORDER BY status = 'active' DESC, created_at LIMIT 1",
            (customer_id,),
        ).fetchone()
        if successor:
            self.conn.execute("UPDATE cards SET main = 1 WHERE number = ?", (successor[0],))
