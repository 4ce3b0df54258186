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


#: the lengths an ``IN (?, ...)`` list is padded to (:func:`in_list`)
_IN_SIZES = (8, 16, 32, 64, 128, 256, 512)


def in_list(values: list[Any]) -> tuple[str, list[Any]]:
    """("?,?,...", parameters) for ``x IN (...)`` of these values, padded with NULLs to one of a few lengths.

    A list of a new length is a new statement text: SQLite prepares it again (about 0.3 ms for 500 marks) and
    it pushes others out of the connection's statement cache; the event path's rounds (a few hundred customers,
    a different number each time) read several tables this way. A NULL in an ``IN`` list matches nothing (use
    it with ``IN`` only, never ``NOT IN``). Longer lists than the last size are left as they are."""
    n = len(values)
    size = next((s for s in _IN_SIZES if s >= n), n)
    return ",".join("?" * size), [*values, *([None] * (size - n))]
