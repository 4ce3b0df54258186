"""What SQLite itself costs for the rows an import of the year writes: the floor under bench/import.py.

Takes a database an import filled (``bench/import.py`` keeps its files: ``compute.sqlite``), reads every row of
the tables the import wrote, and inserts the same rows again, table by table, into a fresh database of the same
schema (the same tables, the same indexes as during an import: the deferred ``LINE_INDEXES`` left out, then
built at the end) with one bare ``executemany`` per table, in the order the rows were stored, on the import's
connection settings. No Python of the import runs: this is the database's own price of those rows, the least an
import writing them can spend. Prints each table's rows, seconds of CPU and rows/s, the index builds, the total,
and the total as lines/s of the year.

``--experiments`` also measures the ideas for the lines' table on the same rows (each in a fresh database): a rowid
table instead of WITHOUT ROWID, a narrow table (only the columns the readers filter and sum on), the line's
quantity as an integer, ``synchronous = OFF``, no journal (``journal_mode = OFF``), the indexes built without the
sorter's helper thread, and what the Python side pays to make the rows from columns (``zip``).

``--packed-lines`` (a database from before migration 44 only): the floor without ``transaction_lines`` and its two
indexes, each purchase's packed ``columns`` grown from 24 to 56 bytes a line (the line's quantity, price, points and
a name id beside its sku, category, amount and discount): what SQLite would cost if the lines lived only in the
packed form (docs/import-receipts.md, "Both cores and fewer rows"). Since migration 44 that is the schema: a
database made since has no ``transaction_lines``, and the experiments read its lines from the packed form.

Usage: ``.venv/bin/python bench/import_floor.py DB [--lines N] [--experiments] [--packed-lines]``
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: tables with fewer rows than this are left out (the import writes a handful there)
SMALL = 1_000


def main() -> None:
    from central.storage.connection import LINE_INDEXES
    from central.storage.receipt_import import _IMPORT_PRAGMAS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("db")
    parser.add_argument("--lines", type=int, default=0, help="the import's lines (for lines/s): counted if left out")
    parser.add_argument("--experiments", action="store_true", help="also measure variants of the lines' table")
    parser.add_argument(
        "--packed-lines", action="store_true", help="no lines' table: the lines only packed in their purchase's row"
    )
    args = parser.parse_args()
    source = sqlite3.connect(args.db)
    deferred = {name for name, _table, _columns in LINE_INDEXES}
    schema = source.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        " ORDER BY type = 'index', rowid"
    ).fetchall()
    lines = args.lines or source.execute("SELECT SUM(line_count) FROM transactions").fetchone()[0]
    target_path = Path(tempfile.mkdtemp(prefix="import-floor-")) / "floor.sqlite"
    target = sqlite3.connect(target_path, isolation_level=None)
    target.execute("PRAGMA journal_mode = WAL")
    for name, value in _IMPORT_PRAGMAS:
        target.execute(f"PRAGMA {name} = {value}")
    # virtual tables (the customers' search) and their shadow tables are left out, and the triggers: each table's
    # rows are inserted as they are (a trigger would insert some of them twice)
    virtual = [name for kind, name, _t, sql in schema if kind == "table" and sql.upper().startswith("CREATE VIRTUAL")]
    tables = [
        name
        for kind, name, _t, _s in schema
        if kind == "table" and not any(name == v or name.startswith(v + "_") for v in virtual)
    ]
    if args.packed_lines and "transaction_lines" in tables:
        tables.remove("transaction_lines")
    for kind, name, table, sql in schema:
        if (kind == "table" and name in tables) or (kind == "index" and table in tables and name not in deferred):
            target.execute(sql)
    packed_at = [r[1] for r in source.execute("PRAGMA table_info(transactions)")].index("columns")
    count_at = [r[1] for r in source.execute("PRAGMA table_info(transactions)")].index("line_count")
    print(f"{args.db}: {lines:,} lines; load {os.getloadavg()[0]:.1f}" + (", lines packed only" * args.packed_lines))
    total = 0.0
    rows_all = 0
    costs = []
    for table in tables:
        count = source.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        if count < SMALL:
            continue
        rows = source.execute(f"SELECT * FROM {table}").fetchall()  # stored order: the key order
        if (
            args.packed_lines
            and table == "transactions"
            and "line_texts" not in {r[1] for r in source.execute("PRAGMA table_info(transactions)")}
        ):  # 56 bytes a line instead of 24
            rows = [
                (*r[:packed_at], None if r[packed_at] is None else bytes(56 * r[count_at]), *r[packed_at + 1 :])
                for r in rows
            ]
        marks = ",".join("?" * len(rows[0]))
        cpu = time.process_time()
        target.execute("BEGIN")
        target.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        target.execute("COMMIT")
        spent = time.process_time() - cpu
        costs.append((spent, table, count))
        total += spent
        rows_all += count
        del rows
    for spent, table, count in sorted(costs, reverse=True):
        print(f"  {table:28s} {count:>10,} rows  {spent:6.2f} s CPU  {count / max(spent, 1e-9):>12,.0f} rows/s")
    cpu = time.process_time()
    for name, table, columns in LINE_INDEXES:
        if table in tables:
            target.execute(f"CREATE INDEX {name} ON {table} ({columns})")
    built = time.process_time() - cpu
    print(f"  the deferred indexes built at the end: {built:.2f} s CPU")
    total += built
    print(
        f"floor: {rows_all:,} rows in {total:.1f} s of CPU = {lines / total:,.0f} lines/s of the year"
        f" (bare executemany, key order, no Python of the import); load {os.getloadavg()[0]:.1f}"
    )
    target.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(target_path) + suffix).unlink(missing_ok=True)
    if args.experiments:
        experiments(source, target_path.parent)


#: the lines' table as migration 4 makes it (schema_console.py), and variants of it
_LINES = (
    "transaction_id INTEGER NOT NULL, idx INTEGER NOT NULL, sku_id INTEGER, category_id INTEGER, name TEXT,"
    " quantity TEXT NOT NULL, price INTEGER, discount INTEGER NOT NULL, amount INTEGER NOT NULL,"
    " accrued INTEGER NOT NULL, redeemed INTEGER NOT NULL"
)
_NARROW = (
    "transaction_id INTEGER NOT NULL, idx INTEGER NOT NULL, sku_id INTEGER, category_id INTEGER,"
    " quantity {} NOT NULL, amount INTEGER NOT NULL"
)


def experiments(source: sqlite3.Connection, folder: Path) -> None:
    """The lines' table's variants: (label, columns, key, pragmas, rows' columns, quantity as milli, threads)."""
    from central.storage import line_pack

    rows = list(line_pack.lines_between(source, 0, 2**62))  # the old table's rows, wherever the lines are
    n = len(rows)
    columns = [list(c) for c in zip(*rows, strict=True)]
    cpu = time.process_time()
    rebuilt = list(zip(*columns, strict=True))
    made = time.process_time() - cpu
    del rebuilt
    print(f"experiments on transaction_lines ({n:,} rows); load {os.getloadavg()[0]:.1f}")
    print(f"  Python: the rows made from columns with zip: {made:.2f} s CPU")
    key = ", PRIMARY KEY (transaction_id, idx)) WITHOUT ROWID"
    milli = [
        (r[0], r[1], r[2], r[3], int(round(float(r[5]) * 1000)), r[8]) for r in rows
    ]  # the quantity in thousandths
    narrow = [(r[0], r[1], r[2], r[3], r[5], r[8]) for r in rows]
    cases = [
        ("as migrated (WITHOUT ROWID, 11 columns), WAL, synchronous NORMAL", f"({_LINES}{key}", (), rows, 2),
        ("the same, the indexes' sorter without a helper thread", f"({_LINES}{key}", (), rows, 0),
        ("a rowid table (no primary key), same columns", f"({_LINES})", (), rows, 2),
        ("narrow: id, idx, sku, category, quantity text, amount", f"({_NARROW.format('TEXT')}{key}", (), narrow, 2),
        ("narrow, quantity as integer thousandths", f"({_NARROW.format('INTEGER')}{key}", (), milli, 2),
        ("as migrated, synchronous OFF", f"({_LINES}{key}", ("synchronous = OFF",), rows, 2),
        ("as migrated, no journal (journal_mode OFF)", f"({_LINES}{key}", ("journal_mode = OFF",), rows, 2),
    ]
    from central.storage.receipt_import import _IMPORT_PRAGMAS

    for label, table, pragmas, data, threads in cases:
        path = folder / "experiment.sqlite"
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        for name, value in _IMPORT_PRAGMAS:
            conn.execute(f"PRAGMA {name} = {value}")
        conn.execute(f"PRAGMA threads = {threads}")
        for pragma in pragmas:
            conn.execute(f"PRAGMA {pragma}")
        conn.execute(f"CREATE TABLE transaction_lines {table}")
        marks = ",".join("?" * len(data[0]))
        cpu = time.process_time()
        for start in range(0, n, 200_000):  # a batch per transaction, as the import commits
            conn.execute("BEGIN")
            conn.executemany(f"INSERT INTO transaction_lines VALUES ({marks})", data[start : start + 200_000])
            conn.execute("COMMIT")
        inserted = time.process_time() - cpu
        cpu = time.process_time()
        conn.execute("CREATE INDEX transaction_lines_sku ON transaction_lines (sku_id, transaction_id)")
        conn.execute("CREATE INDEX transaction_lines_category ON transaction_lines (category_id, transaction_id)")
        indexed = time.process_time() - cpu
        size = conn.execute("SELECT page_count * page_size FROM pragma_page_count, pragma_page_size").fetchone()[0]
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        print(
            f"  {label:66s} insert {inserted:5.2f} s + indexes {indexed:5.2f} s = {inserted + indexed:5.2f} s CPU"
            f" ({n / (inserted + indexed):,.0f} rows/s), {size / 1e6:.0f} MB; load {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
