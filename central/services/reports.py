"""Figures for the home page: points liability, customers, what needs head office's attention."""

from __future__ import annotations

from typing import Any

from ..storage.store import Store
from .access import Actor


def liability(db: Store, actor: Actor) -> dict[str, Any]:
    """Points outstanding (the program's debt to its customers), total and per home store.

    Outstanding = the sum of positive balances; negative balances (debts from
    offline double spending or refunds) are shown apart, never netted against
    what other customers are owed. A customer counts for their home store.
    Per program (``by_program``) each customer's account in the program counts
    on its own; the total and the stores' figures take a customer's total
    balance over programs.
    """
    actor.require("customers.read")
    stores = {row["id"]: row["name"] for row in db.stores()}
    visible = set(actor.visible_stores(stores))
    rows = db.balances_by_home_store()
    by_store = []
    total = negative = customers = 0
    for store, count, positive, minus in rows:
        if actor.scoped and store not in visible:
            continue
        by_store.append(
            {
                "store": store,
                "name": stores.get(store, store or ""),
                "customers": count,
                "outstanding": positive or 0,
                "negative": minus or 0,
            }
        )
        total += positive or 0
        negative += minus or 0
        customers += count
    by_store.sort(key=lambda r: -r["outstanding"])
    by_program = db.bonus_programs_with_points(visible if actor.scoped else None)
    return {
        "total": total,
        "negative": negative,
        "customers": customers,
        "by_store": by_store,
        "by_program": by_program,
    }


def attention(db: Store, actor: Actor) -> dict[str, int]:
    """Counts of open dead letters, debts and flags (in the actor's stores)."""
    actor.require("stores.read")
    counts = db.open_review_counts(actor.stores if actor.scoped else None)
    return {"dead_letters": counts["dead_letters"], "debts": counts["debts"], "flags": counts["flags"]}
