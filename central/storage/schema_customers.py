"""Migration 14: the customer's own web card and a complete customer base (issue 19, docs/web-card.md).

* ``web_codes``: one-time SMS codes (sign-up and sign-in), stored as a keyed hash, with attempts
  and expiry; the requester's address, for rate limits.
* ``web_signups``: a sign-up waiting for its code (the customer row exists as a potential customer
  without a card, so the message outbox can address the SMS; it is not sent to the stores).
* ``web_sessions``: the customers' server-side sessions (SHA-256 of the cookie's random id).
* ``customers``: the full questionnaire (name parts, address, marital status, children), the block
  reason, and when the personal data was erased at the customer's request.
* ``console_preferences``: per console user (the customer list's columns and sort).
"""

from __future__ import annotations

CUSTOMERS_MIGRATIONS = [
    (
        14,
        "customers: web card codes, sign-ups and sessions; the full questionnaire; block reason; erasure",
        [
            """CREATE TABLE web_codes (
                id INTEGER PRIMARY KEY,
                purpose TEXT NOT NULL,
                phone TEXT NOT NULL,
                customer_id TEXT NOT NULL,
                code_hash TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                address TEXT NOT NULL,
                created_at TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                used_at TEXT)""",
            "CREATE INDEX web_codes_phone ON web_codes (phone, created_at)",
            "CREATE INDEX web_codes_address ON web_codes (address, created_at)",
            """CREATE TABLE web_signups (
                customer_id TEXT PRIMARY KEY,
                phone TEXT NOT NULL UNIQUE,
                store TEXT NOT NULL,
                created_at TEXT NOT NULL)""",
            """CREATE TABLE web_sessions (
                id_hash TEXT PRIMARY KEY,
                customer_id TEXT NOT NULL,
                created_at TEXT NOT NULL,
                expires_at TEXT NOT NULL)""",
            "CREATE INDEX web_sessions_customer ON web_sessions (customer_id)",
            "ALTER TABLE customers ADD COLUMN last_name TEXT",
            "ALTER TABLE customers ADD COLUMN first_name TEXT",
            "ALTER TABLE customers ADD COLUMN middle_name TEXT",
            "ALTER TABLE customers ADD COLUMN address TEXT",
            "ALTER TABLE customers ADD COLUMN marital_status TEXT",
            "ALTER TABLE customers ADD COLUMN children INTEGER",
            "ALTER TABLE customers ADD COLUMN block_reason TEXT",
            "ALTER TABLE customers ADD COLUMN erased_at TEXT",
            """CREATE TABLE console_preferences (
                user_id INTEGER NOT NULL,
                name TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (user_id, name))""",
        ],
    ),
]
