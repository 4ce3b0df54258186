"""Migration 27: the segments' column snapshot follows the database (docs/segments.md, "Column snapshot").

``segment_dirty`` logs the key of every customer whose facts a criterion of the snapshot reads changed:
its day aggregates (a purchase or refund, a merge), the columns of its customers row the snapshot reads
(profile, level, balance, a merge, a deletion), its tags or cards, and each new key. Triggers write it, so
every path (ingest, console, imports, merges) is seen. A process holding a snapshot
(central/storage/segment_columns.py) reloads only the keys logged since it last looked; the daily refresh
cuts the log back.
"""

from __future__ import annotations

from .portable import PerBackend

_SQLITE = [
    ("agg_days", "INSERT", "NEW.key"),
    ("agg_days", "UPDATE", "NEW.key"),
    ("agg_days", "DELETE", "OLD.key"),
    ("customer_keys", "INSERT", "NEW.key"),
    ("customers", "UPDATE", "(SELECT key FROM customer_keys WHERE customer_id = NEW.id)"),
    ("customers", "DELETE", "(SELECT key FROM customer_keys WHERE customer_id = OLD.id)"),
    ("customer_tags", "INSERT", "(SELECT key FROM customer_keys WHERE customer_id = NEW.customer_id)"),
    ("customer_tags", "DELETE", "(SELECT key FROM customer_keys WHERE customer_id = OLD.customer_id)"),
    ("cards", "INSERT", "(SELECT key FROM customer_keys WHERE customer_id = NEW.customer_id)"),
    ("cards", "UPDATE", "(SELECT key FROM customer_keys WHERE customer_id = NEW.customer_id)"),
    ("cards", "DELETE", "(SELECT key FROM customer_keys WHERE customer_id = OLD.customer_id)"),
]


#: the customers row's columns the snapshot reads (a membership change bumps ``version``: not logged)
READ_COLUMNS = "merged_into, birthday, gender, consents, home_store, level, balance"


def _sqlite_trigger(table: str, op: str, key: str) -> str:
    what = f"UPDATE OF {READ_COLUMNS}" if (table, op) == ("customers", "UPDATE") else op
    return (
        f"CREATE TRIGGER segment_dirty_{table}_{op.lower()} AFTER {what} ON {table}"
        f" WHEN {key} IS NOT NULL BEGIN INSERT INTO segment_dirty (key) VALUES ({key}); END"
    )


def _pg_function(name: str, new: str, old: str) -> str:
    return f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
       IF TG_OP = 'DELETE' THEN INSERT INTO segment_dirty (key) SELECT {old};
       ELSE INSERT INTO segment_dirty (key) SELECT {new}; END IF; RETURN NULL; END $$"""


_BY_HOLDER = "key FROM customer_keys WHERE customer_id = {}.customer_id"
_PG = [
    _pg_function("segment_dirty_key", "NEW.key", "OLD.key"),
    _pg_function(
        "segment_dirty_customer",
        "key FROM customer_keys WHERE customer_id = NEW.id",
        "key FROM customer_keys WHERE customer_id = OLD.id",
    ),
    _pg_function("segment_dirty_holder", _BY_HOLDER.format("NEW"), _BY_HOLDER.format("OLD")),
    "CREATE TRIGGER segment_dirty_agg_days AFTER INSERT OR UPDATE OR DELETE ON agg_days FOR EACH ROW"
    " EXECUTE FUNCTION segment_dirty_key()",
    "CREATE TRIGGER segment_dirty_customer_keys AFTER INSERT ON customer_keys FOR EACH ROW"
    " EXECUTE FUNCTION segment_dirty_key()",
    f"CREATE TRIGGER segment_dirty_customers AFTER UPDATE OF {READ_COLUMNS} OR DELETE ON customers FOR EACH ROW"
    " EXECUTE FUNCTION segment_dirty_customer()",
    "CREATE TRIGGER segment_dirty_customer_tags AFTER INSERT OR DELETE ON customer_tags FOR EACH ROW"
    " EXECUTE FUNCTION segment_dirty_holder()",
    "CREATE TRIGGER segment_dirty_cards AFTER INSERT OR UPDATE OR DELETE ON cards FOR EACH ROW"
    " EXECUTE FUNCTION segment_dirty_holder()",
]

SEGSPEED_MIGRATIONS = [
    (
        27,
        "segments' column snapshot: the keys whose facts changed, logged by triggers",
        [
            """CREATE TABLE segment_dirty (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                key INTEGER NOT NULL)""",
            *[PerBackend(_sqlite_trigger(*t), None) for t in _SQLITE],
            *[PerBackend(None, sql) for sql in _PG],
        ],
    ),
]
