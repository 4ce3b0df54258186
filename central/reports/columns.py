"""The columnar pass for the figures that need receipts one by one: distinct customers and receipts, new customers,
cohorts, and any figure split by a dimension the rollups do not keep together.

One numpy column per field of every purchase, refund and cancel, anonymous ones too: the customer's key
(``customer_keys``; 0 and ``known`` false for an anonymous receipt), the local day (ordinal), the local hour, the
store (an index into ``stores``), the customer's level at the receipt (an index into ``levels``), purchase or not,
and the amount (negative for a refund). Beside them, the receipts' **categories**: one entry per (receipt,
category) pair -- the row, the category, the amount of the receipt's lines in it and whether the receipt has a
line in it. A purchase's total beyond its lines and every refund or cancel go to category 0 ("not by category"),
as in the rollups (central/storage/rollups.py), so the categories' amounts add up to the receipts'.

The columns are filled from the ``transactions`` table by id, so a refresh only appends the rows written since (a
merge of customers rewrites history: then they are read again). No I/O here: the service hands the rows in
(central/services/analytics.py).

Derived once per refresh: each customer's first purchase (row, day, store), and the distinct (customer, month)
pairs of purchases -- the per-month sets of active customers the cohorts are counted from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import Any

import numpy as np

from .definitions import BY_HAND, month_index

_NO_DAY = np.iinfo(np.int32).max
#: month indexes (year * 12 + month - 1) are below this: a (customer, month) pair's code is key * _SPAN + month
_SPAN = 1 << 16


#: booleans (counters) a distinct count (a count) per group may use at once (else it sorts)
SCATTER_LIMIT = 1 << 25


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (a sort and a comparison: faster here than numpy's hashing ``unique``)."""
    if values.size == 0:
        return values
    ordered = np.sort(values)
    keep = np.empty(ordered.size, bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def counts(values: np.ndarray, space: int | None = None) -> dict[int, int]:
    """value -> how many times; with ``space`` (the values are non-negative and below it) a bincount when that is
    small enough, else a sort."""
    if space is not None and space <= SCATTER_LIMIT:
        per = np.bincount(values, minlength=space)
        found = np.flatnonzero(per)
        return dict(zip(found.tolist(), per[found].tolist(), strict=True))
    found = distinct(values)
    if found.size == 0:
        return {}
    at = np.searchsorted(found, values)
    return dict(zip(found.tolist(), np.bincount(at, minlength=found.size).tolist(), strict=True))


def distinct_per(groups: np.ndarray, keys: np.ndarray, key_space: int) -> dict[int, int]:
    """group -> distinct keys among the rows (groups and keys non-negative integers): one boolean scatter over
    (groups x keys) when that is small enough (the keys renumbered densely first if that makes it so), else a sort
    of one code per row -- 32-bit when it fits (twice as fast as 64-bit)."""
    if groups.size == 0:
        return {}
    low = int(groups.min())
    span = int(groups.max()) - low + 1
    rel = groups - low if low else groups
    if span * key_space > SCATTER_LIMIT:  # only the keys present
        present = np.zeros(key_space, bool)
        present[keys] = True
        number = np.cumsum(present, dtype=np.int32) - 1
        keys, key_space = number[keys], int(number[-1]) + 1
    if span * key_space <= SCATTER_LIMIT:
        seen = np.zeros(span * key_space, bool)
        seen[rel.astype(np.int64) * key_space + keys] = True
        per = np.count_nonzero(seen.reshape(span, key_space), axis=1)
        return {int(g) + low: int(per[g]) for g in np.flatnonzero(per).tolist()}
    if span * key_space < 1 << 32:
        code = rel.astype(np.uint32) * np.uint32(key_space) + keys.astype(np.uint32)
        found = counts((distinct(code) // np.uint32(key_space)).astype(np.int64), span)
    else:
        found = counts(distinct(rel.astype(np.int64) * (1 << 32) + keys) >> 32)
    return {g + low: n for g, n in found.items()}


def compact(values: np.ndarray) -> np.ndarray:
    """32-bit integers when every value fits (points per receipt do), else 64-bit: concatenating a 64-bit piece
    makes the whole column 64-bit, so no value is ever cut."""
    if values.size == 0 or (int(values.min()) >= -(1 << 31) and int(values.max()) < 1 << 31):
        return values.astype(np.int32)
    return values.astype(np.int64)


def local_hours(stores: Sequence[str | None], epochs: Sequence[int], day_of: Any) -> list[int]:
    """The local hours of epoch seconds in the zone of their day (``day_of.zone(store)``, the chain's for no store;
    UTC when ``day_of`` knows no zones): a zone's offset is looked up once per quarter hour."""
    zone_of = getattr(day_of, "zone", None)
    offsets: dict[tuple[Any, int], int] = {}
    out = []
    for store, epoch in zip(stores, epochs, strict=True):
        zone = zone_of(store or None) if zone_of is not None else dt.UTC
        slot = (zone, epoch // 900)
        offset = offsets.get(slot)
        if offset is None:
            moment = dt.datetime.fromtimestamp(slot[1] * 900, zone)
            offset = offsets[slot] = int(moment.utcoffset().total_seconds())  # type: ignore[union-attr]
        out.append((epoch + offset) // 3600 % 24)
    return out


class Columns:
    def __init__(self) -> None:
        self.mark: tuple[int, int] = (0, -1)  # (last transaction id read, merges seen)
        self.stores: list[str] = []
        self._store_index: dict[str, int] = {}
        self.levels: list[str] = []
        self._level_index: dict[str, int] = {}
        self.key = np.zeros(0, np.int32)
        self.known = np.zeros(0, bool)
        self.day = np.zeros(0, np.int32)
        self.hour = np.zeros(0, np.int8)
        self.store = np.zeros(0, np.int16)
        self.level = np.zeros(0, np.int16)
        self.purchase = np.zeros(0, bool)
        self.amount = np.zeros(0, np.int64)
        # the receipt's points (signed, as the ledger keeps them); 32-bit while every value fits (see compact)
        self.accrued = np.zeros(0, np.int32)
        self.redeemed = np.zeros(0, np.int32)
        # the receipts' categories: (row, category) pairs sorted by row
        self.cat_row = np.zeros(0, np.int32)
        self.cat_id = np.zeros(0, np.int32)
        self._cat_first: np.ndarray | None = None  # row -> its first pair (rows + 1 entries), made on first use
        self.cat_amount = np.zeros(0, np.int64)
        self.cat_line = np.zeros(0, bool)
        self.cat_accrued = np.zeros(0, np.int32)  # the lines' points in the category (the rest: category 0)
        self.cat_redeemed = np.zeros(0, np.int32)
        self._derived = False
        self._derived_upto: int | None = None
        # the points operations that are not receipts (``entries``: a Columns of their own, sharing the stores' and
        # levels' codes): expired and by-hand points per row there
        self._entries: Columns | None = None
        self.expired = np.zeros(0, np.int64)
        self.by_hand = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return int(self.key.size)

    @property
    def entries(self) -> Columns:
        """The points operations that are not receipts: expiries, points by hand, imports (no purchase, no amount,
        no category but 0), in the same codes of stores and levels as the receipts."""
        if self._entries is None:
            entries = self._entries = Columns()
            entries.stores, entries._store_index = self.stores, self._store_index
            entries.levels, entries._level_index = self.levels, self._level_index
        return self._entries

    def append_entries(self, rows: Sequence[tuple[Any, ...]], day_of: Callable[[str | None, int], int]) -> None:
        """Add points operations that are not receipts, in id order: (key or None, store, at_epoch, kind, level, id,
        accrued, redeemed). Their day and hour are local in their store's zone (the chain's for head office's);
        an expiry's points count as expired (its accrued, negated), a till's or head office's by hand (its accrued,
        signed); others (imports) only place the operation."""
        rows = [r for r in rows if r[6] or r[7]]
        if not rows:
            return
        hours = local_hours([r[1] for r in rows], [r[2] for r in rows], day_of)
        entries = self.entries
        entries.append([(r[0], r[1], r[2], False, 0, h, r[4], r[5]) for r, h in zip(rows, hours, strict=True)], day_of)
        expired = np.array([-r[6] if r[3] == "expire" else 0 for r in rows], np.int64)
        by_hand = np.array([r[6] if r[3] in BY_HAND else 0 for r in rows], np.int64)
        entries.expired = np.concatenate([entries.expired, expired])
        entries.by_hand = np.concatenate([entries.by_hand, by_hand])

    @property
    def identified(self) -> int:
        """Identified receipts held."""
        return int(np.count_nonzero(self.known))

    def store_ids(self, stores: Iterable[str]) -> np.ndarray:
        return np.array([self._store_index[s] for s in stores if s in self._store_index], np.int16)

    @staticmethod
    def _codes(values: Sequence[Any], index: dict[str, int], names: list[str]) -> np.ndarray:
        met = set(values)
        for place in sorted({s or "" for s in met}):
            if place not in index:
                index[place] = len(names)
                names.append(place)
        code = {s: index[s or ""] for s in met}
        return np.fromiter(map(code.__getitem__, values), np.int16, len(values))

    def append(
        self,
        rows: Sequence[tuple[Any, ...]],
        day_of: Callable[[str | None, int], int],
        lines: Sequence[tuple[int, ...]] = (),
    ) -> None:
        """Add receipts (in transaction id order): (key or None, store, at_epoch, purchase?, amount, hour, level,
        transaction id[, points accrued, points redeemed]) rows, and ``lines``: (transaction id, category or 0,
        amount[, points accrued, points redeemed]) of their lines.
        Rows of five fields (key, store, at_epoch, purchase?, amount) are identified receipts without hour, level or
        lines.

        With a ``day_of`` that knows its zones (central/storage/rollups.py ``DayOf``) the local days are computed
        per zone on whole arrays; any other function is called per row."""
        if not rows:
            return
        offset = int(self.key.size)
        full = len(rows[0]) > 5
        points: tuple[Any, ...] = ((0,) * len(rows), (0,) * len(rows))
        if len(rows[0]) > 8:
            keys, stores, epochs, purchases, amounts, hours, levels, ids, *pts = zip(*rows, strict=True)
            points = tuple(pts)
        elif full:
            keys, stores, epochs, purchases, amounts, hours, levels, ids = zip(*rows, strict=True)
        else:
            keys, stores, epochs, purchases, amounts = zip(*rows, strict=True)
            hours, levels, ids = (0,) * len(rows), ("",) * len(rows), ()
        places = self._codes(stores, self._store_index, self.stores)
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
        known = np.fromiter((k is not None for k in keys), bool, len(keys))
        key = np.fromiter((k or 0 for k in keys), np.int32, len(keys))
        amount = np.array(amounts, np.int64)
        purchase = np.array(purchases, bool)
        self.key = np.concatenate([self.key, key])
        self.known = np.concatenate([self.known, known])
        self.day = np.concatenate([self.day, np.asarray(days, np.int32)])
        self.hour = np.concatenate([self.hour, np.fromiter((h or 0 for h in hours), np.int8, len(hours))])
        self.store = np.concatenate([self.store, places])
        self.level = np.concatenate([self.level, self._codes(levels, self._level_index, self.levels)])
        self.purchase = np.concatenate([self.purchase, purchase])
        self.amount = np.concatenate([self.amount, amount])
        accrued, redeemed = np.array(points[0], np.int64), np.array(points[1], np.int64)
        self.accrued = np.concatenate([self.accrued, compact(accrued)])
        self.redeemed = np.concatenate([self.redeemed, compact(redeemed)])
        if full:
            self._append_categories(offset, np.array(ids, np.int64), purchase, amount, lines, accrued, redeemed)
        self._derived = False  # the derived columns catch up on the next use (only the new rows)

    def _append_categories(
        self,
        offset: int,
        ids: np.ndarray,
        purchase: np.ndarray,
        amount: np.ndarray,
        lines: Sequence[tuple[int, ...]],
        accrued: np.ndarray,
        redeemed: np.ndarray,
    ) -> None:
        """The (row, category) pairs of new rows: each purchase's categories with its lines' amounts and points
        there, and category 0 for the rest of its total and points (or a refund's, a cancel's)."""
        width = len(lines[0]) if lines else 5
        got = np.fromiter(chain.from_iterable(lines), np.int64, width * len(lines)).reshape(-1, width)
        if width < 5:  # lines without points
            got = np.concatenate([got, np.zeros((got.shape[0], 5 - width), np.int64)], axis=1)
        at = np.searchsorted(ids, got[:, 0])
        ok = at < ids.size
        ok[ok] &= ids[at[ok]] == got[ok, 0]
        ok[ok] &= purchase[at[ok]]  # only purchases' lines (as the rollups)
        rows, cats, sums, acc, red = at[ok], got[ok, 1], got[ok, 2], got[ok, 3], got[ok, 4]

        def rest_of(total: np.ndarray, parts: np.ndarray) -> np.ndarray:
            return total - np.bincount(rows, weights=parts, minlength=ids.size).astype(np.int64)

        rest, rest_acc, rest_red = rest_of(amount, sums), rest_of(accrued, acc), rest_of(redeemed, red)
        left = np.flatnonzero((rest != 0) | (rest_acc != 0) | (rest_red != 0))
        rows = np.concatenate([rows, left])
        cats = np.concatenate([cats, np.zeros(left.size, np.int64)])
        sums = np.concatenate([sums, rest[left]])
        acc = np.concatenate([acc, rest_acc[left]])
        red = np.concatenate([red, rest_red[left]])
        line = np.concatenate([np.ones(int(ok.sum()), bool), np.zeros(left.size, bool)])
        code = rows * (1 << 31) + cats
        order = np.argsort(code, kind="stable")
        code, sums, line, acc, red = code[order], sums[order], line[order], acc[order], red[order]
        head = np.ones(code.size, bool)
        head[1:] = code[1:] != code[:-1]
        group = np.cumsum(head) - 1

        def merge(values: np.ndarray) -> np.ndarray:
            return np.bincount(group, weights=values).astype(np.int64) if code.size else np.zeros(0, np.int64)

        merged, has_line = merge(sums), merge(line).astype(bool)
        self.cat_accrued = np.concatenate([self.cat_accrued, compact(merge(acc))])
        self.cat_redeemed = np.concatenate([self.cat_redeemed, compact(merge(red))])
        code = code[head]
        self.cat_row = np.concatenate([self.cat_row, (code // (1 << 31) + offset).astype(np.int32)])
        self.cat_id = np.concatenate([self.cat_id, (code % (1 << 31)).astype(np.int32)])
        self._cat_first = None
        self.cat_amount = np.concatenate([self.cat_amount, merged])
        self.cat_line = np.concatenate([self.cat_line, has_line])

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
            self.first_row = np.full(size, -1, np.int64)
            self.month = np.zeros(0, np.int32)
            self.pair_code = np.zeros(0, np.int64)
        elif self.first_day.size < size:  # new customers since
            grow = size - self.first_day.size
            self.first_day = np.concatenate([self.first_day, np.full(grow, _NO_DAY, np.int32)])
            self.first_store = np.concatenate([self.first_store, np.full(grow, -1, np.int16)])
            self.first_month = np.concatenate([self.first_month, np.full(grow, -1, np.int32)])
            self.first_row = np.concatenate([self.first_row, np.full(grow, -1, np.int64)])
        day = self.day[done:]
        if day.size:
            low, high = int(day.min()), int(day.max())
            table = np.array([month_index(dt.date.fromordinal(d)) for d in range(low, high + 1)], np.int32)
            self.month = np.concatenate([self.month, table[day - low]])
        bought = np.flatnonzero(self.purchase[done:] & self.known[done:]) + done
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
            self.first_row[keys] = rows
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
        """Rows in [first, last] at the stores; with ``purchases`` only identified purchases."""
        mask = (self.day >= first) & (self.day <= last)
        if purchases:
            mask &= self.purchase & self.known
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
            rows = self.known.copy()
        else:
            rows = np.isin(self.store, stores) & self.known
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

    def selected(self, first: int, last: int, stores: np.ndarray | None, identified: bool = False) -> np.ndarray:
        """Indexes of the rows in [first, last] at the stores (only identified receipts with ``identified``)."""
        mask = self._mask(first, last, stores, purchases=False)
        if identified:
            mask &= self.known
        return np.flatnonzero(mask)

    def categories_of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(first pair, number of pairs) of each row in ``rows``: its entries in the ``cat_*`` columns."""
        if self._cat_first is None or self._cat_first.size != self.key.size + 1:
            self._cat_first = np.searchsorted(self.cat_row, np.arange(self.key.size + 1, dtype=np.int32))
        start = self._cat_first[rows]
        return start, self._cat_first[rows + 1] - start
