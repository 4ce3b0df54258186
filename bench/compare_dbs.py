"""Compare two SQLite databases table by table, column by column: the exactness check of an import's rounds.

Each table's rows and, for each column, its values as a multiset (sorted, hashed): an import made by new code and
one made by the code before, from the same file and starting point, must give the same. Prints the tables that
differ and their differing columns. Expected to differ: ``settings`` (the console's random secret key) and the
columns holding the wall-clock time of writing (``created_at``, ``recorded_at``, ``applied_at``, ``updated_at``);
``--strict`` counts those too.

Usage: ``.venv/bin/python bench/compare_dbs.py A.sqlite B.sqlite [--strict]`` (exit status 1 when they differ).
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import sys

#: what two imports of the same file may differ by: the time of writing, the console's secret key
WRITTEN_AT = {"created_at", "recorded_at", "applied_at", "updated_at"}
RANDOM_TABLES = {"settings"}


def tables(conn: sqlite3.Connection) -> set[str]:
    return {
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    }


def column_hash(conn: sqlite3.Connection, table: str, column: str) -> str:
    digest = hashlib.sha1()
    for (value,) in conn.execute(f'SELECT "{column}" FROM "{table}" ORDER BY 1'):
        digest.update(repr(value).encode())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--strict", action="store_true", help="also the times of writing and settings")
    args = parser.parse_args()
    a, b = sqlite3.connect(args.a), sqlite3.connect(args.b)
    ta, tb = tables(a), tables(b)
    differ = 0
    if ta != tb:
        print("tables in one database only:", sorted(ta ^ tb))
        differ += 1
    rows = 0
    for table in sorted(ta & tb):
        if table in RANDOM_TABLES and not args.strict:
            continue
        count_a = a.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
        count_b = b.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
        rows += count_a
        columns = [r[1] for r in a.execute(f'PRAGMA table_info("{table}")')]
        wrong = [
            c
            for c in columns
            if (args.strict or c not in WRITTEN_AT) and column_hash(a, table, c) != column_hash(b, table, c)
        ]
        if count_a != count_b or wrong:
            differ += 1
            print(f"{table}: {count_a:,} rows against {count_b:,}; columns that differ: {wrong}")
    print(f"{len(ta & tb)} tables, {rows:,} rows compared: {'identical' if not differ else f'{differ} differ'}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
