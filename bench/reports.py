"""Reports benchmark (issue 15): the dashboard for a year, the pivot store x month, cohorts; the ingest with and
without the rollups.

    .venv/bin/python bench/reports.py [--lines 1000000] [--stores 50] [--customers 50000] [--db PATH]
                                      [--ingest 20000] [--repeat 5]

* Synthetic history (default): ``--lines`` receipt lines (5 per receipt on average, 70 % identified, two years,
  ``--stores`` stores in three time zones) written straight into ``transactions`` (the lines packed in their rows), then
  the rollups built by migration 11's backfill (timed: that is also a full recomputation).
* ``--db PATH``: an existing central database instead (e.g. ``loyalty-central demo-data completejourney``: the
  real 1,469,307 lines); the year is the last 365 days of its data.
* Each report is timed warm (the columns loaded once: their first load is printed apart), median of
  ``--repeat``; the baseline is the same figures computed straight from the receipts in the same run
  (one SQL pass over ``transactions`` for the period, and a Python distinct count).
* Ingest: ``--ingest`` purchases of 5 lines each, in units of 500 events through ``commit_ingest`` (the ledger,
  the receipt log, the aggregates and the rollups in one transaction), into two fresh databases, rollups on and
  off, interleaved; the figure is events/s and the ratio.

Goals: dashboard <= 50 ms, pivot <= 1 s (10M lines <= 2 s), cohorts <= 50 ms, ingest keeps >= 80 %.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from central.services import analytics  # noqa: E402
from central.services.access import SYSTEM  # noqa: E402
from central.storage import line_pack, rollups  # noqa: E402
from central.storage.store import IngestUnit, Store  # noqa: E402

ZONES = ("Europe/Moscow", "Asia/Vladivostok", "Asia/Yekaterinburg")


def synthetic(path: str, lines: int, stores: int, customers: int, seed: int = 7) -> dict[str, Any]:
    """Write ``lines`` receipt lines of two years into a fresh database; returns its figures."""
    db = Store(path)
    rng = np.random.default_rng(seed)
    for i in range(stores):
        db.add_store(f"S{i + 1:03d}", f"Store {i + 1}", ZONES[i % len(ZONES)])
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO customers (id, version, created_at, level) VALUES (?, 1, ?, ?)",
            [(f"C{i:07d}", now.isoformat(), ("bronze", "silver", "gold")[i % 3]) for i in range(customers)],
        )
        conn.executemany(
            "INSERT INTO catalog_categories (id, name, source, created_at) VALUES (?, ?, 'bench', ?)",
            [(i + 1, f"category {i + 1}", now.isoformat()) for i in range(40)],
        )
    receipts = lines // 5
    counts = rng.integers(1, 10, receipts)
    start = int(now.timestamp()) - 730 * 86400
    epochs = np.sort(rng.integers(start, int(now.timestamp()), receipts))
    store_of = rng.integers(0, stores, receipts)
    # customers: a skewed, returning population (some buy often)
    who = (rng.pareto(1.2, receipts) * customers / 20).astype(np.int64) % customers
    known = rng.random(receipts) < 0.7
    refund = rng.random(receipts) < 0.01
    amounts = rng.integers(50, 5000, int(counts.sum()))
    cats = rng.integers(1, 41, int(counts.sum()))
    tid, pos, chunk_rows = 0, 0, []
    recorded = now.isoformat()

    def flush() -> None:
        with db.transaction() as conn:
            conn.executemany(
                "INSERT INTO transactions (id, kind, channel, store, customer_id, at, at_epoch, amount, accrued,"
                " redeemed, level, line_count, recorded_at, weekday, hour, columns, line_texts)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                chunk_rows,
            )
        chunk_rows.clear()

    # the local weekday and hour the receipt log keeps with each receipt (the hour rollup and columns read them)
    zones = [ZoneInfo(ZONES[i % len(ZONES)]) for i in range(stores)]

    def local(epoch: int, store: int) -> tuple[int, int]:
        moment = dt.datetime.fromtimestamp(epoch, zones[store])
        return moment.isoweekday(), moment.hour

    total_lines = 0
    for r in range(receipts):
        tid += 1
        n = int(counts[r])
        mine = amounts[pos : pos + n]
        cid = f"C{int(who[r]):07d}" if known[r] else None
        at = dt.datetime.fromtimestamp(int(epochs[r]), dt.UTC).isoformat()
        total = int(mine.sum())
        chunk_rows.append(
            (
                tid,
                "purchase",
                "till",
                f"S{int(store_of[r]) + 1:03d}",
                cid,
                at,
                int(epochs[r]),
                total,
                total // 20 if cid else 0,
                0,
                ("bronze", "silver", "gold")[int(who[r]) % 3] if cid else None,
                n,
                recorded,
                *local(int(epochs[r]), int(store_of[r])),
                line_pack.packed([None] * n, cats[pos : pos + n].tolist(), mine.tolist(), *([0] * n,) * 4).tobytes(),
                line_pack.joined(line_pack.texts_of(["1"] * n, [None] * n), 0, n, True),
            )
        )
        pos += n
        total_lines += n
        if refund[r]:
            tid += 1
            chunk_rows.append(
                (
                    tid,
                    "refund",
                    "till",
                    f"S{int(store_of[r]) + 1:03d}",
                    cid,
                    at,
                    int(epochs[r]) + 3600,
                    -int(mine[0]),
                    -(int(mine[0]) // 20) if cid else 0,
                    0,
                    None,
                    0,
                    recorded,
                    *local(int(epochs[r]) + 3600, int(store_of[r])),
                    None,
                    None,
                )
            )
        if len(chunk_rows) >= 20000:
            flush()
    flush()
    clock = time.perf_counter()
    with db.transaction() as conn:
        rollups.backfill(conn)
    backfill = time.perf_counter() - clock
    db.close()
    return {"receipts": receipts, "lines": total_lines, "backfill_s": backfill}


#: the CPU time (this process) of the last :func:`timed` run, ms: on the shared machine the wall time mostly says
#: how many others ran meanwhile; the CPU time is what the code costs
CPU: list[float] = [0.0]


def timed(fn: Any, repeat: int) -> float:
    fn()
    samples, cpu = [], []
    for _ in range(repeat):
        clock, used = time.perf_counter(), time.process_time()
        fn()
        samples.append(time.perf_counter() - clock)
        cpu.append(time.process_time() - used)
    CPU[0] = statistics.median(cpu) * 1000
    return statistics.median(samples) * 1000


def cpu() -> str:
    return f"(CPU {CPU[0]:.1f} ms)"


def year_of(db: Store) -> dict[str, str]:
    last = db.conn.execute("SELECT MAX(at_epoch) FROM transactions WHERE kind = 'purchase'").fetchone()[0]
    end = dt.datetime.fromtimestamp(last, dt.UTC).date()
    return {"from": (end - dt.timedelta(days=364)).isoformat(), "to": end.isoformat()}


def baseline_dashboard(db: Store, period: dict[str, str]) -> None:
    """The year's sales, receipts and distinct customers straight from the receipts (no rollups, no columns)."""
    first = dt.datetime.fromisoformat(period["from"]).replace(tzinfo=dt.UTC).timestamp()
    last = (dt.datetime.fromisoformat(period["to"]) + dt.timedelta(days=1)).replace(tzinfo=dt.UTC).timestamp()
    db.conn.execute(
        "SELECT SUM(amount), SUM(kind = 'purchase'), SUM(customer_id IS NOT NULL) FROM transactions"
        " WHERE at_epoch >= ? AND at_epoch < ? AND kind IN ('purchase', 'refund', 'cancel')",
        (first, last),
    ).fetchone()
    len(
        {
            r[0]
            for r in db.conn.execute(
                "SELECT customer_id FROM transactions WHERE at_epoch >= ? AND at_epoch < ? AND kind = 'purchase'"
                " AND customer_id IS NOT NULL",
                (first, last),
            )
        }
    )


def fill_before(db: Store) -> int:
    """The columns' first fill as it was before the warm-up change (the baseline): stores indexed and zones
    grouped row by row, a zone's offset looked up at every quarter hour present."""
    from central.reports.columns import Columns

    class PerRow:  # only ``days`` (the code before): Columns.append takes its per-row path
        def __init__(self, day_of: Any) -> None:
            self.zone = day_of.zone

        def days(self, stores: Any, epochs: Any) -> Any:
            epochs = np.asarray(epochs, np.int64)
            out = np.empty(epochs.size, np.int64)
            by_zone: dict[Any, list[int]] = {}
            for i, store in enumerate(stores):
                by_zone.setdefault(self.zone(store), []).append(i)
            for zone, rows in by_zone.items():
                at = np.array(rows, np.int64) if len(rows) < epochs.size else slice(None)
                slots = epochs[at] // 900
                found = np.unique(slots)
                offsets = np.array(
                    [int(dt.datetime.fromtimestamp(int(x) * 900, zone).utcoffset().total_seconds()) for x in found],
                    np.int64,
                )
                out[at] = (epochs[at] + offsets[np.searchsorted(found, slots)]) // 86400 + 719163
            return out

    cols = Columns()
    last, _merges = db.column_marks()
    day_of, start = PerRow(db.report_day_of()), 0
    while start < last:
        cols.append(db.column_rows(start, min(start + 200_000, last)), day_of)
        start += 200_000
    return len(cols)


def fill(path: str, repeat: int) -> None:
    """The columns' first fill (what a server start warms), median of ``repeat``, against the baseline."""
    db = Store(path)
    now, before = [], []
    analytics.forget_columns()
    fill_before(db)  # the file's pages cached: every run below reads from memory
    for _ in range(repeat):  # interleaved: the same machine load for both
        clock = time.perf_counter()
        size = fill_before(db)
        before.append(time.perf_counter() - clock)
        analytics.forget_columns()
        clock = time.perf_counter()
        assert len(analytics.columns(db)) == size
        now.append(time.perf_counter() - clock)
    period = year_of(db)
    cold, warmed = [], []
    for _ in range(repeat):  # the first dashboard request after a server start: without, then with the warm-up
        analytics.forget_columns()
        clock = time.perf_counter()
        analytics.dashboard(db, SYSTEM, {**period, "grain": "month"})
        cold.append(time.perf_counter() - clock)
        analytics.forget_columns()
        analytics.warm_columns(path).join()
        clock = time.perf_counter()
        analytics.dashboard(db, SYSTEM, {**period, "grain": "month"})
        warmed.append(time.perf_counter() - clock)
    print(
        f"  first dashboard (year, months) after a start: {statistics.median(warmed) * 1000:.0f} ms once warmed;"
        f" baseline (no warm-up, the request fills): {statistics.median(cold) * 1000:.0f} ms"
    )
    print(
        f"  columns first fill ({size:,} identified receipts): {statistics.median(now):.2f} s"
        f" (min {min(now):.2f}); baseline (before): {statistics.median(before):.2f} s (min {min(before):.2f})"
    )


def reports(path: str, repeat: int) -> None:
    db = Store(path)
    analytics.forget_columns()
    period = year_of(db)
    clock, used = time.perf_counter(), time.process_time()
    cols = analytics.columns(db)
    print(
        f"  columns first load: {(time.perf_counter() - clock) * 1000:.0f} ms, CPU"
        f" {(time.process_time() - used) * 1000:.0f} ms ({len(cols):,} receipts,"
        f" {cols.identified:,} identified, {cols.cat_row.size:,} (receipt, category) pairs)"
    )
    board = analytics.dashboard(db, SYSTEM, {**period, "grain": "month"})
    print(
        f"  year {period['from']}..{period['to']}: sales {board['figures']['sales']:,}, receipts"
        f" {board['figures']['receipts']:,}, customers {board['figures']['customers']:,}"
    )
    dash = timed(lambda: analytics.dashboard(db, SYSTEM, {**period, "grain": "month"}), repeat)
    dash_cpu = cpu()
    dash_day = timed(lambda: analytics.dashboard(db, SYSTEM, {**period, "grain": "day"}), repeat)
    dash_day_cpu = cpu()
    base = timed(lambda: baseline_dashboard(db, period), max(1, repeat // 2))
    base_cpu = cpu()
    pivot_args = {**period, "rows": "store", "columns": "month", "measures": "sales,receipts,customers"}
    piv = timed(lambda: analytics.pivot(db, SYSTEM, pivot_args), repeat)
    piv_cpu = cpu()
    table, _ctx = analytics.pivot(db, SYSTEM, pivot_args)
    category_args = {**period, "rows": "category", "columns": "month", "measures": "sales,receipts,customers"}
    cat = timed(lambda: analytics.pivot(db, SYSTEM, category_args), repeat)
    cat_cpu = cpu()
    cats, _ctx = analytics.pivot(db, SYSTEM, category_args)
    hour_args = {**period, "rows": "hour", "columns": "weekday", "measures": "sales,receipts,customers"}
    hour = timed(lambda: analytics.pivot(db, SYSTEM, hour_args), repeat)
    hour_cpu = cpu()
    points_args = {
        **period,
        "rows": "category",
        "columns": "month",
        "measures": "points_accrued,points_redeemed,points_expired,points_by_hand",
    }
    pts = timed(lambda: analytics.pivot(db, SYSTEM, points_args), repeat)
    pts_cpu = cpu()
    coh = timed(lambda: analytics.cohorts(db, SYSTEM, period), repeat)
    coh_cpu = cpu()
    print(
        f"  dashboard (year, by month): {dash:8.1f} ms {dash_cpu}  (by day: {dash_day:.1f} ms {dash_day_cpu})"
        "  goal <= 50 ms"
    )
    print(
        f"  pivot store x month (sales, receipts, customers; {len(table.row_keys)} x {len(table.col_keys)}):"
        f" {piv:8.1f} ms {piv_cpu}  goal <= 1000 ms"
    )
    print(
        f"  pivot category x month (sales, receipts, customers; {len(cats.row_keys)} x {len(cats.col_keys)}):"
        f" {cat:8.1f} ms {cat_cpu}  goal <= 1000 ms"
    )
    print(f"  pivot hour x weekday (sales, receipts, customers): {hour:8.1f} ms {hour_cpu}")
    print(f"  pivot category x month (the four points figures): {pts:8.1f} ms {pts_cpu}")
    print(f"  cohorts by month (a year): {coh:8.1f} ms {coh_cpu}  goal <= 50 ms")
    print(f"  baseline: the year's sales, receipts, customers straight from the receipts: {base:8.1f} ms {base_cpu}")
    db.close()


def ingest(events: int, folder: str) -> None:
    """commit_ingest throughput with the rollups on and off (same events, fresh databases, interleaved)."""
    from tests.sync.fakes import FakeAgent

    def build() -> tuple[list[list[dict[str, Any]]], list[str]]:
        units, stores = [], [f"S{i}" for i in range(1, 9)]
        agents = {s: FakeAgent(s, "a1") for s in stores}
        for u in range(events // 500):
            store = stores[u % len(stores)]
            agent = agents[store]
            unit = []
            for i in range(500):
                cid = f"c{(u * 500 + i) % 5000}" if i % 10 < 7 else None
                event = agent.purchase(cid, total=5 * 700, accrued=175 if cid else 0)
                event["body"]["lines"] = [
                    {
                        "sku": f"sku-{(i + k) % 300}",
                        "name": "thing",
                        "category": f"cat-{(i + k) % 30}",
                        "quantity": "1",
                        "price": 700,
                        "discount": 0,
                        "amount": 700,
                        "accrued": 35 if cid else 0,
                        "redeemed": 0,
                    }
                    for k in range(5)
                ]
                unit.append(event)
            units.append(unit)
        return units, stores

    rates: dict[bool, list[float]] = {True: [], False: []}
    cpu_rates: dict[bool, list[float]] = {True: [], False: []}
    for rnd in range(2):
        for enabled in (True, False) if rnd % 2 == 0 else (False, True):
            units, stores = build()
            db = Store(str(Path(folder) / f"ingest-{enabled}-{rnd}.sqlite"))
            for s in stores:
                db.add_store(s, s, ZONES[int(s[1:]) % 3])
                db.stream_state(s, "a1")
            rollups.ENABLED[0] = enabled
            clock, used = time.perf_counter(), time.process_time()
            for unit in units:
                last = unit[-1]
                db.commit_ingest(IngestUnit(events=unit, pointers={(last["store"], "a1"): (last["seq"], last["id"])}))
            rates[enabled].append(events / (time.perf_counter() - clock))
            cpu_rates[enabled].append(events / (time.process_time() - used))
            db.close()
    rollups.ENABLED[0] = True
    on, off = max(rates[True]), max(rates[False])
    print(
        f"  ingest with rollups: {on:,.0f} events/s; baseline without: {off:,.0f} events/s;"
        f" kept {on / off * 100:.0f} % (goal >= 80 %)"
    )
    on, off = max(cpu_rates[True]), max(cpu_rates[False])
    print(f"  per CPU second: {on:,.0f} vs {off:,.0f} events; kept {on / off * 100:.0f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--stores", type=int, default=50)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--db", help="an existing central database (e.g. the completejourney demo) instead")
    parser.add_argument("--ingest", type=int, default=20_000, help="events for the ingest figure (0: skip)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fill", action="store_true", help="only the columns' first fill, against the baseline")
    parser.add_argument("--keep", help="write the synthetic history to this path (kept) instead of a temporary one")
    parser.add_argument("--build-only", action="store_true", help="only write the synthetic history (with --keep)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as folder:
        if args.db:
            print(f"reports over {args.db}")
            (fill if args.fill else reports)(args.db, args.repeat)
        else:
            path = args.keep or str(Path(folder) / "central.sqlite")
            clock = time.perf_counter()
            made = synthetic(path, args.lines, args.stores, args.customers)
            print(
                f"synthetic: {made['lines']:,} lines in {made['receipts']:,} receipts, {args.stores} stores,"
                f" written in {time.perf_counter() - clock:.0f} s; rollups backfill {made['backfill_s']:.1f} s"
            )
            if args.build_only:
                return
            (fill if args.fill else reports)(path, args.repeat)
        if args.ingest and not args.fill:
            ingest(args.ingest, folder)


if __name__ == "__main__":
    main()
