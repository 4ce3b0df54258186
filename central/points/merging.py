"""Merging customers at the level of their rows: everything of one moves to another, in the caller's transaction.

The console's merge of two customers (central/services/merge.py) and the ingest's join of a card holder
to the customer the card turned out to be registered to (central/points/ledger.py; docs/sync.md, "Cards
anywhere") both use :func:`merge_rows`.
"""

from __future__ import annotations

import json
from typing import Any

from ..storage import aggregates
from ..storage.clock import now_utc
from .levels import recompute
from .programs import PERMANENT, default_program, permanent_lot_id

FILL = ("name", "email", "birthday", "gender", "phone", "level", "network_percent", "home_store")
_MOVE = ("ledger", "transactions", "customer_comments", "customer_messages", "debts", "flags")


def merge_rows(conn: Any, source: str, target: str, username: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Move everything of ``source`` to ``target`` in the caller's transaction (the caller gives them new
    versions); returns the source's snapshot and the profile fields the target took from it.

    Also used by the ingest (central/points/ledger.py) to join a card holder to the customer the card turned out to
    be registered to (docs/sync.md, "Cards anywhere").
    """
    src, dst = row(conn, source), row(conn, target)
    snapshot = _snapshot(conn, src)
    _move_points(conn, source, target)
    for table in _MOVE:
        conn.execute(f"UPDATE {table} SET customer_id = ? WHERE customer_id = ?", (target, source))
    aggregates.move_customer(conn, source, target)  # the segments' per-customer aggregates
    has_main = conn.execute("SELECT 1 FROM cards WHERE customer_id = ? AND main = 1", (target,)).fetchone()
    conn.execute("UPDATE cards SET customer_id = ?, main = CASE WHEN ? THEN 0 ELSE main END, updated_at = ?"
                 " WHERE customer_id = ?", (target, bool(has_main), now_utc(), source))
    for table in ("customer_stores", "customer_store_percents", "customer_tags"):
        key = {"customer_stores": "store", "customer_store_percents": "store", "customer_tags": "tag"}[table]
        conn.execute(f"UPDATE {table} SET customer_id = ? WHERE customer_id = ? AND {key} NOT IN"
                     f" (SELECT {key} FROM {table} WHERE customer_id = ?)", (target, source, target))
        conn.execute(f"DELETE FROM {table} WHERE customer_id = ?", (source,))
    fills = {f: src[f] for f in FILL if not dst[f] and src[f]}
    custom = {**json.loads(src["custom"] or "{}"), **json.loads(dst["custom"] or "{}")}
    consents = {**json.loads(src["consents"] or "{}"), **json.loads(dst["consents"] or "{}")}
    lasts = {f: max(filter(None, (src[f], dst[f])), default=None)
             for f in ("last_purchase_at", "last_accrual_at", "last_redemption_at")}
    created = min(src["created_at"], dst["created_at"])
    assignments = ", ".join(f"{f} = ?" for f in [*fills, *lasts])
    conn.execute(
        f"UPDATE customers SET balance = balance + ?, spend = spend + ?, visits = visits + ?, custom = ?,"
        f" consents = ?, created_at = ?{', ' + assignments if assignments else ''} WHERE id = ?",
        [src["balance"], src["spend"], src["visits"], json.dumps(custom, ensure_ascii=False, sort_keys=True),
         json.dumps(consents, sort_keys=True), created, *fills.values(), *lasts.values(), target])
    # the source stays as a tombstone: its id still resolves (to the target) for late events
    conn.execute("UPDATE customers SET merged_into = ?, blocked = 1, phone = NULL, balance = 0, spend = 0,"
                 " visits = 0 WHERE id = ?", (target, source))
    conn.execute("UPDATE customers SET merged_into = ? WHERE merged_into = ?", (target, source))
    conn.execute("INSERT INTO merges (source, target, username, at, source_state) VALUES (?,?,?,?,?)",
                 (source, target, username, now_utc(), json.dumps(snapshot, ensure_ascii=False, default=str)))
    recompute(conn, [target], now_utc())
    return snapshot, fills


def row(conn: Any, customer_id: str) -> dict[str, Any]:
    return _dicts(conn, "SELECT * FROM customers WHERE id = ?", (customer_id,))[0]


def _dicts(conn: Any, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _move_points(conn: Any, source: str, target: str) -> None:
    """The source's permanent points of each program join the target's permanent lot of that program;
    temporary lots move as they are (they keep their program)."""
    default = default_program(conn)
    # the permanent lots: '<source>:permanent' (the default program) and '<source>:permanent:<program>'
    for program, points in conn.execute(
            "SELECT program_id, points FROM lots WHERE customer_id = ? AND expires_at IS NULL"
            " AND id IN (?, ? || ':' || program_id) ORDER BY program_id",
            (source, source + PERMANENT, source + PERMANENT)).fetchall():
        conn.execute(
            "INSERT INTO lots (id, customer_id, points, initial, created_at, program_id) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET points = lots.points + excluded.points",
            (permanent_lot_id(target, program, default), target, points, points, now_utc(), program))
        conn.execute("DELETE FROM lots WHERE id = ?", (permanent_lot_id(source, program, default),))
    conn.execute("UPDATE lots SET customer_id = ? WHERE customer_id = ?", (target, source))


def _snapshot(conn: Any, row: dict[str, Any]) -> dict[str, Any]:
    cid = row["id"]
    return {
        "customer": {k: v for k, v in row.items() if k != "confirmation_code"},
        "cards": _dicts(conn, "SELECT number, status, reason, main FROM cards WHERE customer_id = ?", (cid,)),
        "lots": _dicts(conn, "SELECT id, points, starts_at, expires_at, program_id FROM lots WHERE customer_id = ?",
                       (cid,)),
        "ledger_entries": conn.execute("SELECT COUNT(*) FROM ledger WHERE customer_id = ?", (cid,)).fetchone()[0],
        "transactions": conn.execute("SELECT COUNT(*) FROM transactions WHERE customer_id = ?", (cid,)).fetchone()[0],
    }
