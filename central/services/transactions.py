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

from ..storage.store import Store
from .access import Actor, BadQuery, FormError
from .filters import arg_list
from .formats import parse_local
from .text import N_, _

PAGE = 50
TYPES: dict[str, tuple[Any, str]] = {
    "till": (N_("purchase at the till"), "(t.kind = 'purchase' AND t.channel = 'till')"),
    "delivery": (N_("delivery"), "(t.kind = 'purchase' AND t.channel = 'delivery')"),
    "online": (N_("online order"), "(t.kind = 'purchase' AND t.channel = 'online')"),
    "refund": (N_("refund or cancel"), "t.kind IN ('refund', 'cancel')"),
    "promo": (N_("promo (temporary points)"), "t.kind = 'promo'"),
    "admin": (N_("head office adjustment"), "t.kind = 'admin'"),
    "store": (N_("store adjustment"), "t.kind = 'manual'"),
    "expiry": (N_("expiry"), "t.kind = 'expire'"),
    "import": (N_("import"), "t.kind = 'import'"),
}


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
            period_from=(args.get("period_from") or "").strip(), period_to=(args.get("period_to") or "").strip(),
            stores=[s for s in getlist("store") if s], group=(args.get("group") or "").strip(),
            types=[t for t in getlist("type") if t in TYPES],
            direction=args.get("direction") if args.get("direction") in ("accrual", "redemption") else "",
            card=(args.get("card") or "").strip().replace(" ", ""), customer=(args.get("customer") or "").strip(),
            product=(args.get("product") or "").strip(), category=(args.get("category") or "").strip(),
            weekdays=sorted({int(d) for d in getlist("weekday") if str(d).isdigit() and 1 <= int(d) <= 7}),
            hour_from=(args.get("hour_from") or "").strip(), hour_to=(args.get("hour_to") or "").strip())

    def to_args(self) -> list[tuple[str, str]]:
        args = [("period_from", self.period_from), ("period_to", self.period_to), ("group", self.group),
                ("direction", self.direction), ("card", self.card), ("customer", self.customer),
                ("product", self.product), ("category", self.category), ("hour_from", self.hour_from),
                ("hour_to", self.hour_to)]
        args += [("store", s) for s in self.stores] + [("type", t) for t in self.types]
        args += [("weekday", str(d)) for d in self.weekdays]
        return [(k, v) for k, v in args if v]

    def query_string(self) -> str:
        return urlencode(self.to_args())


def where(db: Store, query: TxQuery, actor: Actor, zone: str) -> tuple[str, list[Any]]:
    """SQL over ``transactions t``; :class:`FormError` naming each bad filter."""
    clauses, params, errors = ["1 = 1"], [], {}
    if actor.scoped:
        marks = ",".join("?" * len(actor.stores)) or "NULL"
        clauses.append(f"(t.store IN ({marks}) OR t.store IS NULL AND t.customer_id IN (SELECT id FROM customers"
                       f" WHERE home_store IN ({marks})))")
        params += sorted(actor.stores) * 2
    for name, end in (("period_from", False), ("period_to", True)):
        text = getattr(query, name)
        if text:
            try:
                moment = parse_local(text, zone, end_of_day=end)
                clauses.append(f"t.at_epoch {'<' if end else '>='} ?")
                params.append(int(moment.timestamp()))
            except ValueError:
                errors[name] = _("Write the date as YYYY-MM-DD.")
    stores = list(query.stores)
    if query.group:
        stores += [r[0] for r in db.conn.execute(
            "SELECT m.store FROM store_group_members m JOIN store_groups g ON g.id = m.group_id WHERE g.name = ?",
            (query.group,))]
        if not stores:
            errors["group"] = _("This group has no stores.")
    if stores:
        clauses.append(f"t.store IN ({','.join('?' * len(stores))})")
        params += stores
    if query.types:
        clauses.append("(" + " OR ".join(TYPES[t][1] for t in query.types) + ")")
    if query.direction == "accrual":
        clauses.append("t.accrued > 0")
    elif query.direction == "redemption":
        clauses.append("t.redeemed > 0")
    if query.card:
        clauses.append("t.card = ?")
        params.append(query.card)
    if query.customer:
        clauses.append("t.customer_id = ?")
        params.append(query.customer)
    for name, table, column, line_column in (("product", "catalog_products", "sku", "sku_id"),
                                             ("category", "catalog_categories", "name", "category_id")):
        value = getattr(query, name)
        if value:
            row = db.conn.execute(f"SELECT id FROM {table} WHERE {column} = ?", (value,)).fetchone()
            if row is None:
                errors[name] = _("No receipt has named %(name)s.", name=value)
            else:
                clauses.append(f"t.id IN (SELECT transaction_id FROM transaction_lines WHERE {line_column} = ?)")
                params.append(row[0])
    if query.weekdays:
        clauses.append(f"t.weekday IN ({','.join('?' * len(query.weekdays))})")
        params += query.weekdays
    hours = []
    for name in ("hour_from", "hour_to"):
        text = getattr(query, name)
        if text and (not text.isdigit() or int(text) > 23):
            errors[name] = _("Write an hour 0..23.")
        hours.append(int(text) if text.isdigit() else None)
    if not errors and (hours[0] is not None or hours[1] is not None):
        low, high = hours[0] if hours[0] is not None else 0, hours[1] if hours[1] is not None else 23
        if low <= high:
            clauses.append("t.hour BETWEEN ? AND ?")
        else:  # past midnight: 22..2
            clauses.append("(t.hour >= ? OR t.hour <= ?)")
        params += [low, high]
    if errors:
        raise FormError(errors)
    return " AND ".join(clauses), params


@dataclass
class TxPage:
    rows: list[dict[str, Any]]
    totals: dict[str, int]
    next_key: str | None


def list_transactions(db: Store, actor: Actor, query: TxQuery, zone: str, *, after: str | None = None,
                      limit: int = PAGE, with_totals: bool = True) -> TxPage:
    actor.require("transactions.read")
    sql, params = where(db, query, actor, zone)
    page_sql, page_params = sql, list(params)
    if after:
        page_sql += " AND (t.at_epoch, t.id) < (?, ?)"
        page_params += _page_key(after)
    rows = db.rows(
        f"SELECT t.id, t.kind, t.channel, t.store, t.receipt_id, t.customer_id, t.card, t.at, t.at_epoch, t.amount,"
        f" t.accrued, t.redeemed, t.line_count, t.detail, c.name AS customer_name FROM transactions t"
        f" LEFT JOIN customers c ON c.id = t.customer_id WHERE {page_sql}"
        f" ORDER BY t.at_epoch DESC, t.id DESC LIMIT ?", [*page_params, limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    totals: dict[str, int] = {}
    if with_totals:
        row = db.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN t.kind IN ('purchase', 'refund', 'cancel') THEN t.amount END), 0),"
            " COALESCE(SUM(t.accrued), 0), COALESCE(SUM(t.redeemed), 0),"
            " COALESCE(SUM(t.kind = 'purchase'), 0), COALESCE(SUM(CASE WHEN t.kind = 'purchase' THEN t.amount END), 0)"
            f" FROM transactions t WHERE {sql}", params).fetchone()
        count, sales, accrued, redeemed, purchases, purchase_sum = row
        totals = {"count": count, "sales": sales, "accrued": accrued, "redeemed": redeemed, "purchases": purchases,
                  "average_check": purchase_sum // purchases if purchases else 0}
    key = f"{rows[-1]['at_epoch']}~{rows[-1]['id']}" if rows and more else None
    return TxPage(rows, totals, key)


_KEY = re.compile(r"\A(-?[0-9]{1,15})~([0-9]{0,18})\Z")


def _page_key(after: str) -> list[int]:
    """``after`` of a page link ("<epoch>~<id>") as numbers; :class:`BadQuery` when it is not one."""
    match = _KEY.match(after)
    if match is None:
        raise BadQuery({"after": _("This page link is broken: start again from the first page.")})
    return [int(match[1]), int(match[2] or 0)]


def iter_transactions(db: Store, actor: Actor, query: TxQuery, zone: str, batch: int = 2000
                      ) -> Iterator[dict[str, Any]]:
    """Every transaction the query finds, newest first, in batches (exports)."""
    from .customers import every_row

    return every_row(lambda after: list_transactions(db, actor, query, zone, after=after, limit=batch,
                                                     with_totals=False))


def columns() -> list[tuple[str, str, Any]]:
    from .exports import money

    return [
        ("id", "ID", lambda r: r["id"]), ("at", "When (UTC)", lambda r: r["at"]), ("kind", "Kind", lambda r: r["kind"]),
        ("channel", "Channel", lambda r: r["channel"]), ("store", "Store", lambda r: r["store"]),
        ("receipt_id", "Receipt", lambda r: r["receipt_id"]), ("customer_id", "Customer", lambda r: r["customer_id"]),
        ("card", "Card", lambda r: r["card"]), ("amount", "Amount", lambda r: money(r["amount"])),
        ("accrued", "Accrued", lambda r: money(r["accrued"])), ("redeemed", "Redeemed", lambda r: money(r["redeemed"])),
    ]


def type_of(row: Mapping[str, Any]) -> str:
    """The type a row is filtered by (for its label)."""
    if row["kind"] == "purchase":
        return row["channel"] if row["channel"] in ("delivery", "online") else "till"
    return {"refund": "refund", "cancel": "refund", "promo": "promo", "admin": "admin", "manual": "store",
            "expire": "expiry", "import": "import"}.get(row["kind"], row["kind"])
