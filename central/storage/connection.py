"""A connection to the central database: transactions, snapshots, the migrations runner, row reading.

SQLite in WAL mode by default. The SQL is portable (``?`` placeholders are the
one thing a PostgreSQL backend translates); see docs/central.md. A connection
is used by one thread; the web app, the ingest and the publisher each open their own.
The query classes of this package (one module per job) extend :class:`Database`,
and :class:`~central.storage.store.Store` gathers them.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from shared.errors import LoyaltyError

from .clock import now_utc
from .portable import POSTGRESQL, SQLITE, PerBackend, dialect
from .schema import MIGRATIONS
from .write_lock import LEASE_LOCK, WRITE_LOCK, begin_concurrent, end

__all__ = ["LEASE_LOCK", "WRITE_LOCK", "Database", "NotFound", "pg_url"]


#: PostgreSQL databases this process has brought up to date
_MIGRATED: set[str] = set()


def pg_url(database: object) -> bool:
    """A PostgreSQL URL (postgresql://...) rather than a SQLite file path."""
    return isinstance(database, str) and database.startswith(("postgresql://", "postgres://"))


class NotFound(LoyaltyError, KeyError):
    code = "not_found"
    status = 404

    def __str__(self) -> str:
        return str(self.args[0])


class Database:
    """One connection to the central database."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0, autocheckpoint: bool = True) -> None:
        self.path = str(path)
        self.dialect = POSTGRESQL if pg_url(self.path) else SQLITE
        if self.dialect == POSTGRESQL:
            from . import pg

            self.conn = pg.connect(self.path)  # type: ignore[assignment]
            if self.path not in _MIGRATED:  # a server connection per web request: migrate once per process
                self.migrate()
                _MIGRATED.add(self.path)
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: transactions are explicit (BEGIN IMMEDIATE) so that a write
        # never upgrades a read lock half way (SQLITE_BUSY in WAL)
        self.conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        if not autocheckpoint:
            # the ingest's commits must not pay for copying the WAL into the database:
            # another connection checkpoints in the background (Store.checkpoint)
            self.conn.execute("PRAGMA wal_autocheckpoint = 0")
            self.conn.execute("PRAGMA cache_size = -65536")
        self.migrate()

    @property
    def postgresql(self) -> bool:
        return self.dialect == POSTGRESQL

    def close(self) -> None:
        self.conn.close()

    def commit_without_fsync(self) -> None:
        """synchronous = NORMAL for this connection: a commit survives a crash of the process, not a power cut
        (for work that is safe to repeat, such as the message sender's marks)."""
        if not self.postgresql:
            self.conn.execute("PRAGMA synchronous = NORMAL")
        else:
            self.conn.execute("SET synchronous_commit = off")

    def mend_line_indexes(self) -> None:
        """Build the secondary indexes a receipt import cut off left dropped (:data:`LINE_INDEXES`)."""
        restore_line_indexes(self.conn)

    def checkpoint(self) -> None:
        """Copy the WAL into the database without blocking writers (PASSIVE); PostgreSQL checkpoints itself."""
        if not self.postgresql:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    # -- transactions and migrations -------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self, lock: int = WRITE_LOCK, *, concurrent: bool = False) -> Iterator[sqlite3.Connection]:
        """A write transaction: all or nothing.

        Writers take turns on both backends: SQLite's BEGIN IMMEDIATE, and on PostgreSQL one
        transaction-scoped advisory lock, so read-then-write code (counters, the ledger's lots)
        keeps SQLite's guarantees under READ COMMITTED (docs/scale.md). ``lock``: another advisory
        lock instead, for writes that touch nothing the others read (the ingest workers' leases).
        ``concurrent``: on PostgreSQL, the write lock shared (an ingest commit beside other ingest
        commits, central/storage/write_lock.py); on SQLite it changes nothing."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if self.postgresql:
                if concurrent and lock == WRITE_LOCK:
                    begin_concurrent(self.conn)
                else:
                    self.conn.execute(f"SELECT pg_advisory_xact_lock({lock})")
            yield self.conn
        except BaseException:
            try:
                self.conn.execute("ROLLBACK")
            finally:
                end(self.conn)
            raise
        try:
            self.conn.execute("COMMIT")
        finally:
            end(self.conn)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same committed state."""
        self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ" if self.postgresql else "BEGIN")
        try:
            yield self.conn
        finally:
            self.conn.execute("COMMIT")

    def migrate(self) -> int:
        """Run the migrations this database lacks; return the schema version."""
        create = (
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL)"
        )
        if self.postgresql:
            from .pg import install_compat

            with self.transaction():  # two processes starting at once take turns
                install_compat(self.conn)  # type: ignore[arg-type]
                self.conn.execute(create)
        else:
            self.conn.execute(create)
        done = {row[0] for row in self.conn.execute("SELECT version FROM schema_migrations")}
        for version, name, statements in MIGRATIONS:
            if version in done:
                continue
            with self.transaction() as conn:
                if conn.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                    continue  # another process migrated first
                for step in statements:
                    if isinstance(step, PerBackend):
                        step = step.pick(self.dialect)  # noqa: PLW2901
                        if step is None:
                            continue
                    if callable(step):
                        step(conn)  # a Python step (central/points/programs.py): same transaction
                    else:
                        conn.execute(step)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, now_utc()),
                )
            if self.postgresql:
                self.conn.forget_schema()  # type: ignore[attr-defined]
        return max(v for v, _, _ in MIGRATIONS)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows of a query as dicts (column name -> value)."""
        cur = self.conn.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def count(self, table: str, where: str = "1 = 1", params: Sequence[Any] = ()) -> int:
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params).fetchone()[0])


#: (name, table, columns) of the secondary indexes a big receipt import drops and builds at its end
#: (central/services/receipt_import.py): the segments' aggregates' two (storage/aggregates.py; the lines'
#: table and its two went in migration 44, central/storage/schema_impfast.py); an import cut off before its end
#: leaves them missing until the next import or the next start of ``loyalty-central serve`` mends them
LINE_INDEXES = (
    ("agg_items_item", "agg_items", "kind, item, day, key"),
    ("agg_days_day", "agg_days", "day, key"),
)


def restore_line_indexes(conn: sqlite3.Connection) -> None:
    """Build the deferred secondary indexes (:data:`LINE_INDEXES`) a receipt import left dropped (else a no-op)."""
    tables = sorted({table for _name, table, _columns in LINE_INDEXES})
    marks = ",".join("?" * len(tables))
    if dialect(conn) == POSTGRESQL:
        have = {r[0] for r in conn.execute(f"SELECT indexname FROM pg_indexes WHERE tablename IN ({marks})", tables)}
        present = {r[0] for r in conn.execute(f"SELECT tablename FROM pg_tables WHERE tablename IN ({marks})", tables)}
    else:
        have = {
            r[0]
            for r in conn.execute(
                f"SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ({marks})", tables
            )
        }
        present = {
            r[0]
            for r in conn.execute(f"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({marks})", tables)
        }
    for name, table, columns in LINE_INDEXES:
        if name not in have and table in present:
            conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})")
