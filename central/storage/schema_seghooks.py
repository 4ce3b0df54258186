"""Migration 43: the customers whose segment answers a big batch changed, kept until the engine follows them
(docs/segments.md, "Keeping dynamic segments current").

A write that changes many customers at once (the nightly expiry and levels, a file import) adds a row per
customer to ``segment_pending`` in its own transaction, with the cause to record (``expiry``, ``level``,
``import``) and the changes it made (``points``, ``level``..., comma-separated); the engine then follows them in
one set-based pass and deletes the rows in that pass's transaction
(central/marketing/engine.py ``follow_pending``). A crash between the two loses nothing: the rows wait for the
next pass (the segments' clock looks every minute).
"""

from __future__ import annotations

SEGHOOKS_MIGRATIONS = [
    (
        43,
        "segments: the customers a big batch changed, until the engine follows them",
        [
            """CREATE TABLE segment_pending (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                key INTEGER NOT NULL,
                cause TEXT NOT NULL,
                changes TEXT NOT NULL)""",
        ],
    ),
]
