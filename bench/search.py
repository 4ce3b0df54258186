"""Quick search on both backends: the console's customer search over ``--customers`` customers (default 200,000).

Builds the same customers (bench/console.py's generator: Cyrillic names, phones, 80% with a card, 40% an
email, 5% a tag) in a SQLite file and in a fresh PostgreSQL database on ``--database`` (dropped after), then
times each query through the console's service layer (the first page of 50 with the capped count) on both,
and checks they find the same customers. SQLite (FTS5 trigram) is the baseline of the same run; PostgreSQL
uses the pg_trgm GIN index on the ICU-folded text (migration 28, docs/scale.md).

Usage: ``.venv/bin/python bench/search.py --database postgresql://postgres@127.0.0.1:5432/postgres
[--customers 200000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.console import ZONE, build, query, timed  # noqa: E402
from central.services import customers  # noqa: E402
from central.services.access import ADMIN, Actor  # noqa: E402
from central.storage.store import Store  # noqa: E402

QUERIES = [
    "Петров 0001",  # a Cyrillic surname (no trigrams under LC_CTYPE 'C') and part of a phone
    "8 900 012 34 56",  # a phone in another form
    "user1234@",  # part of an email
    "7700000000012",  # part of a card number
    "Смирнова Ольга",  # two Cyrillic terms
    "ольга",  # lower case: folded
    "Ив 77",  # short terms only
    "nobody-at-all",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", required=True, help="a PostgreSQL server's URL (a database is made there)")
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--random-page-cost", type=float, default=1.1, help="the PostgreSQL database's setting")
    args = parser.parse_args()
    import psycopg

    name = "loyalty_search_" + uuid.uuid4().hex[:12]
    with psycopg.connect(args.database, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'")
        # SSD storage (docs/scale.md): with the default 4.0 the planner prices pg_trgm's GIN index above
        # reading every search row, and a rare term read all 200,000 (0.5 s instead of 1 ms)
        conn.execute(f"ALTER DATABASE {name} SET random_page_cost = {args.random_page_cost}")
    stores = {
        "SQLite": Store(os.path.join(tempfile.mkdtemp(prefix="bench-search-"), "central.sqlite")),
        "PostgreSQL": Store(args.database.rsplit("/", 1)[0] + "/" + name),
    }
    try:
        for label, db in stores.items():
            print(f"building {args.customers:,} customers on {label}: {build(db, args.customers):.0f} s")
        admin = Actor(1, "bench", ADMIN)
        print(
            f"\n{args.customers:,} customers; median ms of {args.repeat} runs; load {os.getloadavg()[0]:.1f};"
            f" PostgreSQL random_page_cost {args.random_page_cost}\n"
        )
        print(f"{'quick search':<22} {'found':>7} {'SQLite':>9} {'PostgreSQL':>11} {'ratio':>7}  same")
        for q in QUERIES:
            ms, found = {}, {}
            for label, db in stores.items():
                page = customers.list_customers(db, admin, query(q=q), ZONE)
                found[label] = (page.count, [r["id"] for r in page.rows])
                ms[label] = timed(lambda db=db, q=q: customers.list_customers(db, admin, query(q=q), ZONE), args.repeat)
            same = found["SQLite"] == found["PostgreSQL"]
            print(
                f"{q!r:<22} {found['SQLite'][0]:>7,} {ms['SQLite']:>9.1f} {ms['PostgreSQL']:>11.1f}"
                f" {ms['PostgreSQL'] / ms['SQLite']:>6.1f}x  {'yes' if same else 'NO'}"
            )
    finally:
        for db in stores.values():
            db.close()
        with psycopg.connect(args.database, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
