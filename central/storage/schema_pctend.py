"""Migration 42: a personal percent may end (marketing.md, the trigger action ``percent``: "optionally until a
date"; docs/triggers.md, "A percent until a date").

``customers.network_percent_ends_at`` and ``customer_store_percents.ends_at`` hold the first instant (UTC, ISO
text like every other time here) at which the percent no longer applies; NULL: it does not end. The nightly job
clears a percent whose end has come (central/points/nightly.py); the customer's delta carries the end so an agent
ignores the percent from then on even before the nightly run (docs/sync.md). No index: the nightly scan of a
million customers costs 0.09 CPU-s (bench/percent_ends.py), and the columns are NULL for nearly every row.
"""

from __future__ import annotations

PCTEND_MIGRATIONS = [
    (
        42,
        "personal percents: an end",
        [
            "ALTER TABLE customers ADD COLUMN network_percent_ends_at TEXT",
            "ALTER TABLE customer_store_percents ADD COLUMN ends_at TEXT",
        ],
    ),
]
