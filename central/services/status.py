"""The stores' sync status: what ``GET /api/v1/stores/status`` and ``loyalty-central stores list`` show."""

from __future__ import annotations

from typing import Any

from ..storage.store import Store


def stores_status(db: Store, only: list[str] | None = None) -> list[dict[str, Any]]:
    """Every store (or those in ``only``) with its agents' presence and sync state, open dead letters and debts."""
    open_dead, debts = db.open_problems()
    rules = db.latest_rules()
    stores = []
    for store in db.stores():
        if only is not None and store["id"] not in only:
            continue
        agents = [
            {
                key: agent[key]
                for key in (
                    "id",
                    "state",
                    "last_seen",
                    "status_at",
                    "outbox_depth",
                    "rules_version",
                    "customers_version",
                    "last_sync",
                    "applied_seq",
                    "restored_at",
                    "software",
                )
            }
            | {"enrolled": bool(agent["enrolled"])}
            for agent in db.agents(store["id"])
        ]
        stores.append(
            {
                "id": store["id"],
                "name": store["name"],
                "agents": agents,
                "rules_version": rules.get(store["id"], (None,))[0],
                "dead_letters": open_dead.get(store["id"], 0),
                "debts": debts.get(store["id"], 0),
            }
        )
    return stores
