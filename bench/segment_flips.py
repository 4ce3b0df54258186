"""The flip index of a full recompute (engine.all_flips + segments.lower_flips): the code before the one-scan
version (kept here as the baseline) against the current one, on the same database, in the same run.

    PYTHONPATH=$PWD .venv/bin/python bench/segment_flips.py --customers 100000
    PYTHONPATH=$PWD .venv/bin/python bench/segment_flips.py --database /tmp/segbench.sqlite  (bench/segments.py --keep)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterable

from central.marketing import engine
from central.marketing.segments import parse_definition
from central.marketing.segments.definition import time_relative
from central.marketing.segments.evaluate import Facts, criterion_flip
from central.storage import aggregates
from central.storage import segment_engine as queries
from central.storage import segments as store
from central.storage.store import Store

#: the bench's main segment plus the kinds of time-relative criteria its 50 segments use
DEFINITION = {
    "audiences": [
        [
            {"type": "spend", "from": 150000, "period": {"last_days": 90}},
            {"type": "purchases", "from": 8, "period": {"last_days": 180}},
        ],
        [
            {"type": "bought_category", "categories": [3, 7], "period": {"last_days": 60}},
            {"type": "age", "from": 25, "to": 40},
        ],
        [{"type": "last_purchase", "days_from": 30}],
    ],
    "exclude": [{"type": "birthday", "days_before": 3, "days_after": 3}],
}


def old_all_flips(conn: sqlite3.Connection, definition, today: int) -> dict[int, int]:
    """engine.all_flips before: one scan per criterion, one call of ``keep`` per birthday row."""
    days: dict[int, int] = {}

    def keep(rows: Iterable[tuple[int, int | None]]) -> None:
        for key, day in rows:
            if day is not None and day > today and (key not in days or day < days[key]):
                days[key] = day

    for c in {c for c in definition.criteria() if time_relative(c)}:
        if c.type in ("age", "birthday"):
            table = {}
            for ordinal in range(dt.date(2000, 1, 1).toordinal(), dt.date(2001, 1, 1).toordinal()):
                born = dt.date.fromordinal(ordinal)
                table[born.strftime("%m-%d")] = criterion_flip(c, Facts(0, birthday=born), today)
            for key, mmdd in queries.birthday_month_days(conn):
                keep([(key, table.get(mmdd))])
        elif c.type in ("first_purchase", "last_purchase", "registration"):
            low, high = c.get("days_from"), c.get("days_to")
            last = c.type == "last_purchase"
            rows = queries.purchase_days(conn, last, c.get("stores") if last else None)
            for key, day in rows:
                if day is None:
                    continue
                candidates = [day + b for b in (low, None if high is None else high + 1) if b is not None]
                later = [d for d in candidates if d > today]
                keep([(key, min(later) if later else None)])
        else:
            n = c["period"].last_days
            source = "agg_items" if c.type.startswith("bought") else "agg_days"
            keep(queries.window_leavings(conn, source, today, n))
    return days


def old_lower_flips(conn: sqlite3.Connection, flips: dict[int, int]) -> None:
    """segments.lower_flips before: read the current days in chunks of 500, upsert the earlier ones."""
    keys = sorted(flips)
    current: dict[int, int] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        current.update(
            conn.execute(f"SELECT key, day FROM segment_flips WHERE key IN ({','.join('?' * len(chunk))})", chunk)
        )
    conn.executemany(
        "INSERT INTO segment_flips (key, day) VALUES (?,?) ON CONFLICT (key) DO UPDATE SET day = excluded.day",
        [(k, d) for k, d in flips.items() if k not in current or d < current[k]],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", help="a database made by bench/segments.py --keep")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    if args.database:
        db = Store(args.database)
    else:
        from bench.segments import build

        db = Store(os.path.join(tempfile.mkdtemp(), "flips.sqlite"))
        build(db, args.customers, 10, aggregates.today(db.conn))
    today = aggregates.today(db.conn)
    definition = parse_definition(DEFINITION)
    old = old_all_flips(db.conn, definition, today)
    new = engine.all_flips(db.conn, definition, today)
    # the same days as before (never later than the exact day: tests/marketing/test_segment_property.py)
    assert new == old, "the flip days differ from before"
    print(
        f"customers with a flip day: before {len(old):,}, now {len(new):,};"
        f" the same day for {sum(new.get(k) == d for k, d in old.items()):,}"
    )
    best = {"before": float("inf"), "now": float("inf")}
    for _ in range(args.repeat):  # alternated: the machine's load drifts
        for name, flips, lower in (
            ("before", old_all_flips, old_lower_flips),
            ("now", engine.all_flips, store.lower_flips),
        ):
            with db.transaction() as conn:
                conn.execute("DELETE FROM segment_flips")
            started = time.perf_counter()
            with db.transaction() as conn:
                lower(conn, flips(conn, definition, today))
            best[name] = min(best[name], time.perf_counter() - started)
    print(
        f"flip index of a full recompute: before {best['before'] * 1000:.0f} ms,"
        f" now {best['now'] * 1000:.0f} ms (best of {args.repeat}, alternated)"
    )
    print(f"load average after: {os.getloadavg()}")
    db.close()


if __name__ == "__main__":
    main()
