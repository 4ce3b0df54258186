"""The nightly job's removal of ended personal percents (docs/triggers.md, "A percent until a date").

Fills ``--customers`` customers (default 1,000,000; one in a hundred with a network percent that has ended,
one in fifty with a store percent, half of those ending later) and times
:func:`central.points.nightly.expire_percents` three times: a night with nothing ended (the scan alone), the
night the percents end (each removal audited and given a new version), and a second run (nothing again).
Prints wall time and processor time (CPU-s).

Usage: ``.venv/bin/python bench/percent_ends.py [--customers N]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from central.points import nightly  # noqa: E402
from central.storage.store import Store  # noqa: E402

NOW = "2027-01-01T00:00:00+00:00"


def fill(db: Store, n: int) -> None:
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO customers (id, version, created_at, network_percent, network_percent_ends_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                (f"c{i:08d}", i, NOW, *(("5", "2026-12-31T21:00:00+00:00") if i % 100 == 0 else (None, None)))
                for i in range(n)
            ),
        )
        conn.executemany(
            "INSERT INTO customer_store_percents (customer_id, store, percent, ends_at) VALUES (?, ?, ?, ?)",
            ((f"c{i:08d}", "S1", "7", "2027-06-01T00:00:00+00:00" if i % 2 else None) for i in range(0, n, 50)),
        )


def timed(label: str, fn: Callable[[], int]) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label}: {result} customers, {wall:.2f} s wall, {cpu:.2f} CPU-s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()
    db = Store(os.path.join(tempfile.mkdtemp(), "central.sqlite"))
    fill(db, args.customers)
    timed("nothing ended (the scan)", lambda: nightly.expire_percents(db, "2026-12-01T00:00:00+00:00"))
    timed("the night they end", lambda: nightly.expire_percents(db, NOW))
    timed("a second run", lambda: nightly.expire_percents(db, NOW))
    db.close()


if __name__ == "__main__":
    main()
