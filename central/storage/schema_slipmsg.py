"""Migration 21: cashier messages printed on the slip and read at a till (docs/messages.md, "Cashier messages")."""

from __future__ import annotations

SLIPMSG_MIGRATIONS = [
    (
        21,
        "cashier messages: print on the slip; read at a till (time and store)",
        [
            "ALTER TABLE customer_messages ADD COLUMN print INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE customer_messages ADD COLUMN read_at TEXT",
            "ALTER TABLE customer_messages ADD COLUMN read_store TEXT",
        ],
    ),
]
