"""Per-customer aggregates for segments and RFM, kept in the ledger's transaction.

Every transaction the ledger writes (central/points/receipt_log.py ``flush``, the
one place purchases, refunds and point operations land, whichever path brought
them: the ingest, a history import, the console) is folded here, in the same
transaction, into compact per-customer tables keyed by the customer's stable
integer key (``customer_keys``, filled by a trigger on ``customers``):

* ``agg_days``: per (key, local day, store): purchases, refunds, spend (purchase
  amounts minus refund amounts), items (purchase line quantities, thousandths);
* ``agg_items``: per (key, kind 0 category / 1 product, item id, local day, store): quantity bought;
* ``agg_points``: per (key, local day, transaction kind): points accrued and redeemed.

A day is the receipt's local date in its store's time zone (marketing.md). The
segment criteria read only these, the ``customers`` row, cards and tags, and for the promotion, promo code,
trigger and message criteria the rewards, codes, trigger runs and messages outbox themselves
(:func:`load_facts` for one customer; central/marketing/engine.py for sets).
:func:`backfill` builds them from the transactions already stored (the migration).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sqlite3
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..marketing.segments.compiled import ColumnFacts
from ..marketing.segments.evaluate import CATEGORY, PRODUCT, Day, Facts, Item, Points, quantity_milli
from . import line_pack, packed_keys
from .import_pipeline import import_state
from .portable import PerBackend, in_list

DEFAULT_CHAIN_ZONE = "Europe/Moscow"
_CHUNK = 500
#: one transaction as folded: (customer id, kind, store, at_epoch, amount, accrued, redeemed,
#: [(product id, category id, quantity text), ...])
Entry = tuple[str, str, str | None, int, int, int, int, Sequence[tuple[int | None, int | None, Any]]]

MIGRATION = [
    """CREATE TABLE customer_keys (
        key INTEGER PRIMARY KEY,
        customer_id TEXT NOT NULL UNIQUE)""",
    "INSERT INTO customer_keys (customer_id) SELECT id FROM customers ORDER BY created_at, id",
    PerBackend(
        "CREATE TRIGGER customer_keys_insert AFTER INSERT ON customers BEGIN"
        " INSERT INTO customer_keys (customer_id) VALUES (NEW.id) ON CONFLICT DO NOTHING; END",
        """CREATE FUNCTION customer_keys_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
           INSERT INTO customer_keys (customer_id) VALUES (NEW.id) ON CONFLICT DO NOTHING; RETURN NULL; END $$""",
    ),
    PerBackend(
        None,
        "CREATE TRIGGER customer_keys_insert AFTER INSERT ON customers FOR EACH ROW"
        " EXECUTE FUNCTION customer_keys_insert()",
    ),
    """CREATE TABLE agg_days (
        key INTEGER NOT NULL,
        day INTEGER NOT NULL,
        store TEXT NOT NULL,
        purchases INTEGER NOT NULL DEFAULT 0,
        refunds INTEGER NOT NULL DEFAULT 0,
        spend INTEGER NOT NULL DEFAULT 0,
        items INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (key, day, store)) WITHOUT ROWID""",
    "CREATE INDEX agg_days_day ON agg_days (day, key)",
    """CREATE TABLE agg_items (
        key INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        item INTEGER NOT NULL,
        day INTEGER NOT NULL,
        store TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        PRIMARY KEY (key, kind, item, day, store)) WITHOUT ROWID""",
    "CREATE INDEX agg_items_item ON agg_items (kind, item, day, key)",
    """CREATE TABLE agg_points (
        key INTEGER NOT NULL,
        day INTEGER NOT NULL,
        type TEXT NOT NULL,
        accrued INTEGER NOT NULL DEFAULT 0,
        redeemed INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (key, day, type)) WITHOUT ROWID""",
    # the current RFM result (central/marketing/rfm.py), for the RFM criterion and the grid
    """CREATE TABLE customer_rfm (
        key INTEGER PRIMARY KEY,
        r INTEGER NOT NULL,
        f INTEGER NOT NULL,
        m INTEGER NOT NULL,
        class TEXT NOT NULL,
        days_since INTEGER NOT NULL,
        purchases INTEGER NOT NULL,
        spend INTEGER NOT NULL)""",
]


def chain_zone(conn: sqlite3.Connection) -> zoneinfo.ZoneInfo:
    """The chain's time zone ("now", "today"): the ``chain_timezone`` setting, default Europe/Moscow."""
    row = conn.execute("SELECT value FROM settings WHERE name = 'chain_timezone'").fetchone()
    try:
        return zoneinfo.ZoneInfo(row[0] if row and row[0] else DEFAULT_CHAIN_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(DEFAULT_CHAIN_ZONE)


def local_day(epoch: int, zone: dt.tzinfo) -> int:
    return dt.datetime.fromtimestamp(epoch, zone).date().toordinal()


class LocalDays:
    """:func:`local_day` of a store's times (``zone_of(store)``: its zone), the zone's UTC offset looked up once per
    quarter hour of UTC instead of once per time: a quarter hour whose first and last second have the same offset
    has it throughout (no zone changes its offset twice within a quarter hour), so its days are the epoch plus
    that offset, in days; a quarter hour holding a change goes by :func:`local_day` itself."""

    __slots__ = ("_offsets", "_zones", "zone_of")

    def __init__(self, zone_of: Callable[[str | None], dt.tzinfo]) -> None:
        self.zone_of = zone_of
        self._zones: dict[str | None, dt.tzinfo] = {}
        self._offsets: dict[tuple[dt.tzinfo, int], int | None] = {}

    def __call__(self, store: str | None, epoch: int) -> int:
        zone = self._zones.get(store)
        if zone is None:
            zone = self._zones[store] = self.zone_of(store)
        slot = epoch // 900
        try:
            offset = self._offsets[(zone, slot)]
        except KeyError:
            offset = self._offsets[(zone, slot)] = _slot_offset(zone, slot)
        if offset is None:
            return local_day(epoch, zone)
        return (epoch + offset) // 86400 + _EPOCH_ORDINAL


#: 1970-01-01's date ordinal
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def _slot_offset(zone: dt.tzinfo, slot: int) -> int | None:
    """The zone's UTC offset in seconds throughout quarter hour ``slot`` of UTC, None when it changes in it."""
    first = dt.datetime.fromtimestamp(slot * 900, zone).utcoffset()
    last = dt.datetime.fromtimestamp(slot * 900 + 899, zone).utcoffset()
    if first != last or first is None or first.microseconds:
        return None
    return first.days * 86400 + first.seconds


def today(conn: sqlite3.Connection, now: dt.datetime | None = None) -> int:
    """Today's local date ordinal in the chain's time zone."""
    moment = now or dt.datetime.now(dt.UTC)
    return moment.astimezone(chain_zone(conn)).date().toordinal()


def keys_of(conn: sqlite3.Connection, customer_ids: Iterable[str]) -> dict[str, int]:
    """customer id -> key, making keys for ids without one."""
    wanted = sorted(set(customer_ids))
    state = import_state(conn)
    if state is not None:  # a pipelined import: the keys it gave are in its memory
        missing = known_keys(conn, wanted)
        if missing:
            conn.executemany(
                "INSERT INTO customer_keys (key, customer_id) VALUES (?, ?)", state.give("customer_keys", missing)
            )
        known = state.ids["customer_keys"]
        return {c: known[c] for c in wanted}
    found: dict[str, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        marks, params = in_list(wanted[start : start + _CHUNK])
        found.update(conn.execute(f"SELECT customer_id, key FROM customer_keys WHERE customer_id IN ({marks})", params))
    missing = [c for c in wanted if c not in found]
    if missing:
        conn.executemany(
            "INSERT INTO customer_keys (customer_id) VALUES (?) ON CONFLICT DO NOTHING", [(c,) for c in missing]
        )
        return keys_of(conn, wanted)
    return found


def known_keys(conn: sqlite3.Connection, customer_ids: Sequence[str]) -> list[str]:
    """A pipelined import's keys of these customers into its memory (central/storage/import_pipeline.py), from the
    database for those it does not know; returns the ids without a key."""
    known = import_state(conn).ids["customer_keys"]  # type: ignore[union-attr]
    asked = [c for c in customer_ids if c not in known]
    for start in range(0, len(asked), _CHUNK):
        chunk = asked[start : start + _CHUNK]
        known.update(
            conn.execute(
                f"SELECT customer_id, key FROM customer_keys WHERE customer_id IN ({','.join('?' * len(chunk))})", chunk
            )
        )
    return [c for c in asked if c not in known]


def record(
    conn: sqlite3.Connection, entries: Sequence[Entry], zone_of: Callable[[str | None], dt.tzinfo]
) -> dict[str, int]:
    """Fold transactions into the aggregates (inside the caller's transaction); return the customers touched,
    id -> key (the ingest's segment hook needs them again: central/marketing/engine.py ``after_ingest``).

    The transactions are folded one by one into the days and points; their purchase lines are folded into
    the items with numpy at once (a history import's flush has a million of them): grouped, summed and
    ordered by the table's primary key, as the rows are written.
    """
    import numpy as np

    entries = [e for e in entries if e[0] is not None]
    if not entries:
        return {}
    keys = keys_of(conn, (e[0] for e in entries))
    days: dict[tuple[int, int, str], list[int]] = {}
    points: dict[tuple[int, int, str], list[int]] = {}
    bought: list[tuple[int, int, str, list[int], Sequence[tuple[int | None, int | None, Any]]]] = []
    day_of = LocalDays(zone_of)
    for cid, kind, store, at_epoch, amount, accrued, redeemed, lines in entries:
        key = keys[cid]
        day = day_of(store, at_epoch)
        if accrued or redeemed:
            row = points.setdefault((key, day, kind), [0, 0])
            row[0] += accrued
            row[1] += redeemed
        if kind not in ("purchase", "refund", "cancel"):
            continue
        place = store or ""
        row = days.setdefault((key, day, place), [0, 0, 0, 0])
        if kind == "purchase":
            row[0] += 1
            row[2] += amount
            if lines:
                bought.append((key, day, place, row, lines))
        else:
            row[1] += 1
            row[2] += amount  # negative: a refund's amount as the transactions table keeps it
    items = _fold_items(np, bought)
    conn.executemany(
        "INSERT INTO agg_days (key, day, store, purchases, refunds, spend, items) VALUES (?,?,?,?,?,?,?)"
        " ON CONFLICT (key, day, store) DO UPDATE SET purchases = agg_days.purchases + excluded.purchases,"
        " refunds = agg_days.refunds + excluded.refunds, spend = agg_days.spend + excluded.spend,"
        " items = agg_days.items + excluded.items",
        [(*k, *v) for k, v in sorted(days.items())],
    )
    by_columns = getattr(conn, "executemany_columns", None)
    if by_columns is not None and items is not None:  # a pipelined import: its writer process makes the rows
        columns, places = items
        by_columns(_ITEMS, columns, [None, None, None, None, places, None])
    elif items is not None:
        conn.executemany(_ITEMS, _item_rows(*items))
    conn.executemany(
        "INSERT INTO agg_points (key, day, type, accrued, redeemed) VALUES (?,?,?,?,?)"
        " ON CONFLICT (key, day, type) DO UPDATE SET accrued = agg_points.accrued + excluded.accrued,"
        " redeemed = agg_points.redeemed + excluded.redeemed",
        [(*k, *v) for k, v in sorted(points.items())],
    )
    return keys


_ITEMS = (
    "INSERT INTO agg_items (key, kind, item, day, store, quantity) VALUES (?,?,?,?,?,?)"
    " ON CONFLICT (key, kind, item, day, store) DO UPDATE SET quantity = agg_items.quantity + excluded.quantity"
)


def _item_rows(columns: list[Any], places: list[str]) -> list[tuple[Any, ...]]:
    """``agg_items`` rows of :func:`_fold_items`' columns (the store, column 4, as its index in ``places``)."""
    k, kind, item, d, p, q = (c.tolist() for c in columns)
    return list(zip(k, kind, item, d, [places[i] for i in p], q, strict=True))


def _fold_items(
    np: Any, bought: Sequence[tuple[int, int, str, list[int], Sequence[Any]]]
) -> tuple[list[Any], list[str]] | None:
    """The purchases' lines as ``agg_items`` rows (key, kind, item, day, store, quantity), summed per row and in
    the primary key's order, as numpy columns (the store's an index in the list returned beside them; None: no
    row); each purchase's quantities are added to its day's items (``row[3]``)."""
    if not bought:
        return None
    counts = np.fromiter((len(entry[4]) for entry in bought), np.int64, len(bought))
    spans = _spans(np, bought, counts)
    if spans is not None:  # a receipt import's batch: the lines are columns already (line_pack.LineArrays)
        product, category, milli = spans
        flat_count = len(milli)
    else:
        flat = [line for entry in bought for line in entry[4]]
        flat_count = len(flat)
        products, categories, quantities = zip(*flat, strict=True)
        millis = {q: quantity_milli(q) for q in set(quantities)}  # a flush repeats "1" thousands of times
        milli = np.fromiter(map(millis.__getitem__, quantities), np.int64, flat_count)
        product = np.fromiter((-1 if p is None else p for p in products), np.int64, flat_count)
        category = np.fromiter((-1 if c is None else c for c in categories), np.int64, flat_count)
    sums = np.zeros(flat_count + 1, np.int64)
    np.cumsum(milli, out=sums[1:])
    ends = np.cumsum(counts)
    per_purchase = (sums[ends] - sums[ends - counts]).tolist()
    for entry, total in zip(bought, per_purchase, strict=True):
        entry[3][3] += total
    places = sorted({entry[2] for entry in bought})
    rank = {place: i for i, place in enumerate(places)}
    key = np.repeat(np.fromiter((e[0] for e in bought), np.int64, len(bought)), counts)
    day = np.repeat(np.fromiter((e[1] for e in bought), np.int64, len(bought)), counts)
    place = np.repeat(np.fromiter((rank[e[2]] for e in bought), np.int64, len(bought)), counts)
    has_product, has_category = product >= 0, category >= 0
    columns = [
        np.concatenate((a[has_product], b[has_category]))
        for a, b in ((key, key), (np.full(flat_count, PRODUCT), np.full(flat_count, CATEGORY)), (product, category))
    ]
    columns += [np.concatenate((a[has_product], a[has_category])) for a in (day, place, milli)]
    k, kind, item, d, p, q = columns
    if not len(k):
        return None
    found = packed_keys.pack([k, kind, item, d, p])
    if found is not None:  # one packed key: one sort, one column gathered, the key columns by division
        packed, radix = found
        order, at = packed_keys.groups(packed)
        return [*radix.unpack(packed[order[at]]), np.add.reduceat(q[order], at)], places
    order = np.lexsort((p, d, item, kind, k))
    k, kind, item, d, p, q = (c[order] for c in (k, kind, item, d, p, q))
    start = np.ones(len(k), bool)
    start[1:] = (k[1:] != k[:-1]) | (kind[1:] != kind[:-1]) | (item[1:] != item[:-1]) | (d[1:] != d[:-1])
    start[1:] |= p[1:] != p[:-1]
    at = np.flatnonzero(start)
    return [k[at], kind[at], item[at], d[at], p[at], np.add.reduceat(q, at)], places


def _spans(np: Any, bought: Sequence[tuple[Any, ...]], counts: Any) -> tuple[Any, Any, Any] | None:
    """(product, category, milli) of the purchases' lines in order, -1 for no product or category, when each
    purchase's lines are a :class:`line_pack.LineSpan` of one flush's :class:`line_pack.LineArrays`; else None."""
    first = bought[0][4]
    if type(first) is not line_pack.LineSpan:
        return None
    lines = first.lines
    if any(type(e[4]) is not line_pack.LineSpan or e[4].lines is not lines for e in bought):
        return None
    begin = np.fromiter((e[4].start for e in bought), np.int64, len(bought))
    # each line's row in the arrays: its purchase's start + its place among the purchase's lines
    rows = np.repeat(begin - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()), dtype=np.int64)
    product, category = lines.product[rows], lines.category[rows]
    product[product == 0] = -1
    category[category == 0] = -1
    return product, category, lines.milli(quantity_milli)[rows]


_SUMS = {
    "agg_days": ("day, store", "purchases, refunds, spend, items"),
    "agg_items": ("kind, item, day, store", "quantity"),
    "agg_points": ("day, type", "accrued, redeemed"),
}


def move_customer(conn: sqlite3.Connection, source: str, target: str) -> None:
    """A merge: the source's aggregates add to the target's (central/points/merging.py, same transaction)."""
    keys = keys_of(conn, [source, target])
    for table, (columns, sums) in _SUMS.items():
        adds = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in sums.split(", "))
        conn.execute(
            f"INSERT INTO {table} (key, {columns}, {sums}) SELECT ?, {columns}, {sums} FROM {table}"
            f" WHERE key = ? ORDER BY {columns} ON CONFLICT (key, {columns}) DO UPDATE SET {adds}",
            (keys[target], keys[source]),
        )
        conn.execute(f"DELETE FROM {table} WHERE key = ?", (keys[source],))


def store_zones(conn: sqlite3.Connection) -> Callable[[str | None], dt.tzinfo]:
    zones = {sid: zoneinfo.ZoneInfo(tz) for sid, tz in conn.execute("SELECT id, timezone FROM stores")}
    chain = chain_zone(conn)
    return lambda store: zones.get(store) or chain


def backfill(conn: sqlite3.Connection, batch: int = 20000) -> None:
    """Build the aggregates from every stored transaction (the migration's Python step)."""
    zone_of = store_zones(conn)
    last = 0
    while True:
        rows = conn.execute(
            "SELECT id, customer_id, kind, store, at_epoch, amount, accrued, redeemed FROM transactions"
            " WHERE id > ? AND customer_id IS NOT NULL ORDER BY id LIMIT ?",
            (last, batch),
        ).fetchall()
        if not rows:
            return
        lines: dict[int, list[tuple[Any, ...]]] = {}
        for line in line_pack.lines_between(conn, last, rows[-1][0]):
            lines.setdefault(line[0], []).append((line[2], line[3], line[5]))
        record(conn, [(r[1], r[2], r[3], r[4], r[5], r[6], r[7], lines.get(r[0], ())) for r in rows], zone_of)
        last = rows[-1][0]


# -- one customer's facts for the per-customer evaluator ---------------------------------------------------


@functools.lru_cache(maxsize=65536)
def _local_day(text: str, zone: dt.tzinfo) -> int:
    """An ISO time's local day (ordinal) in a zone (customers registered in one batch share their times)."""
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(zone).date().toordinal()


def _birthday(text: Any) -> dt.date | None:
    if not isinstance(text, str):
        return None
    return _birthday_text(text)


@functools.lru_cache(maxsize=65536)
def _birthday_text(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _consents(text: str) -> frozenset[str]:
    """The channels a ``customers.consents`` JSON text says exactly ``true`` for (customers share a few texts)."""
    given = json.loads(text)
    return frozenset(k for k, v in given.items() if v is True) if isinstance(given, dict) else frozenset()


#: the tables a criterion reads besides the ``customers`` row (``load_facts``' ``tables``)
TABLES_OF = {
    "card": {"cards"},
    "kind": {"cards"},
    "tag": {"tags"},
    "purchases": {"days"},
    "spend": {"days"},
    "average_check": {"days"},
    "average_items": {"days"},
    "first_purchase": {"days"},
    "last_purchase": {"days"},
    "bought_category": {"items"},
    "bought_products": {"items"},
    "product_name": {"items"},
    "points": {"points"},
    "rfm": {"rfm"},
    "promotion": {"promotions"},
    "promo_code": {"codes"},
    "trigger": {"triggers"},
    "message": {"messages"},
}
#: the tables of the promotion, promo code, trigger and message criteria (not aggregates: their own tables)
OUTSIDE_TABLES = frozenset({"promotions", "codes", "triggers", "messages"})
ALL_TABLES = frozenset({"cards", "tags", "days", "items", "points", "rfm"}) | OUTSIDE_TABLES


def message_outcomes(state: str, opened: Any, clicked: Any) -> list[str]:
    """The outcomes of one message of a mailing (a ``message_outbox`` row): ``delivered`` (the gateway reported
    it, or it was opened: email gateways often report nothing), ``opened`` (a click is an opening too),
    ``clicked``, ``failed`` (a gateway's report or the sender giving up for good; a message skipped for want of
    consent or address was never sent: no outcome). The set queries (segment_engine.py ``message``) say the
    same in SQL."""
    out = []
    if state == "delivered" or opened:
        out.append("delivered")
    if opened:
        out.append("opened")
    if clicked:
        out.append("clicked")
    if state == "failed":
        out.append("failed")
    return out


def _outside_facts(
    conn: sqlite3.Connection,
    tables: frozenset[str],
    ids: Mapping[str, int],
    chunk: Sequence[int],
    out: dict[int, Facts],
) -> None:
    """The facts of the promotion, promo code, trigger and message criteria (docs/segments.md, "Where the
    criteria's facts come from"), of ``tables`` only."""
    id_marks, marks = ",".join("?" * len(ids)), ",".join("?" * len(chunk))
    if "promotions" in tables:
        rewarded: dict[int, set[str]] = {}
        for cid, promotion in conn.execute(
            f"SELECT DISTINCT customer_id, promotion_id FROM promotion_results WHERE customer_id IN ({id_marks})",
            list(ids),
        ):
            rewarded.setdefault(ids[cid], set()).add(promotion)
        for key, found in rewarded.items():
            out[key].promotions = frozenset(found)
    if "codes" in tables:
        codes: dict[int, set[tuple[str, str]]] = {}
        for cid, list_id in conn.execute(
            f"SELECT customer_id, list_id FROM promo_codes WHERE customer_id IN ({id_marks})", list(ids)
        ):
            codes.setdefault(ids[cid], set()).add((list_id, "received"))
        for cid, list_id in conn.execute(
            "SELECT customer_id, list_id FROM promo_code_uses"
            f" WHERE customer_id IN ({id_marks}) AND accepted = 1 AND list_id IS NOT NULL",
            list(ids),
        ):
            codes.setdefault(ids[cid], set()).add((list_id, "activated"))
        for key, pairs in codes.items():
            out[key].codes = frozenset(pairs)
    if "triggers" in tables:
        runs: dict[int, set[tuple[int, int, str]]] = {}
        for key, trigger, step, phase, furthest in conn.execute(
            f"SELECT customer_key, trigger_id, step, phase, furthest FROM trigger_runs WHERE customer_key IN ({marks})",
            list(chunk),
        ):
            if key not in out:
                continue
            found = runs.setdefault(key, set())
            if step >= 1 and phase != "out":  # on the last step passed: run.step steps passed (scenario.on_step)
                found.add((trigger, step, "in"))
            found.update((trigger, s, "passed") for s in range(1, furthest + 1))
        for key, found in runs.items():
            out[key].triggers = frozenset(found)
    if "messages" in tables:
        outcomes: dict[int, set[tuple[int, str]]] = {}
        for cid, mailing, state, opened, clicked in conn.execute(
            "SELECT customer_id, mailing_id, state, opened_at, clicked_at FROM message_outbox"
            f" WHERE customer_id IN ({id_marks}) AND mailing_id IS NOT NULL",
            list(ids),
        ):
            found = message_outcomes(state, opened, clicked)
            if found:
                outcomes.setdefault(ids[cid], set()).update((mailing, o) for o in found)
        for key, pairs in outcomes.items():
            out[key].messages = frozenset(pairs)


def items_read(criteria: Iterable[Any]) -> frozenset[tuple[int, int]] | None:
    """The (kind, id) of ``agg_items`` these criteria read (``load_facts``' ``items``): bought category and bought
    products name theirs; None (every item) when one reads products by name."""
    found: set[tuple[int, int]] = set()
    for c in criteria:
        if c.type == "product_name":
            return None
        if c.type == "bought_category":
            found.update((CATEGORY, int(i)) for i in c.get("categories") or ())
        elif c.type == "bought_products":
            found.update((PRODUCT, int(i)) for i in c.get("products") or ())
    return frozenset(found)


def items_since(criteria: Iterable[Any], today: int) -> int | None:
    """The first day any of these criteria reads of ``agg_items`` (``load_facts``' ``items_since``): the earliest
    start of their periods; None when one reads all time (or none reads the items)."""
    first: int | None = None
    for c in criteria:
        if "items" not in TABLES_OF.get(c.type, ()):
            continue
        period = c.get("period")
        start = None if period is None else period.bounds(today)[0]
        if start is None:
            return None
        first = start if first is None else min(first, start)
    return first


_PROFILE = "c.id, c.birthday, c.gender, c.consents, c.custom, c.created_at, c.home_store, c.level, c.balance"


def _customer_rows(
    conn: sqlite3.Connection,
    keys: list[int],
    id_of: Mapping[int, str] | None,
    known: Mapping[str, tuple[Any, ...]] | None = None,
) -> Iterable[Any]:
    """(key, id, birthday, gender, consents, custom, created_at, home store, level, balance) of these keys'
    customers (not merged away); by id when the caller knows the keys' ids (one index search fewer each).
    ``known``: rows (without the key) the caller read already in this transaction, by customer id (the ingest's
    ledger: ``LedgerBatch.profile_rows``); only the others are read."""
    if known and id_of is not None:
        rows = [(k, *known[id_of[k]]) for k in keys if id_of.get(k) in known]
        if len(rows) == len(keys):
            return rows
        if rows:
            have = {row[0] for row in rows}
            return [*rows, *_customer_rows(conn, [k for k in keys if k not in have], id_of)]
    if id_of is not None and all(k in id_of for k in keys):
        key_of = {id_of[k]: k for k in keys}
        marks, params = in_list([id_of[k] for k in keys])
        return (
            (key_of[row[0]], *row)
            for row in conn.execute(
                f"SELECT {_PROFILE} FROM customers c WHERE c.id IN ({marks}) AND c.merged_into IS NULL", params
            )
        )
    marks, params = in_list(keys)
    return conn.execute(
        f"SELECT k.key, {_PROFILE} FROM customer_keys k JOIN customers c ON c.id = k.customer_id"
        f" WHERE k.key IN ({marks}) AND c.merged_into IS NULL",
        params,
    )


def items_filter(items: frozenset[tuple[int, int]] | None) -> str:
    """The condition on ``agg_items`` (after its ``key IN (...)``) that keeps only these (kind, id) rows; "" for all.

    One kind: no OR, so SQLite searches the primary key on (key, kind) and tests the items on the way. The unary
    plus keeps SQLite off the (kind, item) index: without statistics it takes that index from about 300 keys on
    and reads every customer's rows of those items (the ingest's rounds of 500 customers were ~20 times slower)."""
    if not items:
        return ""
    parts = []
    for kind in (CATEGORY, PRODUCT):
        ids = sorted({i for k, i in items if k == kind})
        if ids:
            parts.append(f"kind = {kind} AND +item IN ({','.join(str(int(i)) for i in ids)})")
    either = " OR ".join(f"({p})" for p in parts)
    return f" AND {parts[0]}" if len(parts) == 1 else f" AND ({either})"


def _profile_facts(row: Sequence[Any], zone: dt.tzinfo) -> Facts:
    """A customer's :class:`Facts` with the ``customers`` row's part filled (a row of :func:`_customer_rows`)."""
    key, _cid, birthday, gender, consents, custom, created, home, level, balance = row
    return Facts(
        key,
        birthday=_birthday(birthday),
        gender=gender,
        consents=_consents(consents) if consents and consents != "{}" else frozenset(),
        custom=dict(json.loads(custom)) if custom and custom != "{}" else {},
        registered_day=_local_day(created, zone) if created else None,
        home_store=home,
        level=level,
        balance=balance or 0,
    )


#: the tables the event path's column facts read (``load_facts(columns=True)``); others: Facts objects
COLUMN_TABLES = frozenset({"days", "items", "tags"})


def _column_facts(
    conn: sqlite3.Connection,
    keys: Sequence[int],
    zone: dt.tzinfo,
    tables: frozenset[str],
    items: frozenset[tuple[int, int]] | None,
    since: int | None,
    id_of: Mapping[int, str] | None,
    known: Mapping[str, tuple[Any, ...]] | None,
) -> ColumnFacts:
    """``load_facts`` as columns (``compiled.ColumnFacts``): the numbers the vector criteria read, in arrays; the
    :class:`Facts` (the same as ``load_facts`` gives) read again only if a criterion asks for them."""
    profile: list[Any] = []
    days = np.zeros((0, 5), np.int64)
    bought = np.zeros((0, 4), np.int64)
    categories = None if items is None else sorted(i for kind, i in items if kind == CATEGORY)
    category_filter = "" if categories is None else f" AND +item IN ({','.join(str(int(i)) for i in categories)})"
    if since is not None:
        category_filter += f" AND day >= {int(since)}"
    for start in range(0, len(keys), _CHUNK):
        chunk = list(keys[start : start + _CHUNK])
        marks, params = in_list(chunk)
        profile += _customer_rows(conn, chunk, id_of, known)
        if "days" in tables:
            rows = conn.execute(
                f"SELECT key, day, purchases, spend, items FROM agg_days WHERE key IN ({marks})", params
            ).fetchall()
            days = np.concatenate([days, np.array(rows, np.int64).reshape(-1, 5)])
        if "items" in tables and categories != []:
            rows = conn.execute(
                f"SELECT key, item, day, quantity FROM agg_items WHERE key IN ({marks}) AND kind = {CATEGORY}"
                + category_filter,
                params,
            ).fetchall()
            bought = np.concatenate([bought, np.array(rows, np.int64).reshape(-1, 4)])
    profile.sort()  # (by key: the order of the columns)
    order = [row[0] for row in profile]
    tags: dict[int, set[str]] = {}
    if "tags" in tables and profile:
        key_of = {row[1]: row[0] for row in profile}
        for start in range(0, len(profile), _CHUNK):
            marks, params = in_list([row[1] for row in profile[start : start + _CHUNK]])
            for cid, tag in conn.execute(
                f"SELECT customer_id, tag FROM customer_tags WHERE customer_id IN ({marks})", params
            ):
                tags.setdefault(key_of[cid], set()).add(tag)
    no_tags: frozenset[str] = frozenset()
    columns = {
        "birthday": [_birthday(row[2]) for row in profile],
        "gender": [row[3] for row in profile],
        "consents": [_consents(c) if c and c != "{}" else frozenset() for c in (row[4] for row in profile)],
        "home_store": [row[7] for row in profile],
        "level": [row[8] for row in profile],
        "tags": [frozenset(tags[k]) if k in tags else no_tags for k in order],
    }

    def build() -> dict[int, Facts]:
        ids = {row[0]: row[1] for row in profile}
        return dict(load_facts(conn, order, zone, tables, items, ids, columns=False, items_since=since))

    return ColumnFacts(order, columns, _indexed(days, order), _indexed(bought, order), build)


def _indexed(rows: np.ndarray, order: list[int]) -> np.ndarray:
    """Rows whose first column is a customer key, with it turned into the customer's index in ``order`` (sorted
    keys); rows of keys not there (customers merged away) left out."""
    if not len(rows):
        return rows
    sorted_keys = np.asarray(order, np.int64)
    at = np.searchsorted(sorted_keys, rows[:, 0])
    found = at < len(sorted_keys)
    found[found] = sorted_keys[at[found]] == rows[found, 0]
    rows = rows[found]
    rows[:, 0] = at[found]
    return rows


def load_facts(
    conn: sqlite3.Connection,
    keys: Sequence[int],
    zone: dt.tzinfo | None = None,
    tables: Iterable[str] = ALL_TABLES,
    items: frozenset[tuple[int, int]] | None = None,
    id_of: Mapping[int, str] | None = None,
    columns: bool = False,
    items_since: int | None = None,
    known: Mapping[str, tuple[Any, ...]] | None = None,
) -> Mapping[int, Facts]:
    """key -> :class:`Facts` of these customers (merged-away customers are left out); of ``tables`` (cards, tags,
    days, items, points, rfm, promotions, codes, triggers, messages: :data:`TABLES_OF`) only those are read, the
    others' facts stay empty. ``items``: only these (kind, id) rows of ``agg_items`` (:func:`items_read`; the
    answers of the criteria that named them are the same, but the customers' item activity days are not all
    there), None for all. ``id_of``: the keys' customer ids when the caller knows them (the event path:
    :func:`keys_of` gave them). ``columns``: as ``compiled.ColumnFacts`` (the event path's rounds) when the tables
    allow (:data:`COLUMN_TABLES`). ``items_since``: of ``agg_items`` only the rows of this day on
    (:func:`items_since`: what the criteria's periods can read). ``known``: customers' rows read already
    (:func:`_customer_rows`)."""
    tables = frozenset(tables)
    if items is not None and not items:
        tables -= {"items"}
    item_filter = items_filter(items) + ("" if items_since is None else f" AND day >= {int(items_since)}")
    zone = zone or chain_zone(conn)
    if columns and tables <= COLUMN_TABLES:
        return _column_facts(conn, keys, zone, tables, items, items_since, id_of, known)
    out: dict[int, Facts] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = list(keys[start : start + _CHUNK])
        marks = ",".join("?" * len(chunk))
        ids: dict[str, int] = {}
        for row in _customer_rows(conn, chunk, id_of, known):
            ids[row[1]] = row[0]
            out[row[0]] = _profile_facts(row, zone)
        if not ids:
            continue
        id_marks = ",".join("?" * len(ids))
        cards: dict[int, list[tuple[str, int | None]]] = {}
        any_card: set[int] = set()
        for cid, number, status, category in (
            conn.execute(
                f"SELECT customer_id, number, status, category_id FROM cards WHERE customer_id IN ({id_marks})",
                list(ids),
            )
            if "cards" in tables
            else ()
        ):
            any_card.add(ids[cid])
            if status == "active":
                cards.setdefault(ids[cid], []).append((number, category))
        tags: dict[int, set[str]] = {}
        for cid, tag in (
            conn.execute(f"SELECT customer_id, tag FROM customer_tags WHERE customer_id IN ({id_marks})", list(ids))
            if "tags" in tables
            else ()
        ):
            tags.setdefault(ids[cid], set()).add(tag)
        days: dict[int, list[Day]] = {}
        for key, day, store, purchases, spend, items in (
            conn.execute(f"SELECT key, day, store, purchases, spend, items FROM agg_days WHERE key IN ({marks})", chunk)
            if "days" in tables
            else ()
        ):
            days.setdefault(key, []).append(Day(day, store, purchases, spend, items))
        goods: dict[int, list[Item]] = {}
        for key, kind, item, day, store, quantity in (
            conn.execute(
                f"SELECT key, kind, item, day, store, quantity FROM agg_items WHERE key IN ({marks})" + item_filter,
                chunk,
            )
            if "items" in tables
            else ()
        ):
            goods.setdefault(key, []).append(Item(day, store, kind, item, quantity))
        moves: dict[int, list[Points]] = {}
        for key, day, kind, accrued, redeemed in (
            conn.execute(f"SELECT key, day, type, accrued, redeemed FROM agg_points WHERE key IN ({marks})", chunk)
            if "points" in tables
            else ()
        ):
            moves.setdefault(key, []).append(Points(day, kind, accrued, redeemed))
        rfm = {
            row[0]: tuple(row[1:])
            for row in (
                conn.execute(f"SELECT key, r, f, m, class FROM customer_rfm WHERE key IN ({marks})", chunk)
                if "rfm" in tables
                else ()
            )
        }
        for key in ids.values():
            facts = out[key]
            facts.has_card = key in any_card
            facts.cards = tuple(sorted(cards.get(key, ())))
            facts.tags = frozenset(tags.get(key, ()))
            facts.days = tuple(days.get(key, ()))
            facts.items = tuple(goods.get(key, ()))
            facts.points = tuple(moves.get(key, ()))
            facts.rfm = rfm.get(key)  # type: ignore[assignment]
        if tables & OUTSIDE_TABLES:
            _outside_facts(conn, tables, ids, chunk, out)
    return out
