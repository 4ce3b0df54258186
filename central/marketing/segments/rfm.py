"""RFM scores and classes (marketing.md, RFM), pure: numpy over columns of all scored customers.

Rank from worst to best (R: most days since the last purchase first; F and M:
smallest first); tied values get the lowest rank of their group (rank 1 =
worst); score = 1 + floor(5 * (rank - 1) / n). The class comes from R and F.
"""

from __future__ import annotations

import numpy as np

#: CLASSES[r - 1][f - 1]
CLASSES = (
    ("hibernating", "hibernating", "at risk", "at risk", "can't lose"),
    ("hibernating", "hibernating", "at risk", "at risk", "can't lose"),
    ("about to sleep", "about to sleep", "needs attention", "loyal", "loyal"),
    ("promising", "potential loyalist", "potential loyalist", "loyal", "loyal"),
    ("new", "potential loyalist", "potential loyalist", "champion", "champion"),
)
DEFAULT_WINDOW = 365


def rfm_class(r: int, f: int) -> str:
    return CLASSES[r - 1][f - 1]


def scores(values: np.ndarray, *, higher_is_better: bool = True) -> np.ndarray:
    """Scores 1..5 of ``values`` (int64), ties at the lowest rank of their group."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int8)
    keyed = values if higher_is_better else -values
    low = int(keyed.min())
    span = int(keyed.max()) - low
    if span <= 4 * n + 1024:
        # few distinct values for their number (days since, purchases): the count of values strictly worse from
        # a histogram's running sum, no sort
        counts = np.bincount(keyed - low, minlength=span + 1)
        worse = np.cumsum(counts) - counts
        return (1 + (5 * worse[keyed - low]) // n).astype(np.int8)
    order = np.argsort(keyed, kind="stable")
    ordered = keyed[order]
    # rank (1-based) of the first of each tie group: the count of values strictly worse, plus one (one sort and
    # linear passes: a binary search per value in random order is many times slower at a million customers)
    starts = np.zeros(n, dtype=np.int64)
    change = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    starts[change] = change
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.maximum.accumulate(starts) + 1
    return (1 + (5 * (rank - 1)) // n).astype(np.int8)


def rfm_scores(days_since: np.ndarray, purchases: np.ndarray, spend: np.ndarray) -> tuple[np.ndarray, ...]:
    """(R, F, M) score arrays for customers given as columns (one row each, all with a purchase)."""
    r = scores(np.asarray(days_since, dtype=np.int64), higher_is_better=False)
    f = scores(np.asarray(purchases, dtype=np.int64))
    m = scores(np.asarray(spend, dtype=np.int64))
    return r, f, m


def class_codes(r: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Index into :data:`CLASS_NAMES` of each (r, f)."""
    return _CODE[r.astype(np.int64) - 1, f.astype(np.int64) - 1]


CLASS_NAMES = tuple(dict.fromkeys(name for row in CLASSES for name in row))
_CODE = np.array([[CLASS_NAMES.index(name) for name in row] for row in CLASSES], dtype=np.int8)
