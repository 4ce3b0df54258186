"""Migration 39: on PostgreSQL the segments' change log names each row's transaction (docs/segments.md).

Writers there may commit out of the order of ``segment_dirty.seq`` (a sequence taken mid-transaction), so the
column snapshot (central/storage/segment_columns.py) follows the log by transaction id instead: each row keeps
``pg_current_xact_id()`` and a snapshot re-reads the rows of the transactions that were still running when it
last looked. SQLite's writers take turns, so its log needs nothing.
"""

from __future__ import annotations

from .portable import PerBackend

PGSNAP_MIGRATIONS = [
    (
        39,
        "segments' change log: each row's transaction id (PostgreSQL)",
        [
            PerBackend(None, "ALTER TABLE segment_dirty ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id()"),
            PerBackend(None, "CREATE INDEX segment_dirty_xid ON segment_dirty (xid)"),
        ],
    ),
]
