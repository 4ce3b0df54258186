"""All transactions, newest first, with filters and totals for the filtered set.

Filters: period (local dates), stores and store groups, type (a purchase at
the till, delivery, online; refund; promo; head office's adjustment; the
store's adjustment; expiry; import), accrual or redemption, card, customer,
receipt contents (a product or a category on some line), weekdays and hours
(the store's local time, kept on each row at ingest). Totals: the sum of the
receipts (refunds count negative), points accrued, points redeemed, the
count, and the average check (purchases only). Pages are keyed by
(at_epoch, id), like the customer list.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from shared.numbers import is_whole

from ..storage.store import Store
from ..storage.transaction_list import TRANSACTION_TYPE_SQL, TransactionFilter
from .access import Actor, BadQuery, FormError
from .filters import arg_list
from .formats import parse_local
from .text import N_, _

PAGE = 50
_LABELS: dict[str, Any] = {
    "till": N_("purchase at the till"),
    "delivery": N_("delivery"),
    "online": N_("online order"),
    "refund": N_("refund or cancel"),
    "promo": N_("promo (temporary points)"),
    "admin": N_("head office adjustment"),
    "store": N_("store adjustment"),
    "expiry": N_("expiry"),
    "import": N_("import"),
}
#: type -> (its label, the rows it covers: central/storage/transaction_list.py)
TYPES: dict[str, tuple[Any, str]] = {key: (label, TRANSACTION_TYPE_SQL[key]) for key, label in _LABELS.items()}


@dataclass
class TxQuery:
    period_from: str = ""
    period_to: str = ""
    stores: list[str] = field(default_factory=list)
    group: str = ""
    types: list[str] = field(default_factory=list)
    direction: str = ""  # "", "accrual", "redemption"
    card: str = ""
    customer: str = ""
    product: str = ""
    category: str = ""
    weekdays: list[int] = field(default_factory=list)
    hour_from: str = ""
    hour_to: str = ""

    @classmethod
    def from_args(cls, args: Any) -> TxQuery:
        getlist = arg_list(args)
        return cls(
            period_from=(args.get("period_from") or "").strip(),
            period_to=(args.get("period_to") or "").strip(),
            stores=[s for s in getlist("store") if s],
            group=(args.get("group") or "").strip(),
            types=[t for t in getlist("type") if t in TYPES],
            direction=args.get("direction") if args.get("direction") in ("accrual", "redemption") else "",
            card=(args.get("card") or "").strip().replace(" ", ""),
            customer=(args.get("customer") or "").strip(),
            product=(args.get("product") or "").strip(),
            category=(args.get("category") or "").strip(),
            weekdays=sorted({int(d) for d in getlist("weekday") if is_whole(d, 1) and 1 <= int(d) <= 7}),
            hour_from=(args.get("hour_from") or "").strip(),
            hour_to=(args.get("hour_to") or "").strip(),
        )

    def to_args(self) -> list[tuple[str, str]]:
        args = [
            ("period_from", self.period_from),
            ("period_to", self.period_to),
            ("group", self.group),
            ("direction", self.direction),
            ("card", self.card),
            ("customer", self.customer),
            ("product", self.product),
            ("category", self.category),
            ("hour_from", self.hour_from),
            ("hour_to", self.hour_to),
        ]
        args += [("store", s) for s in self.stores] + [("type", t) for t in self.types]
        args += [("weekday", str(d)) for d in self.weekdays]
        return [(k, v) for k, v in args if v]

    def query_string(self) -> str:
        return urlencode(self.to_args())


def checked_filter(db: Store, query: TxQuery, actor: Actor, zone: str) -> TransactionFilter:
    """The query as a checked filter for storage; :class:`FormError` naming each bad filter."""
    f, errors = TransactionFilter(), {}
    if actor.scoped:
        f.scope = sorted(actor.stores)
    for name, end in (("period_from", False), ("period_to", True)):
        text = getattr(query, name)
        if text:
            try:
                moment = parse_local(text, zone, end_of_day=end)
                setattr(f, "epoch_before" if end else "epoch_from", int(moment.timestamp()))
            except ValueError:
                errors[name] = _("Write the date as YYYY-MM-DD.")
    stores = list(query.stores)
    if query.group:
        stores += db.stores_of_group_named(query.group)
        if not stores:
            errors["group"] = _("This group has no stores.")
    f.stores = stores
    f.types = list(query.types)
    f.direction = query.direction
    f.card, f.customer = query.card, query.customer
    for name, lookup, attribute in (
        ("product", db.catalog_product_id, "sku_id"),
        ("category", db.catalog_category_id, "category_id"),
    ):
        value = getattr(query, name)
        if value:
            ident = lookup(value)
            if ident is None:
                errors[name] = _("No receipt has named %(name)s.", name=value)
            else:
                setattr(f, attribute, ident)
    f.weekdays = list(query.weekdays)
    hours = []
    for name in ("hour_from", "hour_to"):
        text = getattr(query, name)
        if text and (not is_whole(text, 2) or int(text) > 23):
            errors[name] = _("Write an hour 0..23.")
        hours.append(int(text) if is_whole(text, 2) else None)
    if not errors and (hours[0] is not None or hours[1] is not None):
        f.hours = (hours[0] if hours[0] is not None else 0, hours[1] if hours[1] is not None else 23)
    if errors:
        raise FormError(errors)
    return f


@dataclass
class TxPage:
    rows: list[dict[str, Any]]
    totals: dict[str, int]
    next_key: str | None


def list_transactions(
    db: Store,
    actor: Actor,
    query: TxQuery,
    zone: str,
    *,
    after: str | None = None,
    limit: int = PAGE,
    with_totals: bool = True,
) -> TxPage:
    actor.require("transactions.read")
    f = checked_filter(db, query, actor, zone)
    key = _page_key(after) if after else None
    rows = db.transactions_page(f, (key[0], key[1]) if key else None, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    totals: dict[str, int] = {}
    if with_totals:
        count, sales, accrued, redeemed, purchases, purchase_sum = db.transaction_totals(f)
        totals = {
            "count": count,
            "sales": sales,
            "accrued": accrued,
            "redeemed": redeemed,
            "purchases": purchases,
            "average_check": purchase_sum // purchases if purchases else 0,
        }
    key = f"{rows[-1]['at_epoch']}~{rows[-1]['id']}" if rows and more else None
    return TxPage(rows, totals, key)


_KEY = re.compile(r"\A(-?[0-9]{1,15})~([0-9]{0,18})\Z")


def _page_key(after: str) -> list[int]:
    """``after`` of a page link ("<epoch>~<id>") as numbers; :class:`BadQuery` when it is not one."""
    match = _KEY.match(after)
    if match is None:
        raise BadQuery({"after": _("This page link is broken: start again from the first page.")})
    return [int(match[1]), int(match[2] or 0)]


def iter_transactions(
    db: Store, actor: Actor, query: TxQuery, zone: str, batch: int = 2000
) -> Iterator[dict[str, Any]]:
    """Every transaction the query finds, newest first, in batches (exports)."""
    from .customers import every_row

    return every_row(
        lambda after: list_transactions(db, actor, query, zone, after=after, limit=batch, with_totals=False)
    )


def columns() -> list[tuple[str, str, Any]]:
    from .exports import money

    return [
        ("id", "ID", lambda r: r["id"]),
        ("at", "When (UTC)", lambda r: r["at"]),
        ("kind", "Kind", lambda r: r["kind"]),
        ("channel", "Channel", lambda r: r["channel"]),
        ("store", "Store", lambda r: r["store"]),
        ("receipt_id", "Receipt", lambda r: r["receipt_id"]),
        ("customer_id", "Customer", lambda r: r["customer_id"]),
        ("card", "Card", lambda r: r["card"]),
        ("amount", "Amount", lambda r: money(r["amount"])),
        ("accrued", "Accrued", lambda r: money(r["accrued"])),
        ("redeemed", "Redeemed", lambda r: money(r["redeemed"])),
    ]


def type_of(row: Mapping[str, Any]) -> str:
    """The type a row is filtered by (for its label)."""
    if row["kind"] == "purchase":
        return row["channel"] if row["channel"] in ("delivery", "online") else "till"
    return {
        "refund": "refund",
        "cancel": "refund",
        "promo": "promo",
        "admin": "admin",
        "manual": "store",
        "expire": "expiry",
        "import": "import",
    }.get(row["kind"], row["kind"])
