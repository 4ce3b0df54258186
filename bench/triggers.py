"""Triggers on a synthetic chain (docs/triggers.md, issue 17): 1,000,000 customers, 10 running triggers
(a 30-day inactivity trigger over everyone and a 7-day pause among them).

    PYTHONPATH=$PWD .venv/bin/python bench/triggers.py --customers 1000000

Figures, each with its baseline measured in the same run:
(a) the ingest with 10 running triggers vs none (its events outbox rows are written in its transaction),
    and the events dispatched per second from the outbox to wake-ups;
(b) entering every customer into a newly started trigger (set-based first step), vs a bare INSERT of
    as many rows;
(c) the date-change pass: the runs due at the next local midnight, vs a scan of every run;
(d) due wake-ups with their actions per second (the inactivity trigger's bonus, the pause trigger's tag).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time

import numpy as np

from bench.segments import STORES, _ingest_rate
from central.marketing import trigger_engine as engine
from central.services import triggers as service
from central.services.access import SYSTEM
from central.storage import aggregates
from central.storage.store import Store

ALL = list(range(24))


def build(db: Store, customers: int, today: int, seed: int = 17) -> None:
    rng = np.random.default_rng(seed)
    with db.transaction() as c:
        for s in STORES:
            c.execute("INSERT INTO stores (id, name, timezone, created_at) VALUES (?, ?, 'Europe/Moscow', 'x')", (s, s))
        born = rng.integers(dt.date(1950, 1, 1).toordinal(), dt.date(2008, 1, 1).toordinal(), customers)
        homes = rng.integers(0, len(STORES), customers)
        for start in range(0, customers, 50000):
            c.executemany(
                "INSERT INTO customers (id, home_store, birthday, consents, balance, version, created_at)"
                " VALUES (?,?,?,'{}',0,1,?)",
                [
                    (
                        f"c{i:07d}",
                        STORES[homes[i]],
                        dt.date.fromordinal(int(born[i])).isoformat(),
                        f"2025-{1 + i % 12:02d}-01T09:00:00+00:00",
                    )
                    for i in range(start, min(customers, start + 50000))
                ],
            )
        # one purchase day per customer over the last year (15% never bought)
        bought = np.flatnonzero(rng.random(customers) >= 0.15)
        days = today - rng.integers(0, 365, len(bought))
        c.executemany(
            "INSERT INTO agg_days (key, day, store, purchases, refunds, spend, items) VALUES (?,?,?,1,0,?,1000)",
            zip(
                (bought + 1).tolist(),
                days.tolist(),
                [STORES[homes[i]] for i in bought],
                rng.integers(1000, 200000, len(bought)).tolist(),
                strict=True,
            ),
        )
    db.conn.execute("ANALYZE")


def docs() -> list[dict]:
    def t(name, *steps):
        return {"name": name, "owner_store": STORES[0], "group": "bench", "hours": ALL, "steps": list(steps)}

    return [
        t(
            "come back",
            {
                "conditions": [{"type": "inactivity", "days": 30}],
                "actions": [{"type": "credit", "points": 30000, "expires_days": 14}],
                "restart_days": 45,
            },
        ),
        t("pause 7", {"pause_days": 7, "actions": [{"type": "tag", "tag": "week"}]}),
        t(
            "birthday",
            {
                "conditions": [{"type": "birthday", "days_before": 0, "days_after": 0}],
                "actions": [{"type": "tag", "tag": "bday"}],
                "restart_days": 300,
            },
        ),
        t(
            "welcome",
            {
                "conditions": [{"type": "registration", "days_from": 0, "days_to": 1}],
                "actions": [{"type": "credit", "points": 10000}],
            },
        ),
        t(
            "second purchase",
            {"conditions": [{"type": "transaction", "count_from": 1}]},
            {
                "conditions": [{"type": "transaction", "count_from": 1}],
                "within_days": 14,
                "actions": [{"type": "credit", "points": 10000}],
            },
        ),
        t(
            "big check",
            {"conditions": [{"type": "transaction", "check_min": 500000}], "actions": [{"type": "tag", "tag": "big"}]},
        ),
        t(
            "points",
            {
                "conditions": [{"type": "points_event", "direction": "credited", "amount_from": 1000}],
                "actions": [{"type": "tag", "tag": "earner"}],
            },
        ),
        t(
            "lapsed 90",
            {"conditions": [{"type": "last_purchase", "days_from": 90}], "actions": [{"type": "tag", "tag": "lapsed"}]},
        ),
        t(
            "spenders",
            {
                "conditions": [{"type": "spend", "from": 150000, "period": {"last_days": 30}}],
                "actions": [{"type": "tag", "tag": "spender"}],
            },
        ),
        t(
            "young",
            {"conditions": [{"type": "age", "from": 18, "to": 25}], "actions": [{"type": "tag", "tag": "young"}]},
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--receipts", type=int, default=3000)
    parser.add_argument("--wakeups", type=int, default=100_000, help="due wake-ups to time in (d)")
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    path = args.db or os.path.join(tempfile.mkdtemp(prefix="bench-triggers-"), "central.sqlite")
    db = Store(path)
    db.use_engine_pragmas()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    today = aggregates.today(db.conn, now)
    t0 = time.perf_counter()
    if db.count("customers") == args.customers:  # --db of an earlier run: its data again, triggers afresh
        with db.transaction() as conn:
            for table in (
                "triggers",
                "trigger_versions",
                "trigger_runs",
                "trigger_events",
                "trigger_actions",
                "trigger_stats",
            ):
                conn.execute(f"DROP TABLE {table}")  # migration 12 afresh (an older run's shape)
            conn.execute("DELETE FROM schema_migrations WHERE version = 12")
            conn.execute("DELETE FROM counters WHERE name LIKE 'trigger%'")
            conn.execute("DELETE FROM ledger WHERE kind = 'bonus.promo'")
            conn.execute("DELETE FROM lots WHERE id LIKE '%:trigger:%'")
        db.close()
        db = Store(path)
        db.use_engine_pragmas()
        print(f"data: {args.customers:,} customers reused ({path})")
    else:
        build(db, args.customers, today)
        print(f"data: {args.customers:,} customers built in {time.perf_counter() - t0:.1f} s ({path})", flush=True)

    # (a) the ingest without triggers (baseline), then (b) ten triggers started, then the ingest again
    _ingest_rate(db, args.customers, 300, today)  # warm-up
    base = _ingest_rate(db, args.customers, args.receipts, today)
    with db.transaction() as conn:
        engine.dispatch(conn, now)  # nothing running: the ingest wrote no outbox rows
    ids = [service.create(db, SYSTEM, d) for d in docs()]
    started = time.perf_counter()
    with db.transaction() as conn:
        conn.execute("CREATE TEMP TABLE bare (a INTEGER, b INTEGER, c INTEGER, PRIMARY KEY (a, b))")
        conn.executemany("INSERT INTO bare VALUES (?,?,?)", ((1, k, 0) for k in range(1, args.customers + 1)))
    bare = time.perf_counter() - started
    enter, enter_cpu = [], []
    for tid in ids:
        started, cpu = time.perf_counter(), time.process_time()
        n = service.start(db, SYSTEM, tid, now)
        enter.append(time.perf_counter() - started)
        enter_cpu.append(time.process_time() - cpu)
    slowest = max(range(len(enter)), key=enter.__getitem__)
    print(
        f"(b) entering {n:,} customers into a newly started trigger: {enter[0]:.1f} s ({enter_cpu[0]:.1f} CPU-s;"
        f" inactivity over everyone), slowest of 10 {enter[slowest]:.1f} s ({docs()[slowest]['name']},"
        f" {enter_cpu[slowest]:.1f} CPU-s), all 10 {sum(enter):.1f} s ({sum(enter_cpu):.1f} CPU-s); baseline: a bare"
        f" {args.customers:,}-row INSERT {bare:.1f} s  goal: <= 60 s (load {os.getloadavg()[0]:.1f})"
    )
    with_triggers = _ingest_rate(db, args.customers, args.receipts, today)
    pending = db.conn.execute("SELECT COUNT(*) FROM trigger_events WHERE id > ?", (0,)).fetchone()[0]
    started = time.perf_counter()
    total = 0
    while True:
        with db.transaction() as conn:
            n = engine.dispatch(conn, now, limit=5000)
        if not n:
            break
        total += n
    dispatch = time.perf_counter() - started
    rng = np.random.default_rng(3)
    probes = [
        (int(t), int(k))
        for t, k in zip(rng.integers(1, 11, 6 * total), rng.integers(1, args.customers + 1, 6 * total), strict=True)
    ]
    started = time.perf_counter()
    with db.transaction() as conn:
        conn.executemany("UPDATE trigger_runs SET wake_at = wake_at WHERE trigger_id = ? AND customer_key = ?", probes)
    probe = time.perf_counter() - started
    print(
        f"(a) ingest: {base:.0f} us/receipt without triggers, {with_triggers:.0f} us/receipt with 10 running;"
        f" keeps {100 * base / with_triggers:.0f}% of the throughput  goal: >= 80%"
    )
    print(
        f"(a) events dispatched from the outbox: {total:,} ({pending:,} written) in {dispatch:.2f} s ="
        f" {total / dispatch:,.0f} events/s, each waking its customer in the triggers it concerns;"
        f" baseline: {len(probes):,} no-op updates of runs by key {probe:.2f} s",
        flush=True,
    )

    # (d) due wake-ups with their actions: the inactivity trigger's customers due now (a temporary bonus each)
    started, cpu = time.perf_counter(), time.process_time()
    runs, actions = engine.process_due(db, now, limit=args.wakeups)
    spent, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"(d) due wake-ups: {runs:,} runs decided, {actions:,} actions done in {spent:.1f} s ="
        f" {runs / spent:,.0f} runs/s, {actions / spent:,.0f} actions/s wall; {cpu:.1f} CPU-s ="
        f" {runs / cpu:,.0f} runs per CPU-second (load {os.getloadavg()[0]:.1f})  goal: >= 10,000/s"
    )
    # the rest due now are set aside (the date-change pass below must see only the next day's due runs)
    with db.transaction() as conn:
        conn.execute("UPDATE trigger_runs SET wake_at = NULL WHERE wake_at <= ?", (now.isoformat(),))

    # (c) the date-change pass: next local midnight; baseline: a scan of every run
    zone = aggregates.chain_zone(db.conn)
    midnight = engine.day_start(today + 1, zone) + dt.timedelta(minutes=1)
    started = time.perf_counter()
    everyone = db.conn.execute("SELECT COUNT(*) FROM trigger_runs WHERE phase = 'wait'").fetchone()[0]
    scan = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    runs, actions = engine.process_due(db, midnight)
    spent, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"(c) date change: {runs:,} runs due at midnight decided ({actions:,} actions) in {spent:.1f} s"
        f" ({cpu:.1f} CPU-s)  goal: <= 10 s; baseline: one scan over the {everyone:,} waiting runs {scan:.1f} s"
        f" (load {os.getloadavg()[0]:.1f})"
    )
    db.close()


if __name__ == "__main__":
    main()
