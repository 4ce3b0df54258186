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


def store_totals(db: Store, stores: list[str] | None = None) -> dict[str, Any]:
    """Per store: its registered customers and their balance, ledger sums by kind, sales by kind."""
    ledger = db.ledger_by_store_and_kind()
    customers = db.customers_by_home_store()
    sales = db.sales_by_store_and_kind()
    out = []
    for store in db.stores():
        if stores is not None and store["id"] not in stores:
            continue
        count, balance = customers.get(store["id"], (0, 0))
        out.append(
            {
                "id": store["id"],
                "name": store["name"],
                "customers": count,
                "customers_balance": balance,
                "ledger": ledger.get(store["id"], {}),
                "transactions": sales.get(store["id"], {}),
            }
        )
    result: dict[str, Any] = {"as_of": now_utc(), "stores": out}
    if stores is None:  # head office's own entries (points by hand, imports, expiry) belong to no store
        result["head_office"] = {"ledger": ledger.get(None, {})}
        result["chain"] = {
            "customers": sum(c for c, _ in customers.values()),
            "balance": sum(b for _, b in customers.values()),
            "ledger": db.ledger_by_kind(),
        }
    return result


def customer_totals(db: Store, after: str | None, limit: int) -> dict[str, Any]:
    """One page of customers by id: balance, spend, visits and ledger sums by kind."""
    rows = db.customer_figures_page(after or "", limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        ledger = db.ledger_by_customer_and_kind([r["id"] for r in rows])
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
    rows = db.flags_page(include_resolved, after, limit + 1)
    more = len(rows) > limit
    rows = _json_detail(rows[:limit])
    return {"flags": rows, "next_after": rows[-1]["id"] if rows and more else None}


def dead_letters(db: Store, *, include_resolved: bool, after: int, limit: int) -> dict[str, Any]:
    """Messages the ingest set aside (without their raw payload), oldest first from ``after``."""
    rows = db.dead_letters_page(include_resolved, after, limit + 1)
    more = len(rows) > limit
    rows = _json_detail(rows[:limit])
    return {"dead_letters": rows, "next_after": rows[-1]["id"] if rows and more else None}
