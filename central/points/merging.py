"""Merging customers at the level of their rows: everything of one moves to another, in the caller's transaction.

The console's merge of two customers (central/services/merge.py) and the ingest's join of a card holder
to the customer the card turned out to be registered to (central/points/ledger.py; docs/sync.md, "Cards
anywhere") both use :func:`merge_rows`. The queries are central/storage/merging.py's.
"""

from __future__ import annotations

import json
from typing import Any

from ..storage import aggregates
from ..storage import merging as queries
from ..storage.clock import now_utc
from .levels import recompute
from .programs import PERMANENT, default_program, permanent_lot_id

FILL = ("name", "email", "birthday", "gender", "phone", "level", "network_percent", "home_store")


def merge_rows(conn: Any, source: str, target: str, username: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Move everything of ``source`` to ``target`` in the caller's transaction (the caller gives them new
    versions); returns the source's snapshot and the profile fields the target took from it.

    Also used by the ingest (central/points/ledger.py) to join a card holder to the customer the card turned out to
    be registered to (docs/sync.md, "Cards anywhere").
    """
    src, dst = row(conn, source), row(conn, target)
    snapshot = _snapshot(conn, src)
    _move_points(conn, source, target)
    queries.move_rows(conn, source, target)
    aggregates.move_customer(conn, source, target)  # the segments' per-customer aggregates
    queries.move_cards(conn, source, target, now_utc())
    fills = {f: src[f] for f in FILL if not dst[f] and src[f]}
    if "network_percent" in fills:  # the percent taken keeps its end (docs/triggers.md, "A percent until a date")
        fills["network_percent_ends_at"] = src.get("network_percent_ends_at")
    custom = {**json.loads(src["custom"] or "{}"), **json.loads(dst["custom"] or "{}")}
    consents = {**json.loads(src["consents"] or "{}"), **json.loads(dst["consents"] or "{}")}
    lasts = {
        f: max(filter(None, (src[f], dst[f])), default=None)
        for f in ("last_purchase_at", "last_accrual_at", "last_redemption_at")
    }
    created = min(src["created_at"], dst["created_at"])
    queries.absorb(
        conn,
        target,
        src["balance"],
        src["spend"],
        src["visits"],
        json.dumps(custom, ensure_ascii=False, sort_keys=True),
        json.dumps(consents, sort_keys=True),
        created,
        {**fills, **lasts},
    )
    # the source stays as a tombstone: its id still resolves (to the target) for late events
    queries.make_tombstone(conn, source, target)
    queries.add_merge(conn, source, target, username, now_utc(), json.dumps(snapshot, ensure_ascii=False, default=str))
    recompute(conn, [target], now_utc())
    return snapshot, fills


def row(conn: Any, customer_id: str) -> dict[str, Any]:
    return queries.customer_row(conn, customer_id)


def _move_points(conn: Any, source: str, target: str) -> None:
    """The source's permanent points of each program join the target's permanent lot of that program;
    temporary lots move as they are (they keep their program)."""
    default = default_program(conn)
    # the permanent lots: '<source>:permanent' (the default program) and '<source>:permanent:<program>'
    for program, points in queries.permanent_lots(conn, source, source + PERMANENT):
        queries.add_to_lot(conn, permanent_lot_id(target, program, default), target, points, now_utc(), program)
        queries.delete_lot(conn, permanent_lot_id(source, program, default))
    queries.move_lots(conn, source, target)


def _snapshot(conn: Any, row: dict[str, Any]) -> dict[str, Any]:
    cid = row["id"]
    return {
        "customer": {k: v for k, v in row.items() if k != "confirmation_code"},
        "cards": queries.customer_cards(conn, cid),
        "lots": queries.customer_lot_rows(conn, cid),
        "ledger_entries": queries.count_ledger_entries(conn, cid),
        "transactions": queries.count_transactions(conn, cid),
    }
