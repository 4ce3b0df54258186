"""Machine-readable totals for integrations and monitoring (the JSON API, docs/central.md "JSON API").

Integers only: money in minor units (kopecks), points in minor units of
points (100 = 1 point). Ledger sums are signed as the ledger holds them
(accruals positive, redemptions and expiry negative), per kind.
Lists are keyset-paged: ``after`` is the last key of the page before.
"""

from __future__ import annotations

import json
from typing import Any

from ..storage.clock import now_utc
from ..storage.store import Store
from .access import BadQuery

MAX_LIMIT = 1000


def limit_of(text: str | None, default: int = 500) -> int:
    """A page size 1..MAX_LIMIT from a query parameter; :class:`BadQuery` otherwise."""
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise BadQuery({"limit": f"limit must be a whole number 1..{MAX_LIMIT}"})
    return int(text)


def id_after(text: str | None) -> int:
    if text is None or text == "":
        return 0
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise BadQuery({"after": "after must be the id of the last item of the page before"})
    return int(text)


def _ledger_by_kind(db: Store, group: str, where: str = "1 = 1", params: list[Any] | None = None
                    ) -> dict[Any, dict[str, int]]:
    out: dict[Any, dict[str, int]] = {}
    for key, kind, points in db.conn.execute(
            f"SELECT {group}, kind, SUM(points) FROM ledger WHERE {where} GROUP BY {group}, kind", params or []):
        out.setdefault(key, {})[kind] = int(points)
    return out


def store_totals(db: Store, stores: list[str] | None = None) -> dict[str, Any]:
    """Per store: its registered customers and their balance, ledger sums by kind, sales by kind."""
    ledger = _ledger_by_kind(db, "store")
    customers = {r[0]: (r[1], r[2]) for r in db.conn.execute(
        "SELECT home_store, COUNT(*), COALESCE(SUM(balance), 0) FROM customers WHERE merged_into IS NULL"
        " GROUP BY home_store")}
    sales: dict[str, dict[str, dict[str, int]]] = {}
    for store, kind, count, amount, accrued, redeemed in db.conn.execute(
            "SELECT store, kind, COUNT(*), COALESCE(SUM(amount), 0), COALESCE(SUM(accrued), 0),"
            " COALESCE(SUM(redeemed), 0) FROM transactions WHERE store IS NOT NULL GROUP BY store, kind"):
        sales.setdefault(store, {})[kind] = {"count": count, "amount": amount, "accrued": accrued,
                                             "redeemed": redeemed}
    out = []
    for store in db.stores():
        if stores is not None and store["id"] not in stores:
            continue
        count, balance = customers.get(store["id"], (0, 0))
        out.append({"id": store["id"], "name": store["name"], "customers": count, "customers_balance": balance,
                    "ledger": ledger.get(store["id"], {}), "transactions": sales.get(store["id"], {})})
    result: dict[str, Any] = {"as_of": now_utc(), "stores": out}
    if stores is None:  # head office's own entries (points by hand, imports, expiry) belong to no store
        result["head_office"] = {"ledger": ledger.get(None, {})}
        result["chain"] = {"customers": sum(c for c, _ in customers.values()),
                           "balance": sum(b for _, b in customers.values()),
                           "ledger": _ledger_by_kind(db, "'chain'").get("chain", {})}
    return result


def customer_totals(db: Store, after: str | None, limit: int) -> dict[str, Any]:
    """One page of customers by id: balance, spend, visits and ledger sums by kind."""
    rows = db.rows(
        "SELECT id, home_store, level, balance, spend, visits, created_at, last_purchase_at FROM customers"
        " WHERE merged_into IS NULL AND id > ? ORDER BY id LIMIT ?", (after or "", limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        marks = ",".join("?" * len(rows))
        ledger = _ledger_by_kind(db, "customer_id", f"customer_id IN ({marks})", [r["id"] for r in rows])
        for row in rows:
            row["ledger"] = ledger.get(row["id"], {})
    return {"as_of": now_utc(), "customers": rows, "next_after": rows[-1]["id"] if rows and more else None}


def _json_detail(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        try:
            row["detail"] = json.loads(row["detail"])
        except (TypeError, ValueError):
            pass
    return rows


def flags(db: Store, *, include_resolved: bool, after: int, limit: int) -> dict[str, Any]:
    """What head office must look at (restored agents, conflicts), oldest first from ``after``."""
    rows = db.rows(
        "SELECT id, kind, store, agent, customer_id, event_id, detail, created_at, resolved_at FROM flags"
        f" WHERE id > ? {'' if include_resolved else 'AND resolved_at IS NULL'} ORDER BY id LIMIT ?",
        (after, limit + 1))
    more = len(rows) > limit
    rows = _json_detail(rows[:limit])
    return {"flags": rows, "next_after": rows[-1]["id"] if rows and more else None}


def dead_letters(db: Store, *, include_resolved: bool, after: int, limit: int) -> dict[str, Any]:
    """Messages the ingest set aside (without their raw payload), oldest first from ``after``."""
    rows = db.rows(
        "SELECT id, reason, detail, topic, store, agent, event_id, seq, count, received_at, last_at, resolved_at,"
        f" resolution FROM dead_letters WHERE id > ? {'' if include_resolved else 'AND resolved_at IS NULL'}"
        " ORDER BY id LIMIT ?", (after, limit + 1))
    more = len(rows) > limit
    rows = _json_detail(rows[:limit])
    return {"dead_letters": rows, "next_after": rows[-1]["id"] if rows and more else None}
