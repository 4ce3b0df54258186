"""The head-office console's tables, as numbered migrations after the ledger's (central/storage/schema.py).

Same rules as there: portable SQL, one transaction per migration. SQLite-only
details are marked: the customer search index is an FTS5 table with the
trigram tokenizer, kept up to date by triggers (a PostgreSQL backend uses a
pg_trgm GIN index on the same text instead).
"""

from __future__ import annotations

from typing import Any

from .portable import WITHOUT_ROWID, PerBackend

#: what the quick search looks through, one text per customer (kept by the triggers below)
_SEARCH_DOC = (
    "COALESCE(c.name, '') || ' ' || COALESCE(c.phone, '') || ' ' || COALESCE(c.email, '') || ' ' || c.id"
    " || ' ' || COALESCE((SELECT group_concat(number, ' ') FROM cards WHERE customer_id = c.id), '')"
    " || ' ' || COALESCE((SELECT group_concat(tag, ' ') FROM customer_tags WHERE customer_id = c.id), '')"
)


def _reindex(customer: str) -> list[str]:
    """Statements (inside a trigger) that rewrite one customer's search document.

    A search row's rowid is its customer's rowid (found through the primary
    key), so replacing it is two index lookups, never a scan of the index.
    ``VACUUM`` may renumber rowids: :data:`REBUILD_SEARCH` puts it right.
    """
    return [
        f"DELETE FROM customer_search WHERE rowid = (SELECT rowid FROM customers WHERE id = {customer});",
        f"INSERT INTO customer_search (rowid, customer_id, doc) SELECT c.rowid, c.id, {_SEARCH_DOC}"
        f" FROM customers c WHERE c.id = {customer};",
    ]


#: the whole search index again (after a VACUUM, which may renumber the customers' rowids)
REBUILD_SEARCH = [
    "DELETE FROM customer_search",
    "INSERT INTO customer_search (rowid, customer_id, doc) SELECT c.rowid, c.id, " + _SEARCH_DOC + " FROM customers c",
]


def _trigger(name: str, event: str, customer: str) -> PerBackend:
    return PerBackend(f"CREATE TRIGGER {name} AFTER {event} BEGIN " + " ".join(_reindex(customer)) + " END", None)


#: PostgreSQL: the whole search index again (copy-db)
PG_REBUILD_SEARCH = [
    "DELETE FROM customer_search",
    "INSERT INTO customer_search (customer_id, doc) SELECT c.id, " + _SEARCH_DOC + " FROM customers c",
]

#: PostgreSQL: the search index is a plain table (one row per customer) with a pg_trgm GIN index on its text
#: (what ``ILIKE '%term%'`` uses), kept by one trigger function per table
_PG_SEARCH = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE TABLE customer_search (customer_id TEXT PRIMARY KEY, doc TEXT NOT NULL)",
    "CREATE INDEX customer_search_doc ON customer_search USING gin (doc gin_trgm_ops)",
    "INSERT INTO customer_search (customer_id, doc) SELECT c.id, "
    + _SEARCH_DOC.replace("group_concat", "string_agg")
    + " FROM customers c",
    """CREATE FUNCTION customer_search_reindex(customer TEXT) RETURNS void LANGUAGE sql AS $$
       DELETE FROM customer_search WHERE customer_id = customer;
       INSERT INTO customer_search (customer_id, doc) SELECT c.id, """
    + _SEARCH_DOC.replace("group_concat", "string_agg")
    + """ FROM customers c WHERE c.id = customer $$""",
    """CREATE FUNCTION customers_search() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
       IF TG_OP = 'DELETE' THEN DELETE FROM customer_search WHERE customer_id = OLD.id; RETURN NULL; END IF;
       PERFORM customer_search_reindex(NEW.id); RETURN NULL; END $$""",
    """CREATE FUNCTION customer_rows_search() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
       IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM customer_search_reindex(NEW.customer_id); END IF;
       IF TG_OP IN ('DELETE', 'UPDATE') THEN PERFORM customer_search_reindex(OLD.customer_id); END IF;
       RETURN NULL; END $$""",
    "CREATE TRIGGER customers_search AFTER INSERT OR DELETE OR UPDATE OF name, phone, email ON customers"
    " FOR EACH ROW EXECUTE FUNCTION customers_search()",
    "CREATE TRIGGER cards_search AFTER INSERT OR UPDATE OF customer_id ON cards"
    " FOR EACH ROW EXECUTE FUNCTION customer_rows_search()",
    "CREATE TRIGGER tags_search AFTER INSERT OR DELETE ON customer_tags"
    " FOR EACH ROW EXECUTE FUNCTION customer_rows_search()",
]


CONSOLE_MIGRATIONS: list[tuple[int, str, list[Any]]] = [
    (
        2,
        "console users, store assignments, audit log",
        [
            """CREATE TABLE console_users (
                id INTEGER PRIMARY KEY,
                username TEXT NOT NULL UNIQUE,
                password_hash TEXT NOT NULL,
                role TEXT NOT NULL,
                display_name TEXT,
                language TEXT,
                active INTEGER NOT NULL DEFAULT 1,
                session_version INTEGER NOT NULL DEFAULT 1,
                failed_logins INTEGER NOT NULL DEFAULT 0,
                locked_until TEXT,
                created_at TEXT NOT NULL,
                password_changed_at TEXT NOT NULL,
                last_login_at TEXT)""",
            """CREATE TABLE console_user_stores (
                user_id INTEGER NOT NULL REFERENCES console_users(id),
                store TEXT NOT NULL REFERENCES stores(id),
                PRIMARY KEY (user_id, store))""",
            # every write made from the console: who, when, what, before and after (JSON)
            """CREATE TABLE audit_log (
                id INTEGER PRIMARY KEY,
                at TEXT NOT NULL,
                user_id INTEGER,
                username TEXT NOT NULL,
                action TEXT NOT NULL,
                entity TEXT NOT NULL,
                entity_id TEXT,
                store TEXT,
                before TEXT,
                after TEXT)""",
            "CREATE INDEX audit_log_entity ON audit_log (entity, entity_id, id)",
            "CREATE INDEX audit_log_user ON audit_log (user_id, id)",
        ],
    ),
    (
        3,
        "customer accounts: profile fields, tags, comments, messages, custom fields, card categories, search",
        [
            "ALTER TABLE customers ADD COLUMN email TEXT",
            "ALTER TABLE customers ADD COLUMN gender TEXT",
            "ALTER TABLE customers ADD COLUMN channel TEXT",
            "ALTER TABLE customers ADD COLUMN custom TEXT NOT NULL DEFAULT '{}'",
            "ALTER TABLE customers ADD COLUMN merged_into TEXT",
            "ALTER TABLE customers ADD COLUMN visits INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE customers ADD COLUMN last_purchase_at TEXT",
            "ALTER TABLE customers ADD COLUMN last_accrual_at TEXT",
            "ALTER TABLE customers ADD COLUMN last_redemption_at TEXT",
            "ALTER TABLE customers ADD COLUMN updated_at TEXT",
            # the list is newest first with keyset paging on (created_at, id)
            "CREATE INDEX customers_created ON customers (created_at, id)",
            "CREATE INDEX customers_home ON customers (home_store, created_at, id)",
            "CREATE INDEX customers_email ON customers (email)",
            # the nightly job's expiry finds due lots without scanning them all
            "CREATE INDEX lots_expiry ON lots (expires_at) WHERE expires_at IS NOT NULL",
            "ALTER TABLE cards ADD COLUMN category_id INTEGER",
            "ALTER TABLE cards ADD COLUMN main INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE cards ADD COLUMN updated_at TEXT",
            # ledger entries made by people carry who and why
            "ALTER TABLE ledger ADD COLUMN reason TEXT",
            "ALTER TABLE ledger ADD COLUMN operator TEXT",
            """CREATE TABLE customer_tags (
                customer_id TEXT NOT NULL,
                tag TEXT NOT NULL,
                PRIMARY KEY (customer_id, tag))""",
            "CREATE INDEX customer_tags_tag ON customer_tags (tag, customer_id)",
            """CREATE TABLE customer_comments (
                id INTEGER PRIMARY KEY,
                customer_id TEXT NOT NULL,
                username TEXT NOT NULL,
                text TEXT NOT NULL,
                created_at TEXT NOT NULL)""",
            "CREATE INDEX customer_comments_customer ON customer_comments (customer_id, id)",
            # per-customer messages for the cashier; they travel inside the customer's delta
            """CREATE TABLE customer_messages (
                id TEXT PRIMARY KEY,
                customer_id TEXT NOT NULL,
                text TEXT NOT NULL,
                until TEXT,
                created_at TEXT NOT NULL,
                created_by TEXT NOT NULL,
                deleted_at TEXT)""",
            "CREATE INDEX customer_messages_customer ON customer_messages (customer_id)",
            """CREATE TABLE custom_fields (
                name TEXT PRIMARY KEY,
                label TEXT NOT NULL,
                type TEXT NOT NULL,
                position INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL)""",
            """CREATE TABLE card_categories (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                first_number TEXT NOT NULL,
                count INTEGER NOT NULL,
                electronic INTEGER NOT NULL DEFAULT 0,
                luhn INTEGER NOT NULL DEFAULT 0,
                next_offset INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL)""",
            """CREATE TABLE saved_filters (
                id INTEGER PRIMARY KEY,
                user_id INTEGER NOT NULL,
                area TEXT NOT NULL,
                name TEXT NOT NULL,
                query TEXT NOT NULL,
                shared INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL,
                UNIQUE (user_id, area, name))""",
            """CREATE TABLE merges (
                source TEXT PRIMARY KEY,
                target TEXT NOT NULL,
                username TEXT NOT NULL,
                at TEXT NOT NULL,
                source_state TEXT NOT NULL)""",
            # SQLite-only: trigram full-text index for "several terms, each narrowing" on any field
            PerBackend(
                "CREATE VIRTUAL TABLE customer_search USING fts5(customer_id UNINDEXED, doc, tokenize = 'trigram')",
                None,
            ),
            PerBackend(REBUILD_SEARCH[1], None),
            *(PerBackend(None, step) for step in _PG_SEARCH),
            _trigger("customers_search_insert", "INSERT ON customers", "NEW.id"),
            _trigger("customers_search_update", "UPDATE OF name, phone, email ON customers", "NEW.id"),
            PerBackend(
                "CREATE TRIGGER customers_search_delete AFTER DELETE ON customers BEGIN"
                " DELETE FROM customer_search WHERE rowid = OLD.rowid; END",
                None,
            ),
            _trigger("cards_search_insert", "INSERT ON cards", "NEW.customer_id"),
            PerBackend(
                "CREATE TRIGGER cards_search_update AFTER UPDATE OF customer_id ON cards BEGIN "
                + " ".join(_reindex("NEW.customer_id") + _reindex("OLD.customer_id"))
                + " END",
                None,
            ),
            _trigger("tags_search_insert", "INSERT ON customer_tags", "NEW.customer_id"),
            _trigger("tags_search_delete", "DELETE ON customer_tags", "OLD.customer_id"),
        ],
    ),
    (
        4,
        "transactions (receipts, refunds, point operations) with their lines; the product catalog",
        [
            # categories and products seen in receipts (created automatically) or named by head office;
            # their dense integer ids are what the what-if's columns use
            """CREATE TABLE catalog_categories (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                source TEXT NOT NULL,
                created_at TEXT NOT NULL)""",
            """CREATE TABLE catalog_products (
                id INTEGER PRIMARY KEY,
                sku TEXT NOT NULL UNIQUE,
                name TEXT,
                category_id INTEGER,
                created_at TEXT NOT NULL)""",
            # every purchase, refund and cancel (anonymous ones too) and every point operation made
            # from the console or by the nightly job. Signs: a refund's amount, accrued and redeemed
            # are negative (it reverses a purchase), so sums over any filter are net figures.
            """CREATE TABLE transactions (
                id INTEGER PRIMARY KEY,
                kind TEXT NOT NULL,
                channel TEXT NOT NULL,
                store TEXT,
                agent TEXT,
                event_id TEXT,
                receipt_id TEXT,
                terminal TEXT,
                customer_id TEXT,
                card TEXT,
                at TEXT NOT NULL,
                at_epoch INTEGER NOT NULL,
                weekday INTEGER,
                hour INTEGER,
                amount INTEGER NOT NULL DEFAULT 0,
                accrued INTEGER NOT NULL DEFAULT 0,
                redeemed INTEGER NOT NULL DEFAULT 0,
                level TEXT,
                rules_version INTEGER,
                line_count INTEGER NOT NULL DEFAULT 0,
                columns BLOB,
                detail TEXT,
                recorded_at TEXT NOT NULL)""",
            "CREATE INDEX transactions_at ON transactions (at_epoch, id)",
            "CREATE INDEX transactions_store ON transactions (store, at_epoch, id)",
            "CREATE INDEX transactions_customer ON transactions (customer_id, at_epoch, id)",
            # few receipts name a card (most name the customer): a partial index costs only those.
            # No index on event_id or receipt_id: random keys are the dearest inserts of the ingest,
            # and a customer's history finds its receipts through transactions_customer.
            "CREATE INDEX transactions_card ON transactions (card) WHERE card IS NOT NULL",
            """CREATE TABLE transaction_lines (
                transaction_id INTEGER NOT NULL,
                idx INTEGER NOT NULL,
                sku_id INTEGER,
                category_id INTEGER,
                name TEXT,
                quantity TEXT NOT NULL,
                price INTEGER,
                discount INTEGER NOT NULL,
                amount INTEGER NOT NULL,
                accrued INTEGER NOT NULL,
                redeemed INTEGER NOT NULL,
                PRIMARY KEY (transaction_id, idx))"""
            + WITHOUT_ROWID,
            "CREATE INDEX transaction_lines_sku ON transaction_lines (sku_id, transaction_id)",
            "CREATE INDEX transaction_lines_category ON transaction_lines (category_id, transaction_id)",
        ],
    ),
    (
        5,
        "stores' city, groups and programs; rule drafts; the level program; background jobs",
        [
            "ALTER TABLE stores ADD COLUMN city TEXT",
            "ALTER TABLE stores ADD COLUMN base_percent TEXT NOT NULL DEFAULT '0'",
            "ALTER TABLE stores ADD COLUMN program_id INTEGER",
            """CREATE TABLE store_groups (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                created_at TEXT NOT NULL)""",
            """CREATE TABLE store_group_members (
                group_id INTEGER NOT NULL,
                store TEXT NOT NULL,
                PRIMARY KEY (group_id, store))""",
            # bonus accounts: the program a store's points belong to and its conversion rate
            """CREATE TABLE programs (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                points_per_money TEXT NOT NULL,
                created_at TEXT NOT NULL)""",
            """CREATE TABLE rule_drafts (
                store TEXT PRIMARY KEY,
                document TEXT NOT NULL,
                base_version INTEGER,
                updated_at TEXT NOT NULL,
                updated_by TEXT NOT NULL)""",
            # the chain-wide level program (names, thresholds, percents) published into every rule set
            """CREATE TABLE levels (
                name TEXT PRIMARY KEY,
                from_spend INTEGER NOT NULL UNIQUE,
                percent TEXT NOT NULL)""",
            """CREATE TABLE jobs (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                state TEXT NOT NULL,
                total INTEGER NOT NULL DEFAULT 0,
                done INTEGER NOT NULL DEFAULT 0,
                detail TEXT NOT NULL DEFAULT '{}',
                username TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                finished_at TEXT)""",
        ],
    ),
]
