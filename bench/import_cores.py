"""Can a writer thread put SQLite's inserts of an import on the second core? (the lines' rows of a real import)

Python's ``sqlite3`` lets go of the GIL inside each ``sqlite3_step``, so a thread writing rows could run beside the
import's Python on another core. This measures how much of that is real on the rows an import of the year writes
(the old ``transaction_lines`` rows, made from the packed lines of a database ``bench/import.py`` filled: it keeps
``compute.sqlite``), in a fresh
database with the import's connection settings:

* ``executemany`` alone (the import's way), and a fixed amount of Python work alone (a dict fold per line, like
  the report rollups' fold);
* both at once: the ``executemany`` in a writer thread while the main thread does the Python work. ``executemany``
  binds each row's parameters in Python and takes the GIL back after every row's step, so the two mostly take turns;
* both at once with the rows carried into SQLite without Python per row: the main thread serialises them
  (``json.dumps``) and the writer runs one ``INSERT ... SELECT ... FROM json_each(?)`` per chunk, which holds no GIL
  while it runs; the extra price is SQLite's JSON parsing.

Prints CPU and wall seconds of each, and the wall of the overlapped runs against the two alone (the most a second
core could save is the smaller of the two). Usage: ``.venv/bin/python bench/import_cores.py DB [--rows N]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHUNK = 50_000


def main() -> None:
    from central.storage.receipt_import import _IMPORT_PRAGMAS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("db")
    parser.add_argument("--rows", type=int, default=600_000)
    args = parser.parse_args()
    source = sqlite3.connect(args.db)
    from central.storage import line_pack

    # the lines' table as migration 4 made it (migration 44 dropped it: these rows come from the packed lines)
    table_sql = (
        "CREATE TABLE transaction_lines (transaction_id INTEGER NOT NULL, idx INTEGER NOT NULL, sku_id INTEGER,"
        " category_id INTEGER, name TEXT, quantity TEXT NOT NULL, price INTEGER, discount INTEGER NOT NULL,"
        " amount INTEGER NOT NULL, accrued INTEGER NOT NULL, redeemed INTEGER NOT NULL,"
        " PRIMARY KEY (transaction_id, idx)) WITHOUT ROWID"
    )
    rows = list(itertools.islice(line_pack.lines_between(source, 0, 2**62), args.rows))
    width = len(rows[0])
    work = Path(tempfile.mkdtemp(prefix="import-cores-"))
    print(f"{len(rows):,} transaction_lines rows of {args.db}; load average {os.getloadavg()[0]:.1f}")

    def fresh(name: str) -> sqlite3.Connection:
        conn = sqlite3.connect(work / f"{name}.sqlite", isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        for pragma, value in _IMPORT_PRAGMAS:
            conn.execute(f"PRAGMA {pragma} = {value}")
        conn.execute(table_sql)
        conn.execute("BEGIN IMMEDIATE")
        return conn

    def python_work() -> None:
        """Python per line, as the rollups' fold does it: a dict keyed by (transaction, category)."""
        acc: dict[tuple[Any, Any], list[int]] = {}
        for _repeat in range(2):
            for row in rows:
                slot = acc.setdefault((row[0] // 50, row[3]), [0, 0])
                slot[0] += 1
                slot[1] += row[8] or 0

    marks = ",".join("?" * width)
    insert = f"INSERT INTO transaction_lines VALUES ({marks})"
    from_json = "INSERT INTO transaction_lines SELECT " + ",".join(f"value ->> {i}" for i in range(width))
    from_json += " FROM json_each(?)"

    def timed(label: str, run: Callable[[], None]) -> tuple[float, float]:
        cpu, wall = time.process_time(), time.perf_counter()
        run()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"  {label:<74} CPU {cpu:6.2f} s  wall {wall:6.2f} s")
        return cpu, wall

    def executemany_alone() -> None:
        conn = fresh("alone")
        conn.executemany(insert, rows)
        conn.execute("COMMIT")

    def json_alone() -> None:
        conn = fresh("json_alone")
        for start in range(0, len(rows), CHUNK):
            conn.execute(from_json, (json.dumps(rows[start : start + CHUNK], separators=(",", ":")),))
        conn.execute("COMMIT")

    def with_writer(carry: str) -> Callable[[], None]:
        def run() -> None:
            conn = fresh(f"thread_{carry}")
            jobs: queue.Queue[Any] = queue.Queue()

            def writer() -> None:
                while (job := jobs.get()) is not None:
                    if carry == "executemany":
                        conn.executemany(insert, job)
                    else:
                        conn.execute(from_json, (job,))

            thread = threading.Thread(target=writer)
            thread.start()
            for start in range(0, len(rows), CHUNK):
                chunk = rows[start : start + CHUNK]
                jobs.put(chunk if carry == "executemany" else json.dumps(chunk, separators=(",", ":")))
            python_work()
            jobs.put(None)
            thread.join()
            conn.execute("COMMIT")

        return run

    _c, sqlite_wall = timed("executemany alone (the import's way)", executemany_alone)
    _c, json_wall = timed("INSERT ... SELECT FROM json_each(?) alone, json.dumps included", json_alone)
    _c, python_wall = timed("the Python work alone (a dict fold per line, twice)", python_work)
    for carry, alone in (("executemany", sqlite_wall), ("json", json_wall)):
        _c, wall = timed(
            f"both at once: {carry} in a writer thread, the Python work in the main thread", with_writer(carry)
        )
        best = max(alone, python_wall)
        hidden = 100 * (alone + python_wall - wall) / max(1e-9, min(alone, python_wall))
        print(
            f"    {carry}: one after the other {alone + python_wall:.2f} s, both at once {wall:.2f} s, on two free"
            f" cores at best {best:.2f} s: {hidden:.0f} % of the shorter one hidden"
        )
    print(f"load average {os.getloadavg()[0]:.1f}; files in {work}")


if __name__ == "__main__":
    main()
