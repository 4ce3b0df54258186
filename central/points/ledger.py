"""Applying agents' events to the central ledger: points lots, ledger entries, debts.

A :class:`LedgerBatch` is one unit of work inside the caller's transaction: it
loads the customers (and their lots) that a batch of events touches in a few
queries, applies the events in memory in the order given, and ``flush()``
writes every change with one ``executemany`` per table (the queries are
central/storage/ledger.py's). So thousands of events cost a handful of
statements, and the effect lands in the same transaction as the idempotency
register rows that the caller writes (central/storage/ingest.py).

Points rules (accrual.md): spending takes temporary lots before permanent
ones, earliest expiry first, among lots active at the event's time; what the
lots cannot cover is taken from the permanent lot, which goes negative (a debt,
flagged for head office when it came from a redemption or a manual debit;
refunds taking back earned points may go negative too, recorded but not
flagged, as accrual.md says).

Points are held per program (central/points/programs.py): an event counts in its
store's program (the store -> program map is read once per batch), an
operation from the console in the program it names; spending and debts stay
within that program. ``customers.balance`` is the total over programs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.balances import spend_key
from shared.identifiers import card_holder_id, is_card_holder

from ..storage import ledger as queries
from ..storage.audit_log import add_audit_row
from ..storage.cards import mark_card_replaced, replacement_reason
from ..storage.clock import now_utc, utc
from ..storage.customer_versions import set_version, set_versions_only
from ..storage.import_pipeline import import_state
from ..storage.write_lock import concurrent, serial_section
from .levels import program as level_program
from .levels import recompute
from .merging import merge_rows
from .programs import permanent_lot_id, store_programs
from .receipt_log import ReceiptLog

_CHUNK = 500


@dataclass
class Lot:
    id: str
    points: int
    starts_at: str | None
    expires_at: str | None
    program: int = 0
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
    level: str | None = None
    visits: int = 0
    #: last purchase, accrual and redemption (UTC ISO), for the console's filters
    last: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(ACTIVITY))
    spend_changed: bool = False
    #: the highest all-time spend a purchase of this unit of work brought (a refund after it in the same unit does
    #: not undo the promotion it earned: accrual.md, "Levels", demotion only if the program says so)
    peak: int = 0
    #: (birthday, gender, consents, custom, created_at, home_store) as read (``LedgerBatch(profiles=True)``);
    #: None once this unit of work changed the row's fields, or when not read
    profile: tuple[Any, ...] | None = None

    def saw(self, what: str, at: str) -> None:
        """Remember the latest time of an activity (events of several agents come in any order)."""
        if self.last[what] is None or self.last[what] < at:  # type: ignore[operator]
            self.last[what] = at


#: activity times kept on customers (columns last_<name>_at)
ACTIVITY = ("purchase", "accrual", "redemption")


class LedgerBatch:
    """Applies events to customers, lots and the ledger; call ``flush()`` before commit."""

    def __init__(self, conn: sqlite3.Connection, recorded_at: str | None = None, profiles: bool = False) -> None:
        """``profiles``: read the customers' profile columns with their totals (:meth:`profile_rows`: the
        segments' hook of the ingest reads them there, not again)."""
        self.conn = conn
        self.profiles = profiles
        self.recorded_at = recorded_at or now_utc()
        self.receipts = ReceiptLog(conn, self.recorded_at)
        self._created: set[str] = set()
        self.customers: dict[str, CustomerState | None] = {}
        self.ledger_rows: list[tuple[Any, ...]] = []
        self.debts: list[tuple[Any, ...]] = []
        self.flags: list[tuple[Any, ...]] = []
        self.visits: set[tuple[str, str]] = set()
        self.cards: list[tuple[Any, ...]] = []
        self.touched: set[str] = set()
        #: cashier messages shown at a till: (read_at, store, message id), written at flush
        self.message_reads: list[tuple[str, str, str]] = []
        self._programs: tuple[dict[str, int], int] | None = None
        self._first_level: tuple[str | None] | None = None
        #: card holder -> the registered customer they turned out to be, joined at flush (docs/sync.md)
        self.joins: dict[str, str] = {}
        #: customer id -> the language of messages a till's registration gave (customers.language)
        self.languages: dict[str, str] = {}
        #: card replacements at a till: (old, new, status, customer, store, terminal, reason), written at flush
        self.replacements: list[tuple[str, str, str, str, str, str, str | None]] = []

    # -- programs --------------------------------------------------------------------------------

    @property
    def default_program(self) -> int:
        return self._program_map()[1]

    def _program_map(self) -> tuple[dict[str, int], int]:
        if self._programs is None:  # once per batch, not per event
            self._programs = store_programs(self.conn)
        return self._programs

    def _starting_level(self) -> str | None:
        """The level a new customer starts at: the one a spend of 0 earns when levels follow spend (accrual.md,
        "Levels"), so that their first receipts are recorded at it; none without automatic promotion."""
        if self._first_level is None:  # once per batch, not per event
            chain = level_program(self.conn)
            self._first_level = (chain.level_for(0) if chain.auto else None,)
        return self._first_level[0]

    def program(self, env: Mapping[str, Any]) -> int:
        """The program an event or operation counts in: the one it names, else its store's, else the default."""
        if env.get("program") is not None:
            return int(env["program"])
        stores, default = self._program_map()
        return stores.get(env.get("store") or "", default)

    def program_balance(self, state: CustomerState, program: int) -> int:
        return sum(lot.points for lot in state.lots if lot.program == program)

    # -- loading ---------------------------------------------------------------------------------

    def prefetch(self, envelopes: Iterable[Mapping[str, Any]]) -> None:
        """Load every customer (with lots) that these events name, in a few queries."""
        ids = {env["body"].get("customer_id") for env in envelopes} - {None}
        ids -= set(self.customers)
        merged: dict[str, str] = {}
        self._load(sorted(ids), merged)
        if merged:
            # a customer merged into another (central/services/merge.py): their events count for the
            # customer they were merged into, so nothing sent by an agent that did not know is lost
            self._load(sorted(set(merged.values()) - set(self.customers)), {})
            for source, target in merged.items():
                self.customers[source] = self.customers.get(target)

    def _load(self, ids_list: list[str], merged: dict[str, str]) -> None:
        for start in range(0, len(ids_list), _CHUNK):
            chunk = ids_list[start : start + _CHUNK]
            for cid in chunk:
                self.customers[cid] = None
            for row in queries.customer_rows(self.conn, chunk, self.profiles):
                cid, balance, spend, level, visits = row[:5]
                if row[8]:  # merged_into
                    merged[cid] = row[8]
                    continue
                state = CustomerState(cid, balance, spend, level=level, visits=visits)
                state.last = dict(zip(ACTIVITY, row[5:8], strict=True))
                if self.profiles:
                    state.profile = row[9:]
                self.customers[cid] = state
            for lot_id, cid, points, starts, expires, program in queries.lot_rows(self.conn, chunk):
                state = self.customers[cid]
                if state is not None:
                    state.lots.append(Lot(lot_id, points, starts, expires, program))

    def _customer(self, cid: str, env: Mapping[str, Any]) -> CustomerState:
        if cid not in self.customers:
            self.prefetch([{"body": {"customer_id": cid}}])
        state = self.customers[cid]
        if state is None and is_card_holder(cid):
            return self._card_holder(cid, env)
        if state is None:
            # points for a customer the central server has never heard of are kept, not
            # dropped: a stub customer is created and head office is told
            state = self._new_customer(cid, env, stub=True)
            self._flag("unknown_customer", env, cid, f"{env['kind']} for customer {cid} unknown to the central server")
        return state

    def _card_holder(self, cid: str, env: Mapping[str, Any]) -> CustomerState:
        """The first event of a card holder (a card of the chain's ranges the store did not know, agent/identify.py):
        the customer the card is registered to, if any, else a new customer holding the card whose points wait
        for the registration (docs/sync.md, "Cards anywhere")."""
        number = env["body"].get("card")
        owner = self._card_owner(number) if isinstance(number, str) and number else None
        target = self.state(owner) if owner is not None and owner != cid else None
        if target is not None:
            # the card is registered: the holder's events are the customer's, now and when they come later
            queries.add_joined_holder(self.conn, cid, env["store"], self.recorded_at, target.id)
            self.customers[cid] = target
            return target
        state = self._new_customer(cid, env, stub=True)
        if number and owner is None:
            self.cards.append((number, cid, self.recorded_at))
        return state

    def _card_owner(self, number: str) -> str | None:
        """Who holds the card now, as this unit of work sees it (cards it adds, joins it makes, merges)."""
        serial_section(self.conn)  # cards are chain-wide: decided as the commit before it left them
        owner = None
        for held, cid, _ in reversed(self.cards):
            if held == number:
                owner = cid
                break
        if owner is None:
            row = queries.card_owner(self.conn, number)
            if row is not None:
                owner = row[1] or row[0]
        return self.joins.get(owner, owner) if owner is not None else None

    def _holder_exists(self, cid: str) -> bool:
        serial_section(self.conn)
        if cid in self.customers:
            return self.customers[cid] is not None and self.customers[cid].id == cid  # type: ignore[union-attr]
        return queries.is_live_customer(self.conn, cid)

    def _new_customer(self, cid: str, env: Mapping[str, Any], *, stub: bool) -> CustomerState:
        state = CustomerState(cid, 0, 0, new=True, level=self._starting_level())
        state.row = {"id": cid, "home_store": env["store"], "created_at": self.recorded_at, "stub": int(stub)}
        self.customers[cid] = state
        return state

    # -- applying --------------------------------------------------------------------------------

    def apply(self, env: Mapping[str, Any]) -> None:
        """Apply one validated event (shared/events.py) in memory."""
        getattr(self, "_apply_" + env["kind"])(env, env["body"])

    def _apply_purchase(self, env: Mapping[str, Any], body: Mapping[str, Any]) -> None:
        cid = body["customer_id"]
        when = body.get("at") or env["at"]
        if cid is None:
            self.receipts.purchase(env, body, when, None, None)
            return  # an anonymous receipt moves no points (it is kept for the sales figures)
        state = self._customer(cid, env)
        at = self.receipts.purchase(env, body, when, state.id, state.level)
        if body["redeemed"]:
            shortfall = self._spend(state, body["redeemed"], env)
            self._entry(state, -body["redeemed"], "redeem", env)
            if shortfall:
                self._debt(state, shortfall, env)
            state.saw("redemption", at)
        if body["accrued"]:
            temporary = self._temporary_promotion_lots(state, body, env, when)
            self._add(state, body["accrued"] - temporary, env)
            self._entry(state, body["accrued"], "accrue", env)
            state.saw("accrual", at)
        state.spend += body["total"]
        state.peak = max(state.peak, state.spend)
        state.spend_changed = True
        state.visits += 1
        state.saw("purchase", at)
        self.visits.add((state.id, env["store"]))
        self.touched.add(state.id)

    def _apply_refund(self, env: Mapping[str, Any], body: Mapping[str, Any]) -> None:
        cid = body["customer_id"]
        when = body.get("at") or env["at"]
        if cid is None:
            self.receipts.reversal(env, body, when, None)
            return
        state = self._customer(cid, env)
        self.receipts.reversal(env, body, when, state.id, state.level)
        if body["accrued"]:
            self._spend(state, body["accrued"], env)  # may go negative: recorded, not refused
            self._entry(state, -body["accrued"], "refund_accrued", env)
        if body["redeemed"]:
            self._add(state, body["redeemed"], env)
            self._entry(state, body["redeemed"], "refund_redeemed", env)
        state.spend -= body["amount"]
        state.spend_changed = True
        self.touched.add(state.id)

    _apply_cancel = _apply_refund

    def _apply_registration(self, env: Mapping[str, Any], body: Mapping[str, Any]) -> None:
        cid = body["customer_id"]
        serial_section(self.conn)  # phones and cards are chain-wide (central/storage/write_lock.py)
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
        if body.get("language"):  # optional: a till that asks the customer (docs/sync.md, "registration")
            self.languages[cid] = body["language"]
        other = queries.other_customer_with_phone(self.conn, body["phone"], cid)
        if other:
            self._flag("phone_conflict", env, cid, f"phone {body['phone']} is also customer {other}'s")
        if body["card"]:
            holder = card_holder_id(body["card"])
            owner = self._card_owner(body["card"])
            if holder != cid and (owner == holder or (owner is None and self._holder_exists(holder))):
                # the card was used before its registration reached a store: its holder is this customer
                self.joins[holder] = cid
            elif owner and owner != cid:
                self._flag("card_conflict", env, cid, f"card {body['card']} belongs to customer {owner}")
            elif not owner:
                self.cards.append((body["card"], cid, self.recorded_at))
        self.visits.add((state.id, env["store"]))
        self.touched.add(state.id)

    def _apply_card_replacement(self, env: Mapping[str, Any], body: Mapping[str, Any]) -> None:
        """A till replaced a customer's card (docs/sync.md, "Card replacement"): the new card becomes the
        customer's main card and the old one replaced or lost, as head office's replacement does. Applied
        once (the register); a copy that finds it done changes nothing. What cannot be applied is a flag for
        head office (``card_conflict``), the event consumed and kept: the new number held by another customer
        meanwhile, an old card that is not the customer's (moved or merged away), an unknown customer."""
        old, new, status = body["old_card"], body["new_card"], body["status"]
        serial_section(self.conn)  # cards are chain-wide (central/storage/write_lock.py)
        state = self.state(body["customer_id"])
        if state is None:
            self._flag(
                "card_conflict",
                env,
                body["customer_id"],
                f"card {old} replaced by {new} at a till:"
                f" customer {body['customer_id']} unknown to the central server, nothing changed",
            )
            return
        cid = state.id
        old_owner = self._card_owner(old)
        new_owner = self._card_owner(new)
        holder = card_holder_id(new)
        if new_owner is not None and new_owner not in (cid, holder):
            self._flag(
                "card_conflict",
                env,
                cid,
                f"card {old} replaced by {new} at a till: card {new} belongs to customer {new_owner};"
                " nothing changed, give the customer another card",
            )
            self.touched.add(cid)  # a new version: the till that replaced it hears the central truth
            return
        if old_owner != cid:
            self._flag(
                "card_conflict",
                env,
                cid,
                f"card {old} replaced by {new} at a till: card {old} is "
                + (f"customer {old_owner}'s" if old_owner else "unknown")
                + "; nothing changed",
            )
            self.touched.add(cid)
            return
        if new_owner == cid and (
            any(r[0] == old and r[1] == new for r in self.replacements)
            or queries.card_status(self.conn, old) in ("replaced", "lost")
        ):
            return  # done already (the same replacement sent again by a restored agent)
        taken = self._replaced_meanwhile(old, new)
        if taken is not None:
            self._flag(
                "card_conflict",
                env,
                cid,
                f"card {old} replaced by {new} at a till, but {taken}; nothing changed:"
                f" take card {new} back from the customer",
            )
            self.touched.add(cid)  # the till that replaced it hears the central truth
            return
        if new_owner == holder or (new_owner is None and self._holder_exists(holder)):
            self.joins[holder] = cid  # the new card was used before the replacement came: its points are theirs
            self.cards.append((new, cid, self.recorded_at))
        elif new_owner is None:
            self.cards.append((new, cid, self.recorded_at))
        self.replacements.append((old, new, status, cid, env["store"], body["terminal"], body.get("reason")))
        self.touched.add(cid)

    def _replaced_meanwhile(self, old: str, new: str) -> str | None:
        """Why a till's replacement of ``old`` by ``new`` would give the customer a second new card, or bypass a
        block: head office (or another till, in this batch or before) replaced ``old`` by another card, or
        blocked it, while the till's event was on its way. None: nothing stands in the way (a card head office
        marked lost without a new one may be replaced at a till: the customer gets one new card)."""
        for r in self.replacements:
            if r[0] == old and r[1] != new:
                return f"card {old} was replaced by {r[1]} already"
        state = queries.card_state(self.conn, old)
        if state is None:
            return None
        status, reason = state
        if status == "blocked":
            return f"head office blocked card {old}" + (f" ({reason})" if reason else "")
        if status in ("replaced", "lost") and reason and reason.startswith(("replaced by ", "lost, replaced by ")):
            if reason != replacement_reason(status, new):
                return f"card {old} was {reason} already"
        return None

    def _apply_phone_confirmed(self, env: Mapping[str, Any], body: Mapping[str, Any]) -> None:
        state = self._customer(body["customer_id"], env)
        if state.row is None:
            state.row = {}
        state.row.update(phone=body["phone"], phone_verified=1, confirmation_code=None)
        self.touched.add(state.id)

    def _apply_cashier_message_read(self, env: Mapping[str, Any], body: Mapping[str, Any]) -> None:
        """A cashier message shown at a till: read (the first store's time wins); the customer's new version
        takes it off every store's delta. An unknown customer is not created for it."""
        self.message_reads.append((utc(body["at"]), env["store"], body["message_id"]))
        state = self.state(body["customer_id"])
        if state is not None:
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
        self._entry(state, points, "manual", env, reason=body.get("reason"), operator=body.get("operator"))
        self.receipts.operation(
            "manual",
            state.id,
            points,
            utc(env["at"]),
            store=env["store"],
            agent=env["agent"],
            event_id=env["id"],
            channel="till",
            detail={
                "reason": body.get("reason"),
                "operator": body.get("operator"),
                "operation_id": body.get("operation_id"),
            },
        )  # a till's retry is found by it
        self.touched.add(state.id)

    # -- operations from the console and the nightly job (central/services/) ------------------------

    def adjust(
        self,
        cid: str,
        points: int,
        kind: str,
        op: Mapping[str, Any],
        *,
        reason: str | None = None,
        operator: str | None = None,
    ) -> int:
        """Add (points > 0) or take (< 0) permanent points; returns the shortfall a debit left uncovered.

        ``op`` is ``{"id", "at", "store"}`` of the operation (an id unique in the ledger), with
        ``"program"`` for a program other than the store's (or the default one).
        """
        state = self._customer(cid, {**op, "kind": kind, "agent": None})
        env = {**op, "agent": None}
        shortfall = 0
        if points > 0:
            self._add(state, points, env)
        elif points < 0:
            shortfall = self._spend(state, -points, env)
        self._entry(state, points, kind, env, reason=reason, operator=operator)
        self.touched.add(state.id)
        return shortfall

    def add_lot(
        self,
        cid: str,
        lot_id: str,
        points: int,
        starts_at: str | None,
        expires_at: str | None,
        kind: str,
        op: Mapping[str, Any],
        *,
        reason: str | None = None,
        operator: str | None = None,
    ) -> None:
        """Give temporary points: a lot with a start and an expiry, and its ledger entry."""
        state = self._customer(cid, {**op, "kind": kind, "agent": None})
        lot = Lot(lot_id, points, starts_at, expires_at, self.program(op), new=True, source_event=op["id"])
        state.lots.append(lot)
        state.balance += points
        self._entry(state, points, kind, {**op, "agent": None}, reason=reason, operator=operator)
        self.touched.add(state.id)

    def expire(self, cid: str, lot_id: str, op: Mapping[str, Any]) -> int:
        """Burn what is left of an expired lot; returns the points burnt (a ledger entry ``expire``)."""
        state = self._customer(cid, {**op, "kind": "expire", "agent": None})
        for lot in state.lots:
            if lot.id == lot_id and lot.points > 0:
                burnt = lot.points
                lot.points = 0
                lot.dirty = True
                state.balance -= burnt
                self._entry(state, -burnt, "expire", {**op, "agent": None, "program": lot.program}, reason="expired")
                self.touched.add(state.id)
                return burnt
        return 0

    def state(self, cid: str) -> CustomerState | None:
        """The customer as this unit of work sees it (loading it if needed)."""
        if cid not in self.customers:
            self.prefetch([{"body": {"customer_id": cid}}])
        return self.customers[cid]

    # -- points ------------------------------------------------------------------------------------

    def _permanent(self, state: CustomerState, program: int) -> Lot:
        lot_id = permanent_lot_id(state.id, program, self.default_program)
        for lot in state.lots:
            if lot.id == lot_id:
                return lot
        lot = Lot(lot_id, 0, None, None, program, new=True)
        state.lots.append(lot)
        return lot

    def _temporary_promotion_lots(
        self, state: CustomerState, body: Mapping[str, Any], env: Mapping[str, Any], when: str
    ) -> int:
        """Promotions' temporary points of a purchase (``expires_days``, docs/promotions.md): a lot each that
        expires that many days after the receipt; returns their points (the rest goes to the permanent lot)."""
        import datetime as _dt

        given = 0
        for promotion in body.get("promotions") or ():
            days, points = promotion.get("expires_days"), promotion.get("points") or 0
            if not days or points <= 0 or given + points > body["accrued"]:
                continue
            moment = _dt.datetime.fromisoformat(utc(when)) + _dt.timedelta(days=days)
            lot = Lot(
                f"{env['id']}:promo:{promotion['id']}",
                points,
                None,
                moment.isoformat(timespec="seconds"),
                self.program(env),
                new=True,
                source_event=env["id"],
            )
            state.lots.append(lot)
            state.balance += points
            given += points
        return given

    def _add(self, state: CustomerState, points: int, env: Mapping[str, Any]) -> None:
        lot = self._permanent(state, self.program(env))
        lot.points += points
        lot.dirty = True
        state.balance += points

    def _spend(self, state: CustomerState, points: int, env: Mapping[str, Any]) -> int:
        """Take points from the program's active lots in spending order; return the shortfall (now a debt)."""
        at = utc(env["at"])
        program = self.program(env)
        active = [
            lot
            for lot in state.lots
            if lot.program == program
            and lot.points > 0
            and (lot.starts_at is None or lot.starts_at <= at)
            and (lot.expires_at is None or lot.expires_at > at)
        ]
        active.sort(key=lambda lot: spend_key(lot.expires_at, lot.id))  # the agent's order too (shared/balances.py)
        left = points
        for lot in active:
            take = min(lot.points, left)
            lot.points -= take
            lot.dirty = True
            left -= take
            if not left:
                break
        if left:
            permanent = self._permanent(state, program)
            permanent.points -= left
            permanent.dirty = True
        state.balance -= points
        return left

    def _entry(
        self,
        state: CustomerState,
        points: int,
        kind: str,
        env: Mapping[str, Any],
        *,
        reason: str | None = None,
        operator: str | None = None,
    ) -> None:
        self.ledger_rows.append(
            (
                state.id,
                points,
                kind,
                env["id"],
                env["store"],
                env["agent"],
                utc(env["at"]),
                self.recorded_at,
                reason,
                operator,
                self.program(env),
            )
        )

    def _debt(self, state: CustomerState, shortfall: int, env: Mapping[str, Any]) -> None:
        # the program's balance after: a debt is owed to one program's account
        program = self.program(env)
        self.debts.append(
            (
                env["id"],
                state.id,
                env["store"],
                env["agent"],
                shortfall,
                self.program_balance(state, program),
                utc(env["at"]),
                self.recorded_at,
                program,
            )
        )

    def _flag(self, kind: str, env: Mapping[str, Any], cid: str | None, detail: str) -> None:
        self.flags.append((kind, env["store"], env["agent"], cid, env["id"], detail, self.recorded_at))

    def profile_rows(self) -> dict[str, tuple[Any, ...]]:
        """After :meth:`flush`, customer id -> (id, birthday, gender, consents, custom, created_at, home_store,
        level, balance) as the row now stands, of the customers read with their profile (``profiles``) whose
        fields this unit of work did not change (the segments' hook: central/storage/aggregates.py
        ``_customer_rows``); the others (new, registered or confirmed here, joined) are not known here."""
        return {
            cid: (cid, *state.profile, state.level, state.balance)
            for cid, state in self.customers.items()
            if state is not None and state.id == cid and state.profile is not None and not state.new
        }

    # -- writing -----------------------------------------------------------------------------------

    def _recompute_levels(self) -> None:
        """Levels follow spend: after a purchase or refund, and for new customers (central/points/levels.py)."""
        ids = []
        peaks: dict[str, int] = {}
        for cid in self.touched:
            state = self.customers[cid]
            if state is not None and (state.spend_changed or state.id in self._created):
                ids.append(state.id)
                state.spend_changed = False
                peaks[state.id] = max(peaks.get(state.id, 0), state.peak)
                state.peak = 0
        created, self._created = self._created, set()
        if ids and import_state(self.conn) is not None:
            # a pipelined import keeps its customers across batches: their spend and level are known here, and
            # the batch before may not be written yet (central/storage/import_pipeline.py); a new customer's row
            # was written without its level (None: the level is written)
            known = {
                cid: (self.customers[cid].spend, None if cid in created else self.customers[cid].level)  # type: ignore[union-attr]
                for cid in ids
            }
            for cid, _old, new in recompute(self.conn, sorted(ids), self.recorded_at, known, peaks):
                self.customers[cid].level = new  # type: ignore[union-attr]
        elif ids:
            for cid, _old, new in recompute(self.conn, sorted(ids), self.recorded_at, peaks=peaks):
                state = self.customers.get(cid)
                if state is not None and state.id == cid:
                    state.level = new

    def _replace_cards(self) -> None:
        """The till's replacements (the new cards in, their holders joined), each audited as the till's change."""
        for old, new, status, cid, store, terminal, reason in self.replacements:
            before = queries.card_status(self.conn, old)
            mark_card_replaced(self.conn, old, new, status, self.recorded_at)
            after = {"status": status, "new_card": new, "customer_id": cid, "reason": reason}
            add_audit_row(
                self.conn,
                self.recorded_at,
                None,
                f"till {store}/{terminal}",
                "card.replace",
                "card",
                old,
                store,
                json.dumps({"status": before}),
                json.dumps(after, sort_keys=True),
            )
        self.replacements = []

    def _join(self, next_version: Any) -> None:
        """Join each card holder to the registered customer (everything moves: central/points/merging.py)."""

        for holder, target in self.joins.items():
            merge_rows(self.conn, holder, target, "sync")
            set_version(self.conn, target, next_version())
            self.touched.add(target)
            self.customers.pop(holder, None)
            self.customers.pop(target, None)  # its state changed under the batch: read it again if needed
        self.joins = {}

    def flush(self, next_version: Any) -> set[str]:
        """Write all changes; ``next_version()`` gives each touched customer its new version.

        In an ingest commit beside others (PostgreSQL, central/storage/write_lock.py) the customers' own rows,
        lots and ledger entries are written first, beside the other commits; then the tail section, one
        commit at a time: the versions (new customers were written with 0, invisible until the commit), the
        customers' totals, the receipts (transaction ids, catalog, rollups), levels, joins and replacements."""
        conn = self.conn
        late = concurrent(conn)
        order = sorted(self.touched)
        versions = {} if late else {cid: next_version() for cid in order}
        new_rows, updates, lot_inserts, lot_updates = [], [], [], []
        created: list[str] = []
        for cid in order:
            state = self.customers[cid]
            assert state is not None
            version = versions.get(cid, 0)
            if state.new:
                created.append(cid)
                self._created.add(cid)
                row = state.row or {}
                new_rows.append(
                    (
                        cid,
                        row.get("home_store"),
                        row.get("phone"),
                        row.get("name"),
                        row.get("consents", "{}"),
                        row.get("confirmation_code"),
                        state.spend,
                        state.balance,
                        version,
                        row.get("created_at", self.recorded_at),
                        row.get("stub", 0),
                        row.get("phone_verified", 0),
                        state.visits,
                        *state.last.values(),
                        row.get("channel", "till"),
                    )
                )
                state.new = False
            else:
                updates.append((state.balance, state.spend, version, state.visits, *state.last.values(), cid))
                if state.row:
                    queries.update_customer_fields(conn, cid, state.row)
                    state.profile = None  # (its fields changed: profile_rows leaves it to be read again)
            state.row = None
            for lot in state.lots:
                if lot.new:
                    lot_inserts.append(
                        (
                            lot.id,
                            cid,
                            lot.points,
                            lot.points,
                            lot.starts_at,
                            lot.expires_at,
                            lot.source_event,
                            self.recorded_at,
                            lot.program or self.default_program,
                        )
                    )
                    lot.new = lot.dirty = False
                elif lot.dirty:
                    lot_updates.append((lot.points, lot.id))
                    lot.dirty = False
        queries.insert_customers(conn, new_rows)
        if not late:
            queries.update_customer_totals(conn, updates)
        queries.insert_lots(conn, lot_inserts)
        queries.update_lot_points(conn, lot_updates)
        queries.insert_ledger_entries(conn, self.ledger_rows)
        queries.insert_debts(conn, self.debts)
        queries.insert_flags(conn, self.flags)
        queries.add_customer_stores(conn, sorted(self.visits))
        queries.add_cards(conn, self.cards)
        queries.set_languages(conn, sorted(self.languages.items()))
        self.languages = {}
        queries.mark_messages_read(conn, self.message_reads)
        self.message_reads = []
        if late:
            self.receipts.prepare()  # the catalog, the receipts' rows, the customers' aggregates: beside the others
        serial_section(conn)  # from here to the commit, one ingest commit at a time
        if late:
            versions = {cid: next_version() for cid in order}
            set_versions_only(conn, [(versions[cid], cid) for cid in created])
            queries.update_customer_totals(conn, [(*row[:2], versions[row[-1]], *row[3:]) for row in updates])
        self.receipts.flush()
        self._recompute_levels()
        self._join(next_version)
        self._replace_cards()  # after the joins: a new card its holder had is the customer's by then
        touched = set(self.touched)
        self.touched.clear()
        self.ledger_rows, self.debts, self.flags, self.cards = [], [], [], []
        self.visits = set()
        return touched
