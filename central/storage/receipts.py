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

import numpy as np

from .import_pipeline import Blobs, import_state
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
    state = import_state(conn)
    if state is not None:  # a pipelined import: the batch before may not be written yet
        return state.top["transactions"] + 1
    return (conn.execute("SELECT MAX(id) FROM transactions").fetchone()[0] or 0) + 1


# -- writes --------------------------------------------------------------------------------------------------


def insert_transactions(conn: sqlite3.Connection, rows: Iterable[Sequence[Any]]) -> None:
    """``transactions`` rows: (id, *TRANSACTION_COLUMNS, line_count, columns, recorded_at, line_texts); the lines
    are packed in ``columns`` and ``line_texts`` (central/storage/line_pack.py). PostgreSQL: by
    ``COPY`` (the ingest writes them in its tail section, one commit at a time: central/storage/write_lock.py)."""
    if dialect(conn) == POSTGRESQL:
        conn.copy_rows("transactions", _COLUMNS, rows)  # type: ignore[attr-defined]
        return
    state = import_state(conn)
    if state is not None:
        rows = list(rows)
        if rows:
            state.top["transactions"] = max(state.top["transactions"], max(row[0] for row in rows))
    conn.executemany(_INSERT, rows)


#: ``transactions`` columns a pipelined import sends as int64 arrays (when every value is an integer), and those
#: it sends as indexes into their few distinct texts (:func:`insert_transaction_columns`)
_INTEGERS = frozenset({"id", "at_epoch", "weekday", "hour", "amount", "accrued", "redeemed", "line_count"})
_CODED = frozenset({"kind", "channel", "store", "agent", "level", "rules_version"})


def insert_transaction_columns(
    conn: Any,
    heads: Sequence[Sequence[Any]],
    spans: Sequence[tuple[int, int] | None],
    records: np.ndarray,
    line_texts: list[str | None],
    recorded_at: str,
) -> None:
    """:func:`insert_transactions` on a pipelined import's connection, which takes rows as columns
    (central/storage/import_pipeline.py ``Deferred.executemany_columns``): the same rows, without a tuple per
    row made and marshalled in the import's process nor read back in its writer's. ``heads``: (id,
    *TRANSACTION_COLUMNS, line_count) of each row; ``spans``: its lines ``[start, stop)`` of ``records`` (their
    ``LINE_DTYPE`` records, central/storage/line_pack.py: ``columns`` is their bytes), None for none;
    ``line_texts``: each row's."""
    count = len(heads)
    columns: list[Any] = []
    texts: list[list[str] | None] = []
    for name, values in zip(_COLUMNS, zip(*heads, strict=True), strict=False):
        column, names = _column(name, values, count)
        columns.append(column)
        texts.append(names)
    width = records.dtype.itemsize
    bounds = np.fromiter((x for span in spans for x in (span or (0, 0))), np.int64, 2 * count) * width
    columns += [Blobs(records.tobytes(), bounds[0::2], bounds[1::2]), np.zeros(count, np.int64), line_texts]
    texts += [None, [recorded_at], None]
    state = import_state(conn)
    if state is not None:
        state.top["transactions"] = max(state.top["transactions"], max(row[0] for row in heads))
    conn.executemany_columns(_INSERT, columns, texts)


def _column(name: str, values: Sequence[Any], count: int) -> tuple[Any, list[str] | None]:
    """One column of :func:`insert_transaction_columns`: (int64 array, None) of integers, (int64 indexes, their
    texts) of a column of a few texts (None: -1, NULL), else (the list of values, None), bound as they are."""
    if name in _INTEGERS and set(map(type, values)) == {int}:
        try:
            return np.fromiter(values, np.int64, count), None
        except OverflowError:  # beyond 64 bits: bound one by one, to the error sqlite3 gives
            pass
    if name in _CODED:
        distinct = dict.fromkeys(values)
        if all(v is None or type(v) is str for v in distinct):
            names = [v for v in distinct if v is not None]
            code: dict[str | None, int] = {v: i for i, v in enumerate(names)}
            code[None] = -1
            return np.fromiter(map(code.__getitem__, values), np.int64, count), names
    return list(values), None


# -- the catalog ---------------------------------------------------------------------------------------------


def catalog_ids(
    conn: sqlite3.Connection, table: str, column: str, names: Iterable[Any], now: str, source: str = "receipt"
) -> dict[str, int]:
    """name -> id in a catalog table, creating the names not seen before."""
    wanted = sorted({n for n in names if isinstance(n, str) and n})
    if import_state(conn) is not None:
        return _known_catalog_ids(conn, table, column, wanted, now, source)
    found = _ids_of(conn, table, column, wanted)
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


def _ids_of(conn: sqlite3.Connection, table: str, column: str, names: Sequence[str]) -> dict[str, int]:
    """name -> id of the names a catalog table has."""
    found: dict[str, int] = {}
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(
            (name, ident)
            for ident, name in conn.execute(f"SELECT id, {column} FROM {table} WHERE {column} IN ({marks})", chunk)
        )
    return found


def product_ids(
    conn: sqlite3.Connection, first: Mapping[str, Mapping[str, Any]], categories: Mapping[str, int], now: str
) -> dict[str, int]:
    """sku -> id, creating new products with the name and category of their first line (``first``: sku -> the
    first receipt line naming it; ``categories``: category name -> id)."""
    if import_state(conn) is not None:
        return _known_product_ids(conn, first, categories, now)
    skus = sorted(first)
    found = _ids_of(conn, "catalog_products", "sku", skus)
    missing = [sku for sku in skus if sku not in found]
    if not missing:
        return found
    conn.executemany(
        "INSERT INTO catalog_products (sku, name, category_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(sku, first[sku].get("name"), categories.get(first[sku].get("category")), now) for sku in missing],
    )
    # the new ones' ids (only those are looked up again)
    return found | catalog_ids(conn, "catalog_products", "sku", missing, now)


# -- the catalog in a pipelined import (central/storage/import_pipeline.py) ------------------------------------


def _lookup(conn: sqlite3.Connection, table: str, column: str, names: Sequence[str]) -> list[str]:
    """The names the import's memory does not know, looked up in the database; returns those still unknown."""
    known = import_state(conn).ids[table]  # type: ignore[union-attr]
    asked = [n for n in names if n not in known]
    known.update(_ids_of(conn, table, column, asked))
    return [n for n in asked if n not in known]


def _known_catalog_ids(
    conn: sqlite3.Connection, table: str, column: str, wanted: list[str], now: str, source: str
) -> dict[str, int]:
    """:func:`catalog_ids` with the ids the import gave kept in memory: new names get theirs as SQLite would
    (in sorted order, the highest + 1), written with them."""
    state = import_state(conn)
    assert state is not None
    missing = _lookup(conn, table, column, wanted)
    if missing:
        given = state.give(table, missing)
        if table == "catalog_categories":
            conn.executemany(
                "INSERT INTO catalog_categories (id, name, source, created_at) VALUES (?, ?, ?, ?)",
                [(ident, n, source, now) for ident, n in given],
            )
        else:
            conn.executemany(
                "INSERT INTO catalog_products (id, sku, created_at) VALUES (?, ?, ?)",
                [(ident, n, now) for ident, n in given],
            )
    known = state.ids[table]
    return {n: known[n] for n in wanted}


def _known_product_ids(
    conn: sqlite3.Connection, first: Mapping[str, Mapping[str, Any]], categories: Mapping[str, int], now: str
) -> dict[str, int]:
    """:func:`product_ids` with the ids the import gave kept in memory."""
    state = import_state(conn)
    assert state is not None
    known = state.ids["catalog_products"]
    asked = [sku for sku in first if sku not in known]  # (most of a batch's are known: sorted only if not)
    missing = _lookup(conn, "catalog_products", "sku", sorted(asked)) if asked else []
    if missing:
        conn.executemany(
            "INSERT INTO catalog_products (id, sku, name, category_id, created_at) VALUES (?, ?, ?, ?, ?)",
            [
                (ident, sku, first[sku].get("name"), categories.get(first[sku].get("category")), now)  # type: ignore[arg-type]
                for ident, sku in state.give("catalog_products", missing)
            ],
        )
    return {sku: known[sku] for sku in first}
