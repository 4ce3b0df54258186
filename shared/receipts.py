"""Receipts, lines, customer terms and campaigns: the calculator's inputs.

``parse_receipt`` reads the receipt body of pos-api.md; ``parse_customer``
reads the customer terms the calculator needs (level, personal percents) and
the customer's active campaigns. Both collect every problem with its JSON path
and raise :class:`~shared.errors.ReceiptError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._validate import Collector, index_path, key_path
from .errors import ReceiptError
from .numbers import (
    K_DECIMALS,
    MAX_AMOUNT,
    MAX_CAMPAIGNS,
    MAX_K,
    MAX_LINES,
    MAX_PERCENT,
    MAX_QUANTITY,
    PERCENT_DECIMALS,
    QUANTITY_DECIMALS,
    QUANTITY_SCALE,
)

MAX_REDEEM = 2**62


@dataclass(frozen=True, slots=True)
class Line:
    """One receipt line. ``amount`` is what the customer pays after the store's discounts."""

    amount: int
    sku: str | None = None
    category: str | None = None
    quantity: int = QUANTITY_SCALE  # x1000
    price: int | None = None
    discount: int = 0
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    lines: tuple[Line, ...]
    at: dt.datetime  # aware
    redeem: int = 0
    receipt_id: str | None = None
    #: how the till identified the customer (card, phone, ...), checked by the agent
    customer: Mapping[str, Any] | None = None
    #: promo codes the till sent (as typed; the agent checks them: shared/promo_codes.py)
    promo_codes: tuple[str, ...] = ()
    #: (id, code) of a redemption confirmation code the customer received (docs/messages.md), or None
    confirmation: tuple[str, str] | None = None

    @property
    def total(self) -> int:
        """Sum of line amounts, before redemption."""
        return sum(line.amount for line in self.lines)


@dataclass(frozen=True, slots=True)
class CustomerTerms:
    """What of the customer changes the percent (accrual.md, step 5). Percents x100."""

    level: str | None = None
    network_percent: int | None = None
    store_percent: int | None = None


NO_TERMS = CustomerTerms()


@dataclass(frozen=True, slots=True)
class Campaign:
    """An active campaign's multiplier for this customer; restricted to SKUs/categories if given."""

    k: int  # x1000
    skus: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    id: str | None = None

    def applies_to(self, sku: str | None, category: str | None) -> bool:
        if self.skus is None and self.categories is None:
            return True
        return (self.skus is not None and sku in self.skus) or (
            self.categories is not None and category in self.categories
        )


#: reward kinds the calculator applies (a multiplier is a :class:`Campaign`; shared/promotions.py)
PERCENT_OFF, MONEY_OFF, FIXED_POINTS = "percent_off", "money_off", "points"
#: at most this many discount and fixed-point rewards on one receipt (docs/accrual.md, "Promotions")
MAX_REWARDS = 20
#: a fixed-point reward's points per receipt or per N units, and its total on one receipt, at most
MAX_REWARD_POINTS = 10**12


@dataclass(frozen=True, slots=True)
class Reward:
    """A promotion's discount or fixed points on the lines it matches (docs/accrual.md, "Promotions").

    ``kind``: ``percent_off`` (``value`` percent x100 of each matching line's amount, floored),
    ``money_off`` (``value`` minor units split over the matching lines by amount, at most their sum),
    ``points`` (``value`` points per receipt, or per ``per_units`` matching units (quantity x1000),
    split over the matching lines by amount after ``total_step``). No SKUs and categories: every line.
    """

    kind: str
    value: int
    skus: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    per_units: int = 0
    id: str | None = None

    def applies_to(self, sku: str | None, category: str | None) -> bool:
        if self.skus is None and self.categories is None:
            return True
        return (self.skus is not None and sku in self.skus) or (
            self.categories is not None and category in self.categories
        )


_RECEIPT_FIELDS = (
    "receipt_id",
    "customer",
    "redeem",
    "total",
    "terminal",
    "cashier",
    "extra",
    "promo_codes",
    "confirmation",
)
_LINE_FIELDS = ("sku", "name", "category", "quantity", "price", "discount", "barcode", "extra")


def parse_receipt(doc: Any, *, require_id: bool = False) -> Receipt:
    """Validate a receipt body (pos-api.md) and build a :class:`Receipt`.

    :param require_id: the POS API commits need ``receipt_id``; quotes do not.
    :raises ReceiptError: listing every problem with its JSON path.
    """
    c = Collector()
    required = ("at", "lines", "receipt_id") if require_id else ("at", "lines")
    obj = c.object(doc, "", required=required, optional=_RECEIPT_FIELDS)
    if obj is None:
        raise ReceiptError(c.problems)
    receipt_id = None
    if "receipt_id" in obj:
        receipt_id = c.string(obj["receipt_id"], "receipt_id", max_length=100)
    at = parse_time(c, obj["at"], "at") if "at" in obj else None
    customer = None
    if obj.get("customer") is not None:
        customer = c.object(
            obj["customer"], "customer", optional=obj["customer"].keys() if isinstance(obj["customer"], Mapping) else ()
        )
    redeem = c.integer(obj.get("redeem", 0), "redeem", 0, MAX_REDEEM)
    lines: list[Line] = []
    raw_lines = c.list(obj["lines"], "lines", min_items=1, max_items=MAX_LINES) if "lines" in obj else None
    for i, raw in enumerate(raw_lines or []):
        line = _line(c, raw, index_path("lines", i))
        if line is not None:
            lines.append(line)
    if raw_lines and len(lines) == len(raw_lines):
        total = sum(line.amount for line in lines)
        if total > MAX_AMOUNT:
            c.add("lines", f"the receipt total {total} exceeds the maximum of {MAX_AMOUNT} minor units")
        if "total" in obj:
            declared = c.integer(obj["total"], "total", 0, MAX_AMOUNT)
            if declared is not None and declared != total:
                c.add("total", f"{declared} does not equal the sum of the line amounts, {total}")
    for name in ("terminal", "cashier"):
        if name in obj and obj[name] is not None:
            c.string(obj[name], name, max_length=100)
    codes: list[str] = []
    if obj.get("promo_codes") is not None:
        raw_codes = c.list(obj["promo_codes"], "promo_codes", min_items=0, max_items=10)
        for i, raw in enumerate(raw_codes or []):
            code = c.string(raw, index_path("promo_codes", i), max_length=64)
            if code is not None:
                codes.append(code)
    confirmation = None
    if obj.get("confirmation") is not None:
        held = c.object(obj["confirmation"], "confirmation", required=("id", "code"))
        if held is not None and "id" in held and "code" in held:
            ident = c.string(held["id"], "confirmation.id", max_length=64)
            code = c.string(held["code"], "confirmation.code", max_length=20)
            if code is not None and not code.strip().isdigit():
                c.add("confirmation.code", "must be the digits the customer received")
            elif ident is not None and code is not None:
                confirmation = (ident, code.strip())
    if c.problems:
        raise ReceiptError(c.problems)
    assert at is not None and redeem is not None
    return Receipt(
        lines=tuple(lines),
        at=at,
        redeem=redeem,
        receipt_id=receipt_id,
        customer=customer,
        promo_codes=tuple(codes),
        confirmation=confirmation,
    )


def parse_time(c: Collector, value: Any, path: str) -> dt.datetime | None:
    """An ISO 8601 moment with a UTC offset ("2026-11-21T17:30:00+03:00")."""
    if not isinstance(value, str):
        c.add(path, 'must be an ISO 8601 time with offset like "2026-11-21T17:30:00+03:00"')
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        c.add(path, f'must be an ISO 8601 time with offset like "2026-11-21T17:30:00+03:00", got {value!r}')
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        c.add(path, f"must include a UTC offset (+03:00 or Z), got {value!r}")
        return None
    try:
        moment.astimezone(dt.UTC)  # "0001-01-01T00:00:00+14:00" is before year 1 in UTC: no datetime holds it
    except OverflowError:
        c.add(path, f"must be a time between the years 1 and 9999 in UTC, got {value!r}")
        return None
    return moment


def _line(c: Collector, raw: Any, path: str) -> Line | None:
    # counted before c.object, which records a missing "amount" but still returns the object
    before = len(c.problems)
    obj = c.object(raw, path, required=("amount",), optional=_LINE_FIELDS)
    if obj is None:
        return None
    amount = c.integer(obj["amount"], key_path(path, "amount"), 0, MAX_AMOUNT) if "amount" in obj else None
    discount = c.integer(obj.get("discount", 0), key_path(path, "discount"), 0, MAX_AMOUNT)
    price = None
    if obj.get("price") is not None:
        price = c.integer(obj["price"], key_path(path, "price"), 0, MAX_AMOUNT)
    quantity: int | None = QUANTITY_SCALE
    if "quantity" in obj:
        # 0: a weighed or service line the till sends without a quantity; it earns on its amount
        quantity = c.decimal(obj["quantity"], key_path(path, "quantity"), QUANTITY_DECIMALS, 0, MAX_QUANTITY)
    texts = {}
    for name in ("sku", "name", "category", "barcode"):
        if obj.get(name) is not None:
            texts[name] = c.string(obj[name], key_path(path, name), max_length=200 if name == "name" else 100)
    if len(c.problems) > before:
        return None
    assert amount is not None and discount is not None and quantity is not None
    if price is not None and quantity:
        # price x quantity may have a fraction of a minor unit; tills round it either way.
        gross = price * quantity
        low = gross // QUANTITY_SCALE - discount
        high = -(-gross // QUANTITY_SCALE) - discount
        if amount not in (low, high):
            c.add(
                key_path(path, "amount"),
                f"{amount} does not match price x quantity - discount = {low}",
            )
            return None
    return Line(
        amount=amount,
        sku=texts.get("sku"),
        category=texts.get("category"),
        quantity=quantity,
        price=price,
        discount=discount,
        name=texts.get("name"),
    )


def parse_customer(doc: Any, path: str = "customer") -> tuple[CustomerTerms, tuple[Campaign, ...]]:
    """Read customer terms (``level``, ``network_percent``, ``store_percent``) and ``campaigns``.

    :raises ReceiptError: listing every problem with its JSON path.
    """
    if doc is None:
        return NO_TERMS, ()
    c = Collector()
    obj = c.object(doc, path, optional=("level", "network_percent", "store_percent", "campaigns", "id", "name"))
    if obj is None:
        raise ReceiptError(c.problems)
    level = None
    if obj.get("level") is not None:
        level = c.string(obj["level"], key_path(path, "level"), max_length=100)
    percents: dict[str, int | None] = {}
    for name in ("network_percent", "store_percent"):
        percents[name] = None
        if obj.get(name) is not None:
            percents[name] = c.decimal(obj[name], key_path(path, name), PERCENT_DECIMALS, 0, MAX_PERCENT, " percent")
    campaigns = parse_campaigns(c, obj.get("campaigns", []), key_path(path, "campaigns"))
    if c.problems:
        raise ReceiptError(c.problems)
    return CustomerTerms(level, percents["network_percent"], percents["store_percent"]), campaigns


def parse_campaigns(c: Collector, value: Any, path: str) -> tuple[Campaign, ...]:
    items = c.list(value, path, max_items=MAX_CAMPAIGNS)
    out = []
    for i, raw in enumerate(items or []):
        item_path = index_path(path, i)
        obj = c.object(raw, item_path, required=("k",), optional=("id", "skus", "categories"))
        if obj is None:
            continue
        k = c.decimal(obj["k"], key_path(item_path, "k"), K_DECIMALS, 0, MAX_K) if "k" in obj else None
        sets: dict[str, frozenset[str] | None] = {"skus": None, "categories": None}
        for name in sets:
            if obj.get(name) is None:
                continue
            names = c.list(obj[name], key_path(item_path, name))
            if names is not None:
                good = [
                    n
                    for j, n in enumerate(names)
                    if c.string(n, index_path(key_path(item_path, name), j), max_length=100)
                ]
                sets[name] = frozenset(good)
        cid = obj.get("id")
        if cid is not None and not isinstance(cid, str):
            c.add(key_path(item_path, "id"), "must be a string")
        if k is not None:
            out.append(Campaign(k=k, skus=sets["skus"], categories=sets["categories"], id=cid))
    return tuple(out)
