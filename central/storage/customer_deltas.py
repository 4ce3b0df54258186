"""The customers of a down-sync page (central/sync/deltas.py puts the deltas together): read in one snapshot."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..points.programs import store_programs
from .connection import Database

#: card statuses the sync contract does not name, as the agents know them (shared/events.py CardState): a replaced
#: card is refused as ``reassigned`` ("ask the customer for the new card"), a lost one as blocked
WIRE_STATUS = {"lost": "blocked", "replaced": "reassigned"}


class CustomerDeltas(Database):
    """What a page of customer deltas needs, read at once."""

    def customer_delta_page(self, store_id: str | None, after: int, limit: int) -> tuple[Any, ...]:
        """(rows, upto, more, cards, lots, messages, percents, applied, programs, segments, promotion uses,
        personal codes) of the customers with version > ``after`` (at most ``limit``) relevant to ``store_id``
        (None: every customer, the ``all`` scope), in one snapshot: ``applied`` must be read with the ``lots``
        it describes."""
        with self.snapshot() as conn:
            return _read_page(conn, store_id, after, limit)


def _read_page(conn: Any, store_id: str | None, after: int, limit: int) -> tuple[Any, ...]:
    """Everything of a page, read in one snapshot; ``store_id`` None: every customer (``all`` scope)."""
    counter = conn.execute("SELECT value FROM counters WHERE name = 'customer_version'").fetchone()
    current = counter[0] if counter else 0
    columns = (
        "id, version, name, phone, phone_verified, birthday, level, network_percent, blocked, consents,"
        " network_percent_ends_at"
    )
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
    percents: dict[str, dict[str, tuple[str, str | None]]] = {}  # store -> customer -> (percent, its end)
    messages: dict[str, list[dict[str, Any]]] = {cid: [] for cid in ids}
    segments: dict[str, list[int]] = {cid: [] for cid in ids}
    uses: dict[str, list[dict[str, str]]] = {cid: [] for cid in ids}
    codes: dict[str, list[str]] = {cid: [] for cid in ids}
    since = (dt.date.today() - dt.timedelta(days=400)).isoformat()  # a year's limit and some
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for number, cid, status, reason in conn.execute(
            f"SELECT number, customer_id, status, reason FROM cards WHERE customer_id IN ({marks}) ORDER BY number",
            chunk,
        ):
            # lost and replaced cards (docs/web-card.md) are refused at the till as blocked and reassigned ones
            card: dict[str, Any] = {"number": number, "status": WIRE_STATUS.get(status, status)}
            if reason or status in WIRE_STATUS:
                card["reason"] = reason or status
            cards[cid].append(card)
        for lot_id, cid, points, starts, expires, program in conn.execute(
            "SELECT id, customer_id, points, starts_at, expires_at, program_id FROM lots"
            f" WHERE customer_id IN ({marks}) AND points != 0 ORDER BY id",
            chunk,
        ):
            lot: dict[str, Any] = {"id": lot_id, "points": points, "expires_at": expires}
            if starts:
                lot["starts_at"] = starts
            lots[cid].append((program, lot))
        for store, cid, percent, ends_at in conn.execute(
            f"SELECT store, customer_id, percent, ends_at FROM customer_store_percents WHERE customer_id IN ({marks})",
            chunk,
        ):
            percents.setdefault(store, {})[cid] = (percent, ends_at)
        # per-customer messages for the cashier (left from the console), the active ones
        # (one read at a till is shown nowhere again; ``print`` only when set, so older agents see no change)
        for ident, cid, text, until, printed in conn.execute(
            f"SELECT id, customer_id, text, until, print FROM customer_messages WHERE customer_id IN ({marks})"
            " AND deleted_at IS NULL AND read_at IS NULL AND (until IS NULL OR until > ?) ORDER BY created_at, id",
            [*chunk, now],
        ):
            message: dict[str, Any] = {"id": ident, "text": text}
            if until:
                message["until"] = until
            if printed:
                message["print"] = True
            messages[cid].append(message)
        # the segments each customer is in (promotions' audiences at the till)
        for cid, segment_id in conn.execute(
            "SELECT k.customer_id, m.segment_id FROM customer_keys k JOIN segment_members m ON m.key = k.key"
            f" WHERE k.customer_id IN ({marks}) ORDER BY m.segment_id",
            chunk,
        ):
            segments[cid].append(segment_id)
        # their promotions' rewards of the last 400 days (per-customer limits across stores)
        for cid, promotion, day, receipt_id in conn.execute(
            "SELECT customer_id, promotion_id, day, receipt_id FROM promotion_results"
            f" WHERE customer_id IN ({marks}) AND day >= ? ORDER BY id",
            [*chunk, since],
        ):
            uses[cid].append({"promotion": promotion, "day": day, "receipt_id": receipt_id})
        # their personal promo codes not used up (accepted at the till only for them)
        for cid, code in conn.execute(
            f"SELECT customer_id, code FROM promo_codes WHERE customer_id IN ({marks}) AND uses < max_uses"
            " ORDER BY code",
            chunk,
        ):
            codes[cid].append(code)
    applied: dict[str, dict[str, int]] = {}  # store -> agent -> seq, read with the lots it describes
    for store, agent, seq in conn.execute("SELECT store, id, applied_seq FROM agents"):
        applied.setdefault(store, {})[agent] = seq
    return rows, upto, more, cards, lots, messages, percents, applied, store_programs(conn), segments, uses, codes
