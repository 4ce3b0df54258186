"""What-if benchmark: a draft rule set against the current one over a million real-shaped receipt lines.

Fills one store's ``transactions`` (each purchase's lines packed in its row) with
``--lines`` receipt lines (default 1,000,000; 1..12 lines a receipt, 90
days, 2,000 products in 40 categories, a quarter of the receipts redeeming
points, customers at four levels) and times ``central.services.whatif.compare``
end to end -- reading the receipts, laying out the columns, quoting them under
both rule sets with the batch kernel, summing per day and per category --
with every rule kind active in the draft. Goal: under 2 seconds.

A baseline measured in the same run:

* the pure-Python reference calculator, timed on a sample of receipts and
  extrapolated to all the lines.

Usage: ``.venv/bin/python bench/whatif.py [--lines N] [--db PATH] [--repeat N]``
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.datastructures import MultiDict  # noqa: E402

from central.points.receipt_log import LINE_DTYPE  # noqa: E402
from central.services import whatif  # noqa: E402
from central.services.access import ADMIN, Actor  # noqa: E402
from central.storage.store import Store  # noqa: E402
from shared import accrual, batch  # noqa: E402

STORE, ZONE = "S001", "Europe/Moscow"
CURRENT = {
    "base_percent": "5",
    "redemption": {"max_percent": "20", "reduced_max_percent": "10", "discount_threshold_percent": "25"},
    "receipt_tiers": [{"from": 0, "k": "0"}, {"from": 10000, "k": "1"}, {"from": 300000, "k": "1.5"}],
    "categories": {"C01": {"k": "2"}, "C02": {"k": "0", "redeemable": False}},
    "levels": [
        {"name": "Base", "from_spend": 0, "percent": "3"},
        {"name": "Gold", "from_spend": 5000000, "percent": "5"},
    ],
}
DRAFT = {
    "base_percent": "6",
    "points_per_money": "1",
    "total_step": "100",
    "time_rules-0-type": "date",
    "time_rules-0-date": "2026-12-31",
    "time_rules-0-k": "2",
    "time_rules-1-type": "weekdays_hours",
    "time_rules-1-weekdays": ["5", "6"],
    "time_rules-1-from_hour": "22",
    "time_rules-1-to_hour": "2",
    "time_rules-1-k": "1.5",
    "time_rules-2-type": "weekdays",
    "time_rules-2-weekdays": ["1"],
    "time_rules-2-k": "1.2",
    "time_rules-3-type": "hours",
    "time_rules-3-from_hour": "8",
    "time_rules-3-to_hour": "10",
    "time_rules-3-k": "1.3",
    "receipt_tiers-0-from": "0",
    "receipt_tiers-0-k": "0",
    "receipt_tiers-1-from": "100",
    "receipt_tiers-1-k": "1",
    "receipt_tiers-2-from": "3000",
    "receipt_tiers-2-k": "1.5",
    "categories-0-name": "C01",
    "categories-0-k": "2.5",
    "categories-0-redeemable": "1",
    "categories-1-name": "C02",
    "categories-1-k": "0",
    "category_groups-0-name": "LUNCH",
    "category_groups-0-categories": "C03, C04",
    "category_groups-0-k": "1.5",
    "products-0-sku": "P0001",
    "products-0-category": "C01",
    "products-0-k": "3",
    "products-0-redeemable": "1",
    "redemption.max_percent": "30",
    "redemption.reduced_max_percent": "15",
    "redemption.discount_threshold_percent": "25",
}


def build(db: Store, lines: int, seed: int = 11) -> float:
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    db.add_store(STORE, "Bench store", ZONE)
    now = int(time.time())
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO catalog_categories (id, name, source, created_at) VALUES (?, ?, 'receipt', 'x')",
            [(i + 1, f"C{i + 1:02d}") for i in range(40)],
        )
        conn.executemany(
            "INSERT INTO catalog_products (id, sku, category_id, created_at) VALUES (?, ?, ?, 'x')",
            [(i + 1, f"P{i + 1:04d}", i % 40 + 1) for i in range(2000)],
        )
    sizes = []
    total = 0
    while total < lines:
        size = int(min(rng.integers(1, 13), lines - total))
        sizes.append(size)
        total += size
    n = len(sizes)
    at = np.sort(rng.integers(now - 90 * 86400, now - 60, n))
    sku = rng.integers(0, 2000, total).astype(np.int32)
    category = np.where(rng.random(total) < 0.9, sku % 40, -1).astype(np.int32)
    amount = rng.integers(1_000, 120_000, total).astype(np.int64)
    discount = np.where(rng.random(total) < 0.2, amount // 10, 0).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    receipt_total = np.add.reduceat(amount, starts[:-1])
    redeemed = np.where(rng.random(n) < 0.25, receipt_total // 20, 0)
    levels = rng.choice(["Base", "Gold", ""], n)
    packed = np.zeros(total, LINE_DTYPE)  # no points per line; the price is the amount (a quantity of 1)
    packed["sku"], packed["category"], packed["amount"], packed["discount"] = sku, category, amount, discount
    packed["price"] = amount
    rows = []
    for r in range(n):
        s, e = int(starts[r]), int(starts[r + 1])
        rows.append(
            (
                r + 1,
                "purchase",
                "till",
                STORE,
                f"r{r}",
                f"c{r % 50_000}",
                int(at[r]),
                int(receipt_total[r]),
                int(redeemed[r]),
                levels[r] or None,
                e - s,
                packed[s:e].tobytes(),
            )
        )
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO transactions (id, kind, channel, store, receipt_id, customer_id, at_epoch, at, amount,"
            " redeemed, level, line_count, columns, recorded_at) VALUES (?,?,?,?,?,?,?,'',?,?,?,?,?,'')",
            rows,
        )
    db.add_rules(STORE, {**CURRENT, "version": 1, "store": STORE, "timezone": ZONE})
    return time.perf_counter() - started


def median_ms(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--db", help="database to build or reuse (default: a temporary file)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample-receipts", type=int, default=5_000)
    args = parser.parse_args()
    path = args.db or os.path.join(tempfile.mkdtemp(prefix="bench-whatif-"), "central.sqlite")
    db = Store(path)
    if db.count("transactions") == 0:
        print(f"building {args.lines:,} receipt lines in {path}")
        print(f"  built in {build(db, args.lines):.0f} s")
    admin = Actor(1, "bench", ADMIN)
    form = MultiDict()
    for key, value in DRAFT.items():
        for item in value if isinstance(value, list) else [value]:
            form.add(key, item)
    whatif.compare(db, admin, STORE, form, 90)  # warm: page cache, kernel import
    total_ms, result = median_ms(lambda: whatif.compare(db, admin, STORE, form, 90), args.repeat)
    assert isinstance(result, whatif.Comparison)
    print(
        f"\nengine: {accrual.ENGINE}; {result.receipts:,} receipts, {result.lines:,} lines, 90 days; "
        f"median of {args.repeat} runs\n"
    )
    print(f"{'what-if end to end (read, columns, 2 quotes, sums)':<58} {total_ms:>9.0f} ms   goal < 2000 ms")
    for name, seconds in result.timings.items():
        print(f"  {name:<56} {seconds * 1000:>9.0f} ms")
    print(
        f"  current rules {result.current / 100:,.2f} points, draft {result.draft / 100:,.2f} points"
        f" ({'+' if result.difference >= 0 else ''}{result.difference / 100:,.2f})"
    )

    load_ms = result.timings["load"] * 1000
    print(f"\n{'read the lines: packed columns (what the what-if does)':<58} {load_ms:>9.0f} ms")

    prepared, _, _, _ = whatif.load(db, STORE, ZONE, 0)
    items = batch.items_of(prepared, limit=args.sample_receipts)
    sample_lines = sum(len(receipt.lines) for receipt, *_ in items)
    rules = __import__("shared.rules", fromlist=["parse_rules"]).parse_rules(
        {**CURRENT, "version": 1, "store": STORE, "timezone": ZONE}
    )
    started = time.perf_counter()
    batch.quote_batch_reference(rules, items)
    per_line = (time.perf_counter() - started) / sample_lines
    reference_ms = per_line * result.lines * 2 * 1000
    kernel_ms = (result.timings["current"] + result.timings["draft"]) * 1000
    print(f"{'two quotes with the batch kernel':<58} {kernel_ms:>9.0f} ms")
    print(
        f"{'baseline: two quotes with the reference (extrapolated)':<58} {reference_ms:>9.0f} ms   "
        f"({reference_ms / kernel_ms:.0f}x slower; sample of {sample_lines:,} lines)"
    )
    db.close()


if __name__ == "__main__":
    random.seed(0)
    main()
