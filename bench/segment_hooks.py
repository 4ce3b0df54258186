"""The nightly expiry followed by the dynamic segments (docs/segments.md, "Changes outside the ingest").

    PYTHONPATH=$PWD .venv/bin/python bench/segment_hooks.py --base /tmp/base.sqlite [--expiring 100000]

``--base``: a database made by ``bench/segments.py``'s ``build`` (100,000 customers by default: bench/segments.py
``--keep``). A copy gets the 50 dynamic segments of bench/segments.py, plus 5 ``balance`` segments, one ``points
redeemed`` and one ``level`` (57), their members computed, and a temporary lot expiring for ``--expiring``
customers (each at most the customer's balance). Then: the expiry without any dynamic segment (the baseline), the
expiry with them (which writes ``segment_pending``), and the pass that follows the expired customers, once on the
column snapshot (``engine.COLUMNS_FROM`` as shipped) and once customer by customer (the ingest's path, in
rounds of 2,000 as the expiry's chunks), each on its own copy of the database after the expiry. Processor and
wall seconds of this process, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

from bench.segments import segments_50
from central.marketing import engine
from central.marketing.columns import ColumnEvaluator
from central.marketing.segments import parse_definition
from central.points import nightly
from central.storage import aggregates
from central.storage.store import Store

NOW = "2026-12-06T00:30:00+00:00"


def extra_segments() -> list[dict]:
    return [
        *({"audiences": [[{"type": "balance", "from": 500 * (1 + i)}]]} for i in range(5)),
        {"audiences": [[{"type": "points", "direction": "redeemed", "from": 1, "period": {"last_days": 30}}]]},
        {"audiences": [[{"type": "level", "levels": ["Gold"]}]]},
    ]


def prepare(base: str, path: str, expiring: int, with_segments: bool) -> None:
    shutil.copy(base, path)
    db = Store(path)
    today = aggregates.today(db.conn)
    if with_segments:
        with db.transaction() as conn:
            for i, doc in enumerate([*segments_50(today), *extra_segments()], 1):
                conn.execute(
                    "INSERT INTO segments (id, name, kind, definition, created_by, created_at, changed_by,"
                    " changed_at) VALUES (?, ?, 'dynamic', ?, 'b', 'b', 'b', 'b')",
                    (i, f"s{i}", json.dumps(parse_definition(doc).to_doc())),
                )
        for i in range(1, 58):
            with db.transaction() as conn:
                engine.recompute(conn, i, today)
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO lots (id, customer_id, points, initial, expires_at, created_at)"
            " SELECT 'x-' || id, id, balance, balance, '2026-01-01T00:00:00+00:00', '2025-01-01T00:00:00+00:00'"
            " FROM customers WHERE balance > 0 ORDER BY id LIMIT ?",
            (expiring,),
        )
    db.close()


def timed(label: str, fn) -> object:
    load = os.getloadavg()[0]
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    print(
        f"{label}: {time.perf_counter() - wall:.2f} s wall, {time.process_time() - cpu:.2f} s cpu (load {load:.1f})",
        flush=True,
    )
    return out


def sizes(db: Store) -> None:
    """Where the column pass starts to pay: the same customers followed again (nothing moves: the usual case of a
    small batch) on both paths, for batches of several sizes."""
    segments = engine.dynamic_segments(db.conn)
    keys = [r[0] for r in db.conn.execute("SELECT key FROM customer_keys ORDER BY key")]
    for n in (100, 300, 1000, 3000, 10000):
        chosen = set(keys[:: max(1, len(keys) // n)][:n])
        for label, columns_from in (("columns", 1), ("per customer", 10**9)):
            engine.COLUMNS_FROM, engine.COLUMNS_SHARE = columns_from, 0
            best = float("inf")
            for _ in range(3):
                cpu = time.process_time()
                with db.transaction() as conn:
                    engine._follow_keys(conn, segments, chosen, {"points"}, "bench", None, None)  # noqa: SLF001
                best = min(best, time.process_time() - cpu)
            print(
                f"    {n:>6} customers, {label}: {best * 1000:.0f} ms cpu (least of 3, load {os.getloadavg()[0]:.1f})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True)
    parser.add_argument("--expiring", type=int, default=100_000)
    parser.add_argument("--sizes", action="store_true", help="also time both paths on batches of 100 to 10,000")
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    plain, hooked = os.path.join(folder, "plain.sqlite"), os.path.join(folder, "hooked.sqlite")
    prepare(args.base, plain, args.expiring, with_segments=False)
    prepare(args.base, hooked, args.expiring, with_segments=True)
    db = Store(plain)
    lots, _ = timed("expiry, no dynamic segment", lambda: nightly.expire_lots(db, NOW))
    db.close()
    db = Store(hooked)
    timed("expiry, 57 dynamic segments (pending rows written)", lambda: nightly.expire_lots(db, NOW))
    pending = db.conn.execute("SELECT COUNT(*) FROM segment_pending").fetchone()[0]
    db.close()
    print(f"{lots:,} lots expired; {pending:,} customers pending")
    for label, columns_from in (("column snapshot", engine.COLUMNS_FROM), ("customer by customer", 10**9)):
        path = os.path.join(folder, f"{columns_from}.sqlite")
        shutil.copy(hooked, path)
        db = Store(path)
        today = aggregates.today(db.conn)
        ColumnEvaluator(db.conn, today, writing=False)  # the snapshot built (serve builds it when it starts)
        engine.COLUMNS_FROM = columns_from

        def follow(db: Store = db, columns_from: int = columns_from) -> dict:
            result: dict = {}
            if columns_from < 10**9:
                with db.transaction() as conn:
                    return engine.follow_pending(conn)
            keys = [r[0] for r in db.conn.execute("SELECT key FROM segment_pending ORDER BY key")]
            for start in range(0, len(keys), 2000):  # as the expiry's chunks would, each in its transaction
                chunk = keys[start : start + 2000]
                marks = ",".join("?" * len(chunk))
                with db.transaction() as conn:
                    rows = conn.execute(f"SELECT customer_id FROM customer_keys WHERE key IN ({marks})", chunk)
                    for segment, (entered, left) in engine.follow(
                        conn, [r[0] for r in rows], {"points"}, "expiry"
                    ).items():
                        before = result.get(segment, (0, 0))
                        result[segment] = (before[0] + entered, before[1] + left)
            return result

        moved = timed(f"followed, {label}", follow)
        print(f"    moves: {sum(a + b for a, b in moved.values()):,} in {len(moved)} segments")
        if columns_from < 10**9 and args.sizes:
            sizes(db)
        db.close()
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
