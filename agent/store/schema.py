"""The agent database's schema, as sqlite-utils migrations applied in order at start.

Never edit a migration that has shipped: add a new one. A database that has
a migration this code does not know was written by a newer agent; the store
refuses to open it (see ``Store.open``) rather than guess.

Times are ISO 8601 text in UTC (``2026-11-21T14:30:00.123+00:00``), money and
points are INTEGER minor units, quantities INTEGER x1000.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("loyalty-agent")


@MIGRATIONS(name="0001_initial")
def initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        CREATE TABLE rules (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version INTEGER NOT NULL,
            document TEXT NOT NULL,
            installed_at TEXT NOT NULL
        );

        CREATE TABLE customers (
            id TEXT PRIMARY KEY,
            version INTEGER NOT NULL DEFAULT 0,      -- central version; 0: registered here, not synced yet
            name TEXT,
            phone TEXT,                              -- E.164
            phone_verified INTEGER NOT NULL DEFAULT 0,
            birthday TEXT,                           -- YYYY-MM-DD or --MM-DD
            level TEXT,
            network_percent TEXT,                    -- personal percents, decimal strings
            store_percent TEXT,
            blocked INTEGER NOT NULL DEFAULT 0,
            consents TEXT NOT NULL DEFAULT '{}',     -- JSON
            applied_seq INTEGER NOT NULL DEFAULT 0,  -- this agent's last event reflected in lots
            origin TEXT NOT NULL CHECK (origin IN ('central', 'local')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX customers_phone ON customers (phone);

        -- card numbers; a barcode or a magnetic track resolves to a card number
        CREATE TABLE cards (
            number TEXT PRIMARY KEY,
            customer_id TEXT NOT NULL REFERENCES customers (id),
            status TEXT NOT NULL CHECK (status IN ('active', 'blocked', 'reassigned')),
            reason TEXT
        );
        CREATE INDEX cards_customer ON cards (customer_id);

        -- points as the central server last sent them (replaced by every delta)
        CREATE TABLE lots (
            customer_id TEXT NOT NULL REFERENCES customers (id),
            id TEXT NOT NULL,
            points INTEGER NOT NULL,
            starts_at TEXT,
            expires_at TEXT,
            PRIMARY KEY (customer_id, id)
        ) WITHOUT ROWID;

        CREATE TABLE messages (
            customer_id TEXT NOT NULL REFERENCES customers (id),
            id TEXT NOT NULL,
            text TEXT NOT NULL,
            until TEXT,
            PRIMARY KEY (customer_id, id)
        ) WITHOUT ROWID;

        -- this agent's own point movements, signed, by outbox seq (see shared/balances.py)
        CREATE TABLE effects (
            id INTEGER PRIMARY KEY,
            seq INTEGER NOT NULL,
            customer_id TEXT NOT NULL,
            points INTEGER NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX effects_customer ON effects (customer_id, seq);

        CREATE TABLE receipts (
            receipt_id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,                    -- outbox seq of its purchase event
            terminal TEXT NOT NULL,
            customer_id TEXT,
            card TEXT,
            at TEXT NOT NULL,                        -- the till's time, as sent
            committed_at TEXT NOT NULL,
            day TEXT NOT NULL,                       -- local business day of committed_at
            total INTEGER NOT NULL,
            accrued INTEGER NOT NULL,
            redeemed INTEGER NOT NULL,
            offline INTEGER NOT NULL,
            rules_version INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'committed' CHECK (status IN ('committed', 'cancelled')),
            cancel_seq INTEGER,
            cancelled_at TEXT,
            request_hash TEXT NOT NULL,              -- sha256 of the canonical request body
            response TEXT NOT NULL                   -- the first answer, replayed on a retry
        );
        CREATE INDEX receipts_customer_day ON receipts (customer_id, day);

        CREATE TABLE receipt_lines (
            receipt_id TEXT NOT NULL REFERENCES receipts (receipt_id),
            idx INTEGER NOT NULL,
            sku TEXT,
            name TEXT,
            category TEXT,
            quantity INTEGER NOT NULL,
            price INTEGER,
            discount INTEGER NOT NULL,
            amount INTEGER NOT NULL,
            accrued INTEGER NOT NULL,
            redeemed INTEGER NOT NULL,
            PRIMARY KEY (receipt_id, idx)
        ) WITHOUT ROWID;

        CREATE TABLE refunds (
            refund_id TEXT PRIMARY KEY,
            receipt_id TEXT NOT NULL REFERENCES receipts (receipt_id),
            seq INTEGER NOT NULL,
            terminal TEXT NOT NULL,
            at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            amount INTEGER NOT NULL,
            accrued INTEGER NOT NULL,
            redeemed INTEGER NOT NULL,
            request_hash TEXT NOT NULL,
            response TEXT NOT NULL
        );
        CREATE INDEX refunds_receipt ON refunds (receipt_id);

        CREATE TABLE refund_lines (
            refund_id TEXT NOT NULL REFERENCES refunds (refund_id),
            idx INTEGER NOT NULL,
            quantity INTEGER NOT NULL,
            amount INTEGER NOT NULL,
            accrued INTEGER NOT NULL,
            redeemed INTEGER NOT NULL,
            PRIMARY KEY (refund_id, idx)
        ) WITHOUT ROWID;

        CREATE TABLE confirmations (
            customer_id TEXT PRIMARY KEY REFERENCES customers (id),
            code_hash TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            confirmed_at TEXT
        );

        CREATE TABLE terminals (
            id TEXT PRIMARY KEY,
            name TEXT,
            key_hash TEXT NOT NULL UNIQUE,           -- sha256 hex of the API key
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );

        -- Idempotency-Key answers (and cancel replays), scoped by operation and terminal
        CREATE TABLE idempotency (
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            request_hash TEXT NOT NULL,
            status INTEGER NOT NULL,
            response TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (scope, key)
        ) WITHOUT ROWID;

        -- events for the central server, written in the transaction of their effect;
        -- AUTOINCREMENT: a seq is never reused after the sync deletes acknowledged rows
        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT UNIQUE NOT NULL,
            kind TEXT NOT NULL,
            at TEXT NOT NULL,
            body BLOB NOT NULL,                      -- msgpack of the body dict (shared/events.py)
            created_at TEXT NOT NULL
        )
        """
    )


@MIGRATIONS(name="0002_shifts")
def shifts(db: Database) -> None:
    # Shift closes per terminal: a receipt can be cancelled only in the shift it was made in.
    db["shift_closes"].create(
        {"id": int, "terminal": str, "closed_at": str}, pk="id", not_null={"terminal", "closed_at"}
    )
    db["shift_closes"].create_index(["terminal", "closed_at"])


@MIGRATIONS(name="0003_terminal_receipts")
def terminal_receipts(db: Database) -> None:
    # The cashier page lists a terminal's most recent receipts (GET /v1/receipts).
    db["receipts"].create_index(["terminal", "committed_at"], index_name="receipts_terminal_committed")


@MIGRATIONS(name="0004_print_jobs")
def print_jobs(db: Database) -> None:
    # Loyalty slips waiting for (or printed by) a receipt printer: written in the transaction of
    # the receipt they belong to, printed after by the print worker (agent/devices/print_worker.py).
    db.executescript(
        """
        CREATE TABLE print_jobs (
            id INTEGER PRIMARY KEY,                  -- queue order
            slip_id TEXT NOT NULL UNIQUE,            -- one slip per receipt (refund, cancel)
            printer TEXT NOT NULL DEFAULT 'default', -- which printer's queue
            kind TEXT NOT NULL,                      -- loyalty_slip | test
            payload TEXT NOT NULL,                   -- JSON of agent.devices.slip.SlipData
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'printed', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,     -- failed attempts
            prints INTEGER NOT NULL DEFAULT 0,       -- successful prints (a reprint prints a copy)
            last_reason TEXT,                        -- why the last attempt failed (printers.REASONS)
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            printed_at TEXT
        );
        CREATE INDEX print_jobs_queue ON print_jobs (printer, status, id);
        """
    )


@MIGRATIONS(name="0005_promotions")
def promotions(db: Database) -> None:
    # Segment ids of each customer as the central server sent them (the audiences of promotions),
    # the promotions published to the store (shared/promotions.py; beside the rule set, versioned),
    # and the promo codes used here (offline conflicts are found centrally from these events).
    db.executescript(
        """
        ALTER TABLE customers ADD COLUMN segments TEXT NOT NULL DEFAULT '[]';  -- JSON list of segment ids
        -- JSON [[promotion, day, receipt_id], ...]: the customer's rewards in every store, as the central server knows
        ALTER TABLE customers ADD COLUMN promotion_uses TEXT NOT NULL DEFAULT '[]';
        CREATE TABLE promotions (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version INTEGER NOT NULL,
            document TEXT NOT NULL,                  -- JSON of shared.promotions.PromotionSet
            installed_at TEXT NOT NULL
        );
        CREATE TABLE code_uses (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL,                      -- normalised promo code
            receipt_id TEXT NOT NULL,
            customer_id TEXT,
            promotion TEXT NOT NULL,
            online INTEGER NOT NULL,                 -- 1: the central server confirmed the use
            at TEXT NOT NULL
        );
        CREATE INDEX code_uses_code ON code_uses (code);
        CREATE TABLE promotion_uses (
            id INTEGER PRIMARY KEY,
            promotion TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            receipt_id TEXT NOT NULL,
            day TEXT NOT NULL                        -- local date of the receipt
        );
        CREATE INDEX promotion_uses_customer ON promotion_uses (customer_id, promotion, day);
        """
    )


@MIGRATIONS(name="0006_message_reads")
def message_reads(db: Database) -> None:
    # A customer's cashier message to print on the slip too (``print`` from the central server), and the
    # messages shown here: never shown again, and printed once on the customer's next slip when asked
    # (the read went up as a cashier_message_read event; docs/messages.md, "Cashier messages").
    db.executescript(
        """
        ALTER TABLE messages ADD COLUMN print INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE message_reads (
            customer_id TEXT NOT NULL,
            id TEXT NOT NULL,
            text TEXT NOT NULL,
            shown_at TEXT NOT NULL,
            print INTEGER NOT NULL DEFAULT 0,
            printed_at TEXT,                         -- the slip it was printed on was queued then
            PRIMARY KEY (customer_id, id)
        ) WITHOUT ROWID;
        """
    )


@MIGRATIONS(name="0008_code_reservations")
def code_reservations(db: Database) -> None:
    # Each code's uses here as one counter (the till read COUNT(*) of code_uses per code: a multi-use code
    # made every commit slower as its uses grew), the offline uses of a list by index, and the personal
    # codes issued to a customer (JSON list of normalised codes, from the customer's delta).
    db.executescript(
        """
        CREATE TABLE code_counts (
            code TEXT PRIMARY KEY,
            uses INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO code_counts (code, uses) SELECT code, COUNT(*) FROM code_uses GROUP BY code;
        CREATE INDEX code_uses_list_online ON code_uses (promotion, online);
        CREATE INDEX code_uses_receipt ON code_uses (receipt_id);
        ALTER TABLE customers ADD COLUMN promo_codes TEXT NOT NULL DEFAULT '[]';
        """
    )


@MIGRATIONS(name="0009_percent_ends")
def percent_ends(db: Database) -> None:
    # When each personal percent stops applying (UTC; NULL: it does not end), from the customer's delta: the till
    # ignores a percent past its end before the central server's nightly job removes it (docs/sync.md).
    db.executescript(
        """
        ALTER TABLE customers ADD COLUMN network_percent_ends_at TEXT;
        ALTER TABLE customers ADD COLUMN store_percent_ends_at TEXT;
        """
    )


#: every migration this code knows, in order
KNOWN = (
    "0001_initial",
    "0002_shifts",
    "0003_terminal_receipts",
    "0004_print_jobs",
    "0005_promotions",
    "0006_message_reads",
    "0008_code_reservations",
    "0009_percent_ends",
)
