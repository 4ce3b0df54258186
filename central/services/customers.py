"""Reading customers: the list (newest first, keyset pages), one account, its history and purchases.

Paging is by key, never by offset: a page is "the next 50 after (created_at,
id)" on the ``customers_created`` index, so page 20,000 costs what page 1
costs. Counts are capped (:data:`COUNT_CAP`) so a broad filter over a
million customers answers at once ("more than 10,000").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..storage.clock import now_utc
from ..storage.store import NotFound, Store
from .access import Actor, Forbidden, FormError
from .filters import CustomerQuery, where

PAGE = 50
COUNT_CAP = 10_000


@dataclass
class Page:
    rows: list[dict[str, Any]]
    count: int  # capped at COUNT_CAP + 1
    next_key: str | None
    prev_key: str | None


#: the list's sorts: name -> (the row's field, a number or text); storage/customer_list.py ``SORTS`` has the SQL
SORT_FIELDS = {
    "created": ("created_at", str),
    "name": ("name", str),
    "phone": ("phone", str),
    "email": ("email", str),
    "level": ("level", str),
    "balance": ("balance", int),
    "spend": ("spend", int),
    "visits": ("visits", int),
    "store": ("home_store", str),
    "last_purchase": ("last_purchase_at", str),
}


def _key(row: dict[str, Any], sort: str = "created") -> str:
    field, _kind = SORT_FIELDS[sort]
    value = row[field]
    return f"{'' if value is None else value}~{row['id']}"


def _split(key: str, sort: str = "created") -> tuple[Any, str]:
    """A page key back into (sort value, id); a broken one is a 400 (never a 500)."""
    value, _, ident = key.rpartition("~")
    kind = SORT_FIELDS[sort][1]
    if kind is int:
        try:
            return int(value), ident
        except ValueError:
            from .access import BadQuery
            from .text import _

            raise BadQuery({"after": _("This page link is broken: start again from the first page.")}) from None
    return value, ident


def list_customers(
    db: Store,
    actor: Actor,
    query: CustomerQuery,
    zone: str,
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int = PAGE,
    with_count: bool = True,
    sort: str = "created",
    descending: bool = True,
) -> Page:
    """One page of customers, newest first (or by ``sort``); ``after``/``before`` are keys of the page's edges."""
    actor.require("customers.read")
    if sort not in SORT_FIELDS:
        sort = "created"
    sql, params = where(query, actor, zone, db.dialect)
    rows = db.customers_page(
        sql,
        params,
        after=_split(after, sort) if after else None,
        before=_split(before, sort) if before and not after else None,
        limit=limit + 1,
        sort=sort,
        descending=descending,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    if before:
        rows.reverse()
    count = -1
    if with_count:
        count = db.count_customers(sql, params, cap=COUNT_CAP + 1)
    has_next = more if not before else True
    has_prev = bool(after) or (bool(before) and more)
    return Page(
        rows,
        count,
        _key(rows[-1], sort) if rows and has_next else None,
        _key(rows[0], sort) if rows and has_prev else None,
    )


def every_row(fetch: Callable[[str | None], Any]) -> Iterator[dict[str, Any]]:
    """Every row of a keyset-paged list: ``fetch(after)`` gives a page with ``rows`` and ``next_key``."""
    after = None
    while True:
        page = fetch(after)
        yield from page.rows
        if page.next_key is None:
            return
        after = page.next_key


def count_customers(db: Store, actor: Actor, query: CustomerQuery, zone: str) -> int:
    """How many customers the query finds, uncapped (an export's progress; a COUNT over the index)."""
    actor.require("customers.read")
    base, params = where(query, actor, zone, db.dialect)
    return db.count_customers(base, params)


def iter_customers(
    db: Store, actor: Actor, query: CustomerQuery, zone: str, batch: int = 2000
) -> Iterator[dict[str, Any]]:
    """Every customer the query finds, newest first, in batches (exports)."""
    return every_row(lambda after: list_customers(db, actor, query, zone, after=after, limit=batch, with_count=False))


def check_customer(db: Store, actor: Actor, customer_id: str, *, write: bool = False) -> dict[str, Any]:
    """The customer row if the actor may see it (:class:`Forbidden` outside a manager's stores).

    With ``write``, a store manager must also have the customer's home store: one who only
    shopped at their store is read-only to them (``STORE_MANAGER_SCOPE``, docs/console.md).
    """
    actor.require("customers.read")
    customer = db.customer(customer_id)
    if actor.scoped and customer["home_store"] not in actor.stores:
        if write or actor.scope == "home":
            actor.require_home(customer["home_store"], f"customer {customer_id}")
        if not db.shopped_at_any(customer_id, sorted(actor.stores)):
            raise Forbidden(f"customer {customer_id} is not a customer of {', '.join(sorted(actor.stores))}")
    return customer


def account(db: Store, actor: Actor, customer_id: str) -> dict[str, Any]:
    """Everything the account page's header and profile tab show."""
    customer = check_customer(db, actor, customer_id)
    # a store manager sees a customer who only shopped at their store but changes only their own (STORE_MANAGER_SCOPE)
    customer["writable"] = not actor.scoped or customer["home_store"] in actor.stores
    customer["consents"] = json.loads(customer["consents"] or "{}")
    customer["custom"] = json.loads(customer["custom"] or "{}")
    customer["cards"] = db.customer_cards(customer_id)
    customer["tags"] = db.customer_tags(customer_id)
    customer["messages"] = db.live_customer_messages(customer_id)
    customer["lots"] = db.customer_lots(customer_id)
    customer["merged_from"] = db.merged_into_customer(customer_id)
    customer["avg_check"] = customer["spend"] // customer["visits"] if customer["visits"] else 0
    # the balance in each program (customers.balance is their total); lots name their program
    customer["programs"] = db.customer_program_balances(customer_id, now_utc())
    names = {p["id"]: p["name"] for p in customer["programs"]}
    for lot in customer["lots"]:
        lot["program"] = names.get(lot["program_id"], lot["program_id"])
    return customer


#: ledger kinds -> the source the bonus history shows
SOURCES = {
    "accrue": "purchase",
    "redeem": "purchase",
    "refund_accrued": "purchase",
    "refund_redeemed": "purchase",
    "manual": "store",
    "admin": "admin",
    "promo": "promo",
    "expire": "expiry",
    "import": "import",
}


def bonus_history(
    db: Store, actor: Actor, customer_id: str, *, before_id: int | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Every ledger entry of the customer, newest first, with its source and the receipt it came from."""
    check_customer(db, actor, customer_id)
    rows = db.customer_ledger(customer_id, before_id, limit)
    for row in rows:
        row["source"] = SOURCES.get(row["kind"], row["kind"])
    return rows


def purchases(
    db: Store, actor: Actor, customer_id: str, *, before_id: int | None = None, limit: int = 30
) -> list[dict[str, Any]]:
    """The customer's receipts (and refunds), newest first, each with its lines."""
    check_customer(db, actor, customer_id)
    rows = db.customer_receipts(customer_id, before_id, limit)
    attach_lines(db, rows)
    return rows


def attach_lines(db: Store, rows: list[dict[str, Any]]) -> None:
    """Each transaction's lines (with product and category names) and its detail, in place."""
    ids = [r["id"] for r in rows if r["line_count"]]
    lines: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for line in db.lines_of_transactions(ids):
        lines[line["transaction_id"]].append(line)
    for row in rows:
        row["lines"] = lines.get(row["id"], [])
        row["detail"] = json.loads(row["detail"]) if isinstance(row.get("detail"), str) else (row.get("detail") or {})


def comments(db: Store, actor: Actor, customer_id: str) -> list[dict[str, Any]]:
    check_customer(db, actor, customer_id)
    return db.customer_comments(customer_id)


def find_by_phone(db: Store, phone: str) -> str | None:
    return db.customer_by_phone(phone)


def require_exists(db: Store, customer_id: str) -> None:
    if not db.customer_exists(customer_id):
        raise NotFound(f"no customer {customer_id}")


def resolve(db: Store, text: str) -> str | None:
    """A customer id from what a person types: the id, a phone in any usual form, or a card number."""
    from shared.identifiers import InvalidIdentifier, normalize_phone

    text = text.strip()
    if not text:
        return None
    if db.customer_exists(text):
        return text
    try:
        found = find_by_phone(db, normalize_phone(text))
        if found:
            return found
    except InvalidIdentifier:
        pass
    return db.customer_of_card(text.replace(" ", "").replace("-", ""))


def outside_scope(db: Store, actor: Actor, text: str) -> bool:
    """Whether a search names (by id, phone or card) one customer the actor may not see.

    A store manager's search then says "a customer of another store" instead of a bare "not
    found" (which would make them register the customer a second time); nothing about the
    customer is shown.
    """
    if not actor.scoped or not text.strip():
        return False
    found = resolve(db, text)
    if found is None:
        return False
    try:
        check_customer(db, actor, found)
    except (Forbidden, NotFound):
        return True
    return False


def resolve_target(db: Store, text: str) -> str:
    """:func:`resolve` for a form's ``target`` field: the customer id, or a :class:`FormError` naming the field."""
    from .text import _

    found = resolve(db, text)
    if found is None:
        raise FormError({"target": _("No customer has this id, phone or card.")})
    return found
