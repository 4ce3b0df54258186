"""The agent's operations: identify, quote, commit, refund, cancel, register, confirm.

Pure orchestration, usable from any blueprint (the POS API, the cashier
page): parse the request with the shared parsers, read or write the store in
one transaction, compute with the calculator, and return a :class:`Result`.
Refusals are raised as :class:`~shared.errors.LoyaltyError` subclasses and
change nothing. Every write that succeeds has, in the same transaction, its
outbox event, so it is durable and on its way to the central server when
the caller gets the answer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from shared import accrual, events, wire
from shared.balances import compute_balance
from shared.errors import Problem, RedeemOverLimit
from shared.identifiers import card_holder_id, is_card_holder, normalize_card, normalize_phone
from shared.numbers import format_scaled
from shared.receipts import NO_TERMS, Receipt, parse_receipt
from shared.results import CommittedLine
from shared.rules import RuleSet

from . import customer_lookup, errors, promotions, requests
from .config import Config
from .results import Limits, Result, request_hash
from .store import Row, Store, Tx
from .store.admin import StoredAnswer
from .store.times import iso, parse_time, utcnow
from .version import __version__

log = logging.getLogger("loyalty.agent.service")


def _hash_code(customer_id: str, code: str) -> str:
    return hashlib.sha256(f"{customer_id}:{code}".encode()).hexdigest()


#: sync_state key: "1" when the program requires redemptions to be confirmed with a code (the rules message)
CONFIRM_STATE = "confirm_redemption"
#: the central server's problem codes (central/messages/confirmations.py) -> the POS API's problems
_ANSWER_ERRORS: dict[str, type[errors.AgentError]] = {
    "confirmation_not_required": errors.ConfirmationNotRequired,
    "confirmation_no_address": errors.ConfirmationNoAddress,
    "confirmation_too_many": errors.ConfirmationTooMany,
    "confirmation_unknown": errors.ConfirmationUnknown,
    "confirmation_used": errors.ConfirmationUsed,
    "confirmation_superseded": errors.ConfirmationSuperseded,
    "confirmation_expired": errors.CodeExpired,
    "confirmation_locked": errors.ConfirmationLocked,
    "confirmation_unavailable": errors.ConfirmationUnavailable,
}


class Service:
    """The operations of one agent over its store and configuration."""

    def __init__(self, store: Store, config: Config, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self._calc: tuple[int, RuleSet, Any] | None = None
        self._calc_lock = threading.Lock()
        #: terminal -> last identification (hook for the cashier display and devices)
        self.last_identification: dict[str, dict[str, Any]] = {}
        self._listeners: dict[str, list[Callable[[str, dict[str, Any]], None]]] = {}
        self._tx_listeners: dict[str, list[Callable[[Tx, str, dict[str, Any]], None]]] = {}
        #: asks the central server while a till waits (agent/sync.py ``SyncClient.ask``); None: no link
        self.central: Any = None
        #: the sync client's code reservation (agent/sync.py ``reserve_code``; None: a standalone store)
        self.reserve_code: Callable[[str, str, str | None], str | None] | None = None
        #: gives a reservation back at once when the commit did not use it (``release_code``)
        self.release_code: Callable[[str, str], bool] | None = None
        #: asks whether a code is still available at the central server, reserving nothing (``check_code``)
        self.check_code: Callable[[str, str | None, float], str | None] | None = None

    def subscribe(self, event: str, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """Call ``listener(terminal, answer)`` after an operation is durable (``identified``,
        ``committed``, ``refunded``, ``cancelled``, ``registered``, ``confirmed``): e.g. print the slip.

        Listeners run after the transaction, never on a replay; an exception in one is
        logged and changes nothing of the answer.
        """
        self._listeners.setdefault(event, []).append(listener)

    def _emit(self, event: str, terminal: str, result: Result) -> Result:
        if not result.replayed:
            for listener in self._listeners.get(event, ()):
                try:
                    listener(terminal, result.body)
                except Exception:
                    log.exception("listener %r of %s failed", listener, event)
        return result

    def subscribe_in_transaction(self, event: str, listener: Callable[[Tx, str, dict[str, Any]], None]) -> None:
        """Call ``listener(tx, terminal, answer)`` inside the write transaction of ``committed``, ``refunded`` or
        ``cancelled`` (never on a replay): its writes commit with the operation (the loyalty slip); a failing
        listener's writes are rolled back to a savepoint and logged, and the operation goes on."""
        self._tx_listeners.setdefault(event, []).append(listener)

    def _emit_in(self, event: str, tx: Tx, terminal: str, result: Result) -> Result:
        for listener in () if result.replayed else self._tx_listeners.get(event, ()):
            tx.c.execute("SAVEPOINT listener")
            try:
                listener(tx, terminal, result.body)
            except Exception:
                tx.c.execute("ROLLBACK TO listener")
                log.exception("in-transaction listener %r of %s failed", listener, event)
            tx.c.execute("RELEASE listener")
        return result

    # -- shared pieces

    def calculator(self, tx: Tx) -> tuple[RuleSet, Any]:
        """The installed rule set and its calculator, built once per rule-set version."""
        version = tx.c.execute("SELECT version FROM rules WHERE id = 1").fetchone()
        if version is None:
            raise errors.NoRules()
        cached = self._calc
        if cached is not None and cached[0] == version[0]:
            return cached[1], cached[2]
        with self._calc_lock:
            held = tx.rules()
            assert held is not None
            rules = self.store.parsed_rules(held[1])  # parsed once: when it was installed
            self._calc = (held[0], rules, accrual.calculator(rules))
            return self._calc[1], self._calc[2]

    def link(self, tx: Tx, now: dt.datetime) -> str:
        """``standalone`` (no central server configured), ``online`` or ``offline``."""
        if not self.config.broker_url:
            return "standalone"
        last = parse_time(tx.state("last_sync_at"))
        fresh = last is not None and (now - last).total_seconds() <= self.config.offline_after_seconds
        return "online" if tx.state("link") == "online" and fresh else "offline"

    def today(self, now: dt.datetime) -> dt.date:
        """The store's local business day."""
        return now.astimezone(self.config.zone).date()

    def _find(self, tx: Tx, kind: str, raw: str, now: dt.datetime) -> customer_lookup.Found:
        """The customer named by the till; a card of the chain's ranges not known here names its card
        holder (agent/customer_lookup.py card_holder): a customer may use a card anywhere at once."""
        c = self.config
        return customer_lookup.find_customer(
            tx,
            kind,
            raw,
            ranges=c.ranges,
            qr_secret=c.qr_secret,
            qr_step=c.qr_step_seconds,
            now=now,
            holders=True,
            holder_level=self._base_level(tx),
        )

    def _base_level(self, tx: Tx) -> str | None:
        """The level of a customer who has spent nothing yet (a new registration, a card holder)."""
        if tx.rules() is None:
            return None
        entry = self.calculator(tx)[0].level_for_spend(0)
        return entry.name if entry is not None else None

    def _limits(self, tx: Tx, customer: Row, now: dt.datetime, link: str) -> Limits:
        """Available points, bounded while offline (sync.md point 5, docs/agent.md)."""
        lots, effects = tx.lots(customer["id"]), tx.effects(customer["id"], customer["applied_seq"])
        balance = compute_balance(lots, effects, now)
        available = max(0, balance.available)
        allowed, offline = available, link == "offline"
        if is_card_holder(customer["id"]):  # a card not registered yet: nothing to redeem until it is
            allowed = 0
        if offline:
            spent_today = tx.offline_redeemed(customer["id"], self.today(now).isoformat())
            allowed = min(available, max(0, self.config.offline_daily_limit - spent_today))
        return Limits(available, allowed, offline, balance, lots, effects)

    def _check_time(self, receipt: Receipt, now: dt.datetime) -> None:
        ahead = (receipt.at - now).total_seconds()
        if ahead > self.config.receipt_clock_skew_seconds:
            raise requests.RequestError(
                [
                    Problem(
                        "at",
                        f"is {int(ahead // 60)} minute(s) ahead of the store's clock: check the till's date and time",
                    )
                ]
            )

    def _quote(
        self,
        tx: Tx,
        calc: Any,
        receipt: Receipt,
        found: customer_lookup.Found | None,
        now: dt.datetime,
        link: str,
        ev: promotions.Evaluation = promotions.NOTHING,
    ):
        """The calculator's quote with the customer's limits and the promotions; over-limit refusals say which
        limit."""
        if found is None:  # an anonymous receipt: nobody to accrue to (discounts of promotions stay)
            if receipt.redeem:
                raise errors.NeedsCustomer()
            quote = calc.quote(receipt, NO_TERMS, None, ev.campaigns, ev.rewards)
            return promotions.without_points(quote), None
        if receipt.redeem and is_card_holder(found.customer["id"]):
            assert found.card is not None
            raise errors.CardNotRegistered(card=found.card["number"], requested=receipt.redeem, max_redeemable=0)
        limits = self._limits(tx, found.customer, now, link)
        terms = customer_lookup.customer_terms(found.customer, now)
        try:
            return calc.quote(receipt, terms, limits.allowed, ev.campaigns, ev.rewards), limits
        except RedeemOverLimit as exc:
            cap = calc.quote(
                dataclasses.replace(receipt, redeem=0), terms, None, ev.campaigns, ev.rewards
            ).max_redeemable
            if receipt.redeem > cap:
                raise
            if receipt.redeem > limits.available:
                raise errors.InsufficientPoints(
                    requested=receipt.redeem, available=limits.available, max_redeemable=exc.max_redeemable
                ) from None
            raise errors.OfflineLimit(requested=receipt.redeem, max_redeemable=exc.max_redeemable) from None

    def _promotions(
        self,
        tx: Tx,
        rules: RuleSet,
        receipt: Receipt,
        found: customer_lookup.Found | None,
        link: str,
        reservations: Mapping[str, str | None] | None = None,
    ) -> promotions.Evaluation:
        customer = found.customer if found is not None else None
        return promotions.evaluate(tx, self.store, rules, receipt, customer, self.config.store_id, link, reservations)

    def _reserve_codes(self, receipt: Receipt, who: Any, now: dt.datetime) -> dict[str, str | None] | None:
        """Online, the codes this commit would use, each reserved at the central server before the write
        (docs/sync.md, "Code reservations"): code -> None (reserved), the central server's refusal, or
        ``no_answer``. None when there is nothing to reserve (offline, standalone, a replay, no code applies).
        Outside the write transaction: other tills' commits do not wait on the link."""
        if not receipt.promo_codes or self.reserve_code is None:
            return None
        assert receipt.receipt_id is not None
        try:
            with self.store.read() as tx:
                if tx.receipt(receipt.receipt_id) is not None or self.link(tx, now) != "online":
                    return None
                rules, _ = self.calculator(tx)
                found = self._find(tx, *who, now) if who else None
                ev = self._promotions(tx, rules, receipt, found, "online")
        except errors.AgentError:
            return None  # the write below meets the same error and answers it
        customer_id = found.customer["id"] if found is not None else None
        return {code: self.reserve_code(code, receipt.receipt_id, customer_id) for code in ev.codes.values()}

    def _release_codes(self, receipt_id: str, codes: set[str]) -> None:
        """Codes reserved for this receipt that its commit did not take (it failed: not enough points, a
        refusal after the reservation; or no longer applied them): given back at once, not held for
        ``RESERVATION_SECONDS`` (docs/sync.md, "Code reservations"). Never raises: the till's answer goes on."""
        if self.release_code is None:
            return
        for code in sorted(codes):
            try:
                self.release_code(code, receipt_id)
            except Exception:  # the hold expires at the central server anyway
                log.warning("could not release promo code %s of receipt %s", code, receipt_id, exc_info=True)

    def _promotion_fields(
        self,
        ev: promotions.Evaluation,
        quote: Any,
        calc: Any,
        receipt: Receipt,
        found: Any,
        limits: Any,
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        if ev is promotions.NOTHING:
            return {}
        terms = customer_lookup.customer_terms(found.customer, now) if found is not None else NO_TERMS
        explained = promotions.explain(ev, quote, calc, receipt, terms, limits.allowed if limits else None)
        if found is None:
            for entry in explained:
                entry["points"] = 0
                entry["lines"] = [dict(line, points=0) for line in entry["lines"] if line["discount"]]
        fields = promotions.body_fields(ev, explained)
        fields["discount"] = quote.discount
        return fields

    def _replay(self, tx: Tx, scope: str, key: str | None, digest: str) -> Result | None:
        """The stored answer of an Idempotency-Key, or None; a different request under it is a conflict."""
        if key is None:
            return None
        stored = tx.answer(scope, key)
        if stored is None:
            return None
        if stored.request_hash != digest:
            raise errors.IdempotencyConflict(key=key)
        return Result(stored.status, json.loads(stored.response), replayed=True)

    def _remember(self, tx: Tx, scope: str, key: str | None, digest: str, result: Result, now: dt.datetime) -> Result:
        if key is not None:
            tx.put_answer(scope, key, StoredAnswer(digest, result.status, json.dumps(result.body)), now)
        return result

    def _balance(self, tx: Tx, customer_id: str | None, now: dt.datetime) -> dict[str, Any]:
        if customer_id is None:
            return {"balance": None, "available": None}
        customer = tx.customer(customer_id)
        assert customer is not None
        balance = tx.balance(customer, now)
        return {"balance": balance.balance, "available": max(0, balance.available)}

    # -- operations

    def health(self) -> dict[str, Any]:
        """Liveness and state for GET /v1/health."""
        now = self.clock()
        with self.store.read() as tx:
            rules = tx.c.execute("SELECT version FROM rules WHERE id = 1").fetchone()
            return {
                "status": "ok",
                "version": __version__,
                "store_id": self.config.store_id,
                "agent_id": self.config.effective_agent_id,
                "rules_version": rules[0] if rules else None,
                "link": self.link(tx, now),
                "last_sync_at": tx.state("last_sync_at"),
                "outbox_depth": tx.outbox_depth(),
                "oldest_outbox_age_seconds": tx.oldest_outbox_age(now),
                "engine": accrual.ENGINE,
                "time": iso(now),
            }

    def identify(self, terminal: str, doc: Any) -> Result:
        """Who the customer is, their points and the cashier's messages."""
        kind, raw = requests.parse_identifier(doc)
        now = self.clock()
        with self.store.read() as tx:
            found = self._find(tx, kind, raw, now)
            view = customer_lookup.customer_view(tx, found, now, self.today(now))
            shown = customer_lookup.customer_message_ids(tx, found.customer, now)
            link = self.link(tx, now)
            limits = self._limits(tx, found.customer, now, link)
        if shown:
            self._messages_shown(terminal, found.customer["id"], shown, now)
        view["link"] = link
        view["redeemable_now"] = limits.allowed
        self.last_identification[terminal] = {"at": iso(now), "via": kind, "customer_id": view["customer_id"]}
        return self._emit("identified", terminal, Result(200, view))

    def _messages_shown(self, terminal: str, customer_id: str, ids: list[str], now: dt.datetime) -> None:
        """The customer's cashier messages this answer shows: never shown again here, and read centrally
        (a cashier_message_read event each, so no other store shows them either; docs/messages.md)."""
        with self.store.write() as tx:
            for message_id in ids:
                if tx.mark_message_shown(customer_id, message_id, now):
                    tx.add_event(
                        "cashier_message_read",
                        now,
                        events.CashierMessageReadBody(
                            message_id=message_id, customer_id=customer_id, terminal=terminal, at=iso(now)
                        ),
                        now,
                    )

    def quote(self, terminal: str, doc: Any) -> Result:
        """Accrual, maximum redeemable and the allocation of a requested redemption; changes nothing.

        Online, the single-use codes it would use are asked at the central server without reserving
        (``check_code``, a short timeout; docs/promotions.md): one used up there meanwhile is the quote's
        ``promo_code_used_up`` already. No answer: the local check stands (``promo_codes_checked: local``)."""
        receipt = parse_receipt(doc)
        requests.check_receipt_id(receipt.receipt_id)
        now = self.clock()
        self._check_time(receipt, now)
        who = requests.parse_identifier(receipt.customer, "customer") if receipt.customer is not None else None
        body, codes = self._quote_body(receipt, who, now, None)
        wait = int(self.config.quote_code_check_ms) / 1000
        if codes and self.check_code is not None and wait > 0:
            answers = {code: self.check_code(code, customer_id, wait) for code, customer_id in codes.items()}
            checked = {code: answer for code, answer in answers.items() if answer != promotions.NO_ANSWER}
            if checked:
                # unanswered codes stay judged locally (as if reserved: the quote uses nothing)
                body, _ = self._quote_body(receipt, who, now, {**dict.fromkeys(answers), **checked})
            body["promo_codes_checked"] = "central" if len(checked) == len(answers) else "local"
        return Result(200, body)

    def _quote_body(
        self, receipt: Receipt, who: Any, now: dt.datetime, checks: Mapping[str, str | None] | None
    ) -> tuple[dict[str, Any], dict[str, str | None]]:
        """The quote's answer, and the single-use codes it would use online (code -> customer id) to check."""
        with self.store.read() as tx:
            rules, calc = self.calculator(tx)
            found = self._find(tx, *who, now) if who else None
            if found is not None:
                customer_lookup.check_usable(found)
            link = self.link(tx, now)
            ev = self._promotions(tx, rules, receipt, found, link, checks)
            quote, limits = self._quote(tx, calc, receipt, found, now, link, ev)
            customer_id = found.customer["id"] if found else None
            body = {
                "customer_id": customer_id,
                "total": receipt.total,
                **quote.to_json(),
                **(limits.after(now) if limits else {"balance": None, "available": None}),
                "offline": bool(limits and limits.offline),
                "rules_version": rules.version,
                **self._promotion_fields(ev, quote, calc, receipt, found, limits, now),
            }
            if tx.state(CONFIRM_STATE) == "1":
                body["confirmation_required"] = True
        codes = dict.fromkeys(ev.codes.values(), customer_id) if link == "online" and checks is None else {}
        return body, codes

    def commit(self, terminal: str, doc: Any) -> Result:
        """Commit a purchase; the same receipt_id and body again returns the first answer."""
        receipt = parse_receipt(doc, require_id=True)
        requests.check_receipt_id(receipt.receipt_id)
        digest = request_hash(doc)
        now = self.clock()
        self._check_time(receipt, now)
        who = requests.parse_identifier(receipt.customer, "customer") if receipt.customer is not None else None
        assert receipt.receipt_id is not None
        if receipt.redeem > 0 and who is not None:
            self._confirm_redemption(receipt, who, now)  # asks the central server: outside the write lock
        reservations = self._reserve_codes(receipt, who, now)
        reserved = {code for code, problem in (reservations or {}).items() if problem is None}
        kept: set[str] = set()  # the reserved codes this receipt holds when the write is done
        try:
            with self.store.write() as tx:
                prior = tx.receipt(receipt.receipt_id)
                if prior is not None:
                    kept = reserved  # the first commit of this receipt holds them (the same reservation)
                    if prior["request_hash"] != digest:
                        raise errors.ReceiptConflict(receipt_id=receipt.receipt_id)
                    return Result(201, json.loads(prior["response"]), replayed=True)
                rules, calc = self.calculator(tx)
                found = self._find(tx, *who, now) if who else None
                if found is not None:
                    customer_lookup.check_usable(found)
                link = self.link(tx, now)
                if reservations is None and self.reserve_code is not None:
                    reservations = {}  # online now but not reserved before: the offline policy decides
                ev = self._promotions(tx, rules, receipt, found, link, reservations)
                quote, limits = self._quote(tx, calc, receipt, found, now, link, ev)
                if found is not None and is_card_holder(found.customer["id"]) and found.card is not None:
                    # its first sale here makes the card holder (the purchase event names it and the card)
                    tx.add_card_holder(found.customer["id"], found.card["number"], found.customer["level"], now)
                customer_id = found.customer["id"] if found else None
                card = found.card["number"] if found and found.card is not None else None
                offline = bool(limits and limits.offline)
                lines = [
                    events.PurchaseLine(
                        sku=line.sku,
                        name=line.name,
                        category=line.category,
                        quantity=format_scaled(line.quantity, 3),
                        price=line.price,
                        discount=line.discount + lq.discount,  # the promotions' money off is the till's discount
                        amount=line.amount - lq.discount,
                        accrued=lq.accrued,
                        redeemed=lq.redeemed,
                    )
                    for line, lq in zip(receipt.lines, quote.lines, strict=True)
                ]
                promo_fields = self._promotion_fields(ev, quote, calc, receipt, found, limits, now)
                seq = tx.add_event(
                    "purchase",
                    now,
                    events.PurchaseBody(
                        receipt_id=receipt.receipt_id,
                        terminal=terminal,
                        customer_id=customer_id,
                        card=card,
                        at=receipt.at.isoformat(),
                        rules_version=rules.version,
                        total=receipt.total - quote.discount,
                        accrued=quote.accrued,
                        redeemed=quote.redeemed,
                        offline=offline,
                        lines=lines,
                        promotions=[
                            events.PromotionGiven(
                                id=entry["id"],
                                name=entry["name"],
                                points=entry["points"],
                                discount=entry["discount"],
                                promo_code=entry.get("promo_code"),
                                expires_days=entry.get("expires_days"),
                            )
                            for entry in promo_fields.get("promotions", ())
                        ],
                    ),
                    now,
                )
                if ev is not promotions.NOTHING:
                    promotions.record(tx, ev, receipt.receipt_id, customer_id, link, now)
                if customer_id is not None:
                    tx.add_effects(seq, customer_id, (-quote.redeemed, quote.accrued), now)
                body = {
                    "receipt_id": receipt.receipt_id,
                    "customer_id": customer_id,
                    "total": receipt.total,
                    **quote.to_json(),
                    **(
                        limits.after(now, -quote.redeemed, quote.accrued)
                        if limits
                        else {"balance": None, "available": None}
                    ),
                    "offline": offline,
                    "rules_version": rules.version,
                    "committed_at": iso(now),
                    **promo_fields,
                }
                text = json.dumps(body, ensure_ascii=False)
                tx.insert_receipt(
                    {
                        "receipt_id": receipt.receipt_id,
                        "seq": seq,
                        "terminal": terminal,
                        "customer_id": customer_id,
                        "card": card,
                        "at": receipt.at.isoformat(),
                        "committed_at": iso(now),
                        "day": self.today(now).isoformat(),
                        "total": receipt.total - quote.discount,
                        "accrued": quote.accrued,
                        "redeemed": quote.redeemed,
                        "offline": int(offline),
                        "rules_version": rules.version,
                        "request_hash": digest,
                        "response": text,
                    },
                    [
                        {
                            **msgspec.structs.asdict(line),
                            "receipt_id": receipt.receipt_id,
                            "idx": i,
                            "quantity": src.quantity,
                        }
                        for i, (line, src) in enumerate(zip(lines, receipt.lines, strict=True))
                    ],
                )
                result = self._emit_in("committed", tx, terminal, Result(201, body, text=text))
            kept = set(ev.codes.values())
        finally:
            if reserved - kept:
                self._release_codes(receipt.receipt_id, reserved - kept)
        return self._emit("committed", terminal, result)

    def _keyed_write(
        self,
        event: str,
        terminal: str,
        key: str | None,
        digest: str,
        operation: Callable[[Tx, dt.datetime], Result | errors.AgentError],
    ) -> Result:
        """Run ``operation`` in one write transaction behind the request's Idempotency-Key.

        The same key and request replay the stored answer; the answer is stored
        with the effect. A refusal the operation *returns* (rather than raises)
        is raised after the commit, keeping its writes: wrong confirmation codes
        stay counted.
        """
        now = self.clock()
        with self.store.write() as tx:
            replay = self._replay(tx, f"key:{terminal}", key, digest)
            if replay is not None:
                return replay
            outcome = operation(tx, now)
            if isinstance(outcome, Result):
                self._remember(tx, f"key:{terminal}", key, digest, outcome, now)
                self._emit_in(event, tx, terminal, outcome)
        if isinstance(outcome, errors.AgentError):
            raise outcome
        return self._emit(event, terminal, outcome)

    # -- redemption confirmation codes (docs/messages.md, "Redemption confirmation") ----------------------

    def request_redeem_code(self, terminal: str, doc: Any) -> Result:
        """Ask the central server to send the customer a code confirming a redemption of ``redeem`` points."""
        who, points = requests.parse_code_request(doc)
        now = self.clock()
        with self.store.read() as tx:
            found = self._find(tx, *who, now)
            customer_lookup.check_usable(found)
            if is_card_holder(found.customer["id"]):
                card = found.card["number"] if found.card is not None else ""
                raise errors.CardNotRegistered(card=card, requested=points, max_redeemable=0)
            if tx.state(CONFIRM_STATE) != "1":
                raise errors.ConfirmationNotRequired()
            link = self.link(tx, now)
            limits = self._limits(tx, found.customer, now, link)
        if points > limits.allowed:
            raise errors.InsufficientPoints(requested=points, available=limits.available, max_redeemable=limits.allowed)
        customer_id = found.customer["id"]
        answer = self._ask(link, "redeem_code_request", {"customer_id": customer_id, "points": points})
        return Result(
            201,
            {
                "customer_id": customer_id,
                "confirmation_id": answer["confirmation"],
                "channel": answer["channel"],
                "expires_at": answer["expires_at"],
                "attempts": answer["attempts"],
                "redeem": points,
            },
        )

    def _confirm_redemption(self, receipt: Receipt, who: tuple[str, str], now: dt.datetime) -> None:
        """When the program requires it, the central server checks the receipt's code (and uses it up for this
        receipt); offline, or without a code, the redemption is refused and nothing is written."""
        assert receipt.receipt_id is not None
        with self.store.read() as tx:
            if tx.state(CONFIRM_STATE) != "1" or tx.receipt(receipt.receipt_id) is not None:
                return  # not required, or a replay / conflict the write transaction answers
            found = self._find(tx, *who, now)
            if is_card_holder(found.customer["id"]):
                return  # nothing to redeem: the write path refuses it (card_not_registered)
            link = self.link(tx, now)
        if receipt.confirmation is None:
            raise errors.ConfirmationRequired()
        ident, code = receipt.confirmation
        self._ask(
            link,
            "redeem_code_check",
            {
                "customer_id": found.customer["id"],
                "confirmation": ident,
                "code": code,
                "points": receipt.redeem,
                "receipt_id": receipt.receipt_id,
            },
        )

    def _ask(self, link: str, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        """The central server's yes, or the problem it answered; offline or silent: confirmation_unavailable."""
        if self.central is None or link != "online":
            raise errors.ConfirmationUnavailable()
        try:
            answer = self.central.ask(kind, fields, float(self.config.central_answer_timeout_seconds))
        except wire.WireError:  # a value the contract refuses (e.g. a code of the wrong shape): never asked
            raise errors.ConfirmationUnknown() from None
        if answer is None:
            raise errors.ConfirmationUnavailable()
        if answer.get("ok"):
            return answer
        problem = answer.get("problem")
        if problem == "confirmation_failed":
            raise errors.ConfirmationFailed(attempts_left=int(answer.get("attempts_left") or 0))
        if problem == "confirmation_points":
            raise errors.ConfirmationPoints(max_redeemable=int(answer.get("points") or 0))
        if problem == "unknown_customer":
            raise errors.UnknownCustomer(customer_id=fields["customer_id"])
        raise _ANSWER_ERRORS.get(str(problem), errors.ConfirmationUnavailable)()

    def refund(self, terminal: str, receipt_id: str, doc: Any, idempotency_key: str | None = None) -> Result:
        """Return some or all lines of a receipt: earned points taken back, redeemed points given back."""
        request = requests.parse_refund(doc)
        digest = request_hash("refund", receipt_id, doc)
        return self._keyed_write(
            "refunded",
            terminal,
            idempotency_key,
            digest,
            lambda tx, now: self._refund(tx, now, terminal, receipt_id, request, digest),
        )

    def _refund(
        self, tx: Tx, now: dt.datetime, terminal: str, receipt_id: str, request: requests.RefundRequest, digest: str
    ) -> Result:
        if request.refund_id is not None:
            prior = tx.refund(request.refund_id)
            if prior is not None:
                if prior["request_hash"] != digest:
                    raise errors.RefundConflict(refund_id=request.refund_id)
                return Result(201, json.loads(prior["response"]), replayed=True)
        receipt = tx.receipt(receipt_id)
        if receipt is None:
            raise errors.ReceiptNotFound(receipt_id=receipt_id)
        if receipt["status"] == "cancelled":
            raise errors.ReceiptCancelled(receipt_id=receipt_id)
        rows = tx.receipt_lines(receipt_id)
        committed = [CommittedLine(r["quantity"], r["amount"], r["accrued"], r["redeemed"]) for r in rows]
        already = tx.refunded_so_far(receipt_id, len(rows))
        wanted = {}
        for index, quantity in request.lines.items():
            if quantity is None:  # the whole line, what is left of it
                left = accrual.refund_units(committed[index]) - already[index].quantity if index < len(rows) else 1
                quantity = max(left, 1)
            wanted[index] = quantity
        result = self.calculator(tx)[1].refund(committed, already, wanted)
        refund_id = request.refund_id or uuid.uuid4().hex
        at = request.at or now
        customer_id = receipt["customer_id"]
        moved = [(i, r) for i, r in enumerate(result.lines) if r.quantity]
        lines = [
            events.RefundLine(
                index=i, quantity=format_scaled(r.quantity, 3), amount=r.amount, accrued=r.accrued, redeemed=r.redeemed
            )
            for i, r in moved
        ]
        seq = tx.add_event(
            "refund",
            now,
            events.RefundBody(
                refund_id=refund_id,
                receipt_id=receipt_id,
                terminal=terminal,
                customer_id=customer_id,
                at=at.isoformat(),
                amount=result.amount,
                accrued=result.accrued,
                redeemed=result.redeemed,
                lines=lines,
            ),
            now,
        )
        if customer_id is not None:
            tx.add_effects(seq, customer_id, (result.redeemed, -result.accrued), now)
        body = {
            "refund_id": refund_id,
            "receipt_id": receipt_id,
            "amount": result.amount,
            "accrued": result.accrued,
            "redeemed": result.redeemed,
            "lines": [msgspec.structs.asdict(line) for line in lines],
            **self._balance(tx, customer_id, now),
        }
        tx.insert_refund(
            {
                "refund_id": refund_id,
                "receipt_id": receipt_id,
                "seq": seq,
                "terminal": terminal,
                "at": at.isoformat(),
                "created_at": iso(now),
                "amount": result.amount,
                "accrued": result.accrued,
                "redeemed": result.redeemed,
                "request_hash": digest,
                "response": json.dumps(body),
            },
            [{"refund_id": refund_id, "idx": i, **r._asdict()} for i, r in moved],
        )
        return Result(201, body)

    def cancel(self, terminal: str, receipt_id: str, doc: Any, idempotency_key: str | None = None) -> Result:
        """Void a receipt of the open shift: whatever its refunds left is reversed."""
        at = requests.parse_cancel(doc)
        digest = request_hash("cancel", receipt_id, doc)
        return self._keyed_write(
            "cancelled",
            terminal,
            idempotency_key,
            digest,
            lambda tx, now: self._cancel(tx, now, terminal, receipt_id, at, digest),
        )

    def _cancel(
        self, tx: Tx, now: dt.datetime, terminal: str, receipt_id: str, at: dt.datetime | None, digest: str
    ) -> Result:
        receipt = tx.receipt(receipt_id)
        if receipt is None:
            raise errors.ReceiptNotFound(receipt_id=receipt_id)
        if receipt["status"] == "cancelled":
            stored = tx.answer("cancel", receipt_id)
            assert stored is not None
            return Result(stored.status, json.loads(stored.response), replayed=True)
        closed = tx.last_shift_close(receipt["terminal"])
        if (closed is not None and closed >= receipt["committed_at"]) or receipt["day"] != self.today(now).isoformat():
            raise errors.ShiftClosed(receipt_id=receipt_id)
        done = tx.refunded_so_far(receipt_id, len(tx.receipt_lines(receipt_id)))
        amount = receipt["total"] - sum(r.amount for r in done)
        accrued = receipt["accrued"] - sum(r.accrued for r in done)
        redeemed = receipt["redeemed"] - sum(r.redeemed for r in done)
        customer_id = receipt["customer_id"]
        seq = tx.add_event(
            "cancel",
            now,
            events.CancelBody(
                receipt_id=receipt_id,
                terminal=terminal,
                customer_id=customer_id,
                at=(at or now).isoformat(),
                amount=amount,
                accrued=accrued,
                redeemed=redeemed,
            ),
            now,
        )
        if customer_id is not None:
            tx.add_effects(seq, customer_id, (redeemed, -accrued), now)
        tx.cancel_receipt(receipt_id, seq, now)
        tx.remove_receipt_promotions(receipt_id)  # its codes' uses and the customer's limits are given back
        body = {
            "receipt_id": receipt_id,
            "status": "cancelled",
            "amount": amount,
            "accrued": accrued,
            "redeemed": redeemed,
            **self._balance(tx, customer_id, now),
        }
        return self._remember(tx, "cancel", receipt_id, digest, Result(200, body), now)

    def register(self, terminal: str, doc: Any, idempotency_key: str | None = None) -> Result:
        """A new customer from the till, usable at once; the SMS code goes up with the event."""
        reg = requests.parse_registration(doc)
        phone = normalize_phone(reg.phone)
        card = normalize_card(reg.card, self.config.ranges) if reg.card is not None else None
        return self._keyed_write(
            "registered",
            terminal,
            idempotency_key,
            request_hash("register", doc),
            lambda tx, now: self._register(tx, now, terminal, reg, phone, card),
        )

    def _register(
        self, tx: Tx, now: dt.datetime, terminal: str, reg: requests.Registration, phone: str, card: str | None
    ) -> Result:
        if tx.customer_by_phone(phone) is not None:
            raise errors.PhoneTaken(phone=phone)
        held = tx.card(card) if card is not None else None
        if held is not None and not is_card_holder(held["customer_id"]):
            raise errors.CardTaken(card=card)
        level = self._base_level(tx)
        customer_id = uuid.uuid4().hex
        tx.add_customer(
            customer_id, phone=phone, name=reg.name, birthday=reg.birthday, level=level, consents=reg.consents, now=now
        )
        if card is not None:
            # a card already used here before it was registered: its holder's points are this customer's
            if not tx.absorb_card_holder(card_holder_id(card), customer_id):
                tx.add_card(card, customer_id)
        code = f"{secrets.randbelow(10**6):06d}"
        expires = now + dt.timedelta(seconds=self.config.confirmation_ttl_seconds)
        tx.put_confirmation(customer_id, _hash_code(customer_id, code), expires)
        tx.add_event(
            "registration",
            now,
            events.RegistrationBody(
                customer_id=customer_id,
                phone=phone,
                card=card,
                name=reg.name,
                consents=reg.consents,
                confirmation_code=code,
                terminal=terminal,
                at=iso(now),
                language=reg.language,
            ),
            now,
        )
        found = customer_lookup.Found(tx.customer(customer_id), tx.card(card) if card else None)  # type: ignore[arg-type]
        return Result(
            201,
            {
                "customer_id": customer_id,
                "confirmation": {
                    "required": True,
                    "expires_at": iso(expires),
                    "attempts": self.config.confirmation_attempts,
                },
                "customer": customer_lookup.customer_view(tx, found, now, self.today(now)),
            },
        )

    def replace_card(self, terminal: str, number: str, doc: Any, idempotency_key: str | None = None) -> Result:
        """A new card number for the customer of a lost or damaged card: the old card is refused from now on,
        the new one is the customer's (same balance); recorded here and sent up (a card_replacement event)."""
        request = requests.parse_card_replacement(doc)
        old = normalize_card(number, self.config.ranges)
        new = normalize_card(request.new_card, self.config.ranges)
        if new == old:
            raise requests.RequestError(
                [Problem("new_card", "must be another number than the card it replaces")]  # type: ignore[list-item]
            )
        return self._keyed_write(
            "card_replaced",
            terminal,
            idempotency_key,
            request_hash("replace_card", old, doc),
            lambda tx, now: self._replace_card(tx, now, terminal, old, new, request),
        )

    def _replace_card(
        self, tx: Tx, now: dt.datetime, terminal: str, old: str, new: str, request: requests.CardReplacement
    ) -> Result:
        card = tx.card(old)
        if card is None or is_card_holder(card["customer_id"]):
            raise errors.UnknownCard(card=old)
        if card["status"] == "reassigned":
            raise errors.CardReassigned(card=old)
        if card["status"] == "blocked":
            raise errors.CardBlocked(card=old)
        customer = tx.customer(card["customer_id"])
        assert customer is not None
        if customer["blocked"]:
            raise errors.CustomerBlocked()
        held = tx.card(new)
        if held is not None and not is_card_holder(held["customer_id"]):
            raise errors.CardTaken(card=new)
        customer_id = customer["id"]
        # lost travels down as blocked, replaced as reassigned (central/storage/customer_deltas.py): the same here
        local_status = "reassigned" if request.status == "replaced" else "blocked"
        tx.set_card_status(old, local_status, f"{request.status}: {new}")
        if not tx.absorb_card_holder(card_holder_id(new), customer_id):
            tx.add_card(new, customer_id)
        tx.add_event(
            "card_replacement",
            now,
            events.CardReplacementBody(
                customer_id=customer_id,
                old_card=old,
                new_card=new,
                status=request.status,  # type: ignore[arg-type]
                reason=request.reason,
                terminal=terminal,
                at=iso(now),
            ),
            now,
        )
        found = customer_lookup.Found(tx.customer(customer_id), tx.card(new))  # type: ignore[arg-type]
        return Result(
            200,
            {
                "customer_id": customer_id,
                "old_card": old,
                "old_status": request.status,
                "new_card": new,
                "customer": customer_lookup.customer_view(tx, found, now, self.today(now)),
            },
        )

    def confirm(self, terminal: str, customer_id: str, doc: Any, idempotency_key: str | None = None) -> Result:
        """Check the phone confirmation code; wrong codes are counted (and stay counted)."""
        code = requests.parse_confirmation(doc)
        return self._keyed_write(
            "confirmed",
            terminal,
            idempotency_key,
            request_hash("confirm", customer_id, doc),
            lambda tx, now: self._confirm(tx, now, customer_id, code),
        )

    def _confirm(self, tx: Tx, now: dt.datetime, customer_id: str, code: str) -> Result | errors.AgentError:
        customer = tx.customer(customer_id)
        if customer is None:
            raise errors.UnknownCustomer(customer_id=customer_id)
        verified = Result(200, {"customer_id": customer_id, "phone_verified": True})
        if customer["phone_verified"]:
            return verified
        pending = tx.confirmation(customer_id)
        if pending is None or pending["confirmed_at"] is not None:
            raise errors.NothingToConfirm()
        left = self.config.confirmation_attempts - pending["attempts"]
        if left <= 0:
            raise errors.ConfirmationLocked()
        if now > parse_time(pending["expires_at"]):  # type: ignore[operator]
            raise errors.ConfirmationExpired()
        if not secrets.compare_digest(pending["code_hash"], _hash_code(customer_id, code)):
            tx.count_confirmation_attempt(customer_id)  # returned, not raised: the count is committed
            return errors.ConfirmationLocked() if left <= 1 else errors.ConfirmationFailed(attempts_left=left - 1)
        tx.mark_confirmed(customer_id, now)
        tx.add_event(
            "phone_confirmed",
            now,
            events.PhoneConfirmedBody(customer_id=customer_id, phone=customer["phone"], at=iso(now)),
            now,
        )
        return verified

    def close_shift(self, terminal: str) -> Result:
        """Close the terminal's shift: its receipts can no longer be cancelled, only refunded."""
        now = self.clock()
        with self.store.write() as tx:
            since = tx.last_shift_close(terminal)
            count = tx.receipts_since(terminal, since)
            tx.close_shift(terminal, now)
        return Result(200, {"terminal": terminal, "closed_at": iso(now), "opened_at": since, "receipts": count})
