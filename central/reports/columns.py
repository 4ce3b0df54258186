"""The columnar pass for the figures that need customers, not sums: distinct customers, new customers, cohorts.

One numpy column per field of every identified purchase and refund: the customer's key (``customer_keys``),
the local day (ordinal), the store (an index into ``stores``), purchase or not, and the amount (negative for a
refund). The columns are filled from the ``transactions`` table by id, so a refresh only appends the rows
written since (a merge of customers rewrites history: then they are read again). No I/O here: the service hands
the rows in (central/services/analytics.py).

Derived once per refresh: each customer's first purchase (day and store), and the distinct (customer, month)
pairs of purchases -- the per-month sets of active customers the cohorts are counted from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .definitions import month_index

_NO_DAY = np.iinfo(np.int32).max
#: month indexes (year * 12 + month - 1) are below this: a (customer, month) pair's code is key * _SPAN + month
_SPAN = 1 << 16


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (a sort and a comparison: faster here than numpy's hashing ``unique``)."""
    if values.size == 0:
        return values
    ordered = np.sort(values)
    keep = np.empty(ordered.size, bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def counts(values: np.ndarray) -> dict[int, int]:
    """value -> how many times (values small non-negative integers or not)."""
    found = distinct(values)
    if found.size == 0:
        return {}
    at = np.searchsorted(found, values)
    return dict(zip(found.tolist(), np.bincount(at, minlength=found.size).tolist(), strict=True))


#: booleans a distinct count per group may use at once (else it sorts)
SCATTER_LIMIT = 1 << 25


def distinct_per(groups: np.ndarray, keys: np.ndarray, key_space: int) -> dict[int, int]:
    """group -> distinct keys among the rows (groups and keys non-negative integers): one boolean scatter over
    (group span x key space) when that is small enough, a sort otherwise."""
    if groups.size == 0:
        return {}
    low = int(groups.min())
    span = int(groups.max()) - low + 1
    if span * key_space <= SCATTER_LIMIT:
        seen = np.zeros(span * key_space, bool)
        seen[(groups - low).astype(np.int64) * key_space + keys] = True
        per = np.count_nonzero(seen.reshape(span, key_space), axis=1)
        return {int(g) + low: int(per[g]) for g in np.flatnonzero(per).tolist()}
    return counts(distinct(groups.astype(np.int64) * (1 << 32) + keys) >> 32)


class Columns:
    def __init__(self) -> None:
        self.mark: tuple[int, int] = (0, -1)  # (last transaction id read, merges seen)
        self.stores: list[str] = []
        self._store_index: dict[str, int] = {}
        self.key = np.zeros(0, np.int32)
        self.day = np.zeros(0, np.int32)
        self.store = np.zeros(0, np.int16)
        self.purchase = np.zeros(0, bool)
        self.amount = np.zeros(0, np.int64)
        self._derived = False
        self._derived_upto: int | None = None

    def __len__(self) -> int:
        return int(self.key.size)

    def store_ids(self, stores: Iterable[str]) -> np.ndarray:
        return np.array([self._store_index[s] for s in stores if s in self._store_index], np.int16)

    def append(self, rows: Sequence[tuple[Any, ...]], day_of: Callable[[str | None, int], int]) -> None:
        """Add (key, store, at_epoch, purchase?, amount) rows (in transaction id order).

        With a ``day_of`` that knows its zones (central/storage/rollups.py ``DayOf``) the local days are computed
        per zone on whole arrays; any other function is called per row."""
        if not rows:
            return
        index = self._store_index
        keys, stores, epochs, purchases, amounts = zip(*rows, strict=True)
        met = set(stores)
        for place in sorted({s or "" for s in met}):
            if place not in index:
                index[place] = len(self.stores)
                self.stores.append(place)
        code = {s: index[s or ""] for s in met}
        places = np.fromiter(map(code.__getitem__, stores), np.int16, len(stores))
        zone_of, zone_days = getattr(day_of, "zone", None), getattr(day_of, "zone_days", None)
        if zone_of is not None and zone_days is not None:
            moments = np.array(epochs, np.int64)
            zones: dict[Any, int] = {}
            zone_at = np.array([zones.setdefault(zone_of(p or None), len(zones)) for p in self.stores], np.int16)
            days = np.empty(moments.size, np.int64)
            row_zone = zone_at[places]
            for zone, z in zones.items():
                at = row_zone == z if len(zones) > 1 else slice(None)
                days[at] = zone_days(zone, moments[at])
        elif (vectorised := getattr(day_of, "days", None)) is not None:
            days = vectorised(stores, epochs)
        else:
            days = [day_of(s, e) for s, e in zip(stores, epochs, strict=True)]
        self.key = np.concatenate([self.key, np.array(keys, np.int32)])
        self.day = np.concatenate([self.day, np.asarray(days, np.int32)])
        self.store = np.concatenate([self.store, places])
        self.purchase = np.concatenate([self.purchase, np.array(purchases, bool)])
        self.amount = np.concatenate([self.amount, np.array(amounts, np.int64)])
        self._derived = False  # the derived columns catch up on the next use (only the new rows)

    # -- derived columns ----------------------------------------------------------------------------------

    def _derive(self) -> None:
        """Bring the derived columns up to the rows appended since (only those rows are read again)."""
        done = self._derived_upto if self._derived_upto is not None else 0
        total = int(self.key.size)
        if self._derived and done == total:
            return
        size = int(self.key.max()) + 1 if total else 1
        if done == 0:
            self.first_day = np.full(size, _NO_DAY, np.int32)
            self.first_store = np.full(size, -1, np.int16)
            self.first_month = np.full(size, -1, np.int32)
            self.month = np.zeros(0, np.int32)
            self.pair_code = np.zeros(0, np.int64)
        elif self.first_day.size < size:  # new customers since
            grow = size - self.first_day.size
            self.first_day = np.concatenate([self.first_day, np.full(grow, _NO_DAY, np.int32)])
            self.first_store = np.concatenate([self.first_store, np.full(grow, -1, np.int16)])
            self.first_month = np.concatenate([self.first_month, np.full(grow, -1, np.int32)])
        day = self.day[done:]
        if day.size:
            low, high = int(day.min()), int(day.max())
            table = np.array([month_index(dt.date.fromordinal(d)) for d in range(low, high + 1)], np.int32)
            self.month = np.concatenate([self.month, table[day - low]])
        bought = np.flatnonzero(self.purchase[done:]) + done
        if bought.size:
            # each customer's earliest new purchase (ties: the first written), kept if earlier than the known one
            order = bought[np.lexsort((self.day[bought], self.key[bought]))]
            keys = self.key[order]
            head = np.ones(keys.size, bool)
            head[1:] = keys[1:] != keys[:-1]
            keys, rows = keys[head], order[head]
            earlier = self.day[rows] < self.first_day[keys]
            keys, rows = keys[earlier], rows[earlier]
            self.first_day[keys] = self.day[rows]
            self.first_store[keys] = self.store[rows]
            self.first_month[keys] = self.month[rows]
            # the per-month sets of active customers: sorted (key, month) codes, the new ones inserted
            codes = distinct(self.key[bought].astype(np.int64) * _SPAN + self.month[bought])
            if self.pair_code.size:
                at = np.searchsorted(self.pair_code, codes)
                known = (at < self.pair_code.size) & (self.pair_code[np.minimum(at, self.pair_code.size - 1)] == codes)
                self.pair_code = np.insert(self.pair_code, at[~known], codes[~known])
            else:
                self.pair_code = codes
        self.pair_key = (self.pair_code // _SPAN).astype(np.int32)
        self.pair_month = (self.pair_code % _SPAN).astype(np.int32)
        self._derived_upto = total
        self._derived = True

    # -- figures --------------------------------------------------------------------------------------------

    def _mask(self, first: int, last: int, stores: np.ndarray | None, purchases: bool = True) -> np.ndarray:
        mask = (self.day >= first) & (self.day <= last)
        if purchases:
            mask &= self.purchase
        if stores is not None:
            mask &= np.isin(self.store, stores)
        return mask

    def customers(
        self,
        first: int,
        last: int,
        stores: np.ndarray | None,
        grain_of: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> int | dict[int, int]:
        """Distinct identified customers with a purchase in [first, last] at the stores; per bucket with
        ``grain_of`` (days -> bucket starts)."""
        mask = self._mask(first, last, stores)
        keys = self.key[mask]
        if grain_of is None:
            seen = np.zeros(int(self.key.max()) + 1 if self.key.size else 1, bool)
            seen[keys] = True
            return int(np.count_nonzero(seen))
        starts = grain_of(self.day[mask])
        return distinct_per(starts, keys, int(self.key.max()) + 1 if self.key.size else 1)

    def new_customers(
        self,
        first: int,
        last: int,
        stores: np.ndarray | None,
        grain_of: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> int | dict[int, int]:
        """Customers whose first purchase (in the whole chain) is in [first, last], at one of the stores."""
        self._derive()
        mask = (self.first_day >= first) & (self.first_day <= last)
        if stores is not None:
            mask &= np.isin(self.first_store, stores)
        if grain_of is None:
            return int(mask.sum())
        return counts(grain_of(self.first_day[mask]))

    def cohorts(
        self, first_month: int, last_month: int, stores: np.ndarray | None = None, keys: np.ndarray | None = None
    ) -> dict[str, Any]:
        """Customers by month of first purchase in [first_month, last_month] (month indexes); for each cohort its
        size, and per later month up to ``last_month`` the customers with a purchase and the cohort's sales.

        With ``stores`` only those stores' receipts count (the first purchase too: a store's own cohorts); with
        ``keys`` only those customers (a segment)."""
        self._derive()
        width = last_month - first_month + 1
        if stores is None:
            cohort_of = self.first_month
            pair_key, pair_month = self.pair_key, self.pair_month
            rows = np.ones(self.key.size, bool)
        else:
            rows = np.isin(self.store, stores)
            cohort_of = self._first_months(rows)
            bought = rows & self.purchase
            codes = distinct(self.key[bought].astype(np.int64) * _SPAN + self.month[bought])
            pair_key, pair_month = (codes // _SPAN).astype(np.int32), (codes % _SPAN).astype(np.int32)
        member = np.ones(cohort_of.size, bool)
        if keys is not None:
            member[:] = False
            member[keys[keys < cohort_of.size]] = True
        in_range = (cohort_of >= first_month) & (cohort_of <= last_month) & member
        sizes = np.bincount(cohort_of[in_range] - first_month, minlength=width)[:width]
        take = in_range[pair_key] & (pair_month <= last_month)
        cohort = cohort_of[pair_key[take]] - first_month
        offset = pair_month[take] - first_month
        active = np.bincount(cohort * width + offset, minlength=width * width).reshape(width, width)
        rows &= (self.month <= last_month) & (self.month >= first_month) & in_range[self.key]
        sales = np.bincount(
            (cohort_of[self.key[rows]] - first_month) * width + (self.month[rows] - first_month),
            weights=self.amount[rows],
            minlength=width * width,
        ).reshape(width, width)
        return {"sizes": sizes.tolist(), "active": active.tolist(), "sales": np.rint(sales).astype(np.int64).tolist()}

    def _first_months(self, rows: np.ndarray) -> np.ndarray:
        size = self.first_month.size
        out = np.full(size, -1, np.int32)
        bought = np.flatnonzero(rows & self.purchase)
        if bought.size:
            first = np.full(size, np.iinfo(np.int32).max, np.int32)
            np.minimum.at(first, self.key[bought], self.month[bought])
            has = first != np.iinfo(np.int32).max
            out[has] = first[has]
        return out

    def per_key(self, first: int, last: int, stores: np.ndarray | None) -> tuple[np.ndarray, ...]:
        """Rows in [first, last] at the stores: (key, day, purchase?, amount) for the pivot's customer dimensions."""
        mask = self._mask(first, last, stores, purchases=False)
        return self.key[mask], self.day[mask], self.purchase[mask], self.amount[mask]
