"""Customers, cards, lots, messages, local effects and phone confirmations."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

import msgpack

from shared.balances import Balance, Effect, Lot, compute_balance
from shared.identifiers import card_holder_id, is_card_holder

from .times import iso, parse_time


class DeltaError(ValueError):
    """A CustomerDelta from the central server is malformed (the sync sets it aside)."""


_DELTA_REQUIRED = ("customer_id", "version", "cards", "lots", "applied", "messages", "consents", "blocked")


class CustomerQueries:
    """Mixin of :class:`~agent.store.tx.Tx`: reads and writes of customer state."""

    c: sqlite3.Connection
    agent_id: str

    def customer(self, customer_id: str) -> sqlite3.Row | None:
        return self.c.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()

    def customer_by_phone(self, phone: str) -> sqlite3.Row | None:
        """The customer with this E.164 phone (the most recently changed if the chain reused it)."""
        return self.c.execute(
            "SELECT * FROM customers WHERE phone = ? ORDER BY version DESC, updated_at DESC LIMIT 1", (phone,)
        ).fetchone()

    def card(self, number: str) -> sqlite3.Row | None:
        return self.c.execute("SELECT * FROM cards WHERE number = ?", (number,)).fetchone()

    def cards_of(self, customer_id: str) -> list[sqlite3.Row]:
        return self.c.execute("SELECT * FROM cards WHERE customer_id = ? ORDER BY number", (customer_id,)).fetchall()

    def lots(self, customer_id: str) -> list[Lot]:
        rows = self.c.execute(
            "SELECT points, starts_at, expires_at, id FROM lots WHERE customer_id = ? ORDER BY id", (customer_id,)
        ).fetchall()
        return [Lot(r[0], parse_time(r[1]), parse_time(r[2]), r[3]) for r in rows]

    def effects(self, customer_id: str, after_seq: int) -> list[Effect]:
        """This agent's effects on the customer not yet reflected in the lots, in order."""
        rows = self.c.execute(
            "SELECT points, at FROM effects WHERE customer_id = ? AND seq > ? ORDER BY seq, id",
            (customer_id, after_seq),
        ).fetchall()
        return [Effect(r[0], parse_time(r[1])) for r in rows]

    def balance(self, customer: sqlite3.Row, now: dt.datetime) -> Balance:
        """Last delta's lots plus this agent's later effects (see shared/balances.py)."""
        return compute_balance(self.lots(customer["id"]), self.effects(customer["id"], customer["applied_seq"]), now)

    def ledger_sum(self, customer_id: str) -> int:
        """Sum of the lots and every local effect: equals the balance when nothing expires."""
        lots = self.c.execute(
            "SELECT COALESCE(SUM(points), 0) FROM lots WHERE customer_id = ?", (customer_id,)
        ).fetchone()[0]
        row = self.customer(customer_id)
        applied = row["applied_seq"] if row is not None else 0
        effects = self.c.execute(
            "SELECT COALESCE(SUM(points), 0) FROM effects WHERE customer_id = ? AND seq > ?", (customer_id, applied)
        ).fetchone()[0]
        return int(lots) + int(effects)

    def messages(self, customer_id: str) -> list[sqlite3.Row]:
        """The customer's cashier messages not shown here yet."""
        return self.c.execute(
            "SELECT * FROM messages m WHERE customer_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM message_reads r WHERE r.customer_id = m.customer_id AND r.id = m.id) ORDER BY id",
            (customer_id,),
        ).fetchall()

    def mark_message_shown(self, customer_id: str, message_id: str, now: dt.datetime) -> bool:
        """Record a customer's message as shown to the cashier; False when it was already."""
        row = self.c.execute(
            "SELECT text, print FROM messages WHERE customer_id = ? AND id = ?", (customer_id, message_id)
        ).fetchone()
        if row is None:
            return False
        cursor = self.c.execute(
            "INSERT INTO message_reads (customer_id, id, text, shown_at, print) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (customer_id, message_id, row["text"], iso(now), row["print"]),
        )
        return cursor.rowcount == 1

    def take_slip_messages(self, customer_id: str, now: dt.datetime) -> list[str]:
        """The texts of the customer's shown messages to print on this slip, marked printed (once)."""
        rows = self.c.execute(
            "SELECT id, text FROM message_reads WHERE customer_id = ? AND print = 1 AND printed_at IS NULL "
            "ORDER BY shown_at, id",
            (customer_id,),
        ).fetchall()
        self.c.executemany(
            "UPDATE message_reads SET printed_at = ? WHERE customer_id = ? AND id = ?",
            [(iso(now), customer_id, row["id"]) for row in rows],
        )
        return [row["text"] for row in rows]

    def offline_redeemed(self, customer_id: str, day: str) -> int:
        """Points this customer redeemed here on ``day`` while the agent was offline."""
        return int(
            self.c.execute(
                "SELECT COALESCE(SUM(redeemed), 0) FROM receipts "
                "WHERE customer_id = ? AND day = ? AND offline = 1 AND status = 'committed'",
                (customer_id, day),
            ).fetchone()[0]
        )

    # -- writes

    def add_customer(
        self,
        customer_id: str,
        *,
        phone: str,
        name: str | None,
        birthday: str | None,
        level: str | None,
        consents: Mapping[str, bool],
        now: dt.datetime,
    ) -> None:
        """A customer registered at this store's till (origin ``local``, version 0 until synced)."""
        self.c.execute(
            "INSERT INTO customers (id, version, name, phone, birthday, level, "
            "consents, origin, created_at, updated_at) "
            "VALUES (?, 0, ?, ?, ?, ?, ?, 'local', ?, ?)",
            (customer_id, name, phone, birthday, level, json.dumps(dict(consents), sort_keys=True), iso(now), iso(now)),
        )

    def add_card(self, number: str, customer_id: str) -> None:
        self.c.execute("INSERT INTO cards (number, customer_id, status) VALUES (?, ?, 'active')", (number, customer_id))

    def set_card_status(self, number: str, status: str, reason: str | None) -> None:
        """A card's status here (a replacement at this till) until the central server's next delta."""
        self.c.execute("UPDATE cards SET status = ?, reason = ? WHERE number = ?", (status, reason, number))

    def add_card_holder(self, customer_id: str, number: str, level: str | None, now: dt.datetime) -> None:
        """The holder of a card of the chain's ranges not known here (agent/customer_lookup.py card_holder), made by
        their first sale here: a local customer without phone, and the card."""
        self.c.execute(
            "INSERT INTO customers (id, version, level, consents, origin, created_at, updated_at) "
            "VALUES (?, 0, ?, '{}', 'local', ?, ?) ON CONFLICT (id) DO NOTHING",
            (customer_id, level, iso(now), iso(now)),
        )
        self.c.execute(
            "INSERT INTO cards (number, customer_id, status) VALUES (?, ?, 'active') ON CONFLICT (number) DO NOTHING",
            (number, customer_id),
        )

    def absorb_card_holder(self, holder_id: str, customer_id: str) -> bool:
        """The card holder ``holder_id`` turned out to be ``customer_id`` (registered here or come down from the
        central server): their effects, receipts and cards become the customer's and the holder is gone, so the
        points accrued here keep counting (the central server joins them the same way). False if no such holder."""
        if holder_id == customer_id or self.customer(holder_id) is None:
            return False
        for table in ("effects", "receipts"):
            self.c.execute(f"UPDATE {table} SET customer_id = ? WHERE customer_id = ?", (customer_id, holder_id))
        self.c.execute("UPDATE cards SET customer_id = ? WHERE customer_id = ?", (customer_id, holder_id))
        for table in ("lots", "messages", "confirmations"):
            self.c.execute(f"DELETE FROM {table} WHERE customer_id = ?", (holder_id,))
        self.c.execute("DELETE FROM customers WHERE id = ?", (holder_id,))
        return True

    def add_effects(self, seq: int, customer_id: str, points: Iterable[int], at: dt.datetime) -> None:
        """Signed point movements of event ``seq``, in order; zero movements are not stored."""
        when = iso(at)
        self.c.executemany(
            "INSERT INTO effects (seq, customer_id, points, at) VALUES (?, ?, ?, ?)",
            [(seq, customer_id, p, when) for p in points if p],
        )

    def set_phone_verified(self, customer_id: str, now: dt.datetime) -> None:
        self.c.execute("UPDATE customers SET phone_verified = 1, updated_at = ? WHERE id = ?", (iso(now), customer_id))

    def apply_customer_delta(self, delta: Mapping[str, Any], now: dt.datetime) -> bool:
        """Replace a customer's state by a newer CustomerDelta; False if ours is as new or newer.

        Cards, lots and messages are replaced whole; ``applied[this agent]``
        says which of our own effects the lots already include.
        """
        missing = [k for k in _DELTA_REQUIRED if k not in delta]
        if missing:
            raise DeltaError(f"customer delta lacks {', '.join(missing)}")
        customer_id, version = delta["customer_id"], delta["version"]
        if not isinstance(customer_id, str) or not isinstance(version, int) or isinstance(version, bool):
            raise DeltaError("customer delta: customer_id must be a string and version an integer")
        held = self.c.execute("SELECT version FROM customers WHERE id = ?", (customer_id,)).fetchone()
        if held is not None and held[0] >= version:
            return False
        if not is_card_holder(customer_id):
            # a card of theirs that a sale here knew only by its number: that card holder is this customer
            for card in delta["cards"]:
                if isinstance(card, Mapping) and isinstance(card.get("number"), str):
                    self.absorb_card_holder(card_holder_id(card["number"]), customer_id)
        applied = delta["applied"].get(self.agent_id, 0)
        values = (
            customer_id,
            version,
            delta.get("name"),
            delta.get("phone"),
            int(bool(delta.get("phone_verified"))),
            delta.get("birthday"),
            delta.get("level"),
            delta.get("network_percent"),
            delta.get("store_percent"),
            int(bool(delta["blocked"])),
            json.dumps(dict(delta["consents"]), sort_keys=True),
            json.dumps(sorted(int(s) for s in delta.get("segments") or ())),
            json.dumps(
                [[str(u["promotion"]), str(u["day"]), str(u["receipt_id"])] for u in delta.get("promotion_uses") or ()]
            ),
            json.dumps(sorted(str(c) for c in delta.get("promo_codes") or ())),
            applied,
            iso(now),
            iso(now),
            delta.get("network_percent_ends_at"),
            delta.get("store_percent_ends_at"),
        )
        self.c.execute(
            "INSERT INTO customers (id, version, name, phone, phone_verified, birthday, level, network_percent, "
            "store_percent, blocked, consents, segments, promotion_uses, promo_codes, applied_seq, origin, created_at, "
            "updated_at, network_percent_ends_at, store_percent_ends_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'central', ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version, name = excluded.name, phone = excluded.phone, "
            "phone_verified = excluded.phone_verified, birthday = excluded.birthday, level = excluded.level, "
            "network_percent = excluded.network_percent, store_percent = excluded.store_percent, "
            "blocked = excluded.blocked, consents = excluded.consents, segments = excluded.segments, "
            "promotion_uses = excluded.promotion_uses, promo_codes = excluded.promo_codes, "
            "applied_seq = excluded.applied_seq, network_percent_ends_at = excluded.network_percent_ends_at, "
            "store_percent_ends_at = excluded.store_percent_ends_at, "
            "origin = 'central', updated_at = excluded.updated_at",
            values,
        )
        self.c.execute("DELETE FROM cards WHERE customer_id = ?", (customer_id,))
        self.c.executemany(
            "INSERT INTO cards (number, customer_id, status, reason) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (number) DO UPDATE SET customer_id = excluded.customer_id, status = excluded.status, "
            "reason = excluded.reason",
            [(card["number"], customer_id, card["status"], card.get("reason")) for card in delta["cards"]],
        )
        self._replay_card_replacements(customer_id, applied)
        self.c.execute("DELETE FROM lots WHERE customer_id = ?", (customer_id,))
        self.c.executemany(
            "INSERT INTO lots (customer_id, id, points, starts_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            [
                (customer_id, lot["id"], lot["points"], lot.get("starts_at"), lot.get("expires_at"))
                for lot in delta["lots"]
            ],
        )
        self.c.execute("DELETE FROM messages WHERE customer_id = ?", (customer_id,))
        self.c.executemany(
            "INSERT INTO messages (customer_id, id, text, until, print) VALUES (?, ?, ?, ?, ?)",
            [(customer_id, m["id"], m["text"], m.get("until"), int(bool(m.get("print")))) for m in delta["messages"]],
        )
        return True

    def _replay_card_replacements(self, customer_id: str, applied: int) -> None:
        """Card replacements made here that the delta does not reflect yet (outbox seq > ``applied``) stay in
        force over it, as this agent's point effects do over the lots: a delta written before the central
        server applied the replacement must not bring the old card back."""
        rows = self.c.execute(
            "SELECT body FROM outbox WHERE kind = 'card_replacement' AND seq > ? ORDER BY seq", (applied,)
        ).fetchall()
        for (data,) in rows:
            body = msgpack.unpackb(data, raw=False)
            if body.get("customer_id") != customer_id:
                continue
            status = "reassigned" if body["status"] == "replaced" else "blocked"
            self.set_card_status(body["old_card"], status, f"{body['status']}: {body['new_card']}")
            self.c.execute(
                "INSERT INTO cards (number, customer_id, status) VALUES (?, ?, 'active')"
                " ON CONFLICT (number) DO NOTHING",
                (body["new_card"], customer_id),
            )

    # -- phone confirmation codes

    def confirmation(self, customer_id: str) -> sqlite3.Row | None:
        return self.c.execute("SELECT * FROM confirmations WHERE customer_id = ?", (customer_id,)).fetchone()

    def put_confirmation(self, customer_id: str, code_hash: str, expires_at: dt.datetime) -> None:
        self.c.execute(
            "INSERT INTO confirmations (customer_id, code_hash, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (customer_id) DO UPDATE SET code_hash = excluded.code_hash, expires_at = excluded.expires_at, "
            "attempts = 0, confirmed_at = NULL",
            (customer_id, code_hash, iso(expires_at)),
        )

    def count_confirmation_attempt(self, customer_id: str) -> None:
        self.c.execute("UPDATE confirmations SET attempts = attempts + 1 WHERE customer_id = ?", (customer_id,))

    def mark_confirmed(self, customer_id: str, now: dt.datetime) -> None:
        self.c.execute("UPDATE confirmations SET confirmed_at = ? WHERE customer_id = ?", (iso(now), customer_id))
        self.set_phone_verified(customer_id, now)
