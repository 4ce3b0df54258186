"""Several ingest workers: agents' streams in partitions, each leased by one worker at a time (docs/scale.md).

An agent's partition is a stable hash of ``store/agent`` modulo the partition count. A worker holds leases
on partitions in ``ingest_leases`` and renews them every beat; a worker that stops renewing (killed, cut
off) loses them after ``ttl`` seconds and the others take them. Each live worker takes its fair share
(``ceil(partitions / live workers)``) and gives back what is above it, so a restarted worker gets work
again. The leases only decide who *tries*: what makes a double apply impossible is still the idempotency
register and the agent's pointer, written in the same transaction as the effect (central/storage/ingest.py).

``job_lock`` runs a job (the down-sync publisher, the nightly job) in one process at a time: on PostgreSQL a
session advisory lock (released at once when its connection dies), on SQLite a lease row with an expiry.

The tables are created here when first used (``CREATE TABLE IF NOT EXISTS``), not by a numbered migration:
a single-process installation never has them.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from typing import Any

from .clock import now_utc
from .connection import LEASE_LOCK
from .portable import POSTGRESQL, dialect

_TABLES = (
    "CREATE TABLE IF NOT EXISTS ingest_workers (id TEXT PRIMARY KEY, seen_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ingest_leases (part INTEGER PRIMARY KEY, holder TEXT NOT NULL,"
    " expires_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS job_leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at TEXT NOT NULL)",
)


def partition_of(store: str, agent: str | None, parts: int) -> int:
    return zlib.crc32(f"{store}/{agent or ''}".encode()) % parts


def _stamp(t: dt.datetime) -> str:
    return t.isoformat(timespec="milliseconds")


def create_tables(conn: Any) -> None:
    for statement in _TABLES:
        conn.execute(statement)


def rebalance(conn: Any, worker: str, parts: int, ttl: float, now: dt.datetime | None = None) -> set[int]:
    """Renew this worker's leases, give back what is above its share, take free or expired ones up to it;
    return the partitions it holds. Runs in the caller's write transaction."""
    now = now or dt.datetime.now(dt.UTC)
    until, stale = _stamp(now + dt.timedelta(seconds=ttl)), _stamp(now)
    conn.execute(
        "INSERT INTO ingest_workers (id, seen_at) VALUES (?, ?)"
        " ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        (worker, stale),
    )
    conn.execute("DELETE FROM ingest_workers WHERE seen_at < ?", (_stamp(now - dt.timedelta(seconds=ttl)),))
    live = max(1, int(conn.execute("SELECT COUNT(*) FROM ingest_workers").fetchone()[0]))
    share = math.ceil(parts / live)
    conn.execute("UPDATE ingest_leases SET expires_at = ? WHERE holder = ? AND expires_at >= ?", (until, worker, stale))
    mine = sorted(
        r[0]
        for r in conn.execute(
            "SELECT part FROM ingest_leases WHERE holder = ? AND expires_at >= ? AND part < ?", (worker, stale, parts)
        ).fetchall()
    )
    for part in mine[share:]:
        conn.execute("DELETE FROM ingest_leases WHERE part = ? AND holder = ?", (part, worker))
    held = set(mine[:share])
    if len(held) < share:
        taken = {
            r[0]
            for r in conn.execute("SELECT part FROM ingest_leases WHERE expires_at >= ? AND part < ?", (stale, parts))
        }
        for part in range(parts):
            if len(held) >= share:
                break
            if part in taken:
                continue
            # an expired lease is deleted, not updated: a DELETE waits for a commit of its old holder still
            # running (its fence key-share-locks the row, ``holds``), a renewal's UPDATE does not
            conn.execute("DELETE FROM ingest_leases WHERE part = ? AND expires_at < ?", (part, stale))
            cur = conn.execute(
                "INSERT INTO ingest_leases (part, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (part) DO NOTHING",
                (part, worker, until),
            )
            if cur.rowcount == 1:
                held.add(part)
    return held


def release(conn: Any, worker: str) -> None:
    conn.execute("DELETE FROM ingest_leases WHERE holder = ?", (worker,))
    conn.execute("DELETE FROM ingest_workers WHERE id = ?", (worker,))


def holds(conn: Any, worker: str, part: int) -> bool:
    """Inside the commit's transaction: does this worker still hold the partition (its lease not expired)?

    PostgreSQL: the lease row stays key-share-locked until the commit ends, so no other worker can take the
    partition while this transaction applies its agents' events (taking an expired lease deletes its row,
    which waits), while the holder's own renewal (an UPDATE of ``expires_at``, not a key) goes through: the
    leases' transactions take LEASE_LOCK, not the write lock, and wait for no ingest commit to renew."""
    lock = " FOR KEY SHARE" if dialect(conn) == POSTGRESQL else ""
    row = conn.execute(
        "SELECT 1 FROM ingest_leases WHERE part = ? AND holder = ? AND expires_at >= ?" + lock,
        (part, worker, _stamp(dt.datetime.now(dt.UTC))),
    ).fetchone()
    return row is not None


def _lock_key(name: str) -> int:
    return 0x4C00_0000 + zlib.crc32(name.encode()) % 0x00FF_FFFF


def job_lock(conn: Any, name: str, holder: str, ttl: float = 30.0) -> bool:
    """Take (or keep) the right to run the job ``name``; False while another process has it.

    PostgreSQL: a session advisory lock on this connection (call again each round: it is re-entrant, and
    freed when the connection closes or dies). SQLite: a lease row renewed each call, free ``ttl`` seconds
    after its holder stopped renewing. Outside a transaction (SQLite: it opens its own)."""
    if dialect(conn) == POSTGRESQL:
        held = getattr(conn, "_job_locks", set())
        if name in held:
            return True
        ok = bool(conn.execute("SELECT pg_try_advisory_lock(?)", (_lock_key(name),)).fetchone()[0])
        if ok:
            held.add(name)
            conn._job_locks = held
        return ok
    now = dt.datetime.now(dt.UTC)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_TABLES[2])
        cur = conn.execute(
            "INSERT INTO job_leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
            " holder = excluded.holder, expires_at = excluded.expires_at"
            " WHERE job_leases.holder = excluded.holder OR job_leases.expires_at < ?",
            (name, holder, _stamp(now + dt.timedelta(seconds=ttl)), _stamp(now)),
        )
        ok = cur.rowcount == 1
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return ok


class PartitionQueries:
    """The Store's methods for several ingest workers and once-only jobs (the functions above)."""

    conn: Any

    def transaction(self, lock: int = LEASE_LOCK) -> Any:  # provided by Database
        raise NotImplementedError

    def rebalance_partitions(self, worker: str, parts: int, ttl: float) -> set[int]:
        with self.transaction(LEASE_LOCK) as conn:
            create_tables(conn)
            return rebalance(conn, worker, parts, ttl)

    def release_partitions(self, worker: str) -> None:
        with self.transaction(LEASE_LOCK) as conn:
            create_tables(conn)
            release(conn, worker)

    def agents_in(self, held: set[int], parts: int) -> set[tuple[str, str]]:
        """(store, agent) of every agent the database knows whose partition is one of ``held``."""
        return {
            (store, agent)
            for store, agent in self.conn.execute("SELECT store, id FROM agents").fetchall()
            if partition_of(store, agent, parts) in held
        }

    def note_agents(self, agents: set[tuple[str, str]]) -> None:
        """Rows for agents of known stores that wrote (a retained status, a hello) before any row was made, so
        the worker holding their partition finds them at its next beat and follows their events."""

        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO agents (store, id, created_at) SELECT ?, ?, ? WHERE EXISTS"
                " (SELECT 1 FROM stores WHERE id = ?) ON CONFLICT DO NOTHING",
                [(store, agent, now_utc(), store) for store, agent in sorted(agents)],
            )

    def job_lock(self, name: str, holder: str, ttl: float = 30.0) -> bool:
        return job_lock(self.conn, name, holder, ttl)
