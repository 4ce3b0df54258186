"""The receipt log's rows (``transactions`` with their packed lines, the catalog): the queries of
central/points/receipt_log.py's :class:`~central.points.receipt_log.ReceiptLog`.

Module-level functions on the caller's connection, inside the ingest's (or the console's, the nightly job's, the
import's) transaction: the ingest's hot path, so the reads return their cursors as they are and each write is one
``executemany`` over the rows of a whole flush.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .portable import POSTGRESQL, dialect

#: names a catalog look-up asks for at once (SQLite's bound parameters)
CHUNK = 500
#: the columns of a ``transactions`` row the receipt log fills, between ``id`` and ``line_count, columns,
#: recorded_at``, in order
TRANSACTION_COLUMNS = (
    "kind",
    "channel",
    "store",
    "agent",
    "event_id",
    "receipt_id",
    "terminal",
    "customer_id",
    "card",
    "at",
    "at_epoch",
    "weekday",
    "hour",
    "amount",
    "accrued",
    "redeemed",
    "level",
    "rules_version",
    "detail",
)
_COLUMNS = ("id", *TRANSACTION_COLUMNS, "line_count", "columns", "recorded_at", "line_texts")
_INSERT = f"INSERT INTO transactions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
# -- reads ---------------------------------------------------------------------------------------------------


def store_timezones(conn: sqlite3.Connection) -> Iterable[tuple[str, str]]:
    """Every store's (id, IANA time zone)."""
    return conn.execute("SELECT id, timezone FROM stores")


def next_transaction_id(conn: sqlite3.Connection) -> int:
    """The id the next ``transactions`` row gets (ids are dense: the flush numbers its rows itself)."""
    return (conn.execute("SELECT MAX(id) FROM transactions").fetchone()[0] or 0) + 1


# -- writes --------------------------------------------------------------------------------------------------


def insert_transactions(conn: sqlite3.Connection, rows: Iterable[Sequence[Any]]) -> None:
    """``transactions`` rows: (id, *TRANSACTION_COLUMNS, line_count, columns, recorded_at, line_texts); the lines
    are packed in ``columns`` and ``line_texts`` (central/storage/line_pack.py). PostgreSQL: by
    ``COPY`` (the ingest writes them in its tail section, one commit at a time: central/storage/write_lock.py)."""
    if dialect(conn) == POSTGRESQL:
        conn.copy_rows("transactions", _COLUMNS, rows)  # type: ignore[attr-defined]
        return
    conn.executemany(_INSERT, rows)


# -- the catalog ---------------------------------------------------------------------------------------------


def catalog_ids(
    conn: sqlite3.Connection, table: str, column: str, names: Iterable[Any], now: str, source: str = "receipt"
) -> dict[str, int]:
    """name -> id in a catalog table, creating the names not seen before."""
    wanted = sorted({n for n in names if isinstance(n, str) and n})
    found: dict[str, int] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(
            (name, ident)
            for ident, name in conn.execute(f"SELECT id, {column} FROM {table} WHERE {column} IN ({marks})", chunk)
        )
    missing = [n for n in wanted if n not in found]
    if missing:
        if table == "catalog_categories":
            conn.executemany(
                "INSERT INTO catalog_categories (name, source, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(n, source, now) for n in missing],
            )
        else:
            conn.executemany(
                "INSERT INTO catalog_products (sku, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(n, now) for n in missing],
            )
        return catalog_ids(conn, table, column, wanted, now, source)
    return found


def product_ids(
    conn: sqlite3.Connection, first: Mapping[str, Mapping[str, Any]], categories: Mapping[str, int], now: str
) -> dict[str, int]:
    """sku -> id, creating new products with the name and category of their first line (``first``: sku -> the
    first receipt line naming it; ``categories``: category name -> id)."""
    found: dict[str, int] = {}
    skus = sorted(first)
    for start in range(0, len(skus), CHUNK):
        chunk = skus[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(
            (sku, ident)
            for ident, sku in conn.execute(f"SELECT id, sku FROM catalog_products WHERE sku IN ({marks})", chunk)
        )
    missing = [sku for sku in skus if sku not in found]
    if not missing:
        return found
    conn.executemany(
        "INSERT INTO catalog_products (sku, name, category_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(sku, first[sku].get("name"), categories.get(first[sku].get("category")), now) for sku in missing],
    )
    # the new ones' ids (only those are looked up again)
    return found | catalog_ids(conn, "catalog_products", "sku", missing, now)
