"""The central database's schema, as numbered migrations in portable SQL.

Each migration is a list of statements (or Python steps: a callable given the
connection, for what SQL alone cannot decide) that run in one transaction
together with its row in ``schema_migrations``; a database is brought up to date by
running the ones it lacks, in order. The SQL sticks to what SQLite and
PostgreSQL share (TEXT, INTEGER, BLOB->BYTEA is the one rename a PostgreSQL
backend makes); times are ISO 8601 UTC strings, which sort as times.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..points.programs import migrate_to_programs
from . import aggregates, segments
from .portable import WITHOUT_ROWID
from .schema_console import CONSOLE_MIGRATIONS
from .schema_messages import MESSAGES_MIGRATIONS
from .schema_messages2 import MESSAGES2_MIGRATIONS
from .schema_promotions import PROMOTIONS_MIGRATIONS
from .schema_reports import REPORTS_MIGRATIONS
from .schema_triggers import TRIGGER_MIGRATIONS

#: a migration's step: SQL, or a callable given the connection (run inside the migration's transaction)
Step = str | Callable[[Any], None]
#: (version, name, steps)
Migration = tuple[int, str, list[Step]]

MIGRATIONS: list[Migration] = [
    (
        1,
        "stores, agents, ledger, sync state",
        [
            """CREATE TABLE settings (
                name TEXT PRIMARY KEY,
                value TEXT NOT NULL)""",
            """CREATE TABLE counters (
                name TEXT PRIMARY KEY,
                value INTEGER NOT NULL)""",
            """CREATE TABLE stores (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                timezone TEXT NOT NULL,
                created_at TEXT NOT NULL,
                published_customers INTEGER NOT NULL DEFAULT 0,
                published_rules INTEGER NOT NULL DEFAULT 0,
                published_messages INTEGER NOT NULL DEFAULT 0)""",
            """CREATE TABLE enrollment_tokens (
                token_hash TEXT PRIMARY KEY,
                store TEXT NOT NULL REFERENCES stores(id),
                created_at TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                used_at TEXT,
                agent TEXT)""",
            # one row per store agent: credentials, presence (its retained status) and
            # the ingest's sequence state (highest contiguous seq handled and its event id)
            """CREATE TABLE agents (
                store TEXT NOT NULL REFERENCES stores(id),
                id TEXT NOT NULL,
                username TEXT UNIQUE,
                password_hash TEXT,
                created_at TEXT NOT NULL,
                enrolled INTEGER NOT NULL DEFAULT 0,
                state TEXT NOT NULL DEFAULT 'unknown',
                last_seen TEXT,
                status_at TEXT,
                outbox_depth INTEGER,
                rules_version INTEGER,
                customers_version INTEGER,
                last_sync TEXT,
                software TEXT,
                applied_seq INTEGER NOT NULL DEFAULT 0,
                applied_id TEXT,
                reported_next_seq INTEGER,
                restored_at TEXT,
                PRIMARY KEY (store, id))""",
            """CREATE TABLE customers (
                id TEXT PRIMARY KEY,
                home_store TEXT,
                phone TEXT,
                phone_verified INTEGER NOT NULL DEFAULT 0,
                name TEXT,
                birthday TEXT,
                level TEXT,
                network_percent TEXT,
                blocked INTEGER NOT NULL DEFAULT 0,
                consents TEXT NOT NULL DEFAULT '{}',
                confirmation_code TEXT,
                spend INTEGER NOT NULL DEFAULT 0,
                balance INTEGER NOT NULL DEFAULT 0,
                version INTEGER NOT NULL,
                created_at TEXT NOT NULL,
                stub INTEGER NOT NULL DEFAULT 0)""",
            "CREATE INDEX customers_version ON customers (version)",
            "CREATE INDEX customers_phone ON customers (phone)",
            """CREATE TABLE customer_stores (
                customer_id TEXT NOT NULL,
                store TEXT NOT NULL,
                PRIMARY KEY (customer_id, store))""",
            "CREATE INDEX customer_stores_store ON customer_stores (store, customer_id)",
            """CREATE TABLE customer_store_percents (
                customer_id TEXT NOT NULL,
                store TEXT NOT NULL,
                percent TEXT NOT NULL,
                PRIMARY KEY (customer_id, store))""",
            """CREATE TABLE cards (
                number TEXT PRIMARY KEY,
                customer_id TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'active',
                reason TEXT,
                created_at TEXT NOT NULL)""",
            "CREATE INDEX cards_customer ON cards (customer_id)",
            # points with one expiry; permanent points are the lot '<customer>:permanent'
            """CREATE TABLE lots (
                id TEXT PRIMARY KEY,
                customer_id TEXT NOT NULL,
                points INTEGER NOT NULL,
                initial INTEGER NOT NULL,
                starts_at TEXT,
                expires_at TEXT,
                source_event TEXT,
                created_at TEXT NOT NULL)""",
            "CREATE INDEX lots_customer ON lots (customer_id)",
            # every change of points, with the event that caused it
            """CREATE TABLE ledger (
                id INTEGER PRIMARY KEY,
                customer_id TEXT NOT NULL,
                points INTEGER NOT NULL,
                kind TEXT NOT NULL,
                event_id TEXT,
                store TEXT,
                agent TEXT,
                at TEXT NOT NULL,
                recorded_at TEXT NOT NULL)""",
            "CREATE INDEX ledger_customer ON ledger (customer_id)",
            "CREATE INDEX ledger_event ON ledger (event_id)",
            # the idempotency register: written in the same transaction as the effect
            """CREATE TABLE applied_events (
                id TEXT PRIMARY KEY,
                store TEXT NOT NULL,
                agent TEXT NOT NULL,
                seq INTEGER NOT NULL,
                kind TEXT NOT NULL,
                status TEXT NOT NULL,
                at TEXT,
                applied_at TEXT NOT NULL)"""
            + WITHOUT_ROWID,
            "CREATE UNIQUE INDEX applied_events_seq ON applied_events (store, agent, seq)",
            """CREATE TABLE dead_letters (
                id INTEGER PRIMARY KEY,
                digest TEXT NOT NULL UNIQUE,
                reason TEXT NOT NULL,
                detail TEXT NOT NULL,
                topic TEXT,
                store TEXT,
                agent TEXT,
                event_id TEXT,
                seq INTEGER,
                payload BLOB,
                received_at TEXT NOT NULL,
                last_at TEXT NOT NULL,
                count INTEGER NOT NULL DEFAULT 1,
                resolved_at TEXT,
                resolution TEXT)""",
            "CREATE INDEX dead_letters_reason ON dead_letters (reason, resolved_at)",
            """CREATE TABLE debts (
                event_id TEXT PRIMARY KEY,
                customer_id TEXT NOT NULL,
                store TEXT NOT NULL,
                agent TEXT NOT NULL,
                shortfall INTEGER NOT NULL,
                balance_after INTEGER NOT NULL,
                at TEXT NOT NULL,
                created_at TEXT NOT NULL,
                resolved_at TEXT)""",
            # everything else head office must look at (restored agents, conflicts)
            """CREATE TABLE flags (
                id INTEGER PRIMARY KEY,
                kind TEXT NOT NULL,
                store TEXT,
                agent TEXT,
                customer_id TEXT,
                event_id TEXT,
                detail TEXT NOT NULL,
                created_at TEXT NOT NULL,
                resolved_at TEXT)""",
            """CREATE TABLE rule_sets (
                store TEXT NOT NULL,
                version INTEGER NOT NULL,
                document TEXT NOT NULL,
                created_at TEXT NOT NULL,
                PRIMARY KEY (store, version))""",
            """CREATE TABLE store_messages (
                id TEXT PRIMARY KEY,
                store TEXT NOT NULL,
                text TEXT NOT NULL,
                until TEXT,
                created_at TEXT NOT NULL,
                deleted_at TEXT)""",
        ],
    ),
]

# the head-office console's migrations follow the ledger's
MIGRATIONS += CONSOLE_MIGRATIONS

MIGRATIONS += [
    (
        6,
        "events recovered after an agent's restore from a backup",
        [
            # NULL: handled in sequence. Otherwise the event came under a seq that was already
            # handled (the agent was restored from a backup) and this says what recovery did:
            # 'applied', 'dead' (invalid) or the business duplicate it was ('duplicate_receipt', ...).
            "ALTER TABLE applied_events ADD COLUMN recovery TEXT",
            # one event per seq in sequence; recovered events reuse handled seqs, so they are left out
            # (a partial index: SQLite and PostgreSQL both have them; no table rebuild is needed)
            "DROP INDEX applied_events_seq",
            "CREATE UNIQUE INDEX applied_events_seq ON applied_events (store, agent, seq) WHERE recovery IS NULL",
            # the console's review of recovered events; holds only those rows, so normal inserts skip it
            "CREATE INDEX applied_events_recovered ON applied_events (store, agent, seq) WHERE recovery IS NOT NULL",
            # refunds and cancels of a receipt, to find a till's retry of one after a restore; a few
            # percent of the transactions, so the ingest's purchases pay nothing for it
            "CREATE INDEX transactions_reversals ON transactions (store, receipt_id) WHERE kind IN ('refund',"
            " 'cancel')",
            # the pointer when a restore was found, while its reused seqs are still being received
            # (acks stay below it until every one of them is in: central/sync/recovery.py)
            "ALTER TABLE agents ADD COLUMN recovery_end INTEGER",
        ],
    ),
]

# bonus accounts per program (central/points/programs.py): a customer's points are held per program
MIGRATIONS += [
    (
        7,
        "bonus accounts per program: lots, ledger entries and debts carry their program",
        [migrate_to_programs],
    ),
]

MIGRATIONS += [
    (
        8,
        "console security: server-side sessions, sign-in failures per address, API tokens",
        [
            # one row per console sign-in: the cookie carries the id, signing out ends the row
            # (a cookie saved before the sign-out no longer works)
            """CREATE TABLE console_sessions (
                id_hash TEXT PRIMARY KEY,
                user_id INTEGER NOT NULL,
                address TEXT,
                created_at TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                ended_at TEXT)""",
            "CREATE INDEX console_sessions_user ON console_sessions (user_id)",
            # failed sign-ins: throttling per address and lockout per (username, address)
            """CREATE TABLE login_failures (
                id INTEGER PRIMARY KEY,
                address TEXT NOT NULL,
                username TEXT NOT NULL,
                at TEXT NOT NULL)""",
            "CREATE INDEX login_failures_address ON login_failures (address, at)",
            "CREATE INDEX login_failures_user ON login_failures (username, address, at)",
            # tokens for monitoring and integrations (Authorization: Bearer ...): only their hash is kept
            """CREATE TABLE api_tokens (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                token_hash TEXT NOT NULL UNIQUE,
                created_at TEXT NOT NULL,
                created_by TEXT NOT NULL,
                last_used_at TEXT,
                revoked_at TEXT)""",
        ],
    ),
]

# segments and RFM (docs/segments.md): per-customer aggregates kept by the ledger, built from the history here
MIGRATIONS += [
    (
        9,
        "segments and RFM: per-customer aggregates (built from the stored transactions), segments, members, history",
        [*aggregates.MIGRATION, aggregates.backfill, *segments.MIGRATION],
    ),
]

# messages to customers (central/messages/, docs/messages.md)
MIGRATIONS += MESSAGES_MIGRATIONS

# the customer's web card, sign-up without a cashier, the full questionnaire (docs/web-card.md)
from .schema_customers import CUSTOMERS_MIGRATIONS  # noqa: E402

MIGRATIONS += CUSTOMERS_MIGRATIONS

# report rollups (central/storage/rollups.py, docs/reports.md)
MIGRATIONS += REPORTS_MIGRATIONS

# multi-step triggers (central/marketing/triggers/, docs/triggers.md)
MIGRATIONS += TRIGGER_MIGRATIONS

# service messages' switches (central/messages/notices.py): migration 16
MIGRATIONS += MESSAGES2_MIGRATIONS

# promotions and promo codes (docs/promotions.md)
MIGRATIONS += PROMOTIONS_MIGRATIONS

# cashier messages printed on the slip and read at a till (docs/messages.md): migration 21
from .schema_slipmsg import SLIPMSG_MIGRATIONS  # noqa: E402

MIGRATIONS += SLIPMSG_MIGRATIONS

# redemption confirmation codes, HTML email templates, the customer's language (docs/messages.md): migration 24
from .schema_msg3 import MSG3_MIGRATIONS  # noqa: E402

MIGRATIONS += MSG3_MIGRATIONS

# the segments' column snapshot follows the database (docs/segments.md): migration 27
from .schema_segspeed import SEGSPEED_MIGRATIONS  # noqa: E402

MIGRATIONS += SEGSPEED_MIGRATIONS

# personal promo codes and online code reservations (docs/promotions.md): migration 26
from .schema_promo2 import PROMO2_MIGRATIONS  # noqa: E402

MIGRATIONS += PROMO2_MIGRATIONS

# PostgreSQL: the quick search's index on case-folded text (docs/scale.md): migration 28
from .schema_pg2 import PG2_MIGRATIONS  # noqa: E402

MIGRATIONS += PG2_MIGRATIONS

# custom questionnaire fields the customer may edit on the web card (docs/web-card.md): migration 34
from .schema_promorest import PROMOREST_MIGRATIONS  # noqa: E402

MIGRATIONS += PROMOREST_MIGRATIONS

# the quick search finds tags through their distinct names: a tag written rewrites no search row
# (docs/triggers.md): migration 38
from .schema_trigspeed import TRIGSPEED_MIGRATIONS  # noqa: E402

MIGRATIONS += TRIGSPEED_MIGRATIONS

# PostgreSQL: the segments' change log followed by transaction id (docs/segments.md): migration 39
from .schema_pgsnap import PGSNAP_MIGRATIONS  # noqa: E402

MIGRATIONS += PGSNAP_MIGRATIONS

# the segments' history without its unread per-customer index (docs/segments.md): migration 35
from .schema_segingest import SEGINGEST_MIGRATIONS  # noqa: E402

MIGRATIONS += SEGINGEST_MIGRATIONS

# a segment member's since as unix seconds: smaller rows for the event path (docs/segments.md): migration 40
from .schema_segint import SEGINT_MIGRATIONS  # noqa: E402

MIGRATIONS += SEGINT_MIGRATIONS

# personal percents may end: the end of the network and of each store percent (docs/triggers.md): migration 42
from .schema_pctend import PCTEND_MIGRATIONS  # noqa: E402

MIGRATIONS += PCTEND_MIGRATIONS

# the customers a big batch changed, until the segments follow them (docs/segments.md): migration 43
from .schema_seghooks import SEGHOOKS_MIGRATIONS  # noqa: E402

MIGRATIONS += SEGHOOKS_MIGRATIONS

# the promotion, promo code, trigger and message criteria's facts (docs/segments.md): migration 41
from .schema_crit4 import CRIT4_MIGRATIONS  # noqa: E402

MIGRATIONS += CRIT4_MIGRATIONS

# a receipt's lines only packed in its own row, no transaction_lines (docs/import-receipts.md): migration 44
from .schema_impfast import IMPFAST_MIGRATIONS  # noqa: E402

MIGRATIONS += IMPFAST_MIGRATIONS

# new customer versions owed for a big membership change, given after its commit (docs/segments.md): migration 46
from .schema_bumps import BUMPS_MIGRATIONS  # noqa: E402

MIGRATIONS += BUMPS_MIGRATIONS
