"""The write lock, and how the ingest's commits narrow it on PostgreSQL (docs/scale.md, "Two workers apply at once").

Every write transaction takes the write lock: SQLite's ``BEGIN IMMEDIATE``, on PostgreSQL the
transaction-scoped advisory lock :data:`WRITE_LOCK`, exclusive, so read-then-write code keeps SQLite's
one-writer guarantees under READ COMMITTED.

The ingest's commit (``commit_ingest``) on PostgreSQL takes it *shared* instead (:func:`begin_concurrent`):
ingest workers apply their agents' events at the same time, while every other writer (the console, the
nightly job, a reservation) still waits for them all and they for it. What two ingests could both read then
write is kept apart so:

* per customer: the customers a batch names are read ``FOR UPDATE`` in sorted order (:func:`lock_rows`), so
  their rows and lots are one ingest's at a time; a customer found later (a merge's target) is locked when
  read, out of order, and a deadlock that makes is retried (below);
* chain-wide (the customer version counter, transaction ids, the receipts' catalog and the reports' rollups,
  promotion code uses, segment members, the triggers' outbox, the agents' pointers): in one tail section at
  the end of the commit, under the exclusive advisory lock :data:`TAIL_LOCK` (:func:`serial_section`), held
  until the commit ends. Versions and transaction ids are therefore given out in commit order, and a reader of
  "everything above my cursor" never skips one committed later under a smaller number;
* what reads shared state early to decide (a card's owner, a registration's card, a card replacement) enters
  the tail section when it starts.

Whatever fails in such a commit (a deadlock, a unique key two ingests both inserted) rolls it back and the
whole unit is applied again under the exclusive lock, as before (central/storage/ingest.py): never
dead-lettered for it. SQLite is untouched: one writer, every function here a no-op.
"""

from __future__ import annotations

from typing import Any

#: the advisory lock a PostgreSQL write transaction takes (exclusive; the ingest's commits share it)
WRITE_LOCK = 0x107A17
#: the advisory lock the ingest workers' lease bookkeeping takes instead (central/storage/partitions.py)
LEASE_LOCK = 0x107A18
#: the ingest's tail section: the chain-wide part of a concurrent commit, one at a time
TAIL_LOCK = 0x107A19


def begin_concurrent(conn: Any) -> None:
    """In a PostgreSQL transaction just begun: take the write lock shared, as an ingest commit."""
    conn.execute(f"SELECT pg_advisory_xact_lock_shared({WRITE_LOCK})")
    conn.concurrent_write = True
    conn.in_tail = False


def end(conn: Any) -> None:
    """The transaction ended (committed or rolled back): its locks are gone."""
    if getattr(conn, "concurrent_write", False):
        conn.concurrent_write = False
        conn.in_tail = False


def concurrent(conn: Any) -> bool:
    """Is this transaction an ingest commit running beside others (PostgreSQL, the write lock shared)?"""
    return bool(getattr(conn, "concurrent_write", False))


def serial_section(conn: Any) -> None:
    """From here to the commit, one concurrent ingest at a time (a no-op elsewhere, and when already in it)."""
    if getattr(conn, "concurrent_write", False) and not conn.in_tail:
        conn.execute(f"SELECT pg_advisory_xact_lock({TAIL_LOCK})")
        conn.in_tail = True


def lock_rows(conn: Any) -> str:
    """The clause that ends a query of customers' rows: sorted and locked in a concurrent ingest commit."""
    return " ORDER BY id FOR UPDATE" if concurrent(conn) else ""
