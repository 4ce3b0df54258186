"""Reports for head office (docs/reports.md): the dashboard, the pivot table, cohorts, the program's effect.

Reads the rollups and the columns through named ``Store`` methods (central/storage/report_queries.py) and hands
them to central/reports/ for the figures. A store manager sees their stores only. The columns are kept per
database file in this process and refreshed by appending the transactions written since the last request.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shared.numbers import is_whole

from ..reports import figures
from ..reports.columns import Columns, counts, distinct, distinct_per
from ..reports.definitions import (
    CUSTOMER_DIMENSIONS,
    DIMENSIONS,
    MEASURES,
    TIME_DIMENSIONS,
    Period,
    ReportError,
    age_band,
    month_index,
    month_label,
    parse_dimensions,
    parse_grain,
    parse_measures,
    parse_period,
    parse_stores,
)
from ..reports.pivot import COMPONENTS, Cells, Table, add, check_size, plan, time_value
from ..storage.store import Store
from .access import Actor
from .text import _

Args = Mapping[str, Any]

_COLUMNS: dict[str, Columns] = {}
_LOCK = threading.Lock()  # one fill at a time: a request arriving during the warm-up waits for that same fill
#: full fills (every identified receipt read) in this process: the tests check two first requests fill once
FILLS: dict[str, int] = {}
_log = logging.getLogger(__name__)


def columns(db: Store) -> Columns:
    """The columns of this database, brought up to date (appending what was written since)."""
    with _LOCK:
        last, merges = db.column_marks()
        cols = _COLUMNS.get(db.path)
        if cols is None or cols.mark[1] != merges or cols.mark[0] > last:
            cols = _COLUMNS[db.path] = Columns()
            cols.mark = (0, merges)
            FILLS[db.path] = FILLS.get(db.path, 0) + 1
        if cols.mark[0] < last:
            day_of = db.report_day_of()
            step = 200_000
            start = cols.mark[0]
            while start < last:
                upto = min(start + step, last)
                cols.append(db.column_rows(start, upto), day_of, db.column_lines(start, upto))
                cols.append_entries(db.column_entries(start, upto), day_of)
                start += step
            cols.mark = (last, merges)
        return cols


def warm_columns(path: str) -> threading.Thread:
    """Fill the columns of the database at ``path`` in a background thread (``loyalty-central serve`` at start):
    the first report request then finds them filled, or waits for this fill under the same lock."""

    def fill() -> None:
        clock = time.perf_counter()
        try:
            db = Store(path)
            try:
                cols = columns(db)
            finally:
                db.close()
        except Exception:  # a report request fills them again; the server must not stop over this
            _log.exception("report columns: the warm-up failed")
            return
        _log.info(
            "report columns filled in %.1f s (%d receipts, %d identified receipts)",
            time.perf_counter() - clock,
            len(cols),
            cols.identified,
        )

    thread = threading.Thread(target=fill, name="report-columns-warm-up", daemon=True)
    thread.start()
    return thread


def forget_columns() -> None:
    with _LOCK:
        _COLUMNS.clear()


def _values(args: Args, name: str) -> list[str]:
    getlist = getattr(args, "getlist", None)
    if getlist is not None:
        return [v for v in getlist(name) if isinstance(v, str)]
    value = args.get(name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def visible_stores(db: Store, actor: Actor) -> list[dict[str, str]]:
    actor.require("transactions.read")
    rows = db.report_store_names()
    return [{"id": s, "name": n, "timezone": z} for s, n, z in rows if not actor.scoped or s in actor.stores]


def _today(db: Store, now: dt.datetime | None) -> dt.date:
    return dt.date.fromordinal(db.report_today(now))


def _scope(db: Store, actor: Actor, args: Args, now: dt.datetime | None = None) -> tuple[Period, str, list[str], bool]:
    """(period, preset, stores, all stores?) of a request."""
    visible = [s["id"] for s in visible_stores(db, actor)]
    period, name = parse_period(args, _today(db, now))
    stores = parse_stores(_values(args, "stores"), visible)
    every = not actor.scoped and set(stores) == set(visible)
    return period, name, stores, every


# -- the dashboard --------------------------------------------------------------------------------------------


def dashboard(db: Store, actor: Actor, args: Args, now: dt.datetime | None = None) -> dict[str, Any]:
    """marketing.md's figures for a period and stores, with the previous period and each figure's series."""
    period, name, stores, every = _scope(db, actor, args, now)
    grain = parse_grain(args.get("grain"), period)
    asked = None if every else stores
    first, last = period.span
    p_first, p_last = period.previous().span
    current = (
        db.rollup_sales(first, last, asked),
        db.rollup_points(first, last, asked),
        db.rollup_balance_before(first, asked),
    )
    previous = (
        db.rollup_sales(p_first, p_last, asked),
        db.rollup_points(p_first, p_last, asked),
        db.rollup_balance_before(p_first, asked),
    )
    cols = columns(db)
    ids = None if every else cols.store_ids(stores)
    grain_of = figures.grain_function(grain)
    customers = {
        "total": cols.customers(first, last, ids),
        "new": cols.new_customers(first, last, ids),
        "previous_total": cols.customers(p_first, p_last, ids),
        "previous_new": cols.new_customers(p_first, p_last, ids),
        "series": cols.customers(first, last, ids, grain_of),
        "new_series": cols.new_customers(first, last, ids, grain_of),
    }
    out = figures.dashboard(period, grain, current, previous, customers)
    out.update(preset=name, stores=stores, all_stores=every, measures={k: str(v) for k, v in MEASURES.items()})
    return out


def effect(db: Store, actor: Actor, args: Args, now: dt.datetime | None = None) -> dict[str, Any]:
    """The program's effect: identified vs anonymous receipts (count, sales, average check) per bucket, the
    liability at each bucket's end and the points expired."""
    period, name, stores, every = _scope(db, actor, args, now)
    grain = parse_grain(args.get("grain"), period)
    asked = None if every else stores
    first, last = period.span
    sales, points = db.rollup_sales(first, last, asked), db.rollup_points(first, last, asked)
    before = db.rollup_balance_before(first, asked)
    labels, rows = [], []
    per_known = {
        known: figures.sum_rows([r for r in sales if r[1] == known], [], lambda d: figures.bucket(d, grain))
        for known in (0, 1)
    }
    per_points = figures.sum_rows([], points, lambda d: figures.bucket(d, grain))
    running = before
    for start in figures.buckets(period, grain):
        known, anonymous = per_known[1].get(start, figures._empty()), per_known[0].get(start, figures._empty())
        pts = per_points.get(start, figures._empty())
        running += pts["points_net"]
        labels.append(figures.bucket_label(start, grain))
        rows.append(
            {
                "label": labels[-1],
                "identified_receipts": known["receipts"],
                "identified_sales": known["sales"],
                "identified_average_check": figures.ratio(known["sales"], known["receipts"]),
                "anonymous_receipts": anonymous["receipts"],
                "anonymous_sales": anonymous["sales"],
                "anonymous_average_check": figures.ratio(anonymous["sales"], anonymous["receipts"]),
                "liability": running,
                "points_expired": pts["points_expired"],
            }
        )
    return {"period": period.to_dict(), "preset": name, "grain": grain, "stores": stores, "rows": rows}


# -- cohorts --------------------------------------------------------------------------------------------------


def cohorts(db: Store, actor: Actor, args: Args, now: dt.datetime | None = None) -> dict[str, Any]:
    """Customers by month of first purchase; per later month the share with a purchase and the cohort's sales.

    ``by``: ``all`` (the chain), ``store`` (only the chosen stores' receipts, their own first purchases) or
    ``segment`` (``segment`` = a segment id: its current members)."""
    args = dict(args.items()) if not hasattr(args, "getlist") else args
    asked = _plain(args)
    if not any(asked.get(k) for k in ("period", "from", "to")):
        asked["period"] = "last_365"  # the default; a preset set beside them would hide the dates asked for
    period, name, stores, every = _scope(db, actor, asked, now)
    by = args.get("by") or ("all" if every else "store")
    if by not in ("all", "store", "segment"):
        raise ReportError({"by": _("Cohorts are by all, store or segment.")})
    if by == "all" and not every:
        by = "store"
    cols = columns(db)
    keys = None
    if by == "segment":
        text = args.get("segment") or ""
        if not is_whole(text):
            raise ReportError({"segment": _("Choose a segment.")})
        segment = int(text)
        keys = np.array(db.segment_member_keys(segment), np.int32)
    first_month, last_month = month_index(period.first), month_index(period.last)
    if last_month - first_month > 120:
        raise ReportError({"from": _("Cohorts cover at most 120 months.")})
    ids = cols.store_ids(stores) if by == "store" or not every else None  # a manager: their stores' receipts only
    table = cols.cohorts(first_month, last_month, ids, keys)
    months = [month_label(m) for m in range(first_month, last_month + 1)]
    out_rows = []
    for i, month in enumerate(months):
        size = table["sizes"][i]
        out_rows.append(
            {
                "cohort": month,
                "customers": size,
                "active": table["active"][i][i:],
                "retention": [None if not size else a / size for a in table["active"][i][i:]],
                "sales": table["sales"][i][i:],
            }
        )
    return {
        "period": period.to_dict(),
        "preset": name,
        "by": by,
        "stores": stores,
        "months": months,
        "cohorts": out_rows,
    }


def _plain(args: Args) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("period", "from", "to"):
        if args.get(name):
            out[name] = args.get(name)
    out["stores"] = _values(args, "stores")
    return out


# -- the pivot ------------------------------------------------------------------------------------------------


def pivot_request(args: Args) -> dict[str, Any]:
    """The pivot's own fields of a request, checked: rows, columns, measures, sort, segment filter."""
    rows = parse_dimensions(_values(args, "rows"), "rows")
    cols = parse_dimensions(_values(args, "columns"), "columns")
    measures = parse_measures(_values(args, "measures"))
    segment = (args.get("segment") or "").strip() if isinstance(args.get("segment"), str) else ""
    if segment and not is_whole(segment):
        raise ReportError({"segment": _("Choose a segment.")})
    sort = args.get("sort") or ""
    order = args.get("order") or ""
    if sort and sort not in MEASURES and sort != "label":
        raise ReportError({"sort": _("Sort by a figure of the table or by the label.")})
    return {
        "rows": rows,
        "columns": cols,
        "measures": measures,
        "segment": int(segment) if segment else None,
        "sort": sort or None,
        "descending": order == "desc" or (not order and sort in MEASURES),
    }


def pivot(
    db: Store, actor: Actor, args: Args, *, limit: int | None = None, now: dt.datetime | None = None
) -> tuple[Table, dict[str, Any]]:
    """The pivot table and its context (period, stores, labels). ``limit``: cells a page shows (None: export)."""
    period, name, stores, every = _scope(db, actor, args, now)
    req = pivot_request(args)
    rows, cols, measures = req["rows"], req["columns"], req["measures"]
    how = plan(rows, cols, measures)
    if req["segment"] is not None:
        for part in list(how.rollup):
            if part == "identified_receipts":
                raise ReportError({"segment": _("Shares are not kept per segment; remove the filter.")})
            how.columns.add(part)
        how.rollup.clear()
        how.identified_only = True
    dims = [*rows, *cols]
    first, last = period.span
    asked = None if every else stores
    cells: Cells = {}
    row_totals: Cells = {}
    col_totals: Cells = {}
    total: Cells = {}
    nrow = len(rows)
    groupings = (
        (cells, list(range(len(dims)))),
        (row_totals, list(range(nrow))),
        (col_totals, list(range(nrow, len(dims)))),
        (total, []),
    )
    by_table: dict[str, list[str]] = {}
    for part, table in how.rollup.items():
        by_table.setdefault(table, []).append(part)
    for table, parts in by_table.items():
        _from_rollup(db, table, parts, dims, first, last, asked, groupings)
    if how.columns:
        _from_columns(
            db,
            sorted(how.columns),
            dims,
            first,
            last,
            stores if not every else None,
            req["segment"],
            period,
            groupings,
            how.identified_only,
        )
    row_keys = sorted(row_totals) if rows else []
    col_keys = sorted(col_totals, key=lambda k: tuple(str(x) for x in k)) if cols else []
    if not rows:
        row_keys = []
    result = Table(
        rows, cols, measures, row_keys, col_keys, cells, row_totals, col_totals, total.get((), {}), how.identified_only
    )
    if not rows and not cols:
        result.row_keys = []
    result.sort(req["sort"], req["descending"])
    if limit is not None:
        check_size(result, limit)
    context = {
        "period": period.to_dict(),
        "preset": name,
        "stores": stores,
        "labels": _labels(db, dims),
        "request": req,
    }
    return result, context


_ROLLUP_SUMS = {
    "report_sales": {"sales": "sales", "receipts": "receipts"},
    "report_categories": {"sales": "sales"},
    "report_hours": {"sales": "sales", "receipts": "receipts", "identified_receipts": "identified"},
}


def _from_rollup(
    db: Store,
    table: str,
    parts: Sequence[str],
    dims: Sequence[str],
    first: int,
    last: int,
    stores: Sequence[str] | None,
    groupings: Any,
) -> None:
    keys = sorted({("day" if d in TIME_DIMENSIONS else d) for d in dims})
    if table == "report_points":
        sums = ["accrued", "redeemed"]
        keys = [*keys, "kind"]
    elif table == "report_sales" and "identified_receipts" in parts:
        sums = ["sales", "receipts"]
        if "identified" not in keys:
            keys = [*keys, "identified"]
    else:
        sums = sorted({_ROLLUP_SUMS[table][p] for p in parts})
    labels: dict[tuple[str, int], str] = {}
    full: Cells = {}
    times = {d for d in dims if d in TIME_DIMENSIONS}
    spans = None
    if times in ({"month"}, {"week"}):  # the database adds the days of each week or month up
        grain = times.pop()
        starts = figures.buckets(Period(dt.date.fromordinal(first), dt.date.fromordinal(last)), grain)
        spans = [(max(s, first), min(e - 1, last)) for s, e in zip(starts, [*starts[1:], last + 1], strict=True)]
    position = {k: i for i, k in enumerate(keys)}
    at_day = position.get("day")
    plain = [(d in TIME_DIMENSIONS, d, position.get(d)) for d in dims]
    n = len(keys)
    for record in db.rollup_group(table, keys, sums, first, last, stores, spans):
        got = dict(zip(sums, record[n:], strict=True))
        values: dict[str, int] = {}
        if table == "report_points":
            partial = figures.sum_rows([], [(0, record[position["kind"]], got["accrued"], got["redeemed"])])[0]
            values = {p: partial[p] for p in parts}
        else:
            for part in parts:
                if part == "identified_receipts" and table == "report_sales":
                    values[part] = got["receipts"] if record[position["identified"]] else 0
                else:
                    values[part] = got[_ROLLUP_SUMS[table][part]]
        key = []
        for is_time, dim, at in plain:
            if is_time:
                day = record[at_day]  # type: ignore[index]
                label = labels.get((dim, day))
                if label is None:
                    label = labels[(dim, day)] = time_value(dim, day)
                key.append(label)
            else:
                key.append(record[at])  # type: ignore[index]
        add(full, tuple(key), values)
    # the other groupings (rows' totals, columns' totals, the grand total) add up the cells: additive figures
    for target, index in groupings:
        for key_, values in full.items():
            add(target, tuple(key_[i] for i in index), values)


def _expand(start: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Element i repeated ``count[i]`` times: (the elements' indexes, their positions start[i] .. + count[i] - 1)."""
    element = np.repeat(np.arange(count.size), count)
    before = np.cumsum(count) - count
    return element, np.arange(element.size) - np.repeat(before - start, count)


def _from_columns(
    db: Store,
    parts: Sequence[str],
    dims: Sequence[str],
    first: int,
    last: int,
    stores: Sequence[str] | None,
    segment: int | None,
    period: Period,
    groupings: Any,
    identified_only: bool = False,
) -> None:
    """The figures of ``parts`` from the columns, for every grouping (cells, rows' and columns' totals, the total).

    Category and segment are many-valued: a receipt with lines in two categories, a customer in two segments, is
    repeated once per category (segment) in the groupings split by it, and taken once in the others -- so the
    totals count each receipt and customer once, and a split's rows may add up to more."""
    cols = columns(db)
    ids = cols.store_ids(stores) if stores is not None else None
    only_known = identified_only or segment is not None
    sel = cols.selected(first, last, ids, identified=only_known)
    points = [p for p in parts if p.startswith("points_")]
    ent = cols.entries
    # the points operations that are not receipts (expiry, by hand): rows after the receipts' in every array below
    esel = ent.selected(first, last, ids, identified=only_known) if points else np.zeros(0, np.int64)
    space = int(max(cols.key.max(initial=0), ent.key.max(initial=0))) + 1
    if segment is not None:
        members = np.zeros(space, bool)
        wanted = np.array(db.segment_member_keys(segment), np.int64)
        members[wanted[wanted < space]] = True
        sel = sel[members[cols.key[sel]]]
        esel = esel[members[ent.key[esel]]]
    nr, m = sel.size, esel.size

    def both(main: np.ndarray, other: np.ndarray) -> np.ndarray:
        return np.concatenate([main[sel], other[esel]]) if m else main[sel]

    key, known, purchase, amount = (
        both(cols.key, ent.key),
        both(cols.known, ent.known),
        both(cols.purchase, ent.purchase),
        both(cols.amount, ent.amount),
    )
    day, hour, store_code, level_code = (
        both(cols.day, ent.day),
        both(cols.hour, ent.hour),
        both(cols.store, ent.store),
        both(cols.level, ent.level),
    )
    is_receipt = np.arange(nr + m) < nr
    # each element's points (receipts: their own; the other operations: expired, by hand) and whether it moved any
    pts: dict[str, np.ndarray] = {}
    moved = is_receipt
    if points:
        none = np.zeros(cols.key.size, np.int64)
        pts = {
            "points_accrued": both(cols.accrued, ent.accrued),
            "points_redeemed": both(cols.redeemed, ent.redeemed),
            "points_expired": both(none, ent.expired),
            "points_by_hand": both(none, ent.by_hand),
        }
        moved = ~is_receipt | (pts["points_accrued"] != 0) | (pts["points_redeemed"] != 0)
    # one integer code per row and dimension, with its labels (category and segment: per (row, value) pair below)
    codes: list[np.ndarray] = []
    labels: list[list[Any]] = []
    attrs = _customer_attributes(db, dims, period) if set(dims) & CUSTOMER_DIMENSIONS else {}
    for dim in dims:
        if dim == "store":
            codes.append(store_code.astype(np.int64))
            labels.append(list(cols.stores))
        elif dim in TIME_DIMENSIONS:
            low, high = (int(day.min()), int(day.max())) if day.size else (0, -1)
            names = [time_value(dim, d) for d in range(low, high + 1)]
            shown = sorted(set(names))
            where = {n: i for i, n in enumerate(shown)}
            table = np.array([where[n] for n in names], np.int64)
            codes.append(table[day - low] if day.size else np.zeros(0, np.int64))
            labels.append(shown)
        elif dim == "hour":
            codes.append(hour.astype(np.int64))
            labels.append(list(range(24)))
        elif dim == "level":
            codes.append(level_code.astype(np.int64))
            labels.append(list(cols.levels))
        elif dim == "identified":
            codes.append(known.astype(np.int64))
            labels.append([0, 1])
        elif dim in ("category", "segment"):
            codes.append(np.zeros(0, np.int64))  # the rows are repeated per category / segment below
            labels.append([])
        else:
            values, names = attrs[dim]
            codes.append(values[np.minimum(key, values.size - 1)].astype(np.int64))
            labels.append(names)
    # a receipt counts in every category it has lines in (its other amounts and points in category 0, "not by
    # category"); an operation that is not a receipt is in category 0
    cat_at = dims.index("category") if "category" in dims else None
    if cat_at is not None:
        start, count = cols.categories_of(sel)
        cat_rows, cat_pos = _expand(start, count)
        cat_ids = cols.cat_id[cat_pos]
        pair: dict[str, np.ndarray] = {"amount": cols.cat_amount[cat_pos], "line": cols.cat_line[cat_pos]}
        if points:
            pair["points_accrued"] = cols.cat_accrued[cat_pos]
            pair["points_redeemed"] = cols.cat_redeemed[cat_pos]
        if m:
            cat_rows = np.concatenate([cat_rows, np.arange(nr, nr + m)])
            cat_ids = np.concatenate([cat_ids, np.zeros(m, cat_ids.dtype)])
            pair = {name: np.concatenate([v, np.zeros(m, v.dtype)]) for name, v in pair.items()}
        if points:
            pair["moved"] = (pair["points_accrued"] != 0) | (pair["points_redeemed"] != 0) | ~is_receipt[cat_rows]
        found = np.flatnonzero(np.bincount(cat_ids)) if cat_ids.size else np.zeros(0, np.int64)
        labels[cat_at] = found.tolist()
        lookup = np.zeros(int(found[-1]) + 1 if found.size else 1, np.int64)
        lookup[found] = np.arange(found.size)
        cat_code = lookup[cat_ids]
    # a customer counts in every segment they are a member of now ("no segment" otherwise)
    seg_at = dims.index("segment") if "segment" in dims else None
    if seg_at is not None:
        in_any = np.zeros(space, bool)
        member_keys, member_codes, names = [], [], []
        for n, (ident, name) in enumerate(db.report_segments()):
            keys = np.array(db.segment_member_keys(ident), np.int64)
            keys = distinct(keys[keys < space])
            in_any[keys] = True
            member_keys.append(keys)
            member_codes.append(np.full(keys.size, n, np.int64))
            names.append(name)
        nobody = np.flatnonzero(~in_any)
        member_keys.append(nobody)
        member_codes.append(np.full(nobody.size, len(names), np.int64))
        labels[seg_at] = [*names, str(_("no segment"))]
        order = np.argsort(np.concatenate(member_keys), kind="stable")
        seg_key, seg_code = np.concatenate(member_keys)[order], np.concatenate(member_codes)[order]
        seg_start = np.searchsorted(seg_key, np.arange(space))
        seg_count = np.searchsorted(seg_key, np.arange(space), "right") - seg_start
    is_first = None
    if "new_customers" in parts:
        cols._derive()
        # the customer's first purchase in the whole chain (a customer counts once, where and when they started)
        main = cols.key[sel]
        is_first = np.zeros(nr + m, bool)
        is_first[:nr] = cols.known[sel] & cols.purchase[sel] & (cols.first_row[main] == sel)
    made: dict[tuple[bool, bool], dict[Any, Any]] = {}

    def elements(by_category: bool, by_segment: bool) -> dict[Any, Any]:
        """The rows repeated per category and/or segment (made once, shared by the groupings that need them)."""
        if (by_category, by_segment) in made:
            return made[(by_category, by_segment)]
        rows: np.ndarray | None = None  # the elements' rows (None: every row once)
        out: dict[Any, Any] = {
            "amount": amount,
            "receipt": purchase,
            "known": known,
            "key": key,
            "first": is_first,
            "sale": is_receipt,
            "moved": moved,
            **{p: pts[p] for p in points},
        }
        many: dict[int, np.ndarray] = {}
        if by_category:
            rows = cat_rows
            out["amount"], out["receipt"] = pair["amount"], purchase[cat_rows] & pair["line"]
            # a pair has sales if it has a line or an amount there (not the points of a receipt beyond its lines)
            out["sale"] = pair["line"] | (pair["amount"] != 0)
            out["moved"] = pair["moved"] if points else out["sale"]  # (no points asked: not used)
            for p in points:
                out[p] = pair[p] if p in pair else pts[p][cat_rows]
            many[cat_at] = cat_code  # type: ignore[index]
        if by_segment:
            at = key if rows is None else key[rows]
            element, position = _expand(seg_start[at], seg_count[at])
            rows = element if rows is None else rows[element]
            for name in ("amount", "receipt", "sale", "moved", *points):
                out[name] = out[name][element]
            many = {i: c[element] for i, c in many.items()}
            many[seg_at] = seg_code[position]  # type: ignore[index]
        if rows is not None:
            out["known"], out["key"] = known[rows], key[rows]
            out["first"] = is_first[rows] if is_first is not None else None
        out["size"] = nr + m if rows is None else rows.size
        out["codes"] = {
            i: many[i] if i in many else (codes[i] if rows is None else codes[i][rows])
            for i in range(len(dims))
            if i in many or i not in (cat_at, seg_at)
        }
        made[(by_category, by_segment)] = out
        return out

    for target, index in groupings:
        radix = [len(labels[i]) or 1 for i in index]
        got = elements(cat_at is not None and cat_at in index, seg_at is not None and seg_at in index)
        amounts, receipt, whose, of = got["amount"], got["receipt"], got["known"], got["key"]
        code = np.zeros(got["size"], np.int64)
        for i, r in zip(index, radix, strict=True):
            code = code * r + got["codes"][i]
        computed: dict[str, dict[int, int]] = {}
        size = int(np.prod(radix)) if radix else 1
        if "sales" in parts:
            sums = np.bincount(code, weights=amounts, minlength=size)
            used = np.bincount(code[got["sale"]], minlength=size) > 0
            computed["sales"] = {int(c): int(round(sums[c])) for c in np.flatnonzero(used).tolist()}
        if "receipts" in parts:
            computed["receipts"] = counts(code[receipt], size)
        if "identified_receipts" in parts:
            computed["identified_receipts"] = counts(code[receipt & whose], size)
        if "customers" in parts:
            bought = receipt & whose
            computed["customers"] = distinct_per(code[bought], of[bought], space)
        if got["first"] is not None:
            started = receipt & got["first"]
            computed["new_customers"] = distinct_per(code[started], of[started], space)
        if points:  # a cell has points figures when an operation in it moved points (as a row of report_points)
            at_moved = code[got["moved"]]
            present = np.flatnonzero(np.bincount(at_moved, minlength=size)).tolist()
            for p in points:
                sums = np.bincount(at_moved, weights=got[p][got["moved"]], minlength=size)
                computed[p] = {int(c): int(round(sums[c])) for c in present}
        found_codes = np.array(sorted({c for per_code in computed.values() for c in per_code}), np.int64)
        tuples: list[list[Any]] = [[] for _ in found_codes]
        rest = found_codes
        for i, r in reversed(list(zip(index, radix, strict=True))):  # decode each cell's code once, whole arrays
            names = labels[i] or [""]
            for acc, at in zip(tuples, (rest % r).tolist(), strict=True):
                acc.append(names[at])
            rest = rest // r
        key_of = {int(c): tuple(reversed(t)) for c, t in zip(found_codes.tolist(), tuples, strict=True)}
        for part, per_code in computed.items():
            for c, value in per_code.items():
                add(target, key_of[c], {part: value})


def _customer_attributes(db: Store, dims: Sequence[str], period: Period) -> dict[str, tuple[np.ndarray, list[Any]]]:
    """key -> code arrays (and their labels) of the customer dimensions asked for."""
    rows = db.customer_attributes()
    size = max((r[0] for r in rows), default=0) + 1
    out: dict[str, tuple[np.ndarray, list[Any]]] = {}

    def build(dim: str, value_of: Any) -> None:
        names: dict[Any, int] = {}
        codes = np.zeros(size + 1, np.int32)
        unknown = names.setdefault("unknown", 0)
        for row in rows:
            value = value_of(row)
            codes[row[0]] = names.setdefault(value if value not in (None, "") else "unknown", len(names))
        codes[size] = unknown
        out[dim] = (codes, list(names))

    if "gender" in dims:
        build("gender", lambda r: r[1])
    if "age_band" in dims:
        build("age_band", lambda r: age_band(r[2], period.last))
    if "registration_month" in dims:
        build("registration_month", lambda r: (r[3] or "")[:7] or None)
    if "rfm" in dims:
        classes = dict(db.customer_rfm_classes())
        build("rfm", lambda r: classes.get(r[0]))
    return out


def _labels(db: Store, dims: Sequence[str]) -> dict[str, dict[Any, str]]:
    out: dict[str, dict[Any, str]] = {}
    if "store" in dims:
        out["store"] = {s: f"{s} · {n}" for s, n, _z in db.report_store_names()}
    if "category" in dims:
        out["category"] = {0: str(_("not by category")), **db.category_names()}
    if "identified" in dims:
        out["identified"] = {0: str(_("anonymous")), 1: str(_("identified"))}
    if "level" in dims:
        out["level"] = {"": str(_("no level"))}
    return out


def dimension_names() -> dict[str, str]:
    return {k: str(v) for k, v in DIMENSIONS.items()}


__all__ = ["COMPONENTS", "ReportError", "cohorts", "dashboard", "effect", "pivot"]
