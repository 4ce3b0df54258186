"""Applying agents' events to the central ledger: points lots, ledger entries, debts.

A :class:`LedgerBatch` is one unit of work inside the caller's transaction: it
loads the customers (and their lots) that a batch of events touches in a few
queries, applies the events in memory in the order given, and ``flush()``
writes every change with ``executemany``. So thousands of events cost a
handful of statements, and the effect lands in the same transaction as the
idempotency register rows that the caller writes (central/store.py).

Points rules (accrual.md): spending takes temporary lots before permanent
ones, earliest expiry first, among lots active at the event's time; what the
lots cannot cover is taken from the permanent lot, which goes negative (a debt,
flagged for head office when it came from a redemption or a manual debit;
refunds taking back earned points may go negative too, recorded but not
flagged, as accrual.md says).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

PERMANENT = ":permanent"
_CHUNK = 500


def utc(text: str) -> str:
    """An ISO 8601 time with offset as a UTC string that sorts as a time."""
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class Lot:
    id: str
    points: int
    starts_at: str | None
    expires_at: str | None
    new: bool = False
    initial: int = 0
    source_event: str | None = None
    dirty: bool = False


@dataclass
class CustomerState:
    id: str
    balance: int
    spend: int
    lots: list[Lot] = field(default_factory=list)
    row: dict[str, Any] | None = None  # fields to insert (a new customer) or update
    new: bool = False


class LedgerBatch:
    """Applies events to customers, lots and the ledger; call ``flush()`` before commit."""

    def __init__(self, conn: sqlite3.Connection, recorded_at: str | None = None) -> None:
        self.conn = conn
        self.recorded_at = recorded_at or now_utc()
        self.customers: dict[str, CustomerState | None] = {}
        self.ledger_rows: list[tuple[Any, ...]] = []
        self.debts: list[tuple[Any, ...]] = []
        self.flags: list[tuple[Any, ...]] = []
        self.visits: set[tuple[str, str]] = set()
        self.cards: list[tuple[Any, ...]] = []
        self.touched: set[str] = set()

    # -- loading ---------------------------------------------------------------------------------

    def prefetch(self, envelopes: Iterable[Mapping[str, Any]]) -> None:
        """Load every customer (with lots) that these events name, in a few queries."""
        ids = {env["body"].get("customer_id") for env in envelopes} - {None}
        ids -= set(self.customers)
        ids_list = sorted(ids)
        for start in range(0, len(ids_list), _CHUNK):
            chunk = ids_list[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for cid in chunk:
                self.customers[cid] = None
            for cid, balance, spend in self.conn.execute(
                f"SELECT id, balance, spend FROM customers WHERE id IN ({marks})", chunk
            ):
                self.customers[cid] = CustomerState(cid, balance, spend)
            for lot_id, cid, points, starts, expires in self.conn.execute(
                f"SELECT id, customer_id, points, starts_at, expires_at FROM lots WHERE customer_id IN ({marks})",
                chunk,
            ):
                state = self.customers[cid]
                if state is not None:
                    state.lots.append(Lot(lot_id, points, starts, expires))

    def _customer(self, cid: str, env: Mapping[str, Any]) -> CustomerState:
        if cid not in self.customers:
            self.prefetch([{"body": {"customer_id": cid}}])
        state = self.customers[cid]
        if state is None:
            # points for a customer the central server has never heard of are kept, not
            # dropped: a stub customer is created and head office is told
            state = self._new_customer(cid, env, stub=True)
            self._flag("unknown_customer", env, cid, f"{env['kind']} for customer {cid} unknown to the central server")
        return state

    def _new_customer(self, cid: str, env: Mapping[str, Any], *, stub: bool) -> CustomerState:
        state = CustomerState(cid, 0, 0, new=True)
        state.row = {"id": cid, "home_store": env["store"], "created_at": self.recorded_at, "stub": int(stub)}
        self.customers[cid] = state
        return state

    # -- applying --------------------------------------------------------------------------------

    def apply(self, env: Mapping[str, Any]) -> None:
        """Apply one validated event (shared/events.py) in memory."""
        getattr(self, "_apply_" + env["kind"])(env, env["body"])

    def _apply_purchase(self, env: Mapping[str, Any], body: Mapping[str, Any]) -> None:
        cid = body["customer_id"]
        if cid is None:
            return  # an anonymous receipt moves no points
        state = self._customer(cid, env)
        if body["redeemed"]:
            shortfall = self._spend(state, body["redeemed"], env)
            self._entry(state, -body["redeemed"], "redeem", env)
            if shortfall:
                self._debt(state, shortfall, env)
        if body["accrued"]:
            self._add(state, body["accrued"], env)
            self._entry(state, body["accrued"], "accrue", env)
        state.spend += body["total"]
        self.visits.add((cid, env["store"]))
        self.touched.add(cid)

    def _apply_refund(self, env: Mapping[str, Any], body: Mapping[str, Any]) -> None:
        cid = body["customer_id"]
        if cid is None:
            return
        state = self._customer(cid, env)
        if body["accrued"]:
            self._spend(state, body["accrued"], env)  # may go negative: recorded, not refused
            self._entry(state, -body["accrued"], "refund_accrued", env)
        if body["redeemed"]:
            self._add(state, body["redeemed"], env)
            self._entry(state, body["redeemed"], "refund_redeemed", env)
        state.spend -= body["amount"]
        self.touched.add(cid)

    _apply_cancel = _apply_refund

    def _apply_registration(self, env: Mapping[str, Any], body: Mapping[str, Any]) -> None:
        cid = body["customer_id"]
        if cid not in self.customers:
            self.prefetch([env])
        state = self.customers.get(cid)
        if state is None:
            state = self._new_customer(cid, env, stub=False)
        elif state.row is None:
            state.row = {"stub": 0}
        state.row.update(
            phone=body["phone"],
            name=body["name"],
            consents=json.dumps(body["consents"], sort_keys=True),
            confirmation_code=body["confirmation_code"],
            home_store=env["store"],
            stub=0,
        )
        other = self.conn.execute(
            "SELECT id FROM customers WHERE phone = ? AND id != ?", (body["phone"], cid)
        ).fetchone()
        if other:
            self._flag("phone_conflict", env, cid, f"phone {body['phone']} is also customer {other[0]}'s")
        if body["card"]:
            owner = self.conn.execute("SELECT customer_id FROM cards WHERE number = ?", (body["card"],)).fetchone()
            if owner and owner[0] != cid:
                self._flag("card_conflict", env, cid, f"card {body['card']} belongs to customer {owner[0]}")
            elif not owner:
                self.cards.append((body["card"], cid, self.recorded_at))
        self.visits.add((cid, env["store"]))
        self.touched.add(cid)

    def _apply_phone_confirmed(self, env: Mapping[str, Any], body: Mapping[str, Any]) -> None:
        state = self._customer(body["customer_id"], env)
        if state.row is None:
            state.row = {}
        state.row.update(phone=body["phone"], phone_verified=1, confirmation_code=None)
        self.touched.add(state.id)

    def _apply_manual(self, env: Mapping[str, Any], body: Mapping[str, Any]) -> None:
        state = self._customer(body["customer_id"], env)
        points = body["points"]
        if points > 0:
            self._add(state, points, env)
        elif points < 0:
            shortfall = self._spend(state, -points, env)
            if shortfall:
                self._debt(state, shortfall, env)
        self._entry(state, points, "manual", env)
        self.touched.add(state.id)

    # -- points ------------------------------------------------------------------------------------

    def _permanent(self, state: CustomerState) -> Lot:
        lot_id = state.id + PERMANENT
        for lot in state.lots:
            if lot.id == lot_id:
                return lot
        lot = Lot(lot_id, 0, None, None, new=True)
        state.lots.append(lot)
        return lot

    def _add(self, state: CustomerState, points: int, env: Mapping[str, Any]) -> None:
        lot = self._permanent(state)
        lot.points += points
        lot.dirty = True
        state.balance += points

    def _spend(self, state: CustomerState, points: int, env: Mapping[str, Any]) -> int:
        """Take points from active lots in spending order; return the shortfall (now a debt)."""
        at = utc(env["at"])
        active = [
            lot for lot in state.lots
            if lot.points > 0 and (lot.starts_at is None or lot.starts_at <= at)
            and (lot.expires_at is None or lot.expires_at > at)
        ]
        # temporary (with an expiry) before permanent, earliest expiry first
        active.sort(key=lambda lot: (lot.expires_at is None, lot.expires_at or "", lot.id))
        left = points
        for lot in active:
            take = min(lot.points, left)
            lot.points -= take
            lot.dirty = True
            left -= take
            if not left:
                break
        if left:
            permanent = self._permanent(state)
            permanent.points -= left
            permanent.dirty = True
        state.balance -= points
        return left

    def _entry(self, state: CustomerState, points: int, kind: str, env: Mapping[str, Any]) -> None:
        self.ledger_rows.append(
            (state.id, points, kind, env["id"], env["store"], env["agent"], utc(env["at"]), self.recorded_at)
        )

    def _debt(self, state: CustomerState, shortfall: int, env: Mapping[str, Any]) -> None:
        self.debts.append(
            (env["id"], state.id, env["store"], env["agent"], shortfall, state.balance, utc(env["at"]), self.recorded_at)
        )

    def _flag(self, kind: str, env: Mapping[str, Any], cid: str | None, detail: str) -> None:
        self.flags.append((kind, env["store"], env["agent"], cid, env["id"], detail, self.recorded_at))

    # -- writing -----------------------------------------------------------------------------------

    def flush(self, next_version: Any) -> set[str]:
        """Write all changes; ``next_version()`` gives each touched customer its new version."""
        conn = self.conn
        new_rows, updates, lot_inserts, lot_updates = [], [], [], []
        for cid in sorted(self.touched):
            state = self.customers[cid]
            assert state is not None
            version = next_version()
            if state.new:
                row = state.row or {}
                new_rows.append((
                    cid, row.get("home_store"), row.get("phone"), row.get("name"), row.get("consents", "{}"),
                    row.get("confirmation_code"), state.spend, state.balance, version,
                    row.get("created_at", self.recorded_at), row.get("stub", 0), row.get("phone_verified", 0),
                ))
                state.new = False
            else:
                updates.append((state.balance, state.spend, version, cid))
                if state.row:
                    cols = sorted(state.row)
                    assignments = ", ".join(f"{c} = ?" for c in cols)
                    conn.execute(f"UPDATE customers SET {assignments} WHERE id = ?", [state.row[c] for c in cols] + [cid])
            state.row = None
            for lot in state.lots:
                if lot.new:
                    lot_inserts.append((lot.id, cid, lot.points, lot.points, lot.starts_at, lot.expires_at, None, self.recorded_at))
                    lot.new = lot.dirty = False
                elif lot.dirty:
                    lot_updates.append((lot.points, lot.id))
                    lot.dirty = False
        conn.executemany(
            "INSERT INTO customers (id, home_store, phone, name, consents, confirmation_code, spend, balance,"
            " version, created_at, stub, phone_verified) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            new_rows,
        )
        conn.executemany("UPDATE customers SET balance = ?, spend = ?, version = ? WHERE id = ?", updates)
        conn.executemany(
            "INSERT INTO lots (id, customer_id, points, initial, starts_at, expires_at, source_event, created_at)"
            " VALUES (?,?,?,?,?,?,?,?)",
            lot_inserts,
        )
        conn.executemany("UPDATE lots SET points = ? WHERE id = ?", lot_updates)
        conn.executemany(
            "INSERT INTO ledger (customer_id, points, kind, event_id, store, agent, at, recorded_at)"
            " VALUES (?,?,?,?,?,?,?,?)",
            self.ledger_rows,
        )
        conn.executemany(
            "INSERT INTO debts (event_id, customer_id, store, agent, shortfall, balance_after, at, created_at)"
            " VALUES (?,?,?,?,?,?,?,?)",
            self.debts,
        )
        conn.executemany(
            "INSERT INTO flags (kind, store, agent, customer_id, event_id, detail, created_at) VALUES (?,?,?,?,?,?,?)",
            self.flags,
        )
        conn.executemany(
            "INSERT INTO customer_stores (customer_id, store) VALUES (?, ?) ON CONFLICT DO NOTHING",
            sorted(self.visits),
        )
        conn.executemany(
            "INSERT INTO cards (number, customer_id, created_at) VALUES (?,?,?) ON CONFLICT DO NOTHING", self.cards
        )
        touched = set(self.touched)
        self.touched.clear()
        self.ledger_rows, self.debts, self.flags, self.cards = [], [], [], []
        self.visits = set()
        return touched
