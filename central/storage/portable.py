"""What the SQL of the central database's migrations adapts to the engine (SQLite today, PostgreSQL portable)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: SQLite stores a table keyed by a TEXT primary key twice (rowid table + index) unless told
#: WITHOUT ROWID; for the idempotency register that halves its write cost. A PostgreSQL
#: backend drops this suffix (its tables are heaps with separate indexes anyway).
WITHOUT_ROWID = " WITHOUT ROWID"

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


def dialect(conn: Any) -> str:
    """The backend of a connection: "sqlite" or "postgresql" (central/storage/pg.py's PgConnection)."""
    return str(getattr(conn, "dialect", SQLITE))


@dataclass(frozen=True)
class PerBackend:
    """A migration step that differs between the backends: each is SQL, a Python step, or None (skip)."""

    sqlite: str | Callable[[Any], None] | None
    postgresql: str | Callable[[Any], None] | None

    def pick(self, name: str) -> str | Callable[[Any], None] | None:
        return self.postgresql if name == POSTGRESQL else self.sqlite
