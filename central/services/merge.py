"""Merging two customers (the same person registered twice): nothing is lost.

Everything of the source moves to the target in one transaction: cards,
lots (the permanent points of each program added to the target's permanent
lot in the same program: programs stay apart), every
ledger entry and transaction, stores visited, tags, comments, cashier
messages, debts and flags; balance, spend and visits add up; profile fields
the target lacks are taken from the source. The source stays as a tombstone
(``merged_into``, blocked, without a phone) with a snapshot of its state in
``merges``, so later events from agents that still know the old id land on
the target (central/points/ledger.py redirects them), and the target's balance
still equals the sum of its ledger and of its lots.
"""

from __future__ import annotations

import json
from typing import Any

from ..storage.clock import now_utc
from ..points.versions import bump_versions
from ..points.programs import PERMANENT, default_program, permanent_lot_id
from ..points.levels import recompute
from ..storage.store import NotFound, Store
from . import audit
from .access import Actor, FormError
from .customers import check_customer
from .text import _

_FILL = ("name", "email", "birthday", "gender", "phone", "level", "network_percent", "home_store")
_MOVE = ("ledger", "transactions", "customer_comments", "customer_messages", "debts", "flags")


def merge(db: Store, actor: Actor, source: str, target: str) -> None:
    """Merge ``source`` into ``target`` (both must be the actor's to change)."""
    actor.require("customers.write")
    source, target = source.strip(), target.strip()
    if not target:
        raise FormError({"target": _("Choose the customer to merge into.")})
    if source == target:
        raise FormError({"target": _("A customer cannot be merged into themselves.")})
    src = check_customer(db, actor, source)
    try:
        dst = check_customer(db, actor, target)
    except NotFound:
        raise FormError({"target": _("There is no customer %(id)s.", id=target)}) from None
    for row, field in ((src, "source"), (dst, "target")):
        if row["merged_into"]:
            raise FormError({field: _("Customer %(id)s was already merged into %(into)s.", id=row["id"],
                                      into=row["merged_into"])})
    with db.transaction() as conn:
        src = db.rows("SELECT * FROM customers WHERE id = ?", (source,))[0]
        dst = db.rows("SELECT * FROM customers WHERE id = ?", (target,))[0]
        snapshot = _snapshot(db, src)
        _move_points(conn, source, target)
        for table in _MOVE:
            conn.execute(f"UPDATE {table} SET customer_id = ? WHERE customer_id = ?", (target, source))
        has_main = conn.execute("SELECT 1 FROM cards WHERE customer_id = ? AND main = 1", (target,)).fetchone()
        conn.execute("UPDATE cards SET customer_id = ?, main = CASE WHEN ? THEN 0 ELSE main END, updated_at = ?"
                     " WHERE customer_id = ?", (target, bool(has_main), now_utc(), source))
        for table in ("customer_stores", "customer_store_percents", "customer_tags"):
            key = {"customer_stores": "store", "customer_store_percents": "store", "customer_tags": "tag"}[table]
            conn.execute(f"UPDATE {table} SET customer_id = ? WHERE customer_id = ? AND {key} NOT IN"
                         f" (SELECT {key} FROM {table} WHERE customer_id = ?)", (target, source, target))
            conn.execute(f"DELETE FROM {table} WHERE customer_id = ?", (source,))
        fills = {f: src[f] for f in _FILL if not dst[f] and src[f]}
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
                     (source, target, actor.username, now_utc(), json.dumps(snapshot, ensure_ascii=False, default=str)))
        recompute(conn, [target], now_utc())
        bump_versions(conn, [source, target])
        audit.record(conn, actor, "customer.merge", "customer", target,
                     {"source": snapshot, "target": {k: dst[k] for k in ("balance", "spend", "visits", *_FILL)}},
                     {"merged": source, "balance": dst["balance"] + src["balance"], "filled": fills},
                     store=dst["home_store"])


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


def _snapshot(db: Store, row: dict[str, Any]) -> dict[str, Any]:
    cid = row["id"]
    return {
        "customer": {k: v for k, v in row.items() if k != "confirmation_code"},
        "cards": db.rows("SELECT number, status, reason, main FROM cards WHERE customer_id = ?", (cid,)),
        "lots": db.rows("SELECT id, points, starts_at, expires_at, program_id FROM lots WHERE customer_id = ?", (cid,)),
        "ledger_entries": db.count("ledger", "customer_id = ?", (cid,)),
        "transactions": db.count("transactions", "customer_id = ?", (cid,)),
    }
