"""The customer list sorted by a column (docs/web-card.md, "The customer list"): what a sort costs.

Builds ``--customers`` customers (default 200,000; random balances, spends and names) with plain SQL, then
times through the service layer (central/services/customers.py) the first page and a deep page (by key, after
the 90% row) sorted by balance and by name, against the baseline in the same run: the default order (newest
first, on the ``customers_created`` index). Each figure is the median of ``--repeat`` runs.

Usage: ``PYTHONPATH=. .venv/bin/python bench/customer_sort.py [--customers N] [--repeat N]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from central.services import customers  # noqa: E402
from central.services.access import ADMIN, Actor  # noqa: E402
from central.services.filters import CustomerQuery  # noqa: E402
from central.storage.store import Store  # noqa: E402

ZONE = "Europe/Moscow"


def build(db: Store, n: int) -> None:
    rng = random.Random(19)
    names = ["Иван", "Мария", "Ольга", "Пётр", "Анна", "Дмитрий", "Елена", "Сергей"]
    surnames = ["Петров", "Иванова", "Смирнов", "Кузнецова", "Попов", "Соколова"]
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO customers (id, home_store, phone, name, balance, spend, visits, version, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (
                (
                    f"c{i:07d}",
                    "S1",
                    f"+7900{i:07d}",
                    f"{rng.choice(names)} {rng.choice(surnames)}",
                    rng.randrange(0, 500_000),
                    rng.randrange(0, 10_000_000),
                    rng.randrange(0, 200),
                    i + 1,
                    f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:{i % 60:02d}+00:00",
                )
                for i in range(n)
            ),
        )


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def deep_key(db: Store, admin: Actor, sort: str, rows: int) -> str | None:
    """The key of the page after row ``rows`` (found once by walking pages of 5,000)."""
    after, seen = None, 0
    while seen < rows:
        page = customers.list_customers(
            db, admin, CustomerQuery(), ZONE, after=after, limit=5000, sort=sort, with_count=False
        )
        seen += len(page.rows)
        after = page.next_key
        if after is None:
            break
    return after


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Store(str(Path(folder) / "central.sqlite"))
        db.add_store("S1", "Store", ZONE)
        started = time.perf_counter()
        build(db, args.customers)
        print(f"built {args.customers:,} customers in {time.perf_counter() - started:.1f} s")
        admin = Actor(1, "bench", ADMIN)
        deep = int(args.customers * 0.9)
        print(f"{'query':<46}{'ms':>8}  vs default")
        results = {}
        for sort in ("created", "balance", "name"):
            key = deep_key(db, admin, sort, deep)
            for label, after in (("first page", None), (f"deep page (after row {deep:,})", key)):
                results[(sort, label)] = timed(
                    lambda after=after, sort=sort: customers.list_customers(
                        db, admin, CustomerQuery(), ZONE, after=after, sort=sort, with_count=False
                    ),
                    args.repeat,
                )
        for (sort, label), ms in results.items():
            base = results[("created", label)]
            name = f"{label}, by {sort}" + (" (baseline)" if sort == "created" else "")
            print(f"{name:<58}{ms:>8.1f}  {ms / base:>6.1f}x")
        db.close()


if __name__ == "__main__":
    main()
