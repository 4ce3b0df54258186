"""Migration 16: service messages' switches per event, store and channel (docs/messages.md, "Service
messages"), and a partial index that finds customers with a phone code still to confirm."""

from __future__ import annotations

MESSAGES2_MIGRATIONS = [
    (
        16,
        "messages: service message switches per event, store and channel; pending codes; levels seen; opens, clicks",
        [
            # store '' = every store; a store's own row wins over it. template_id NULL = off (a store
            # can switch off what is on for every store)
            """CREATE TABLE message_switches (
                event TEXT NOT NULL,
                store TEXT NOT NULL DEFAULT '',
                channel TEXT NOT NULL,
                template_id INTEGER,
                updated_at TEXT NOT NULL,
                updated_by TEXT NOT NULL,
                PRIMARY KEY (event, store, channel))""",
            "CREATE INDEX customers_pending_code ON customers (created_at) WHERE confirmation_code IS NOT NULL",
            # the level each customer was last seen at by the level-change notices
            "CREATE TABLE message_levels (customer_id TEXT PRIMARY KEY, level TEXT)",
            # email opened (the pixel) and clicked (a tracked link): central/messages/tracking.py
            "ALTER TABLE message_outbox ADD COLUMN opened_at TEXT",
            "ALTER TABLE message_outbox ADD COLUMN clicked_at TEXT",
        ],
    ),
]
