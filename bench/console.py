"""Console list benchmark: the customer list over 1,000,000 customers.

Builds a central database with ``--customers`` customers (default 1,000,000;
80% with a card, names, phones, emails, tags, levels, balances spread over
three years and 20 stores), then times through the console's service layer
(central/services/customers.py):

* the first page (50 newest), with and without the capped count;
* a deep page (the page after the 900,000th customer, reached by its key);
* a quick search of two terms (a surname and part of a phone number);
* a filtered list (level AND balance AND tag, and an OR of two conditions);
* a store manager's first page (two stores of twenty);

and, as the baseline in the same run, the deep page fetched the naive way
(``LIMIT 50 OFFSET 900000``), which keyset paging avoids. Each figure is the
median of ``--repeat`` runs.

Usage: ``.venv/bin/python bench/console.py [--customers N] [--db PATH] [--repeat N]``
(an existing ``--db`` with customers is reused).
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from central.services import customers  # noqa: E402
from central.services.access import ADMIN, STORE_MANAGER, Actor  # noqa: E402
from central.services.filters import CustomerQuery  # noqa: E402
from central.storage.store import Store  # noqa: E402

ZONE = "Europe/Moscow"
FIRST = [
    "Иван",
    "Мария",
    "Ольга",
    "Пётр",
    "Анна",
    "Дмитрий",
    "Елена",
    "Сергей",
    "Наталья",
    "Алексей",
    "Татьяна",
    "Андрей",
    "Юлия",
    "Михаил",
    "Ирина",
    "Николай",
    "Светлана",
    "Владимир",
    "Екатерина",
    "Павел",
]
LAST = [
    "Иванов",
    "Петров",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
    "Степанов",
    "Николаев",
    "Орлов",
    "Андреев",
    "Макаров",
    "Никитин",
    "Захаров",
    "Зайцев",
    "Соловьёв",
    "Борисов",
    "Яковлев",
    "Григорьев",
]
LEVELS = ["Base", "Silver", "Gold", "Platinum"]
TAGS = ["vip", "sushi", "kids", "office", "birthday-club"]
STORES = [f"S{i:03d}" for i in range(1, 21)]


def build(db: Store, count: int, seed: int = 7) -> float:
    """Fill the database with ``count`` customers; returns seconds taken."""
    rng = random.Random(seed)
    started = time.perf_counter()
    for store in STORES:
        db.add_store(store, f"Store {store}", ZONE)
    epoch0 = 1_700_000_000  # 2023-11
    chunk = 20_000
    for start in range(0, count, chunk):
        people, cards, tags = [], [], []
        for i in range(start, min(start + chunk, count)):
            cid = f"c{i:07d}"
            first = rng.choice(FIRST)
            last = rng.choice(LAST) + (
                "а"
                if first
                in ("Мария", "Ольга", "Анна", "Елена", "Наталья", "Татьяна", "Юлия", "Ирина", "Светлана", "Екатерина")
                else ""
            )
            created = epoch0 + i * 94_000_000 // count  # three years, in order
            visits = rng.randint(0, 40)
            spend = visits * rng.randint(20_000, 300_000)
            people.append(
                (
                    cid,
                    rng.choice(STORES),
                    f"+79{i:09d}",
                    int(rng.random() < 0.7),
                    f"{first} {last}",
                    f"user{i}@example.com" if rng.random() < 0.4 else None,
                    LEVELS[min(3, spend // 3_000_000)],
                    rng.randint(0, 500_000),
                    spend,
                    visits,
                    time_text(created),
                    time_text(created + rng.randint(0, 30_000_000)) if visits else None,
                )
            )
            if rng.random() < 0.8:
                cards.append((f"77{i:014d}", cid, time_text(created)))
            if rng.random() < 0.05:
                tags.append((cid, rng.choice(TAGS)))
        with db.transaction() as conn:
            # cards first: the customer's search document (made by the insert trigger) then holds them
            conn.executemany("INSERT INTO cards (number, customer_id, created_at, main) VALUES (?, ?, ?, 1)", cards)
            conn.executemany(
                "INSERT INTO customers (id, home_store, phone, phone_verified, name, email, level, balance, spend,"
                " visits, created_at, last_purchase_at, version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,0)",
                people,
            )
            conn.executemany("INSERT INTO customer_tags (customer_id, tag) VALUES (?, ?)", tags)
        print(f"\r  {min(start + chunk, count):,} customers", end="", flush=True)
    print()
    db.conn.execute("ANALYZE")
    return time.perf_counter() - started


def time_text(epoch: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """Median milliseconds of ``repeat`` calls (after one warm-up)."""
    fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def query(**args: object) -> CustomerQuery:
    from werkzeug.datastructures import MultiDict

    md = MultiDict()
    for key, value in args.items():
        if key == "conditions":
            for f, o, v in value:  # type: ignore[attr-defined]
                md.add("f", f)
                md.add("o", o)
                md.add("v", v)
        else:
            md.add(key, value)
    return CustomerQuery.from_args(md)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--db", help="database to build or reuse (default: a temporary file)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    path = args.db or os.path.join(tempfile.mkdtemp(prefix="bench-console-"), "central.sqlite")
    db = Store(path)
    have = db.count("customers")
    if have == 0:
        print(f"building {args.customers:,} customers in {path}")
        print(f"  built in {build(db, args.customers):.0f} s")
    else:
        print(f"reusing {path} with {have:,} customers")
    total = db.count("customers")
    admin = Actor(1, "bench", ADMIN)
    manager = Actor(2, "manager", STORE_MANAGER, frozenset(STORES[:2]))
    everyone = CustomerQuery()
    deep_index = min(900_000, total - 100)
    deep_row = db.conn.execute(
        "SELECT created_at, id FROM customers ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?", (deep_index,)
    ).fetchone()
    deep_key = f"{deep_row[0]}~{deep_row[1]}"
    rows = {
        "first page (50 newest)": lambda: customers.list_customers(db, admin, everyone, ZONE, with_count=False),
        "first page + capped count": lambda: customers.list_customers(db, admin, everyone, ZONE),
        f"deep page (after row {deep_index:,}, keyset)": lambda: customers.list_customers(
            db, admin, everyone, ZONE, after=deep_key, with_count=False
        ),
        "quick search 'Петров 0001' (two terms)": lambda: customers.list_customers(
            db, admin, query(q="Петров 0001"), ZONE
        ),
        "quick search by phone '8 900 012 34 56'": lambda: customers.list_customers(
            db, admin, query(q="8 900 012 34 56"), ZONE
        ),
        "filter level=Gold AND balance>=3000 AND tag=vip": lambda: customers.list_customers(
            db,
            admin,
            query(conditions=[("level", "is", "Gold"), ("balance", "ge", "3000"), ("tag", "has", "vip")]),
            ZONE,
        ),
        "filter name contains 'Ольга' OR email filled": lambda: customers.list_customers(
            db, admin, query(match="any", conditions=[("name", "contains", "Ольга"), ("email", "filled", "")]), ZONE
        ),
        "store manager (2 of 20 stores), first page": lambda: customers.list_customers(db, manager, everyone, ZONE),
    }
    baseline = timed(
        lambda: db.conn.execute(
            "SELECT id FROM customers ORDER BY created_at DESC, id DESC LIMIT 50 OFFSET ?", (deep_index,)
        ).fetchall(),
        args.repeat,
    )
    print(f"\n{total:,} customers; median of {args.repeat} runs\n")
    print(f"{'query':<52} {'ms':>9} {'vs OFFSET':>10}")
    for name, fn in rows.items():
        ms = timed(fn, args.repeat)
        print(f"{name:<52} {ms:>9.1f} {ms / baseline:>9.3f}x")
    print(f"{'baseline: deep page with OFFSET ' + format(deep_index, ','):<52} {baseline:>9.1f} {1:>9.3f}x")
    db.close()


if __name__ == "__main__":
    main()
