"""Migration 40: a segment member's ``since`` as unix seconds (docs/segments.md, "Smaller membership rows").

``segment_members`` is written and read by the ingest's event path for every customer it touches; its rows were
~40 bytes, of which 25 were the ISO text of ``since``. As an integer (seconds since 1970, UTC) a row takes about a
third of that, so far more of the primary key stays in the page cache and each move dirties fewer pages. The
storage gives ``since`` back as the same ISO text (UTC, seconds: central/storage/segments.py ``since_text``).

SQLite cannot change a column's type: the table is rebuilt (copied with each text converted, the old one dropped,
its key index made again). A text SQLite cannot read as a time (none is written) becomes 0.
"""

from __future__ import annotations

from .portable import PerBackend

SEGINT_MIGRATIONS = [
    (
        40,
        "segment members: since as unix seconds",
        [
            PerBackend(
                """CREATE TABLE segment_members_new (
                    segment_id INTEGER NOT NULL,
                    key INTEGER NOT NULL,
                    since INTEGER NOT NULL,
                    PRIMARY KEY (segment_id, key)) WITHOUT ROWID""",
                None,
            ),
            PerBackend(
                "INSERT INTO segment_members_new (segment_id, key, since)"
                " SELECT segment_id, key, COALESCE(CAST(strftime('%s', since) AS INTEGER), 0) FROM segment_members"
                " ORDER BY segment_id, key",
                None,
            ),
            PerBackend("DROP TABLE segment_members", None),
            PerBackend("ALTER TABLE segment_members_new RENAME TO segment_members", None),
            PerBackend("CREATE INDEX segment_members_key ON segment_members (key, segment_id)", None),
            PerBackend(
                None,
                "ALTER TABLE segment_members ALTER COLUMN since TYPE bigint"
                " USING extract(epoch FROM since::timestamptz)::bigint",
            ),
        ],
    ),
]
