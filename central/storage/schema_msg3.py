"""Migration 24: redemption confirmation codes, HTML email templates, the customer's own language
(docs/messages.md)."""

from __future__ import annotations

MSG3_MIGRATIONS = [
    (
        24,
        "messages: redemption confirmation codes; HTML email templates; the customer's language",
        [
            # one row per code the till asked for (central/messages/confirmations.py); the code itself is
            # kept only as a hash here (the outbox row that sends it holds it until it is sent)
            """CREATE TABLE redemption_codes (
                id TEXT PRIMARY KEY,
                customer_id TEXT NOT NULL,
                store TEXT NOT NULL,
                agent TEXT NOT NULL,
                points INTEGER NOT NULL,
                code_hash TEXT NOT NULL,
                channel TEXT NOT NULL,
                created_at TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                used_at TEXT,
                receipt_id TEXT,
                superseded_at TEXT)""",
            "CREATE INDEX redemption_codes_customer ON redemption_codes (customer_id, created_at)",
            # an email template's HTML body (its text part is made from it); NULL: a plain-text template
            "ALTER TABLE message_templates ADD COLUMN html TEXT",
            # the rendered HTML of an email, stored before the send like subject and body
            "ALTER TABLE message_outbox ADD COLUMN html TEXT",
            # the customer's language for messages: 'ru' or 'en' (NULL: ru, the chain's default)
            "ALTER TABLE customers ADD COLUMN language TEXT",
        ],
    ),
]
