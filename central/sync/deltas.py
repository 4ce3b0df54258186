"""Customer deltas for down-sync: pages of CustomerDelta (shared/events.py) by version.

Every change of a customer gives it the next value of one chain-wide counter
(``counters.customer_version``). A page is "every customer relevant to this
store whose version is in (after, upto]", ordered by version, so the same
query serves the live stream, an agent catching up and a full snapshot
(``after = 0``); an agent that has applied a page may set its cursor to
``upto``. Which customers are relevant to a store is the ``customer_scope``
setting: ``all`` (default) or ``visited`` (home store plus stores where the
customer bought something); see docs/central.md.

A store is sent only the lots of its program (central/points/programs.py), so an
agent's balance is the customer's balance in that program. A store's
program change gives the customers with lots in the old or the new program
new versions (central/services/stores.py), so the next pages carry them.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from ..points.programs import store_programs

if TYPE_CHECKING:
    from ..storage.store import Store


def customer_page(
    db: Store, store_id: str, after: int, limit: int = 500, cache: dict[Any, Any] | None = None
) -> tuple[list[dict[str, Any]], int, bool]:
    """(deltas, upto, more) for one store: at most ``limit`` customers with version > after.

    :param cache: one publishing pass's memo. With the ``all`` scope every store's
        page after the same cursor is the same customers, so they are read once (in
        one snapshot: ``applied`` must be read with the ``lots`` it describes) and
        only put together per store.
    """
    scope = db.setting("customer_scope", "all")
    shared = scope == "all" and cache is not None
    page = cache.get((after, limit)) if shared else None  # type: ignore[union-attr]
    if page is None:
        with db.snapshot() as conn:
            page = _read_page(conn, None if scope == "all" else store_id, after, limit)
        if shared:
            cache[(after, limit)] = page  # type: ignore[index]
    rows, upto, more, cards, lots, messages, percents, applied, programs = page
    stores, default = programs
    program = stores.get(store_id, default)
    store_percents = percents.get(store_id, {})
    store_applied = applied.get(store_id, {})
    deltas = [
        {
            "customer_id": cid,
            "version": version,
            "name": name,
            "phone": phone,
            "phone_verified": bool(verified),
            "birthday": birthday,
            "level": level,
            "network_percent": network_percent,
            "store_percent": store_percents.get(cid),
            "blocked": bool(blocked),
            "cards": cards[cid],
            "lots": [lot for pid, lot in lots[cid] if pid == program],
            "applied": store_applied,
            "messages": messages[cid],
            "consents": json.loads(consents),
        }
        for cid, version, name, phone, verified, birthday, level, network_percent, blocked, consents in rows
    ]
    return deltas, upto, more


def _read_page(conn: Any, store_id: str | None, after: int, limit: int) -> tuple[Any, ...]:
    """Everything of a page, read in one snapshot; ``store_id`` None: every customer (``all`` scope)."""
    counter = conn.execute("SELECT value FROM counters WHERE name = 'customer_version'").fetchone()
    current = counter[0] if counter else 0
    columns = "id, version, name, phone, phone_verified, birthday, level, network_percent, blocked, consents"
    if store_id is not None:
        rows = conn.execute(
            f"SELECT {columns} FROM customers WHERE version > ? AND (home_store = ? OR id IN"
            " (SELECT customer_id FROM customer_stores WHERE store = ?)) ORDER BY version LIMIT ?",
            (after, store_id, store_id, limit + 1),
        ).fetchall()
    else:
        rows = conn.execute(
            f"SELECT {columns} FROM customers WHERE version > ? ORDER BY version LIMIT ?", (after, limit + 1)
        ).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    upto = rows[-1][1] if more else max(current, after)
    ids = [row[0] for row in rows]
    cards: dict[str, list[dict[str, Any]]] = {cid: [] for cid in ids}
    lots: dict[str, list[tuple[int, dict[str, Any]]]] = {cid: [] for cid in ids}  # (program, lot)
    percents: dict[str, dict[str, str]] = {}  # store -> customer -> percent
    messages: dict[str, list[dict[str, Any]]] = {cid: [] for cid in ids}
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for number, cid, status, reason in conn.execute(
            f"SELECT number, customer_id, status, reason FROM cards WHERE customer_id IN ({marks}) ORDER BY number",
            chunk,
        ):
            card: dict[str, Any] = {"number": number, "status": status}
            if reason:
                card["reason"] = reason
            cards[cid].append(card)
        for lot_id, cid, points, starts, expires, program in conn.execute(
            f"SELECT id, customer_id, points, starts_at, expires_at, program_id FROM lots WHERE customer_id IN ({marks})"
            " AND points != 0 ORDER BY id",
            chunk,
        ):
            lot: dict[str, Any] = {"id": lot_id, "points": points, "expires_at": expires}
            if starts:
                lot["starts_at"] = starts
            lots[cid].append((program, lot))
        for store, cid, percent in conn.execute(
            f"SELECT store, customer_id, percent FROM customer_store_percents WHERE customer_id IN ({marks})", chunk
        ):
            percents.setdefault(store, {})[cid] = percent
        # per-customer messages for the cashier (left from the console), the active ones
        for ident, cid, text, until in conn.execute(
            f"SELECT id, customer_id, text, until FROM customer_messages WHERE customer_id IN ({marks})"
            " AND deleted_at IS NULL AND (until IS NULL OR until > ?) ORDER BY created_at, id",
            [*chunk, now],
        ):
            message: dict[str, Any] = {"id": ident, "text": text}
            if until:
                message["until"] = until
            messages[cid].append(message)
    applied: dict[str, dict[str, int]] = {}  # store -> agent -> seq, read with the lots it describes
    for store, agent, seq in conn.execute("SELECT store, id, applied_seq FROM agents"):
        applied.setdefault(store, {})[agent] = seq
    return rows, upto, more, cards, lots, messages, percents, applied, store_programs(conn)
