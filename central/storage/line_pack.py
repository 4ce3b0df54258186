"""A purchase's lines, packed in its ``transactions`` row (migration 44: there is no ``transaction_lines`` table).

Each purchase keeps its lines in two columns of its own row:

* ``columns`` (BLOB): one fixed-width record of integers per line (:data:`LINE_DTYPE`: the catalog's product and
  category as dense 0-based indexes, -1 for none; money and points in minor units; :data:`NO_PRICE` for a line sent
  without a price), so the what-if, the reports' columns and the transactions' product and category filters read a
  million lines as a few ``numpy.frombuffer`` calls;
* ``line_texts`` (TEXT): each line's quantity (as the till wrote it, "1" or "0.455") and name, as
  ``quantity \\x1f name \\x1f quantity \\x1f name ...`` (an empty name: none). A name holding ``\\x1e`` or ``\\x1f``
  makes the purchase's texts JSON instead (``\\x1e`` then ``[[quantity, name], ...]``); a quantity never does
  (shared/events.py's decimal pattern).

Writing these two values per purchase is what the ingest and the receipt import pay for the lines: no row nor
index entry per line (docs/import-receipts.md, "One row per receipt").

:func:`line_rows` reads them back as the rows the old table had: (transaction_id, idx, sku_id, category_id, name,
quantity, price, discount, amount, accrued, redeemed). While a database is still being migrated through the steps
before 44 (the rollups' and aggregates' backfills of migrations 11 and later run then), the lines are still in
``transaction_lines``, and it reads them there.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from .portable import POSTGRESQL, dialect

T = TypeVar("T")

#: one receipt line, packed: catalog indexes (id - 1; -1: none), money and points in minor units
LINE_DTYPE = np.dtype(
    [
        ("sku", "<i4"),
        ("category", "<i4"),
        ("amount", "<i8"),
        ("discount", "<i8"),
        ("price", "<i8"),
        ("accrued", "<i8"),
        ("redeemed", "<i8"),
    ]
)
#: ``price`` of a line sent without one
NO_PRICE = -(2**63)
#: between a line's quantity and its name, and between lines, in ``line_texts``
SEP = "\x1f"
#: the first character of ``line_texts`` written as JSON (a name holds a separator)
JSON_MARK = "\x1e"
#: a line row as the old table had it
LINE_ROW = ("transaction_id", "idx", "sku_id", "category_id", "name", "quantity", "price", "discount", "amount")
LINE_ROW += ("accrued", "redeemed")


def packed(
    sku: Sequence[int],
    category: Sequence[int],
    amount: Sequence[int],
    discount: Sequence[int],
    price: Sequence[int | None],
    accrued: Sequence[int],
    redeemed: Sequence[int],
) -> np.ndarray:
    """Lines as :data:`LINE_DTYPE` records (``sku``/``category``: catalog ids or None, or integer arrays of ids
    with 0 for none; ``price`` None: none)."""
    out = np.empty(len(sku), LINE_DTYPE)
    out["sku"] = sku - 1 if isinstance(sku, np.ndarray) else [(x or 0) - 1 for x in sku]
    out["category"] = category - 1 if isinstance(category, np.ndarray) else [(x or 0) - 1 for x in category]
    out["amount"], out["discount"] = amount, discount
    out["price"] = price if isinstance(price, np.ndarray) or None not in price else [_price(p) for p in price]
    out["accrued"], out["redeemed"] = accrued, redeemed
    return out


def _price(price: int | None) -> int:
    return NO_PRICE if price is None else price


def texts_of(quantities: Sequence[str], names: Sequence[str | None]) -> list[str]:
    """``line_texts`` of consecutive runs of lines: pass ``[q0, n0, q1, n1, ...]`` joined per purchase with
    :func:`joined`. Returns the flat list (names None -> "")."""
    flat: list[str] = [""] * (2 * len(quantities))
    flat[0::2] = quantities
    flat[1::2] = [n or "" for n in names]
    return flat


def safe(names: Iterable[str | None]) -> bool:
    """Whether no name holds a separator (then every purchase's texts are the plain form)."""
    text = "".join(filter(None, names))
    return SEP not in text and JSON_MARK not in text


def joined(flat: Sequence[str], start: int, stop: int, plain: bool) -> str | None:
    """The ``line_texts`` of lines ``[start, stop)`` of a flat list made by :func:`texts_of` (None: no lines).
    ``plain``: :func:`safe` said no name of the batch holds a separator."""
    if stop <= start:
        return None
    part = flat[2 * start : 2 * stop]
    if plain or all(SEP not in n and JSON_MARK not in n for n in part[1::2]):
        return SEP.join(part)
    return JSON_MARK + json.dumps([[q, n or None] for q, n in zip(part[0::2], part[1::2], strict=True)])


def split_texts(text: str | None, count: int) -> tuple[list[str], list[str | None]]:
    """(quantities, names) of a purchase's ``line_texts`` (``count`` lines: an old purchase without texts reads
    quantity "1" and no names)."""
    if not text:
        return ["1"] * count, [None] * count
    if text[0] == JSON_MARK:
        pairs = json.loads(text[1:])
        return [p[0] for p in pairs], [p[1] for p in pairs]
    parts = text.split(SEP)
    return parts[0::2], [n or None for n in parts[1::2]]


def records(blobs: Sequence[bytes | None]) -> tuple[np.ndarray, np.ndarray]:
    """(the lines of these purchases' ``columns`` as one :data:`LINE_DTYPE` array, each purchase's line count)."""
    sizes = np.fromiter((0 if b is None else len(b) for b in blobs), np.int64, len(blobs)) // LINE_DTYPE.itemsize
    lines = np.frombuffer(b"".join(bytes(b) for b in blobs if b is not None), LINE_DTYPE)
    return lines, sizes


def has_line_table(conn: sqlite3.Connection) -> bool:
    """Whether the lines still live in ``transaction_lines`` (a database migrating through the steps before 44)."""
    if dialect(conn) == POSTGRESQL:
        return bool(conn.execute("SELECT to_regclass('transaction_lines') IS NOT NULL").fetchone()[0])
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'transaction_lines'").fetchone()
    return row is not None


def rows_of(found: Iterable[Sequence[Any]]) -> Iterator[tuple[Any, ...]]:
    """Line rows (:data:`LINE_ROW`) of ``(id, columns, line_texts)`` rows of purchases, in order."""
    found = [r for r in found if r[1] is not None]
    if not found:
        return
    lines, sizes = records([r[1] for r in found])
    sku = (lines["sku"].astype(np.int64) + 1).tolist()
    category = (lines["category"].astype(np.int64) + 1).tolist()
    amount, discount = lines["amount"].tolist(), lines["discount"].tolist()
    price, accrued, redeemed = lines["price"].tolist(), lines["accrued"].tolist(), lines["redeemed"].tolist()
    at = 0
    for (tid, _blob, texts), count in zip(found, sizes.tolist(), strict=True):
        quantities, names = split_texts(texts, count)
        for i in range(count):
            j = at + i
            yield (
                tid,
                i,
                sku[j] or None,
                category[j] or None,
                names[i],
                quantities[i],
                None if price[j] == NO_PRICE else price[j],
                discount[j],
                amount[j],
                accrued[j],
                redeemed[j],
            )
        at += count


_LEGACY_SELECT = f"SELECT {', '.join(LINE_ROW)} FROM transaction_lines"
_SELECT = "SELECT id, columns, line_texts FROM transactions"


def lines_between(conn: sqlite3.Connection, after: int, upto: int) -> Iterator[tuple[Any, ...]]:
    """Line rows (:data:`LINE_ROW`) of the transactions with ids in (after, upto], in id and line order."""
    if has_line_table(conn):
        yield from conn.execute(
            f"{_LEGACY_SELECT} WHERE transaction_id > ? AND transaction_id <= ? ORDER BY transaction_id, idx",
            (after, upto),
        )
        return
    yield from rows_of(
        conn.execute(f"{_SELECT} WHERE id > ? AND id <= ? AND columns IS NOT NULL ORDER BY id", (after, upto))
    )


def lines_of(conn: sqlite3.Connection, transaction_ids: Sequence[int]) -> Iterator[tuple[Any, ...]]:
    """Line rows (:data:`LINE_ROW`) of these transactions (pass the ids sorted), 500 ids a query."""
    for start in range(0, len(transaction_ids), 500):
        chunk = list(transaction_ids[start : start + 500])
        marks = ",".join("?" * len(chunk))
        yield from rows_of(conn.execute(f"{_SELECT} WHERE id IN ({marks}) AND columns IS NOT NULL ORDER BY id", chunk))


def numbers_between(conn: sqlite3.Connection, after: int, upto: int) -> tuple[np.ndarray, np.ndarray]:
    """(each line's transaction id, the lines as :data:`LINE_DTYPE` records) of the transactions with ids in
    (after, upto], without their texts (the reports' columns read a year's lines this way)."""
    found = conn.execute(
        "SELECT id, columns FROM transactions WHERE id > ? AND id <= ? AND columns IS NOT NULL ORDER BY id",
        (after, upto),
    ).fetchall()
    lines, sizes = records([r[1] for r in found])
    return np.repeat(np.fromiter((r[0] for r in found), np.int64, len(found)), sizes), lines


class LineArrays:
    """A flush's lines as numpy columns (a receipt import's batch, central/points/receipt_log.py ``_by_columns``):
    what the report rollups' and the segments' aggregates' folds read of each line, without a tuple per line.

    ``transaction``: each line's transaction id; ``product`` and ``category``: catalog ids, 0 for none (ids start
    at 1); ``amount``; ``quantity``: each line's index in ``quantities``, its distinct quantity texts (each fold
    reads a text with its own function, once). :meth:`span` is one purchase's lines for the aggregates' entries.
    """

    __slots__ = ("amount", "category", "product", "quantities", "quantity", "transaction")

    def __init__(self, transaction: Any, records: np.ndarray, quantity: Any, quantities: list[str]) -> None:
        self.transaction = transaction
        self.product = records["sku"].astype(np.int64) + 1
        self.category = records["category"].astype(np.int64) + 1
        self.amount = records["amount"].astype(np.int64)
        self.quantity, self.quantities = quantity, quantities

    def __len__(self) -> int:
        return len(self.transaction)

    def shifted(self, base: int) -> LineArrays:
        """The same lines with ``base`` added to their transaction ids (a flush prepared ahead, numbered from 0)."""
        out = object.__new__(LineArrays)
        for name in self.__slots__:
            setattr(out, name, getattr(self, name))
        out.transaction = self.transaction + base
        return out

    def milli(self, parse: Any) -> np.ndarray:
        """Each line's quantity in thousandths, ``parse`` (a fold's own) applied once per distinct text."""
        return np.array([parse(q) for q in self.quantities] or [0], np.int64)[self.quantity]

    def tuples(self) -> list[tuple[int, int | None, str, int]]:
        """The lines as the rollups' fold reads tuples: (transaction id, category id or None, quantity, amount)."""
        texts = self.quantities
        return [
            (t, c or None, texts[q], a)
            for t, c, q, a in zip(
                self.transaction.tolist(),
                self.category.tolist(),
                self.quantity.tolist(),
                self.amount.tolist(),
                strict=True,
            )
        ]

    def span(self, start: int, stop: int) -> LineSpan:
        return LineSpan(self, start, stop)


class RowSpan(Sequence[T]):
    """Rows ``[start, stop)`` of some columns, read as a sequence of one item per row (``_row`` makes it): a
    purchase's lines kept by columns that still read as the list they stand for."""

    __slots__ = ("start", "stop")

    def __init__(self, start: int, stop: int) -> None:
        self.start, self.stop = start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._row(self.start + i)

    def _row(self, row: int) -> T:
        raise NotImplementedError


class LineSpan(RowSpan[tuple[Any, ...]]):
    """One purchase's lines ``[start, stop)`` of a :class:`LineArrays`, as the aggregates' entries carry them: it
    reads as the list of (product id or None, category id or None, quantity text) it stands for, and the
    aggregates' fold takes a flush's spans by columns."""

    __slots__ = ("lines",)

    def __init__(self, lines: LineArrays, start: int, stop: int) -> None:
        # (RowSpan's fields set here: a flush makes one per customer's purchase, super() costs as much again)
        self.start, self.stop, self.lines = start, stop, lines

    def _row(self, row: int) -> tuple[Any, ...]:
        lines = self.lines
        product, category = int(lines.product[row]), int(lines.category[row])
        return (product or None, category or None, lines.quantities[int(lines.quantity[row])])
