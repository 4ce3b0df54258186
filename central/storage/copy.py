"""``loyalty-central copy-db``: a SQLite ledger into a PostgreSQL database, verified by totals (docs/scale.md).

The target is migrated first (the same migrations), must hold no customers yet, and gets every table's rows
in one transaction: all of it or nothing. Tables that the target's triggers keep (``customer_keys``, the
search index) are copied or rebuilt with those triggers off. Then, per table, the row count and the sum of
every integer column (money, points, counters) must be equal on both sides, or the copy is rolled back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from .connection import Database

#: SQLite's own tables, the FTS5 search index (PostgreSQL rebuilds its own from the customers) and the segments'
#: log of changed customers (a process builds its column snapshot afresh from a new database)
_SKIP_PREFIXES = ("sqlite_", "customer_search", "segment_dirty")
#: tables whose PostgreSQL triggers would write while we copy
_TRIGGERED = ("customers", "cards", "customer_tags", "customer_keys", "agg_days")
_CHUNK = 5000


class CopyError(Exception):
    pass


def _tables(source: sqlite3.Connection) -> list[str]:
    names = [
        r[0]
        for r in source.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        if not r[0].startswith(_SKIP_PREFIXES) and r[0] != "schema_migrations"
    ]
    return names


def _columns(source: sqlite3.Connection, table: str) -> list[tuple[str, bool]]:
    """(name, is an integer column) of a SQLite table."""
    return [(r[1], "INT" in (r[2] or "").upper()) for r in source.execute(f"PRAGMA table_info({table})")]


def _in_reference_order(conn: Any, tables: list[str]) -> list[str]:
    """Referenced tables before the tables whose foreign keys point at them (the target's constraints)."""
    refs: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent in conn.execute(
        "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint WHERE contype = 'f'"
    ).fetchall():
        if child in refs and parent in refs and child != parent:
            refs[child].add(parent)
    ordered: list[str] = []
    while refs:
        ready = sorted(t for t, parents in refs.items() if not parents - set(ordered))
        if not ready:
            raise CopyError(f"foreign keys in a cycle: {sorted(refs)}")
        for t in ready:
            ordered.append(t)
            del refs[t]
    return ordered


def totals(conn: Any, table: str, integer_columns: list[str]) -> tuple[int, ...]:
    """The row count and the sum of each integer column of a table."""
    sums = "".join(f", COALESCE(SUM({c}), 0)" for c in integer_columns)
    row = conn.execute(f"SELECT COUNT(*){sums} FROM {table}").fetchone()
    return tuple(int(v) for v in row)


def copy_database(
    source: Database, target: Database, progress: Callable[[str, int], None] | None = None
) -> dict[str, tuple[int, ...]]:
    """Copy every table of ``source`` (SQLite) into ``target`` (PostgreSQL); return the verified totals.

    :raises CopyError: the target already holds data, its schema is behind or ahead, or a total differs."""
    if source.postgresql or not target.postgresql:
        raise CopyError("copy-db copies a SQLite database into a PostgreSQL one")
    src = source.conn
    versions = {r[0] for r in src.execute("SELECT version FROM schema_migrations")}
    target_versions = {r[0] for r in target.conn.execute("SELECT version FROM schema_migrations")}
    if versions != target_versions:
        raise CopyError(f"schema versions differ: source {sorted(versions)}, target {sorted(target_versions)}")
    if target.conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0]:
        raise CopyError("the target database already holds customers: copy into a fresh database")
    tables = _in_reference_order(target.conn, _tables(src))
    result: dict[str, tuple[int, ...]] = {}
    with target.transaction() as conn:
        for table in _TRIGGERED:
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        # what migrations seeded (settings, default programs, ...) gives way to the source's rows
        for table in reversed(tables):
            conn.execute(f"DELETE FROM {table}")
        for table in tables:
            columns = _columns(src, table)
            have = {
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?", (table,)
                ).fetchall()
            }
            names = [c for c, _ in columns if c in have]
            if len(names) != len(columns):
                missing = sorted({c for c, _ in columns} - have)
                raise CopyError(f"table {table}: the target lacks columns {missing}")
            insert = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"
            cur = src.execute(f"SELECT {', '.join(names)} FROM {table}")
            copied = 0
            while rows := cur.fetchmany(_CHUNK):
                conn.executemany(insert, rows)
                copied += len(rows)
                if progress is not None:
                    progress(table, copied)
            integers = [c for c, is_int in columns if is_int]
            want, got = totals(src, table, integers), totals(conn, table, integers)
            if want != got:
                raise CopyError(f"table {table}: totals differ after the copy: source {want}, target {got}")
            result[table] = got
        for table in _TRIGGERED:
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        # the search index from the copied customers, and identity columns past the copied ids
        from .schema_trigspeed import PG_REBUILD_SEARCH

        for statement in PG_REBUILD_SEARCH:
            conn.execute(statement)
        for table, column in conn.execute(
            "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " WHERE a.attidentity <> '' AND c.relkind = 'r'"
        ).fetchall():
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                f" COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
            )
    return result
