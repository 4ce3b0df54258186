"""Migration 46: new customer versions owed for big membership changes, given after their commit
(docs/segments.md, "Versions of a big membership change"; docs/sync.md, "Segments down").

A membership change of many customers at once (a segment's recompute, the daily date refresh, the deletion of a big
segment) gave each of them the next customer version in its own transaction: a row rewrite per customer, scattered
over the whole ``customers`` table and its version index, three quarters of a 1M-customer recompute's time, with
the write lock held for it (the tills' ingest waiting). Now such a change writes one ``version_bumps`` row (the
customers' keys, comma-separated in key order, and the change's time) in its transaction, and the versions are
given after, 20,000 customers per transaction, by the publisher's next pass before it reads its pages
(central/sync/publisher.py). Nothing is lost by a crash between the two: the row waits in the database.
"""

from __future__ import annotations

BUMPS_MIGRATIONS = [
    (
        46,
        "segments: new customer versions owed for a big membership change, given after its commit",
        [
            """CREATE TABLE version_bumps (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                keys TEXT NOT NULL,
                at TEXT NOT NULL)""",
        ],
    ),
]
