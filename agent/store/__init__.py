"""The agent's SQLite database: the only part of agent/ that talks to SQLite.

One file per agent, in WAL mode with ``synchronous=FULL``: a transaction that
returned from COMMIT is on disk. All writes go through one writer connection
behind a lock, each in ``BEGIN IMMEDIATE`` (the datasette pattern); reads use
one connection per thread and see a consistent snapshot.

The schema is versioned with sqlite-utils migrations (``schema.py``), applied
when the store opens. The hot paths use plain SQL on the connections: the
POS API must answer within milliseconds, and sqlite-utils' table helpers
introspect the schema on every call.

The sync uses the convenience methods below (``outbox_batch``,
``outbox_delete_through``, ``apply_customer_delta``, ``set_rules``,
``set_state``); each runs in its own transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from shared.promotions import PromotionSet, parse_promotions
from shared.rules import RuleSet, parse_rules

from .customers import DeltaError
from .outbox import OutboxEvent
from .schema import KNOWN, MIGRATIONS
from .times import iso, parse_time, utcnow
from .tx import Tx

__all__ = ["DeltaError", "OutboxEvent", "Row", "SchemaTooNew", "Store", "StoreError", "Tx"]

#: a database row, read by column name (``row["customer_id"]``)
Row = sqlite3.Row

BUSY_TIMEOUT_MS = 10_000


class StoreError(Exception):
    """The database cannot be used as asked; the message says why and what to do."""


class SchemaTooNew(StoreError):
    """The database was written by a newer agent: refused, left untouched."""


class Store:
    """The agent database at ``path`` (created and migrated on open)."""

    def __init__(
        self, path: str | Path, *, agent_id: str = "agent-1", clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self.path = Path(path)
        self.agent_id = agent_id
        self.clock = clock
        self._lock = threading.Lock()
        #: (canonical JSON, RuleSet) of the rule set this process installed or last read: parsed once
        self._parsed_rules: tuple[str, RuleSet] | None = None
        self._parsed_promotions: tuple[str, PromotionSet] | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        #: called (without arguments, after the commit) when a transaction appended outbox events
        self.outbox_listeners: list[Callable[[], None]] = []
        migrate(self.path)
        self._writer = self._connect()

    def _connect(self, *, readonly: bool = False) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, Python adds none.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if readonly:
            conn.execute("PRAGMA query_only = 1")
        return conn

    def close(self) -> None:
        """Close every connection (readers of other threads included)."""
        with self._lock:
            for conn in [self._writer, *self._readers]:
                conn.close()
            self._readers.clear()

    @contextlib.contextmanager
    def write(self, *, durable: bool = True) -> Iterator[Tx]:
        """One write transaction (``BEGIN IMMEDIATE``); committed, hence durable, on exit.

        ``durable=False`` skips the fsync of this commit (WAL, ``synchronous=NORMAL``): a power
        cut may undo it, never corrupt it, and the next durable commit makes it durable too. Only
        for bookkeeping that is redone when lost: the sync's outbox deletes (the events are sent
        again and the central server ignores them) and customer deltas with their cursor (pulled
        again).
        """
        with self._lock:
            conn = self._writer
            if not durable:
                conn.execute("PRAGMA synchronous = NORMAL")
            try:
                conn.execute("BEGIN IMMEDIATE")
                tx = Tx(conn, self.agent_id)
                try:
                    yield tx
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                if not durable:
                    conn.execute("PRAGMA synchronous = FULL")
        if tx.events_added:
            # the sync sends at once instead of at its next poll (keeps the lag low)
            for listener in self.outbox_listeners:
                listener()

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only snapshot on this thread's reader connection."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect(readonly=True)
            with self._lock:
                self._readers.append(conn)
        conn.execute("BEGIN")
        try:
            yield Tx(conn, self.agent_id)
        finally:
            conn.execute("ROLLBACK")

    # -- for the sync and the CLI: each call is its own transaction

    def outbox_batch(self, after_seq: int = 0, limit: int = 100, max_bytes: int | None = None) -> list[OutboxEvent]:
        """Up to ``limit`` events with seq > ``after_seq``, in seq order, bodies decoded."""
        with self.read() as tx:
            return tx.outbox_batch(after_seq, limit, max_bytes)

    def outbox_delete_through(self, seq: int) -> int:
        """Delete acknowledged events up to and including ``seq``; returns how many."""
        with self.write() as tx:
            return tx.outbox_delete_through(seq)

    def outbox_delete_ids(self, ids: Iterable[str]) -> int:
        """Delete acknowledged events by id; returns how many."""
        with self.write() as tx:
            return tx.outbox_delete_ids(ids)

    def outbox_depth(self) -> int:
        with self.read() as tx:
            return tx.outbox_depth()

    def oldest_outbox_age(self) -> float | None:
        """Seconds since the oldest waiting event was written (None: outbox empty)."""
        with self.read() as tx:
            return tx.oldest_outbox_age(self.clock())

    def apply_customer_delta(self, delta: Mapping[str, Any]) -> bool:
        """Keep a CustomerDelta if newer than what we hold (shared/events.py); True if kept."""
        with self.write() as tx:
            return tx.apply_customer_delta(delta, self.clock())

    def apply_customer_deltas(self, deltas: Iterable[Mapping[str, Any]]) -> int:
        """Many deltas in one transaction (a full resync); returns how many were kept."""
        with self.write() as tx:
            now = self.clock()
            return sum(tx.apply_customer_delta(delta, now) for delta in deltas)

    def rules(self) -> tuple[int, str] | None:
        """(version, JSON) of the installed rule set, or None."""
        with self.read() as tx:
            return tx.rules()

    def set_rules(self, document: str | Mapping[str, Any], version: int | None = None, *, force: bool = False) -> bool:
        """Install a rule set (validated with shared.rules.parse_rules); False if already installed.

        An older version than the installed one is refused unless ``force``;
        the same version with a different content is always refused.
        """
        rules = parse_rules(document)
        if version is not None and version != rules.version:
            raise StoreError(f"rule set says version {rules.version}, installed as {version}")
        canonical = rules.to_json()
        with self.write() as tx:
            held = tx.rules()
            if held is not None:
                held_version, held_doc = held
                if held_version == rules.version:
                    if held_doc == canonical:
                        return False
                    raise StoreError(
                        f"rule set version {rules.version} is already installed with a different content; "
                        "a changed rule set needs a new version number"
                    )
                if held_version > rules.version and not force:
                    raise StoreError(
                        f"rule set version {rules.version} is older than the installed version {held_version}"
                    )
            tx.put_rules(rules.version, canonical, self.clock())
        self._parsed_rules = (canonical, rules)
        return True

    def set_promotions(self, document: str | Mapping[str, Any], version: int | None = None) -> bool:
        """Install the store's promotions (validated with shared.promotions.parse_promotions) when newer
        than the installed ones; False if not newer."""
        doc = json.loads(document) if isinstance(document, str) else document
        parsed = parse_promotions(doc)
        if version is not None and version != parsed.version:
            raise StoreError(f"promotions say version {parsed.version}, installed as {version}")
        canonical = json.dumps(parsed.to_json(), sort_keys=True, ensure_ascii=False)
        with self.write() as tx:
            held = tx.promotions()
            if held is not None and held[0] >= parsed.version:
                return False
            tx.put_promotions(parsed.version, canonical, self.clock())
        self._parsed_promotions = (canonical, parsed)
        return True

    def parsed_promotions(self, text: str) -> PromotionSet:
        """The PromotionSet of an installed document: the one set_promotions parsed, else parsed now (once)."""
        held = self._parsed_promotions
        if held is not None and held[0] == text:
            return held[1]
        parsed = parse_promotions(json.loads(text))
        self._parsed_promotions = (text, parsed)
        return parsed

    def parsed_rules(self, text: str) -> RuleSet:
        """The RuleSet of an installed rule set's JSON: the one set_rules parsed, else parsed now (once)."""
        held = self._parsed_rules
        if held is not None and held[0] == text:
            return held[1]
        rules = parse_rules(text)
        self._parsed_rules = (text, rules)
        return rules

    def state(self, key: str) -> str | None:
        with self.read() as tx:
            return tx.state(key)

    def set_state(self, key: str, value: str) -> None:
        """Set a sync_state value (``link``: online/offline, ``last_sync_at``: ISO time, ...)."""
        with self.write() as tx:
            tx.set_state(key, value)

    def sync_state(self) -> dict[str, str]:
        with self.read() as tx:
            return tx.all_state()

    def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check``: ["ok"] for a sound database, else what is wrong."""
        try:
            with self.read() as tx:
                return [row[0] for row in tx.c.execute("PRAGMA integrity_check").fetchall()]
        except sqlite3.DatabaseError as exc:
            return [f"the database is damaged ({exc})"]

    def last_commit_time(self) -> dt.datetime | None:
        """When the last receipt was committed (the doctor's clock check)."""
        try:
            with self.read() as tx:
                return parse_time(tx.c.execute("SELECT MAX(committed_at) FROM receipts").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read the database {self.path}: {exc}") from None

    def now_iso(self) -> str:
        return iso(self.clock())


def migrate(path: Path) -> list[str]:
    """Create or upgrade the database at ``path``; returns the migrations applied.

    :raises SchemaTooNew: the database has migrations this code does not know
        (written by a newer agent); nothing is changed.
    :raises StoreError: the file is not a usable SQLite database.
    """
    if path.parent and not path.parent.exists():
        raise StoreError(f"the database folder {path.parent} does not exist (create it, or fix the `database` setting)")
    try:
        db = Database(sqlite3.connect(path))
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the database {path}: {exc}") from None
    try:
        try:
            applied = [m.name for m in MIGRATIONS.applied(db)]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} is not a loyalty-agent database ({exc}); restore it from a backup") from None
        unknown = [name for name in applied if name not in KNOWN]
        if unknown:
            raise SchemaTooNew(
                f"the database {path} was written by a newer loyalty-agent (schema migrations {', '.join(unknown)} "
                "are unknown to this version); install that version again, or use a backup made by this one. "
                "The database was not changed."
            )
        if db.journal_mode != "wal":
            db.enable_wal()
        pending = [m.name for m in MIGRATIONS.pending(db)]
        MIGRATIONS.apply(db)
        return pending
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot use the database {path}: {exc}; restore it from a backup") from None
    finally:
        db.close()
