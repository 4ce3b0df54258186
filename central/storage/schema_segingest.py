"""Migration 35: the segments' entered/left history without its per-customer index (docs/segments.md, "The event
path's writes").

``segment_history_key (key, id)`` was read by no query: the history is read by segment (``segment_history_segment``)
and by id (the triggers' cursor, the primary key). Every entering and leaving of the ingest's event path paid for
it: one insert at a random place of the index per row, each dirtying a page the commit writes.
"""

from __future__ import annotations

SEGINGEST_MIGRATIONS = [
    (
        35,
        "segments' history: drop the unread per-customer index",
        ["DROP INDEX IF EXISTS segment_history_key"],
    ),
]
