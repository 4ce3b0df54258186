"""The import's serialized floor: its writer's own work replayed alone, then the deferred index build.

SQLite lets one connection write at a time, so everything an import of the year writes -- the batches its writer
process commits, then the segments' aggregates' indexes built at the end (docs/import-receipts.md, "Both cores") --
runs one statement after the other, whatever the importing process does beside it. This bench measures that
sum on this machine, as the least wall time an import of the year can take with this schema:

1. a database prepared as ``bench/import.py`` prepares it (the year's stores, the example rule set), with the
   deferred indexes dropped as the import drops them: the starting point;
2. one import of the year (``--points compute``, overlapped, in a child process as ``bench/import.py`` runs it)
   from a copy of it, its writer recording every frame it reads (``LOYALTY_IMPORT_WRITER_RECORD``): the import's
   own wall time in the same run, the baseline;
3. ``--repeat`` times: the recorded frames fed to ``python -m central.storage.import_writer`` on a fresh copy of
   the starting point, nothing else running in this bench (the importing process's Python, the check and the
   batches' making, all gone), then the deferred indexes built with the import's settings. The replayed
   database is checked against the import's (the row count of every table but ``settings``).

Prints the writer alone (wall, CPU; with ``--times``, its CPU per statement), the index build, their sum as the
floor in lines/s, the import beside it, and the goal (100,000 lines/s with accrual computed).

Usage: ``.venv/bin/python bench/import_replay.py [--file YEAR.parquet] [--repeat 3] [--times]``
(without ``--file`` the year's file is written as ``bench/import.py`` writes it).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

year = importlib.import_module("bench.import")  # bench/import.py: its file, its database, its child process

GOAL = year.GOAL


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def starting_point(db: Path, stores: list[str]) -> None:
    """The database an import of the year starts from: prepared, the deferred indexes dropped."""
    from central.storage.store import Store

    year.prepare_db(str(db), stores)
    store = Store(str(db))
    store.drop_line_indexes(aggregates=True)
    store.close()


def record(start: Path, work: Path, file: Path) -> tuple[dict[str, float], Path, Path]:
    """One import of the year from a copy of ``start``, its writer's frames recorded: (its figures, the frames,
    its database)."""
    db, frames = work / "recorded.sqlite", work / "frames.bin"
    shutil.copyfile(start, db)
    frames.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOYALTY_IMPORT_WRITER_RECORD": str(frames)}
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench/import.py"), "--child", str(db), str(file), "compute"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1]), frames, db


def replay(start: Path, frames: Path, db: Path, times: bool) -> tuple[float, float, float, float, str]:
    """The frames written by the writer alone into a fresh copy of ``start``, then the deferred indexes built:
    (writer wall, writer CPU, index build wall, index build CPU, the writer's times per statement)."""
    from central.storage.connection import restore_line_indexes
    from central.storage.receipt_import import _IMPORT_PRAGMAS

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(start, db)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if times:
        env["LOYALTY_IMPORT_WRITER_TIMES"] = "1"
    cpu, clock = _children_cpu(), time.perf_counter()
    with frames.open("rb") as source:
        out = subprocess.run(
            [sys.executable, "-m", "central.storage.import_writer", str(db)],
            stdin=source,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    wall, used = time.perf_counter() - clock, _children_cpu() - cpu
    conn = sqlite3.connect(db, isolation_level=None)
    for name, value in _IMPORT_PRAGMAS:
        conn.execute(f"PRAGMA {name} = {value}")
    clock, cpu = time.perf_counter(), time.process_time()
    restore_line_indexes(conn)
    index_wall, index_cpu = time.perf_counter() - clock, time.process_time() - cpu
    conn.close()
    return wall, used, index_wall, index_cpu, out.stderr


def counts(db: Path) -> dict[str, int]:
    """Each table's rows (``settings`` left out: the import's child process starts the console's app, which keeps
    its secret key there; the writer does not)."""
    conn = sqlite3.connect(db)
    tables = "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'settings' ORDER BY name"
    names = [r[0] for r in conn.execute(tables)]
    found = {name: conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in names}
    conn.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", help="the year's import file (written by bench/import.py); else written here")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--times", action="store_true", help="also print the writer's CPU per statement")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-import-replay-"))
    if args.file:
        import pyarrow.parquet as pq

        file = Path(args.file)
        stores = sorted(set(pq.read_table(file, columns=["store"]).column("store").to_pylist()))
    else:
        file = work / "history.parquet"
        _source, _lines, stores = year.write_file(file, False, None, "parquet")
    start = work / "start.sqlite"
    starting_point(start, stores)
    load = os.getloadavg()[0]
    figures, frames, recorded = record(start, work, file)
    lines = figures["lines"]
    print(
        f"the import of {lines:,} lines (--points compute): {figures['total']:.1f} s = "
        f"{lines / figures['total']:,.0f} lines/s; its writer's frames: {frames.stat().st_size / 1e6:.0f} MB"
    )
    expected = counts(recorded)
    best = best_cpu = None
    for run in range(args.repeat):
        db = work / "replayed.sqlite"
        wall, cpu, index_wall, index_cpu, stderr = replay(start, frames, db, args.times)
        same = counts(db) == expected
        floor = wall + index_wall
        print(
            f"replay {run + 1}: the writer alone {wall:.2f} s wall ({cpu:.2f} s CPU), the deferred indexes "
            f"{index_wall:.2f} s wall ({index_cpu:.2f} s CPU): {floor:.2f} s = {lines / floor:,.0f} lines/s"
            f"; every table's rows as the import's: {same}"
        )
        if not same:
            sys.exit("the replayed database differs from the import's")
        if args.times and run == args.repeat - 1:
            for line in stderr.splitlines():
                if line.startswith("writer "):
                    print(f"    {line[7:]}")
        best = floor if best is None else min(best, floor)
        best_cpu = cpu + index_cpu if best_cpu is None else min(best_cpu, cpu + index_cpu)
    assert best is not None and best_cpu is not None
    print(
        f"floor (least of {args.repeat}): {best:.2f} s = {lines / best:,.0f} lines/s ({best_cpu:.2f} s of CPU, the"
        f" least: {lines / best_cpu:,.0f} lines/s on a machine to itself), the import "
        f"{figures['total'] / best:.2f}x of it; goal {GOAL:,} lines/s = {lines / GOAL:.1f} s: "
        f"{'reachable' if lines / best >= GOAL else 'below this floor'} with this schema on this machine"
        f"; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(f"files kept in {work}")


if __name__ == "__main__":
    main()
