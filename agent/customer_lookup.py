"""Finding the customer a till names, and what the cashier is shown about them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, NamedTuple

from shared.identifiers import (
    N_,
    CardRange,
    card_holder_id,
    card_in_ranges,
    is_card_holder,
    normalize_card,
    normalize_phone,
    parse_barcode,
    parse_track,
    verify_qr,
)
from shared.numbers import PERCENT_DECIMALS, parse_scaled
from shared.receipts import NO_TERMS, CustomerTerms

from .errors import CardBlocked, CardReassigned, CustomerBlocked, QrDisabled, UnknownCard, UnknownCustomer
from .store import Row, Tx

#: birthday messages are shown this many days before and after the day
BIRTHDAY_WINDOW_DAYS = 3


class Found(NamedTuple):
    """A customer and the card they were identified by (None for phone, QR, id)."""

    customer: Row
    card: Row | None


def find_customer(
    tx: Tx,
    kind: str,
    raw: str,
    *,
    ranges: tuple[CardRange, ...],
    qr_secret: str,
    qr_step: int,
    now: dt.datetime,
    holders: bool = False,
    holder_level: str | None = None,
) -> Found:
    """The customer named by one identifier (``card``, ``phone``, ``barcode``, ``track``, ``qr``, ``id``).

    With ``holders``, a card of the chain's ranges that this store does not know
    names its card holder (:func:`card_holder`), a customer not yet seen here.

    :raises InvalidIdentifier: malformed input (422).
    :raises UnknownCard, UnknownCustomer: nothing registered under it (404).
    """
    if kind in ("card", "barcode", "track"):
        if kind == "card":
            number = normalize_card(raw, ranges)
        elif kind == "barcode":
            number = parse_barcode(raw)
        else:
            number = normalize_card(parse_track(raw).pan, ranges)
        card = tx.card(number)
        if card is None:
            if holders and card_in_ranges(number, ranges):
                return card_holder(tx, number, holder_level)
            raise UnknownCard(card=number)
        customer = tx.customer(card["customer_id"])
        if customer is None:  # a card row always has its customer; guard against a damaged database
            raise UnknownCard(card=number)
        return Found(customer, card)
    if kind == "phone":
        phone = normalize_phone(raw)
        customer = tx.customer_by_phone(phone)
        if customer is None:
            raise UnknownCustomer(N_("No customer is registered with the phone %(phone)s."), phone=phone)
        return Found(customer, None)
    if kind == "qr":
        if not qr_secret:
            raise QrDisabled()
        customer_id = verify_qr(qr_secret.encode(), raw, int(now.timestamp()), qr_step)
    else:
        customer_id = raw.strip()
    customer = tx.customer(customer_id)
    if customer is None:
        raise UnknownCustomer(customer_id=customer_id)
    return Found(customer, None)


def card_holder(tx: Tx, number: str, level: str | None) -> Found:
    """The holder of a card of the chain's ranges this store does not know (registered at another
    store and not yet come down, or never registered): the customer ``card_holder_id(number)``, as
    held here if an earlier sale made them, else as they would be made (``origin`` local, nothing
    yet). Its points accrue; none can be redeemed until the card is registered (docs/agent.md)."""
    customer_id = card_holder_id(number)
    customer = tx.customer(customer_id)
    if customer is None:
        customer = {
            "id": customer_id,
            "version": 0,
            "name": None,
            "phone": None,
            "phone_verified": 0,  # type: ignore[assignment]
            "birthday": None,
            "level": level,
            "network_percent": None,
            "store_percent": None,
            "blocked": 0,
            "consents": "{}",
            "applied_seq": 0,
            "origin": "local",
        }
    card = {"number": number, "customer_id": customer_id, "status": "active", "reason": None}
    return Found(customer, card)  # type: ignore[arg-type]


def check_usable(found: Found) -> None:
    """Refuse points for a blocked or replaced card and for a blocked customer."""
    card = found.card
    if card is not None and card["status"] == "blocked":
        raise CardBlocked(card=card["number"])
    if card is not None and card["status"] == "reassigned":
        raise CardReassigned(card=card["number"])
    if found.customer["blocked"]:
        raise CustomerBlocked()


def customer_terms(customer: Row | None, now: dt.datetime | None = None) -> CustomerTerms:
    """Level and personal percents for the calculator (accrual.md, step 5); a percent whose end
    (``*_ends_at``, from the customer's delta) has come by ``now`` is left out, as the central server's
    nightly job will remove it (docs/sync.md, "Personal percents with an end")."""
    if customer is None:
        return NO_TERMS
    percents = []
    for name in ("network_percent", "store_percent"):
        value = customer[name]
        if value is not None and now is not None and _ended(customer, name + "_ends_at", now):
            value = None
        try:
            percents.append(parse_scaled(value, PERCENT_DECIMALS) if value is not None else None)
        except ValueError:  # a bad value from the central server must not stop the sale
            percents.append(None)
    return CustomerTerms(customer["level"], percents[0], percents[1])


def _ended(customer: Row, column: str, now: dt.datetime) -> bool:
    """Whether the percent's end (a UTC time, or none) has come by ``now``."""
    try:
        ends = customer[column]
    except (IndexError, KeyError):  # a customer made here (a card holder): no end
        return False
    if not ends:
        return False
    try:
        return dt.datetime.fromisoformat(ends) <= now
    except (TypeError, ValueError):  # unreadable: keep the percent (the nightly job still removes it)
        return False


def mask_phone(phone: str | None) -> str | None:
    """``+7 912 ***-**-89``: enough for the cashier to ask "is this your number?".

    A number of another country keeps its first four characters and its last two
    (``+442079460958`` as ``+442 ******58``)."""
    if not phone:
        return phone
    if len(phone) == 12 and phone.startswith("+7"):
        return f"{phone[:2]} {phone[2:5]} ***-**-{phone[-2:]}"
    if len(phone) < 8:
        return phone
    return f"{phone[:4]} {'*' * (len(phone) - 6)}{phone[-2:]}"


def birthday_message(birthday: str | None, today: dt.date) -> dict[str, Any] | None:
    """A cashier message when the birthday is within a few days of today (the year may be unknown)."""
    if not birthday:
        return None
    try:
        month, day = int(birthday[-5:-3]), int(birthday[-2:])
    except ValueError:
        return None
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            date = dt.date(year, month, day)
        except ValueError:  # 29 February in a common year: celebrated on 28 February
            date = dt.date(year, month, 28)
        delta = (date - today).days
        if abs(delta) > BIRTHDAY_WINDOW_DAYS:
            continue
        if delta == 0:
            return {"id": "birthday", "kind": "birthday", "template": N_("Birthday today!"), "params": {}}
        if delta > 0:
            return {
                "id": "birthday",
                "kind": "birthday",
                "template": N_("Birthday in %(days)d day(s), on %(date)s."),
                "params": {"days": delta, "date": date.strftime("%d.%m")},
            }
        return {
            "id": "birthday",
            "kind": "birthday",
            "template": N_("Birthday was %(days)d day(s) ago, on %(date)s."),
            "params": {"days": -delta, "date": date.strftime("%d.%m")},
        }
    return None


def _expired(until: str | None, now: dt.datetime) -> bool:
    if until is None:
        return False
    try:
        moment = dt.datetime.fromisoformat(until)
    except ValueError:
        return False
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)) < now


def cashier_messages(tx: Tx, customer: Row, now: dt.datetime, today: dt.date) -> list[dict[str, Any]]:
    """Custom messages from the central server still valid now, then the computed birthday one."""
    out: list[dict[str, Any]] = []
    # the store's messages (down-synced by agent/sync.py), then the customer's own
    held = json.loads(tx.state("store_messages") or "{}")
    for row in [*held.get("messages", []), *tx.messages(customer["id"])]:
        if _expired(row["until"] if "until" in row.keys() else None, now):
            continue
        out.append({"id": row["id"], "kind": "custom", "text": row["text"]})
    birthday = birthday_message(customer["birthday"], today)
    if birthday is not None:
        out.append(birthday)
    return out


def customer_message_ids(tx: Tx, customer: Row, now: dt.datetime) -> list[str]:
    """The ids of the customer's own messages an identification shows now (read once shown: see Service.identify)."""
    return [row["id"] for row in tx.messages(customer["id"]) if not _expired(row["until"], now)]


def customer_view(tx: Tx, found: Found, now: dt.datetime, today: dt.date) -> dict[str, Any]:
    """What POST /v1/identify answers about a customer (messages still to be rendered)."""
    customer, card = found
    balance = tx.balance(customer, now)
    return {
        "customer_id": customer["id"],
        "name": customer["name"],
        "phone": mask_phone(customer["phone"]),
        "phone_verified": bool(customer["phone_verified"]),
        "level": customer["level"],
        "balance": balance.balance,
        "available": max(0, balance.available),
        "held": balance.held,
        "card": card["number"] if card is not None else None,
        "card_status": card["status"] if card is not None else None,
        "card_blocked": card is not None and card["status"] != "active",
        "blocked": bool(customer["blocked"]),
        "registered": not is_card_holder(customer["id"]),
        "consents": json.loads(customer["consents"]),
        "messages": cashier_messages(tx, customer, now, today),
    }
