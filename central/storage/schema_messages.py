"""Migration 10: messages to customers -- channels, templates, consent history, mailings, the outbox.

See docs/messages.md. One outbox row per message, unique per (cause, customer, channel): a retried
trigger or a mailing queued twice adds nothing.
"""

from __future__ import annotations

MESSAGES_MIGRATIONS = [
    (
        10,
        "messages: channels, templates, consent history, mailings, the outbox, the sender's lease",
        [
            # one configured channel per kind (email, sms, voice, push, telegram, cashier); secrets
            # are kept apart from the settings and never leave the service layer unmasked
            """CREATE TABLE message_channels (
                channel TEXT PRIMARY KEY,
                settings TEXT NOT NULL DEFAULT '{}',
                secrets TEXT NOT NULL DEFAULT '{}',
                enabled INTEGER NOT NULL DEFAULT 1,
                rate_per_second INTEGER NOT NULL DEFAULT 0,
                updated_at TEXT NOT NULL,
                updated_by TEXT NOT NULL)""",
            """CREATE TABLE message_templates (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                channel TEXT NOT NULL,
                language TEXT NOT NULL,
                kind TEXT NOT NULL,
                subject TEXT NOT NULL DEFAULT '',
                body TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                updated_by TEXT NOT NULL,
                UNIQUE (name, channel, language))""",
            """CREATE TABLE consent_history (
                id INTEGER PRIMARY KEY,
                customer_id TEXT NOT NULL,
                channel TEXT NOT NULL,
                granted INTEGER NOT NULL,
                source TEXT NOT NULL,
                actor TEXT,
                at TEXT NOT NULL)""",
            "CREATE INDEX consent_history_customer ON consent_history (customer_id, id)",
            """CREATE TABLE mailings (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                channel TEXT NOT NULL,
                template_id INTEGER NOT NULL,
                kind TEXT NOT NULL,
                state TEXT NOT NULL,
                send_at TEXT NOT NULL,
                total INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL,
                created_by TEXT NOT NULL)""",
            # state: queued -> sending -> sent -> delivered, or failed (why), or skipped (why: no
            # consent, no address, ...). 'sending' is recorded before the gateway is called: a row
            # found 'sending' after a crash is sent again with the same idempotency key.
            """CREATE TABLE message_outbox (
                id INTEGER PRIMARY KEY,
                cause TEXT NOT NULL,
                customer_id TEXT NOT NULL,
                channel TEXT NOT NULL,
                kind TEXT NOT NULL,
                template_id INTEGER NOT NULL,
                language TEXT NOT NULL,
                mailing_id INTEGER,
                address TEXT,
                extra TEXT NOT NULL DEFAULT '{}',
                state TEXT NOT NULL DEFAULT 'queued',
                why TEXT,
                attempts INTEGER NOT NULL DEFAULT 0,
                not_before TEXT NOT NULL,
                subject TEXT,
                body TEXT,
                sent_to TEXT,
                gateway_id TEXT,
                created_at TEXT NOT NULL,
                sent_at TEXT,
                delivered_at TEXT,
                updated_at TEXT NOT NULL,
                UNIQUE (cause, customer_id, channel))""",
            "CREATE INDEX message_outbox_due ON message_outbox (not_before) WHERE state IN ('queued', 'sending')",
            "CREATE INDEX message_outbox_customer ON message_outbox (customer_id, id)",
            "CREATE INDEX message_outbox_mailing ON message_outbox (mailing_id, state)",
            "CREATE INDEX message_outbox_gateway ON message_outbox (channel, gateway_id)",
            "CREATE INDEX message_outbox_sent ON message_outbox (customer_id, sent_at) WHERE kind = 'marketing'",
            # a customer's addresses on channels that are not a customers column: a Telegram chat
            # (later: a Web Push subscription)
            """CREATE TABLE customer_channels (
                customer_id TEXT NOT NULL,
                channel TEXT NOT NULL,
                address TEXT NOT NULL,
                linked_at TEXT NOT NULL,
                PRIMARY KEY (customer_id, channel))""",
            # one-time tokens of start links (Telegram: t.me/<bot>?start=<token>), kept as SHA-256
            """CREATE TABLE link_tokens (
                token_hash TEXT PRIMARY KEY,
                customer_id TEXT NOT NULL,
                channel TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                used_at TEXT)""",
            # one sender at a time: whoever holds an unexpired lease
            """CREATE TABLE message_lease (
                name TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                expires_at TEXT NOT NULL)""",
        ],
    ),
]
