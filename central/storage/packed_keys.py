"""Several integer key columns as one int64 key that sorts as they do (the import's folds, no I/O).

The receipt import's folds (central/storage/aggregates.py's items, central/storage/rollups.py's categories of the
lines) group hundreds of thousands of rows a batch by a primary key of four or five integer columns and write the
groups in that key's order. ``numpy.lexsort`` of five keys is five stable sorts; the columns packed into one
mixed-radix number (each column's value less its least, times the product of the ranges of the columns after it)
sort in the same order by one ``argsort``, compare as one column, and give the key columns back by division --
when the product of the ranges fits in 63 bits (a batch's keys always do: a few thousand customers, tens of
thousands of items, a few weeks of days, a few hundred stores); :func:`pack` says None otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: the packed key's limit: every value below it (int64, never negative)
_LIMIT = 1 << 63


@dataclass(frozen=True)
class Radix:
    """How :func:`pack` packed its columns: each column's least value and its range (largest - least + 1)."""

    lows: tuple[int, ...]
    sizes: tuple[int, ...]

    def unpack(self, packed: np.ndarray) -> list[np.ndarray]:
        """The key columns of packed keys (int64), in the order :func:`pack` took them."""
        out: list[np.ndarray] = []
        rest = packed
        for low, size in zip(reversed(self.lows), reversed(self.sizes), strict=True):
            rest, value = np.divmod(rest, size)
            out.append(value + low)
        return out[::-1]


def pack(columns: Sequence[np.ndarray]) -> tuple[np.ndarray, Radix] | None:
    """The columns (int64, of one length, at least one row) as one int64 key per row, ordered as the rows are
    ordered by the columns (the first the most significant); None when their ranges do not fit 63 bits."""
    lows = tuple(int(c.min()) for c in columns)
    sizes = tuple(int(c.max()) - low + 1 for c, low in zip(columns, lows, strict=True))
    span = 1
    for size in sizes:
        span *= size
    if span >= _LIMIT:
        return None
    packed = np.zeros(len(columns[0]), np.int64)
    for column, low, size in zip(columns, lows, sizes, strict=True):
        packed *= size
        packed += column
        if low:
            packed -= low
    return packed, Radix(lows, sizes)


def groups(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the order that sorts ``packed``, the start of each run of equal keys in that order)."""
    order = np.argsort(packed)
    ordered = packed[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return order, starts
