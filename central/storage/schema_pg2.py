"""Migration 28: the quick search on PostgreSQL matches FTS5's trigram search; agents' bcrypt hashes for
NATS (docs/scale.md).

SQLite's FTS5 trigram tokenizer folds case over all of Unicode (``Иван`` is found by ``иван``), while
PostgreSQL's ``ILIKE`` on a database with ``LC_CTYPE 'C'`` folds only ASCII. So the PostgreSQL search index
becomes a pg_trgm GIN index on the text folded by ICU (``lower(doc COLLATE "und-x-icu")``), which is what
:func:`central.storage.customer_filter.search_sql` compares against. SQLite changes nothing.
"""

from __future__ import annotations

from typing import Any

from .portable import PerBackend

#: the folded search text both the index and the query use (PostgreSQL)
PG_FOLDED_DOC = 'lower(doc COLLATE "und-x-icu")'

PG2_MIGRATIONS: list[tuple[int, str, list[Any]]] = [
    (
        28,
        "PostgreSQL: the customer search index on the case-folded text (the same matches as SQLite's FTS5);"
        " agents' bcrypt password hashes for a NATS broker",
        [
            "ALTER TABLE agents ADD COLUMN nats_hash TEXT",
            PerBackend(None, "DROP INDEX IF EXISTS customer_search_doc"),
            PerBackend(
                None, f"CREATE INDEX customer_search_folded ON customer_search USING gin ({PG_FOLDED_DOC} gin_trgm_ops)"
            ),
        ],
    ),
]
