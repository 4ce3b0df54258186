"""The console's transactions filtered by a product or a category, on a database an import of the year filled.

Times ``transactions_page`` (the first page of 50) and ``transaction_totals`` for the most frequent product, a
product of a few receipts, the most frequent category, and a product over one month, each the median of
``--repeat`` runs (CPU and wall). Works on either schema (before migration 44 the lines' table and its indexes answer;
since, the purchases' packed lines), so the same database file of each can be compared.

Usage: ``PYTHONPATH=. .venv/bin/python bench/line_filters.py DB [--repeat 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import numpy as np

    from central.storage.store import Store
    from central.storage.transaction_list import TransactionFilter

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("db")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    db = Store(args.db)
    old = db.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'transaction_lines'").fetchone() is not None
    if not old:
        from central.storage.line_pack import records

        query = "SELECT columns FROM transactions WHERE columns IS NOT NULL LIMIT 20000"
        blobs = [r[0] for r in db.conn.execute(query)]
        lines, _sizes = records(blobs)
        sku, category = lines["sku"] + 1, lines["category"] + 1
    else:  # before migration 44
        rows = db.conn.execute("SELECT sku_id, category_id FROM transaction_lines LIMIT 200000").fetchall()
        sku, category = np.array([r[0] or 0 for r in rows]), np.array([r[1] or 0 for r in rows])
    skus, counts = np.unique(sku[sku > 0], return_counts=True)
    cats, cat_counts = np.unique(category[category > 0], return_counts=True)
    top, rare, top_cat = int(skus[counts.argmax()]), int(skus[counts.argmin()]), int(cats[cat_counts.argmax()])
    first, last = db.conn.execute("SELECT MIN(at_epoch), MAX(at_epoch) FROM transactions").fetchone()
    cases = [
        ("the most frequent product, all time", {"sku_id": top}),
        ("a rare product, all time", {"sku_id": rare}),
        ("the most frequent category, all time", {"category_id": top_cat}),
        ("the most frequent product, one month", {"sku_id": top, "epoch_from": last - 30 * 86400}),
        ("no line filter (for scale), all time", {}),
    ]
    print(
        f"{args.db}: {db.count('transactions'):,} transactions, {(last - first) / 86400:.0f} days;"
        f" load {os.getloadavg()[0]:.1f}"
    )
    for label, given in cases:
        cpu_s, wall_s = [], []
        for _ in range(args.repeat):
            f = TransactionFilter(**given)  # a request's filter
            cpu, wall = time.process_time(), time.perf_counter()
            page = db.transactions_page(f, None, 50)
            totals = db.transaction_totals(f)
            cpu_s.append(time.process_time() - cpu)
            wall_s.append(time.perf_counter() - wall)
        print(
            f"  {label:<42} page + totals: {1000 * statistics.median(wall_s):7.0f} ms wall,"
            f" {1000 * statistics.median(cpu_s):7.0f} ms CPU; {totals[0]:,} transactions, {len(page)} on the page"
        )
    db.close()


if __name__ == "__main__":
    main()
