"""XLSX export benchmark: the customer list (default 50,000 customers) through openpyxl's write-only mode.

Builds a central database with ``--customers`` customers (bench/console.py's
generator; an existing ``--db`` with customers is reused) and writes the
whole list to XLSX the way the export job does
(``central.services.exports.write_xlsx`` over ``customers.iter_customers``),
``--repeat`` times in a fresh process each, alternating:

* **baseline**: openpyxl with its pure-Python XML writer (``et_xmlfile``), as
  before lxml was a dependency;
* **lxml**: openpyxl with lxml installed (what runs now).

Each figure is the median wall and CPU time of the process's export; on a
shared machine the CPU time is the steadier one.

Usage: ``.venv/bin/python bench/export.py [--customers N] [--db PATH] [--repeat N]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def one(db_path: str, lxml: bool) -> dict[str, float]:
    """One export in this process: wall and CPU seconds."""
    if not lxml:
        sys.modules["lxml"] = None  # type: ignore[assignment]  # openpyxl falls back to et_xmlfile
    import openpyxl
    from werkzeug.datastructures import MultiDict

    from central.services import customers, exports
    from central.services.access import ADMIN, Actor
    from central.services.filters import CustomerQuery
    from central.storage.store import Store

    db = Store(db_path)
    who = Actor(id=0, username="bench", role=ADMIN, stores=frozenset())
    query = CustomerQuery.from_args(MultiDict())
    with tempfile.TemporaryDirectory() as folder:
        wall, cpu = time.perf_counter(), time.process_time()
        rows = exports.write_xlsx(
            exports.CUSTOMER_COLUMNS,
            customers.iter_customers(db, who, query, "Europe/Moscow"),
            "customers",
            os.path.join(folder, "customers.xlsx"),
            progress=lambda done: None,
        )
        result = {
            "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu,
            "rows": rows,
            "lxml": bool(openpyxl.LXML),
        }
    db.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--db")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", choices=["baseline", "lxml"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.db, args.one == "lxml")))
        return
    from bench.console import build
    from central.storage.store import Store

    db_path = args.db or os.path.join(tempfile.mkdtemp(), "export.sqlite")
    db = Store(db_path)
    if not db.conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0]:
        print(f"building {args.customers:,} customers: {build(db, args.customers):.0f} s", file=sys.stderr)
    db.close()
    runs: dict[str, list[dict[str, float]]] = {"baseline": [], "lxml": []}
    for _ in range(args.repeat):
        for kind in runs:
            out = subprocess.run(
                [sys.executable, __file__, "--db", db_path, "--one", kind],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            runs[kind].append(json.loads(out.stdout))
    rows = runs["lxml"][0]["rows"]
    print(f"XLSX export of {rows:,} customers, median of {args.repeat}")
    print(f"{'':34}{'wall s':>8}{'cpu s':>8}")
    for kind, label in (("baseline", "baseline: openpyxl + et_xmlfile"), ("lxml", "now: openpyxl + lxml")):
        wall = statistics.median(r["wall"] for r in runs[kind])
        cpu = statistics.median(r["cpu"] for r in runs[kind])
        print(f"{label:34}{wall:8.2f}{cpu:8.2f}")


if __name__ == "__main__":
    main()
