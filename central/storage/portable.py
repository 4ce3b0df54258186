"""What the SQL of the central database's migrations adapts to the engine (SQLite today, PostgreSQL portable)."""

from __future__ import annotations

#: SQLite stores a table keyed by a TEXT primary key twice (rowid table + index) unless told
#: WITHOUT ROWID; for the idempotency register that halves its write cost. A PostgreSQL
#: backend drops this suffix (its tables are heaps with separate indexes anyway).
WITHOUT_ROWID = " WITHOUT ROWID"
