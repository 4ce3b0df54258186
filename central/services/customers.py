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

from ..points.programs import customer_programs
from ..storage.clock import now_utc
from ..storage.store import NotFound, Store
from .access import Actor, Forbidden, FormError
from .filters import CustomerQuery, where

PAGE = 50
COUNT_CAP = 10_000
LIST_COLUMNS = (
    "c.id, c.name, c.phone, c.phone_verified, c.email, c.level, c.balance, c.spend, c.visits, c.home_store,"
    " c.created_at, c.last_purchase_at, c.blocked, c.stub,"
    " (SELECT number FROM cards WHERE customer_id = c.id ORDER BY main DESC, created_at LIMIT 1) AS card"
)


@dataclass
class Page:
    rows: list[dict[str, Any]]
    count: int  # capped at COUNT_CAP + 1
    next_key: str | None
    prev_key: str | None


def _key(row: dict[str, Any]) -> str:
    return f"{row['created_at']}~{row['id']}"


def _split(key: str) -> tuple[str, str]:
    created, _, ident = key.partition("~")
    return created, ident


def list_customers(db: Store, actor: Actor, query: CustomerQuery, zone: str, *, after: str | None = None,
                   before: str | None = None, limit: int = PAGE, with_count: bool = True) -> Page:
    """One page of customers, newest first; ``after``/``before`` are keys of the page's edges."""
    actor.require("customers.read")
    sql, params = where(query, actor, zone)
    order = "DESC"
    if after:
        sql += " AND (c.created_at, c.id) < (?, ?)"
        params += list(_split(after))
    elif before:
        sql += " AND (c.created_at, c.id) > (?, ?)"
        params += list(_split(before))
        order = "ASC"
    rows = db.rows(
        f"SELECT {LIST_COLUMNS} FROM customers c WHERE {sql} ORDER BY c.created_at {order}, c.id {order} LIMIT ?",
        [*params, limit + 1],
    )
    more = len(rows) > limit
    rows = rows[:limit]
    if before:
        rows.reverse()
    count = -1
    if with_count:
        base, base_params = where(query, actor, zone)
        count = int(db.conn.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM customers c WHERE {base} LIMIT ?)", [*base_params, COUNT_CAP + 1]
        ).fetchone()[0])
    has_next = more if not before else True
    has_prev = bool(after) or (bool(before) and more)
    return Page(rows, count, _key(rows[-1]) if rows and has_next else None, _key(rows[0]) if rows and has_prev else None)


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
    base, params = where(query, actor, zone)
    return int(db.conn.execute(f"SELECT COUNT(*) FROM customers c WHERE {base}", params).fetchone()[0])


def iter_customers(db: Store, actor: Actor, query: CustomerQuery, zone: str, batch: int = 2000
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
        marks = ",".join("?" * len(actor.stores)) or "NULL"
        if not db.conn.execute(
            f"SELECT 1 FROM customer_stores WHERE customer_id = ? AND store IN ({marks})",
            [customer_id, *sorted(actor.stores)],
        ).fetchone():
            raise Forbidden(f"customer {customer_id} is not a customer of {', '.join(sorted(actor.stores))}")
    return customer


def account(db: Store, actor: Actor, customer_id: str) -> dict[str, Any]:
    """Everything the account page's header and profile tab show."""
    customer = check_customer(db, actor, customer_id)
    # a store manager sees a customer who only shopped at their store but changes only their own (STORE_MANAGER_SCOPE)
    customer["writable"] = not actor.scoped or customer["home_store"] in actor.stores
    customer["consents"] = json.loads(customer["consents"] or "{}")
    customer["custom"] = json.loads(customer["custom"] or "{}")
    customer["cards"] = db.rows(
        "SELECT k.*, cc.name AS category FROM cards k LEFT JOIN card_categories cc ON cc.id = k.category_id"
        " WHERE k.customer_id = ? ORDER BY k.main DESC, k.created_at, k.number", (customer_id,))
    customer["tags"] = [r[0] for r in db.conn.execute(
        "SELECT tag FROM customer_tags WHERE customer_id = ? ORDER BY tag", (customer_id,))]
    customer["messages"] = db.rows(
        "SELECT * FROM customer_messages WHERE customer_id = ? AND deleted_at IS NULL ORDER BY created_at",
        (customer_id,))
    customer["lots"] = db.rows(
        "SELECT * FROM lots WHERE customer_id = ? AND (points != 0 OR expires_at IS NOT NULL)"
        " ORDER BY expires_at IS NULL, expires_at, id", (customer_id,))
    customer["merged_from"] = [r[0] for r in db.conn.execute(
        "SELECT source FROM merges WHERE target = ? ORDER BY at", (customer_id,))]
    customer["avg_check"] = customer["spend"] // customer["visits"] if customer["visits"] else 0
    # the balance in each program (customers.balance is their total); lots name their program
    customer["programs"] = customer_programs(db.conn, customer_id, now_utc())
    names = {p["id"]: p["name"] for p in customer["programs"]}
    for lot in customer["lots"]:
        lot["program"] = names.get(lot["program_id"], lot["program_id"])
    return customer


#: ledger kinds -> the source the bonus history shows
SOURCES = {
    "accrue": "purchase", "redeem": "purchase", "refund_accrued": "purchase", "refund_redeemed": "purchase",
    "manual": "store", "admin": "admin", "promo": "promo", "expire": "expiry", "import": "import",
}


def bonus_history(db: Store, actor: Actor, customer_id: str, *, before_id: int | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    """Every ledger entry of the customer, newest first, with its source and the receipt it came from."""
    check_customer(db, actor, customer_id)
    sql = ("SELECT l.*, t.receipt_id, t.id AS transaction_id, p.name AS program FROM ledger l"
           " LEFT JOIN transactions t ON t.event_id = l.event_id AND t.customer_id = l.customer_id"
           " LEFT JOIN programs p ON p.id = l.program_id"
           " WHERE l.customer_id = ?")
    params: list[Any] = [customer_id]
    if before_id is not None:
        sql += " AND l.id < ?"
        params.append(before_id)
    rows = db.rows(sql + " ORDER BY l.at DESC, l.id DESC LIMIT ?", [*params, limit])
    for row in rows:
        row["source"] = SOURCES.get(row["kind"], row["kind"])
    return rows


def purchases(db: Store, actor: Actor, customer_id: str, *, before_id: int | None = None,
              limit: int = 30) -> list[dict[str, Any]]:
    """The customer's receipts (and refunds), newest first, each with its lines."""
    check_customer(db, actor, customer_id)
    sql = ("SELECT * FROM transactions WHERE customer_id = ? AND kind IN ('purchase', 'refund', 'cancel')")
    params: list[Any] = [customer_id]
    if before_id is not None:
        sql += " AND id < ?"
        params.append(before_id)
    rows = db.rows(sql + " ORDER BY at_epoch DESC, id DESC LIMIT ?", [*params, limit])
    attach_lines(db, rows)
    return rows


def attach_lines(db: Store, rows: list[dict[str, Any]]) -> None:
    """Each transaction's lines (with product and category names) and its detail, in place."""
    ids = [r["id"] for r in rows if r["line_count"]]
    lines: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for line in db.rows(
            "SELECT l.*, p.sku, c.name AS category FROM transaction_lines l"
            " LEFT JOIN catalog_products p ON p.id = l.sku_id LEFT JOIN catalog_categories c ON c.id = l.category_id"
            f" WHERE l.transaction_id IN ({marks}) ORDER BY l.transaction_id, l.idx", chunk
        ):
            lines[line["transaction_id"]].append(line)
    for row in rows:
        row["lines"] = lines.get(row["id"], [])
        row["detail"] = json.loads(row["detail"]) if isinstance(row.get("detail"), str) else (row.get("detail") or {})


def comments(db: Store, actor: Actor, customer_id: str) -> list[dict[str, Any]]:
    check_customer(db, actor, customer_id)
    return db.rows("SELECT * FROM customer_comments WHERE customer_id = ? ORDER BY id DESC", (customer_id,))


def find_by_phone(db: Store, phone: str) -> str | None:
    row = db.conn.execute("SELECT id FROM customers WHERE phone = ? AND merged_into IS NULL", (phone,)).fetchone()
    return row[0] if row else None


def require_exists(db: Store, customer_id: str) -> None:
    if not db.conn.execute("SELECT 1 FROM customers WHERE id = ?", (customer_id,)).fetchone():
        raise NotFound(f"no customer {customer_id}")


def resolve(db: Store, text: str) -> str | None:
    """A customer id from what a person types: the id, a phone in any usual form, or a card number."""
    from shared.identifiers import InvalidIdentifier, normalize_phone

    text = text.strip()
    if not text:
        return None
    if db.conn.execute("SELECT 1 FROM customers WHERE id = ?", (text,)).fetchone():
        return text
    try:
        found = find_by_phone(db, normalize_phone(text))
        if found:
            return found
    except InvalidIdentifier:
        pass
    row = db.conn.execute("SELECT customer_id FROM cards WHERE number = ?", (text.replace(" ", "").replace("-", ""),)).fetchone()
    return row[0] if row else None


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
