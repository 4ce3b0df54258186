"""Report rollups: daily summaries kept in the ledger's own transaction (docs/reports.md).

Every transaction the receipt log writes (central/points/receipt_log.py ``flush``: the one place purchases,
refunds, cancels and point operations land, whichever path brought them -- the ingest, the receipt-history
import, the console, the nightly expiry) is folded here, in the same transaction, into four small tables:

* ``report_sales`` per (local day, store, level, identified): receipts (purchases), refunds (refund and cancel
  receipts), sales (purchase amounts minus refund amounts), refunded (refund amounts, positive), lines
  (purchase lines), points accrued and redeemed on receipts (net of refunds);
* ``report_categories`` per (local day, store, category, level, identified): purchase lines, quantity
  (thousandths) and sales by line amount. Refunds and a purchase's total beyond its lines go to category 0
  ("not by category"), so the categories always add up to ``report_sales``' sales;
* ``report_hours`` per (local day, store, local hour): receipts, identified receipts, sales;
* ``report_points`` per (local day, store, transaction kind): points accrued and redeemed (signed, as the
  transactions table keeps them), so ``accrued - redeemed`` summed up to a day is the liability then;
* ``report_chain_sales`` and ``report_chain_points``: the same without the store (and level): a row per day
  for the whole chain, what the dashboard reads when no store is left out.

A day is the local date (ordinal) in the store's time zone; an operation without a store uses the chain's zone.
``store`` is '' and ``level`` is '' when there is none. :func:`backfill` builds the tables from the
transactions already stored (migration 11); :func:`recompute` is the same fold over everything, for tests.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import line_pack, packed_keys
from .aggregates import store_zones
from .portable import WITHOUT_ROWID

#: the fold's tables, their key columns and their summed columns
TABLES = {
    "report_sales": (
        ("day", "store", "level", "identified"),
        ("receipts", "refunds", "sales", "refunded", "lines", "accrued", "redeemed"),
    ),
    "report_categories": (("day", "store", "category", "level", "identified"), ("lines", "quantity", "sales")),
    "report_hours": (("day", "store", "hour"), ("receipts", "identified", "sales")),
    "report_points": (("day", "store", "kind"), ("accrued", "redeemed")),
    # the whole chain's days (the dashboard and the liability without a store filter read a row per day)
    "report_chain_sales": (
        ("day", "identified"),
        ("receipts", "refunds", "sales", "refunded", "lines", "accrued", "redeemed"),
    ),
    "report_chain_points": (("day", "kind"), ("accrued", "redeemed")),
}
_TEXT_KEYS = {"store", "level", "kind"}


def _create(table: str) -> str:
    keys, sums = TABLES[table]
    columns = [f"{k} {'TEXT' if k in _TEXT_KEYS else 'INTEGER'} NOT NULL" for k in keys]
    columns += [f"{s} INTEGER NOT NULL DEFAULT 0" for s in sums]
    return f"CREATE TABLE {table} ({', '.join(columns)}, PRIMARY KEY ({', '.join(keys)})){WITHOUT_ROWID}"


def _upsert(table: str) -> str:
    keys, sums = TABLES[table]
    names = (*keys, *sums)
    adds = ", ".join(f"{s} = {table}.{s} + excluded.{s}" for s in sums)
    return (
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {adds}"
    )


_UPSERTS = {table: _upsert(table) for table in TABLES}

MIGRATION: list[str] = [_create(table) for table in TABLES]

# -- the fold ---------------------------------------------------------------------------------------------------

#: a ``transactions`` row as the receipt log's flush builds it: (id, *receipts.TRANSACTION_COLUMNS, line_count,
#: columns, recorded_at, line_texts); the positions the fold reads
_KIND, _STORE, _CUSTOMER, _EPOCH, _HOUR, _AMOUNT, _ACCRUED, _REDEEMED, _LEVEL = 1, 3, 8, 11, 13, 14, 15, 16, 17
#: a line as the fold reads it (the receipt log's flush makes them): (transaction_id, category_id, quantity, amount)
_RECEIPTS = ("purchase", "refund", "cancel")


def quantity_milli(text: Any) -> int:
    """A line quantity ("1", "0.455", 2) in thousandths, rounded half up; 1000 when unreadable."""
    try:
        from decimal import Decimal, InvalidOperation

        return int((Decimal(str(text)) * 1000).to_integral_value(rounding="ROUND_HALF_UP"))
    except (InvalidOperation, ValueError, TypeError):  # pragma: no cover - the contract checks quantities
        return 1000


class DayOf:
    """Local day ordinals of epoch seconds per zone, cached per zone and quarter hour (offsets change on those)."""

    def __init__(self, zone_of: Callable[[str | None], dt.tzinfo]) -> None:
        self.zone_of = zone_of
        self._zones: dict[str | None, dt.tzinfo] = {}
        self._offsets: dict[tuple[dt.tzinfo, int], int] = {}

    def __call__(self, store: str | None, epoch: int) -> int:
        zone = self._zones.get(store)
        if zone is None:
            zone = self._zones[store] = self.zone_of(store)
        slot = epoch // 900
        offset = self._offsets.get((zone, slot))
        if offset is None:
            moment = dt.datetime.fromtimestamp(slot * 900, zone)
            offset = int(moment.utcoffset().total_seconds())  # type: ignore[union-attr]
            self._offsets[(zone, slot)] = offset
        return (epoch + offset) // 86400 + 719163  # 1970-01-01's ordinal

    def zone(self, store: str | None) -> dt.tzinfo:
        zone = self._zones.get(store)
        if zone is None:
            zone = self._zones[store] = self.zone_of(store)
        return zone

    def days(self, stores: Sequence[str | None], epochs: Any) -> Any:
        """The same for columns: a numpy array of day ordinals (a zone's offset is looked up once per quarter
        hour present, not once per row)."""
        import numpy as np

        epochs = np.asarray(epochs, np.int64)
        out = np.empty(epochs.size, np.int64)
        by_zone: dict[dt.tzinfo, list[int]] = {}
        for i, store in enumerate(stores):
            by_zone.setdefault(self.zone(store), []).append(i)
        for zone, rows in by_zone.items():
            at = np.array(rows, np.int64) if len(rows) < epochs.size else slice(None)
            out[at] = self.zone_days(zone, epochs[at])
        return out

    def zone_days(self, zone: dt.tzinfo, epochs: Any) -> Any:
        """Day ordinals of a numpy array of epoch seconds, all in one zone."""
        import numpy as np

        def offset(slot: int) -> int:
            return int(dt.datetime.fromtimestamp(slot * 900, zone).utcoffset().total_seconds())  # type: ignore[union-attr]

        if epochs.size == 0:
            return epochs.copy()
        slots = epochs // 900
        found = np.unique(slots)
        # an offset changes a few times a year: looked up at each UTC day's first and last slot present, and at
        # every slot only on a day where those two differ (a zone never changes twice and back within a day)
        day = found // 96
        starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
        ends = np.r_[starts[1:], found.size] - 1
        offsets = np.empty(found.size, np.int64)
        for first, last in zip(starts.tolist(), ends.tolist(), strict=True):
            head, tail = offset(int(found[first])), offset(int(found[last]))
            if head == tail:
                offsets[first : last + 1] = head
            else:
                offsets[first : last + 1] = [offset(int(x)) for x in found[first : last + 1]]
        return (epochs + offsets[np.searchsorted(found, slots)]) // 86400 + 719163


def fold(
    rows: Iterable[Sequence[Any]], lines: Iterable[Sequence[Any]], day_of: Callable[[str | None, int], int]
) -> dict[str, dict[tuple[Any, ...], list[int]]]:
    """The rollups' increments of these transactions and their lines (no I/O)."""
    out: dict[str, dict[tuple[Any, ...], list[int]]] = {table: {} for table in TABLES}
    sales, categories, hours, points, chain_sales, chain_points = (out[t] for t in TABLES)
    by_id: dict[int, tuple[int, str, str, int, int]] = {}
    millis: dict[Any, int] = {}
    if isinstance(lines, line_pack.LineArrays):  # a receipt import's batch: its rows by numpy too, when they can be
        found = _fold_rows(rows, day_of, out)
        if found is not None:
            by_id, rows = found, ()
    for row in rows:
        kind, store, amount, accrued, redeemed = (
            row[_KIND],
            row[_STORE] or "",
            row[_AMOUNT],
            row[_ACCRUED],
            row[_REDEEMED],
        )
        day = day_of(row[_STORE], row[_EPOCH])
        if accrued or redeemed:
            acc = points.setdefault((day, store, kind), [0, 0])
            acc[0] += accrued
            acc[1] += redeemed
        if kind not in _RECEIPTS:
            continue
        level = row[_LEVEL] or ""
        known = 1 if row[_CUSTOMER] is not None else 0
        acc = sales.setdefault((day, store, level, known), [0, 0, 0, 0, 0, 0, 0])
        acc[5] += accrued
        acc[6] += redeemed
        acc[2] += amount
        rest = categories.setdefault((day, store, 0, level, known), [0, 0, 0])
        if kind == "purchase":
            acc[0] += 1
            hour = hours.setdefault((day, store, row[_HOUR] or 0), [0, 0, 0])
            hour[0] += 1
            hour[1] += known
            hour[2] += amount
            by_id[row[0]] = (day, store, level, known, amount)
            rest[2] += amount  # the lines' amounts move to their categories below
        else:
            acc[1] += 1
            acc[3] -= amount
            rest[2] += amount
    if isinstance(lines, line_pack.LineArrays):  # a receipt import's batch: the same sums by numpy
        out[LINE_CATEGORIES] = _fold_arrays(lines, by_id, sales, categories)  # type: ignore[assignment]
        lines = ()
    # a transaction's lines come one after the other: its head, its sales row and its "not by category" row are
    # looked up once per run of lines with its id, not once per line
    last: Any = None
    head: tuple[int, str, str, int, int] | None = None
    sale: list[int] = []
    rest: list[int] = []
    for line in lines:
        if line[0] != last:
            last, head = line[0], by_id.get(line[0])
            if head is not None:
                day, store, level, known, _ = head
                sale, rest = sales[(day, store, level, known)], categories[(day, store, 0, level, known)]
        if head is None:
            continue
        sale[4] += 1
        milli = millis.get(line[2])
        if milli is None:
            milli = millis[line[2]] = quantity_milli(line[2])
        acc = categories.setdefault((day, store, line[1] or 0, level, known), [0, 0, 0])
        acc[0] += 1
        acc[1] += milli
        acc[2] += line[3]
        rest[2] -= line[3]
    for key in [k for k, v in categories.items() if k[2] == 0 and not any(v)]:
        del categories[key]
    for (day, _store, _level, known), values in sales.items():
        acc = chain_sales.setdefault((day, known), [0] * len(values))
        for i, v in enumerate(values):
            acc[i] += v
    for (day, _store, kind), values in points.items():
        acc = chain_points.setdefault((day, kind), [0, 0])
        acc[0] += values[0]
        acc[1] += values[1]
    return out


def _fold_rows(
    rows: Iterable[Sequence[Any]], day_of: Callable[[str | None, int], int], out: dict[str, dict[Any, list[int]]]
) -> dict[int, tuple[int, str, str, int, int]] | None:
    """:func:`fold`'s loop over the transaction rows, by numpy (a receipt import's batch: tens of thousands of rows):
    the same ``report_points``, ``report_sales``, "not by category" and ``report_hours`` increments into ``out``'s
    empty dicts, summed per key at once; returns the purchases' heads (``by_id``). None, and nothing done, when an
    amount, points, time or hour is not an ``int`` (the loop then adds them as Python does)."""
    import numpy as np

    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return {}
    columns = list(zip(*rows, strict=False))
    ids, kind, store, customer, epoch = (columns[i] for i in (0, _KIND, _STORE, _CUSTOMER, _EPOCH))
    hour = [h or 0 for h in columns[_HOUR]]
    amount, accrued, redeemed = columns[_AMOUNT], columns[_ACCRUED], columns[_REDEEMED]
    if any(set(map(type, c)) != {int} for c in (epoch, hour, amount, accrued, redeemed)):
        return None
    count = len(rows)
    stores, levels = [s or "" for s in store], [v or "" for v in columns[_LEVEL]]
    day = np.fromiter(map(day_of, store, epoch), np.int64, count)
    store_code, store_names = _codes(np, stores)
    level_code, level_names = _codes(np, levels)
    kind_code, kind_names = _codes(np, kind)
    known = np.fromiter((c is not None for c in customer), np.int64, count)
    money = {name: np.fromiter(c, np.int64, count) for name, c in (("a", amount), ("c", accrued), ("r", redeemed))}
    points, sales, categories, hours = (
        out[t] for t in ("report_points", "report_sales", "report_categories", "report_hours")
    )
    moved = (money["c"] != 0) | (money["r"] != 0)
    for (d, s, k), (c, r) in _grouped(np, [day, store_code, kind_code], [money["c"], money["r"]], moved):
        points[(d, store_names[s], kind_names[k])] = [c, r]
    purchase = kind_code == (kind_names.index("purchase") if "purchase" in kind_names else -1)
    receipt = np.isin(kind_code, [i for i, k in enumerate(kind_names) if k in _RECEIPTS])
    other = receipt & ~purchase
    values = [purchase, other, money["a"], -money["a"] * other, money["c"], money["r"]]
    for (d, s, lv, k), (n, back, a, refunded, c, r) in _grouped(
        np, [day, store_code, level_code, known], [v.astype(np.int64) for v in values], receipt
    ):
        head = (d, store_names[s], level_names[lv])
        sales[(*head, k)] = [n, back, a, refunded, 0, c, r]
        categories[(d, head[1], 0, head[2], k)] = [0, 0, a]  # the lines' amounts move to their categories (fold)
    hour_of = np.fromiter(hour, np.int64, count)
    for (d, s, h), (n, k, a) in _grouped(
        np, [day, store_code, hour_of], [purchase.astype(np.int64), known, money["a"]], purchase
    ):
        hours[(d, store_names[s], h)] = [n, k, a]
    at = np.flatnonzero(purchase).tolist()
    days, knowns = day.tolist(), known.tolist()
    return {ids[i]: (days[i], stores[i], levels[i], knowns[i], amount[i]) for i in at}


def _codes(np: Any, values: Sequence[Any]) -> tuple[Any, list[Any]]:
    """(each value's index in the distinct values, the distinct values in order of appearance)."""
    names = list(dict.fromkeys(values))
    code = {v: i for i, v in enumerate(names)}
    return np.fromiter(map(code.__getitem__, values), np.int64, len(values)), names


def _grouped(np: Any, keys: list[Any], values: list[Any], where: Any) -> Iterable[tuple[tuple[int, ...], list[int]]]:
    """(key, sums of ``values``) per distinct key of the rows ``where`` says (integer columns)."""
    keys, values = [k[where] for k in keys], [v[where] for v in values]
    if not len(keys[0]):
        return []
    found = packed_keys.pack(keys)
    if found is None:  # pragma: no cover - a day, a store, a level, an hour and a flag always fit
        order = np.lexsort(keys[::-1])
        ordered = [k[order] for k in keys]
        starts = np.flatnonzero(np.r_[True, np.any([k[1:] != k[:-1] for k in ordered], axis=0)])
    else:
        order, starts = packed_keys.groups(found[0])
    heads = [k[order[starts]].tolist() for k in keys]
    sums = [np.add.reduceat(v[order], starts).tolist() for v in values]
    return zip(zip(*heads, strict=True), zip(*sums, strict=True), strict=True)  # type: ignore[return-value]


#: :func:`fold`'s entry of the categories' rows of lines given as columns (:class:`LineCategories`): written after
#: ``report_categories``' own rows, by the same upsert (a row of both adds up)
LINE_CATEGORIES = "report_categories (lines)"


class LineCategories:
    """``report_categories`` increments of lines given as columns, as numpy columns in the table's key order:
    day, store (an index in ``stores``), category, level (an index in ``levels``), identified; lines, quantity,
    sales."""

    __slots__ = ("columns", "levels", "stores")

    def __init__(self, columns: list[Any], stores: list[str], levels: list[str]) -> None:
        self.columns, self.stores, self.levels = columns, stores, levels

    def items(self) -> list[tuple[tuple[Any, ...], list[int]]]:
        """(key, sums) of each row, as ``report_categories``' dict of :func:`fold` holds them."""
        day, store, category, level, known, n, q, a = (c.tolist() for c in self.columns)
        stores, levels = self.stores, self.levels
        return [
            ((d, stores[s], c, levels[lv], k), [x, y, z])
            for d, s, c, lv, k, x, y, z in zip(day, store, category, level, known, n, q, a, strict=True)
        ]


def merged(increments: dict[str, Any]) -> dict[str, dict[tuple[Any, ...], list[int]]]:
    """:func:`fold`'s increments with the categories of lines given as columns added to ``report_categories``
    (what the tables hold once :func:`write` has written them)."""
    # (each row's sums copied: the increments themselves stay as they are, to be written)
    out = {table: {k: list(v) for k, v in acc.items()} for table, acc in increments.items() if table != LINE_CATEGORIES}
    extra = increments.get(LINE_CATEGORIES)
    if extra is not None:
        categories = out["report_categories"]
        for key, values in extra.items():
            have = categories.setdefault(key, [0, 0, 0])
            for i, v in enumerate(values):
                have[i] += v
    return out


def _fold_arrays(
    lines: line_pack.LineArrays,
    by_id: dict[int, tuple[int, str, str, int, int]],
    sales: dict[tuple[Any, ...], list[int]],
    categories: dict[tuple[Any, ...], list[int]],
) -> LineCategories | None:
    """:func:`fold`'s loop over the lines, for lines given as columns: each purchase line adds to its category's
    row (lines, quantity, amount) and to its purchase's sales row (lines), and moves its amount out of the
    purchase's "not by category" row; summed per (purchase's day, store, level, identified; category) at once.
    The categories' rows are returned as columns (the purchases' own rows stay in ``sales`` and ``categories``)."""
    import numpy as np

    if not by_id or not len(lines):
        return None
    heads: dict[tuple[int, str, str, int], int] = {}  # (day, store, level, known) -> its group
    tids = np.fromiter(by_id, np.int64, len(by_id))
    group = np.fromiter((heads.setdefault(h[:4], len(heads)) for h in by_id.values()), np.int64, len(by_id))
    order = np.argsort(tids)
    tids, group = tids[order], group[order]
    at = np.minimum(np.searchsorted(tids, lines.transaction), len(tids) - 1)
    hit = tids[at] == lines.transaction  # a line of a purchase in these rows (as by_id.get in the loop)
    g = group[at[hit]]
    if not len(g):
        return None
    category = lines.category[hit]
    milli = lines.milli(quantity_milli)[hit]
    amount = lines.amount[hit]
    named = list(heads)
    per_group = np.bincount(g, minlength=len(named)).tolist()
    moved = np.zeros(len(named), np.int64)
    np.add.at(moved, g, amount)
    for (day, store, level, known), n, a in zip(named, per_group, moved.tolist(), strict=True):
        if n:
            sales[(day, store, level, known)][4] += n
            categories[(day, store, 0, level, known)][2] -= a
    # the heads' key columns, texts as indexes in their sorted lists (so the codes sort as the texts do)
    stores = sorted({h[1] for h in named})
    levels = sorted({h[2] for h in named})
    store_code, level_code = {v: i for i, v in enumerate(stores)}, {v: i for i, v in enumerate(levels)}
    head_day = np.fromiter((h[0] for h in named), np.int64, len(named))
    head_store = np.fromiter((store_code[h[1]] for h in named), np.int64, len(named))
    head_level = np.fromiter((level_code[h[2]] for h in named), np.int64, len(named))
    head_known = np.fromiter((h[3] for h in named), np.int64, len(named))
    # one row per (head, category), in the table's key order (day, store, category, level, identified)
    keys = [head_day[g], head_store[g], category, head_level[g], head_known[g]]
    found = packed_keys.pack(keys)
    if found is not None:  # one sort of one packed key (central/storage/packed_keys.py)
        order, starts = packed_keys.groups(found[0])
    else:
        order = np.lexsort(keys[::-1])
        keys = [c[order] for c in keys]
        starts = np.flatnonzero(np.r_[True, np.any([c[1:] != c[:-1] for c in keys], axis=0)])
    g, category = g[order], category[order]
    counts = np.diff(np.r_[starts, len(g)])
    quantity = np.add.reduceat(milli[order], starts)
    sums = np.add.reduceat(amount[order], starts)
    first = g[starts]
    columns = [
        head_day[first],
        head_store[first],
        category[starts],
        head_level[first],
        head_known[first],
        counts.astype(np.int64),
        quantity,
        sums,
    ]
    return LineCategories(columns, stores, levels)


def write(conn: sqlite3.Connection, increments: dict[str, Any]) -> None:
    for table, acc in increments.items():
        if table == LINE_CATEGORIES:
            continue
        if acc:
            conn.executemany(_UPSERTS[table], [(*k, *v) for k, v in sorted(acc.items())])
    extra = increments.get(LINE_CATEGORIES)
    if extra is not None:  # after report_categories' own rows: the upsert adds a row of both
        by_columns = getattr(conn, "executemany_columns", None)
        if by_columns is not None:  # a pipelined import: its writer process makes the rows
            by_columns(
                _UPSERTS["report_categories"], extra.columns, [None, extra.stores, None, extra.levels] + [None] * 4
            )
        else:
            conn.executemany(_UPSERTS["report_categories"], [(*k, *v) for k, v in extra.items()])


def record(
    conn: sqlite3.Connection,
    rows: Sequence[Sequence[Any]],
    lines: Sequence[Sequence[Any]],
    zone_of: Callable[[str | None], dt.tzinfo],
) -> None:
    """Fold one flush's transactions and lines into the rollups (inside the caller's transaction).

    ``zone_of(store)`` is the store's zone (the chain's for ``None``). Turned off for a benchmark's baseline by
    :data:`ENABLED`.
    """
    if ENABLED[0] and rows:
        write(conn, fold(rows, lines, DayOf(zone_of)))


#: the rollups are kept (bench/reports.py measures the ingest without them by setting this to False)
ENABLED = [True]


def _all_rows(conn: sqlite3.Connection, batch: int) -> Iterable[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    from .receipts import TRANSACTION_COLUMNS

    last = 0
    while True:
        rows = conn.execute(
            f"SELECT id, {', '.join(TRANSACTION_COLUMNS)} FROM transactions WHERE id > ? ORDER BY id LIMIT ?",
            (last, batch),
        ).fetchall()
        if not rows:
            return
        lines = [(r[0], r[3], r[5], r[8]) for r in line_pack.lines_between(conn, last, rows[-1][0])]
        yield rows, lines
        last = rows[-1][0]


def backfill(conn: sqlite3.Connection, batch: int = 20000) -> None:
    """Build the rollups from every stored transaction (migration 11's Python step)."""
    day_of = DayOf(store_zones(conn))
    for rows, lines in _all_rows(conn, batch):
        write(conn, fold(rows, lines, day_of))


def recompute(conn: sqlite3.Connection) -> dict[str, dict[tuple[Any, ...], list[int]]]:
    """The rollups of every stored transaction, computed again in memory (to compare with the kept ones)."""
    day_of = DayOf(store_zones(conn))
    total: dict[str, dict[tuple[Any, ...], list[int]]] = {table: {} for table in TABLES}
    for rows, lines in _all_rows(conn, 20000):
        for table, acc in fold(rows, lines, day_of).items():
            for key, values in acc.items():
                have = total[table].setdefault(key, [0] * len(values))
                for i, v in enumerate(values):
                    have[i] += v
    return total


def kept(conn: sqlite3.Connection) -> dict[str, dict[tuple[Any, ...], list[int]]]:
    """The rollups as stored."""
    out: dict[str, dict[tuple[Any, ...], list[int]]] = {}
    for table, (keys, sums) in TABLES.items():
        out[table] = {
            tuple(r[: len(keys)]): list(r[len(keys) :])
            for r in conn.execute(f"SELECT {', '.join(keys)}, {', '.join(sums)} FROM {table}")
        }
    return out
