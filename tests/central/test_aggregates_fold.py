"""The aggregates' bulk fold (numpy, central/storage/aggregates.py) writes what folding line by line writes."""

from __future__ import annotations

import datetime as dt
import sqlite3
import zoneinfo

from hypothesis import given, settings
from hypothesis import strategies as st

from central.marketing.segments.evaluate import CATEGORY, PRODUCT, quantity_milli
from central.storage import aggregates
from central.storage.store import Store

ZONES = {"S1": zoneinfo.ZoneInfo("Europe/Moscow"), "S2": zoneinfo.ZoneInfo("America/Chicago")}
T0 = int(dt.datetime(2017, 3, 1, tzinfo=dt.UTC).timestamp())


def reference(entries, zone_of):
    """The fold as it was written before the bulk one: a transaction, and a line, at a time."""
    days, items, points = {}, {}, {}
    for cid, kind, store, at_epoch, amount, accrued, redeemed, lines in entries:
        day = aggregates.local_day(at_epoch, zone_of(store))
        if accrued or redeemed:
            row = points.setdefault((cid, day, kind), [0, 0])
            row[0] += accrued
            row[1] += redeemed
        if kind not in ("purchase", "refund", "cancel"):
            continue
        place = store or ""
        row = days.setdefault((cid, day, place), [0, 0, 0, 0])
        if kind == "purchase":
            row[0] += 1
            row[2] += amount
            for product, category, quantity in lines:
                milli = quantity_milli(quantity)
                row[3] += milli
                for item_kind, item in ((PRODUCT, product), (CATEGORY, category)):
                    if item is not None:
                        items[(cid, item_kind, item, day, place)] = (
                            items.get((cid, item_kind, item, day, place), 0) + milli
                        )
        else:
            row[1] += 1
            row[2] += amount
    return days, items, points


line = st.tuples(
    st.one_of(st.none(), st.integers(1, 6)),
    st.one_of(st.none(), st.integers(1, 3)),
    st.sampled_from(["1", "2", "0.455", "0", "3"]),
)
entry = st.tuples(
    st.sampled_from(["c1", "c2", "c3"]),
    st.sampled_from(["purchase", "purchase", "refund", "admin"]),
    st.sampled_from(["S1", "S2", None]),
    st.integers(T0, T0 + 4 * 86400),
    st.integers(-500, 5000),
    st.integers(0, 30),
    st.integers(0, 5),
    st.lists(line, max_size=5),
)


@settings(max_examples=60, deadline=None)
@given(rounds=st.lists(st.lists(entry, max_size=12), min_size=1, max_size=3))
def test_the_bulk_fold_writes_what_a_line_by_line_fold_writes(tmp_path_factory, rounds):
    path = str(tmp_path_factory.mktemp("agg") / "c.sqlite")
    Store(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    zone_of = lambda store: ZONES.get(store) or zoneinfo.ZoneInfo("Europe/Moscow")  # noqa: E731
    want_days, want_items, want_points = {}, {}, {}
    for entries in rounds:
        entries = [(*e[:7], [] if e[1] != "purchase" else e[7]) for e in entries]
        conn.execute("BEGIN")
        aggregates.record(conn, entries, zone_of)
        conn.execute("COMMIT")
        days, items, points = reference(entries, zone_of)
        for mine, theirs in ((want_days, days), (want_points, points)):
            for k, v in theirs.items():
                mine[k] = [a + b for a, b in zip(mine.get(k, [0] * len(v)), v, strict=True)]
        for k, v in items.items():
            want_items[k] = want_items.get(k, 0) + v
    keys = dict(conn.execute("SELECT key, customer_id FROM customer_keys"))
    got_days = {(keys[r[0]], r[1], r[2]): list(r[3:]) for r in conn.execute("SELECT * FROM agg_days")}
    got_items = {(keys[r[0]], *r[1:5]): r[5] for r in conn.execute("SELECT * FROM agg_items")}
    got_points = {(keys[r[0]], r[1], r[2]): list(r[3:]) for r in conn.execute("SELECT * FROM agg_points")}
    assert got_days == want_days
    assert got_items == want_items
    assert got_points == want_points
    conn.close()


def test_a_line_block_reads_as_the_line_dicts_it_stands_for():
    from central.points.receipt_log import LINE_FIELDS, LineBlock, LineColumns

    table = LineColumns(
        sku=["A", None, "B"],
        name=["a", None, "b"],
        category=["X", "Y", None],
        quantity=["1", "0.5", "2"],
        price=[100, None, 7],
        discount=[0, 5, 0],
        amount=[100, 45, 14],
        accrued=[1, 0, 2],
        redeemed=[0, 0, 3],
    )
    block = LineBlock(table, 1, 3)
    assert len(block) == 2 and bool(block)
    assert list(block) == [
        dict(zip(LINE_FIELDS, (None, None, "Y", "0.5", None, 5, 45, 0, 0), strict=True)),
        dict(zip(LINE_FIELDS, ("B", "b", None, "2", 7, 0, 14, 2, 3), strict=True)),
    ]
    assert block[-1]["sku"] == "B" and block[0:1] == [block[0]]
    assert not LineBlock(table, 2, 2)


arrays_line = st.tuples(
    st.one_of(st.none(), st.integers(1, 6)),
    st.one_of(st.none(), st.integers(1, 3)),
    st.sampled_from(["1", "2", "0.455", "0", "3", "1.0005"]),
    st.integers(-50, 900),
)


@settings(max_examples=150, deadline=None)
@given(
    purchases=st.lists(
        st.tuples(
            st.sampled_from(["purchase", "purchase", "refund", "cancel", "admin"]),
            st.sampled_from(["S1", "S2", None]),
            st.one_of(st.none(), st.sampled_from(["c1", "c2"])),
            st.sampled_from(["", "Gold"]),
            st.integers(T0, T0 + 3 * 86400),
            st.lists(arrays_line, max_size=4),
            st.tuples(st.integers(-3, 3), st.integers(0, 2), st.one_of(st.none(), st.integers(0, 23))),
        ),
        max_size=10,
    )
)
def test_lines_as_columns_fold_as_the_lines_as_tuples(tmp_path_factory, purchases):
    """A receipt import's batch gives its lines as columns (line_pack.LineArrays, one LineSpan per purchase): the
    rollups' and the aggregates' folds of them are those of the same lines as tuples."""
    import numpy as np

    from central.storage import line_pack, rollups

    zone_of = lambda store: ZONES.get(store) or zoneinfo.ZoneInfo("Europe/Moscow")  # noqa: E731
    rows, flat, spans, tids = [], [], [], []
    for tid, (kind, store, customer, level, at, lines, (accrued, redeemed, hour)) in enumerate(purchases, start=10):
        lines = lines if kind == "purchase" else []
        amount = sum(line[3] for line in lines) + (7 if kind == "cancel" else 0)
        row = [None] * 18
        row[0], row[1], row[3], row[8], row[11], row[13] = tid, kind, store, customer, at, hour
        row[14], row[15], row[16], row[17] = amount if kind == "purchase" else -amount, accrued, redeemed, level or None
        rows.append(tuple(row))
        spans.append((len(flat), len(flat) + len(lines)))
        flat += lines
        tids += [tid] * len(lines)
    records = line_pack.packed(
        [f[0] for f in flat],
        [f[1] for f in flat],
        [f[3] for f in flat],
        [0] * len(flat),
        [None] * len(flat),
        [0] * len(flat),
        [0] * len(flat),
    )
    texts = list(dict.fromkeys(f[2] for f in flat))
    arrays = line_pack.LineArrays(
        np.array(tids, np.int64), records, np.array([texts.index(f[2]) for f in flat], np.int64), texts
    )
    as_tuples = [(t, f[1], f[2], f[3]) for t, f in zip(tids, flat, strict=True)]
    assert arrays.tuples() == as_tuples
    assert arrays.shifted(5).tuples() == [(t + 5, *rest) for t, *rest in as_tuples]
    day_of = rollups.DayOf(zone_of)
    by_columns = rollups.fold(rows, arrays, day_of)
    assert rollups.merged(by_columns) == rollups.fold(rows, as_tuples, day_of)
    written = {}
    for name, increments in (("columns", by_columns), ("tuples", rollups.fold(rows, as_tuples, day_of))):
        conn = sqlite3.connect(":memory:", isolation_level=None)
        for statement in rollups.MIGRATION:
            conn.execute(statement)
        rollups.write(conn, increments)
        written[name] = [sorted(conn.execute(f"SELECT * FROM {t}")) for t in rollups.TABLES]
        conn.close()
    assert written["columns"] == written["tuples"]

    entries = [
        (f"c{i % 3}", r[1], r[3], r[11], r[14], r[15], r[16], arrays.span(a, b) if r[1] == "purchase" else [])
        for i, (r, (a, b)) in enumerate(zip(rows, spans, strict=True))
    ]
    for entry in entries:
        if entry[7]:  # a span reads as the (product, category, quantity) tuples it stands for
            assert list(entry[7]) == [(f[0], f[1], f[2]) for f in flat[entry[7].start : entry[7].stop]]
    got = {}
    for name, given_entries in (
        ("columns", entries),
        ("tuples", [(*e[:7], list(e[7])) for e in entries]),
    ):
        path = str(tmp_path_factory.mktemp("agg") / "c.sqlite")
        Store(path).close()
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN")
        aggregates.record(conn, given_entries, zone_of)
        conn.execute("COMMIT")
        got[name] = [sorted(conn.execute(f"SELECT * FROM {t}")) for t in ("agg_days", "agg_items", "agg_points")]
        conn.close()
    assert got["columns"] == got["tuples"]


_ZONES = sorted(zoneinfo.available_timezones())


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(_ZONES), st.integers(-2_300_000_000, 2_300_000_000), st.integers(-900, 900)),
        min_size=1,
        max_size=30,
    )
)
def test_local_days_by_quarter_hour_offsets_are_the_local_days(times):
    # each time also near a change of its zone's offset (the quarter hours that hold one)
    zones = {name: zoneinfo.ZoneInfo(name) for name, _, _ in times}
    day_of = aggregates.LocalDays(zones.__getitem__)
    for name, epoch, shift in times:
        zone = zones[name]
        near = [epoch]
        for days in (30, 91, 182):
            low, high = epoch, epoch + days * 86400
            if _offset(zone, low) != _offset(zone, high):
                while high - low > 1:  # the change between them, to the second
                    mid = (low + high) // 2
                    low, high = (mid, high) if _offset(zone, mid) == _offset(zone, low) else (low, mid)
                near.append(high + shift)
        for at in near:
            assert day_of(name, at) == aggregates.local_day(at, zone), (name, at)


def _offset(zone, epoch):
    return dt.datetime.fromtimestamp(epoch, zone).utcoffset()


def test_local_days_around_a_change_of_offset():
    zone = zoneinfo.ZoneInfo("Europe/Moscow")
    change = int(dt.datetime(2011, 3, 27, 2, 0, tzinfo=zone).timestamp())  # +03:00 -> +04:00 (the last DST)
    day_of = aggregates.LocalDays(lambda store: zone)
    for at in range(change - 86400 - 1800, change + 86400 + 1800, 37):
        assert day_of("S", at) == aggregates.local_day(at, zone)
