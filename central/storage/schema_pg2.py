"""Migration 28: the quick search on PostgreSQL matches FTS5's trigram search; agents' bcrypt hashes for
NATS (docs/scale.md).

SQLite's FTS5 trigram tokenizer folds case over all of Unicode (``Иван`` is found by ``иван``), while
PostgreSQL's ``ILIKE`` on a database with ``LC_CTYPE 'C'`` folds only ASCII. So the PostgreSQL search table
gets the text folded by ICU, ``folded`` (a stored generated column: ``lower(doc COLLATE "und-x-icu")``, made
once per change, not at every search's recheck), with a pg_trgm GIN index, which is what
:func:`central.storage.customer_filter.search_sql` compares against. SQLite's search changes nothing.

``agents.nats_hash`` (both backends): NATS checks passwords against bcrypt hashes only, Mosquitto against its
own PBKDF2 ones (``password_hash``); enrollment now keeps both. Agents enrolled before keep NULL: enroll them
again to give them a NATS login.
"""

from __future__ import annotations

from typing import Any

from .portable import PerBackend

#: the folded search text both the index and the query use (PostgreSQL)
PG_FOLDED_DOC = "folded"

PG2_MIGRATIONS: list[tuple[int, str, list[Any]]] = [
    (
        28,
        "PostgreSQL: the customer search index on the case-folded text (the same matches as SQLite's FTS5);"
        " agents' bcrypt password hashes for a NATS broker",
        [
            "ALTER TABLE agents ADD COLUMN nats_hash TEXT",
            PerBackend(None, "DROP INDEX IF EXISTS customer_search_doc"),
            PerBackend(
                None,
                "ALTER TABLE customer_search ADD COLUMN folded TEXT"
                ' GENERATED ALWAYS AS (lower(doc COLLATE "und-x-icu")) STORED',
            ),
            PerBackend(None, "CREATE INDEX customer_search_folded ON customer_search USING gin (folded gin_trgm_ops)"),
        ],
    ),
]
