"""The set-based evaluator over the column snapshot (central/storage/segment_columns.py; docs/segments.md).

:class:`ColumnEvaluator` answers each criterion as a boolean array over customer keys with numpy (sums per
key by ``bincount`` over a period's rows, an item's rows in a period as one slice of the sorted item rows,
the profile's traits as arrays); audiences are ORs, the segment the AND of its audiences minus the
excluded one. The criteria it has no column for (questionnaire field, registration, card, points, RFM,
promotions...) are the SQL queries of :class:`~central.marketing.set_evaluator.SetEvaluator`, turned into arrays: one
definition, the same answers (tests/marketing/test_segment_property.py runs all three evaluators).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..storage import segment_columns
from ..storage import segment_engine as queries
from ..storage.segment_columns import GENDERS, Snapshot
from ..storage.segment_engine import database_path
from .segments.definition import Criterion, Definition, time_relative
from .segments.evaluate import CATEGORY, PRODUCT, Facts, _birthday_window, criterion_flip, window_source
from .set_evaluator import SetEvaluator

Keys = set[int]
GENDER_CODE = {**GENDERS, "unknown": 2}
#: the criteria answered from the columns; the others are the SQL evaluator's
COLUMNS = frozenset(
    {
        "age",
        "birthday",
        "gender",
        "consent",
        "home_store",
        "kind",
        "level",
        "tag",
        "balance",
        "first_purchase",
        "last_purchase",
        "purchases",
        "spend",
        "average_check",
        "average_items",
        "bought_category",
        "bought_products",
        "product_name",
        "in_segment",
    }
)


def _mmdd_table(today: int, before: int, after: int) -> np.ndarray:
    """A boolean per month * 100 + day: does a birthday on that day fall in the window around ``today``."""
    table = np.zeros(1232, bool)
    for ordinal in range(dt.date(2000, 1, 1).toordinal(), dt.date(2001, 1, 1).toordinal()):
        day = dt.date.fromordinal(ordinal)
        if _birthday_window(day, today, before, after):
            table[day.month * 100 + day.day] = True
    return table


class ColumnEvaluator:
    """Evaluates definitions over every customer for one ``today`` (each distinct criterion once)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        today: int,
        snap: Snapshot | None = None,
        member_sets: Callable[[int], Keys] | None = None,
        *,
        writing: bool | None = None,
    ) -> None:
        """``writing``: ``conn`` is in a transaction that may have written (default: it is in a transaction at
        all); see :meth:`Snapshot.catch_up`."""
        self.fallback = SetEvaluator(conn, today, member_sets)
        self.today = today
        self.writing = conn.in_transaction if writing is None else writing
        self.snap = snap if snap is not None else current(conn, self.writing)
        self._cache: dict[Criterion, np.ndarray] = {}
        self._extremes: dict[tuple[Any, bool], np.ndarray] = {}
        self._version = self.snap.version

    @property
    def connection(self) -> sqlite3.Connection:
        return self.fallback.sets.connection

    @property
    def universe(self) -> np.ndarray:
        return self.snap.valid

    def refresh(self, conn: sqlite3.Connection, writing: bool = False) -> None:
        """Catch the snapshot up with the database (``conn``); drop the criteria's answers if anything changed."""
        self.fallback.sets.connection = conn
        snap = segment_columns.follow(self.snap, conn, _path(conn), writing)
        if snap is not self.snap or snap.version != self._version:
            self.snap, self._version = snap, snap.version
            self._cache.clear()
            self._extremes.clear()
            self.fallback._cache.clear()
            self.fallback._universe = None

    def forget(self, kinds: Iterable[str]) -> None:
        """Drop the answers of these criteria's kinds (their facts are not in the snapshot's change log)."""
        kinds = set(kinds)
        for cache in (self._cache, self.fallback._cache):
            for c in [c for c in cache if c.type in kinds]:
                del cache[c]

    # -- definitions ---------------------------------------------------------------------------------------

    def mask(self, definition: Definition) -> np.ndarray:
        result: np.ndarray | None = None
        for audience in sorted(definition.audiences, key=len):
            found = self.audience(audience)
            result = found.copy() if result is None else result & found
        if result is None:
            return np.zeros(self.snap.n, bool)
        if definition.exclude:
            result &= ~self.audience(definition.exclude)
        return result & self.universe

    def members(self, definition: Definition) -> Keys:
        return set(np.flatnonzero(self.mask(definition)).tolist())

    def count(self, definition: Definition) -> int:
        return int(self.mask(definition).sum())

    def count_and_first(self, definition: Definition, first: int) -> tuple[int, list[int]]:
        """How many members, and the ``first`` smallest keys among them."""
        found = self.mask(definition)
        return int(found.sum()), np.flatnonzero(found)[:first].tolist()

    def audience(self, criteria: Iterable[Criterion]) -> np.ndarray:
        found = np.zeros(self.snap.n, bool)
        for c in criteria:
            found |= self.criterion_mask(c)
        return found

    def criterion_mask(self, c: Criterion) -> np.ndarray:
        if c not in self._cache:
            if c.type in COLUMNS:
                found = getattr(self, "_" + c.type)(c)
            else:
                found = self._keys(self.fallback.criterion(c))
            self._cache[c] = found & self.universe
        return self._cache[c]

    def criterion(self, c: Criterion) -> Keys:
        return set(np.flatnonzero(self.criterion_mask(c)).tolist())

    def _keys(self, keys: Iterable[int]) -> np.ndarray:
        found = np.zeros(self.snap.n, bool)
        wanted = np.fromiter((k for k in keys if k < self.snap.n), np.int64)
        found[wanted] = True
        return found

    # -- profile -------------------------------------------------------------------------------------------

    def _age(self, c: Criterion) -> np.ndarray:
        today = dt.date.fromordinal(self.today)
        birth = self.snap.birth
        found = birth > 0
        if c.get("from") is not None:
            found &= birth <= _ordinal(self.fallback._born_by(c["from"], today))
        if c.get("to") is not None:
            found &= birth > _ordinal(self.fallback._born_by(c["to"] + 1, today))
        return found

    def _birthday(self, c: Criterion) -> np.ndarray:
        mmdd = self.snap.mmdd
        if c.get("months"):
            return (mmdd > 0) & np.isin(mmdd // 100, list(c["months"]))
        table = _mmdd_table(self.today, c.get("days_before") or 0, c.get("days_after") or 0)
        return table[mmdd] & (mmdd > 0)

    def _gender(self, c: Criterion) -> np.ndarray:
        return np.isin(self.snap.gender, [GENDER_CODE[v] for v in c["values"]])

    def _consent(self, c: Criterion) -> np.ndarray:
        found = np.zeros(self.snap.n, bool)
        for channel in c["channels"]:
            if channel in self.snap.consents:
                found |= self.snap.consents[channel]
        return found

    def _home_store(self, c: Criterion) -> np.ndarray:
        codes = [self.snap.homes[s] for s in c["stores"] if s in self.snap.homes]
        return np.isin(self.snap.home, codes)

    def _kind(self, c: Criterion) -> np.ndarray:
        found = np.zeros(self.snap.n, bool)
        if "registered" in c["values"]:
            found |= self.snap.carded
        if "potential" in c["values"]:
            found |= ~self.snap.carded
        return found

    def _level(self, c: Criterion) -> np.ndarray:
        codes = [self.snap.levels[v] for v in c["levels"] if v in self.snap.levels and v is not None]
        return np.isin(self.snap.level, codes)

    def _tag(self, c: Criterion) -> np.ndarray:
        flags = [self.snap.tags.get(t) for t in sorted(set(c["tags"]))]
        have = np.zeros(self.snap.n, np.int32)
        for f in flags:
            if f is not None:
                have += f
        if c["mode"] == "any":
            return have > 0
        if c["mode"] == "all":
            return have == len(c["tags"])
        return have == 0

    def _balance(self, c: Criterion) -> np.ndarray:
        return _in_range(self.snap.balance, c.get("from"), c.get("to"))

    # -- purchases -----------------------------------------------------------------------------------------

    def _day_extreme(self, stores: Iterable[str] | None, last: bool) -> np.ndarray:
        """Per key the first (or ``last``) day with a purchase (at ``stores``); 0 for none (kept per evaluation:
        every first/last purchase criterion and their flips read the same arrays)."""
        ident = (None if stores is None else tuple(sorted(stores)), last)
        if ident not in self._extremes:
            self._extremes[ident] = self._compute_extreme(stores, last)
        return self._extremes[ident]

    def _compute_extreme(self, stores: Iterable[str] | None, last: bool) -> np.ndarray:
        out = np.full(self.snap.n, 0 if last else np.iinfo(np.int32).max, np.int64)
        for rows in self.snap.day_rows(None, None, stores, ("key", "day", "purchases")):
            bought = rows["purchases"] > 0
            (np.maximum if last else np.minimum).at(out, rows["key"][bought], rows["day"][bought])
        if not last:
            out[out == np.iinfo(np.int32).max] = 0
        return out

    def _first_purchase(self, c: Criterion) -> np.ndarray:
        day = self._day_extreme(None, False)
        return (day > 0) & _in_range(day, *self.fallback._days_ago_range(c))

    def _last_purchase(self, c: Criterion) -> np.ndarray:
        day = self._day_extreme(c.get("stores"), True)
        return (day > 0) & _in_range(day, *self.fallback._days_ago_range(c))

    def _sum(self, column: str, c: Criterion, stores: Iterable[str] | None) -> np.ndarray:
        parts = self.snap.day_rows(*c["period"].bounds(self.today), stores, ("key", column))
        return self.snap.per_key_sum(parts, column)

    def _purchases(self, c: Criterion) -> np.ndarray:
        return _in_range(self._sum("purchases", c, c.get("stores")), c.get("from"), c.get("to"))

    def _spend(self, c: Criterion) -> np.ndarray:
        return _in_range(self._sum("spend", c, c.get("stores")), c.get("from"), c.get("to"))

    def _ratio(self, column: str, c: Criterion, low: int | None, high: int | None) -> np.ndarray:
        # compared as a fraction: low x purchases <= sum <= high x purchases, never divided
        parts = self.snap.day_rows(*c["period"].bounds(self.today), None, ("key", "purchases", column))
        purchases, total = self.snap.per_key_sum(parts, "purchases"), self.snap.per_key_sum(parts, column)
        found = purchases > 0
        if low is not None:
            found &= low * purchases <= total
        if high is not None:
            found &= total <= high * purchases
        return found

    def _average_check(self, c: Criterion) -> np.ndarray:
        return self._ratio("spend", c, c.get("from"), c.get("to"))

    def _average_items(self, c: Criterion) -> np.ndarray:
        return self._ratio("items", c, c.get("from_quantity"), c.get("to_quantity"))

    def _item_sums(self, kind: int, items: Iterable[int], c: Criterion, stores: Iterable[str] | None) -> np.ndarray:
        first, last = c["period"].bounds(self.today)
        parts = [p for item in sorted(set(items)) for p in self.snap.item_rows(kind, item, first, last, stores)]
        return self.snap.per_key_sum(parts, "quantity")

    def _bought_category(self, c: Criterion) -> np.ndarray:
        total = self._item_sums(CATEGORY, c["categories"], c, c.get("stores"))
        minimum = c.get("min_quantity")
        return total >= minimum if minimum else total > 0

    def _products_count(self, products: Iterable[int], c: Criterion, minimum: int | None) -> np.ndarray:
        """Per key, how many of the products it bought enough of in the period."""
        first, last = c["period"].bounds(self.today)
        count = np.zeros(self.snap.n, np.int32)
        for product in sorted(set(products)):
            parts = self.snap.item_rows(PRODUCT, product, first, last)
            keys = np.concatenate([p["key"] for p in parts])
            if not len(keys):
                continue
            quantity = np.concatenate([p["quantity"] for p in parts])
            unique, inverse = np.unique(keys, return_inverse=True)
            sums = np.bincount(inverse, quantity.astype(np.float64)).round().astype(np.int64)
            enough = sums >= minimum if minimum else sums > 0
            count[unique[enough]] += 1
        return count

    def _bought_products(self, c: Criterion) -> np.ndarray:
        count = self._products_count(c["products"], c, c.get("min_quantity"))
        return count > 0 if c["mode"] == "any" else count == len(c["products"])

    def _product_name(self, c: Criterion) -> np.ndarray:
        needle = c["text"].casefold()
        products = [i for i, name in self.fallback.sets.product_names() if needle in name.casefold()]
        return self._products_count(products, c, None) > 0

    def _in_segment(self, c: Criterion) -> np.ndarray:
        inside = self._keys(k for segment in c["segments"] for k in self.fallback._member_sets(segment))
        return inside if c["in"] else ~inside

    # -- the next-flip days (engine.all_flips on the columns) ------------------------------------------------

    def flips(self, definition: Definition) -> np.ndarray:
        """Per key, the first day after today on which the definition's answer may change with no event (0:
        none); the same days as :func:`~central.marketing.engine.all_flips`, never later than the exact ones."""
        today, snap = self.today, self.snap
        out = np.zeros(snap.n, np.int64)

        def keep(days: np.ndarray, keys: np.ndarray, unique: bool = False) -> None:
            later = days > today
            if not later.any():
                return
            if unique:  # (a day per key: no reduction, so no ``ufunc.at``)
                keys, days = keys[later], days[later]
                now = out[keys]
                lower = (now == 0) | (days < now)
                out[keys[lower]] = days[lower]
                return
            least = np.full(snap.n, np.iinfo(np.int64).max, np.int64)
            np.minimum.at(least, keys[later], days[later])
            lower = (least < np.iinfo(np.int64).max) & ((out == 0) | (least < out))
            out[lower] = least[lower]

        birthdays: list[Criterion] = []
        windows: dict[str, set[int]] = {}
        for c in {c for c in definition.criteria() if time_relative(c)}:
            if c.type in ("age", "birthday"):
                birthdays.append(c)
            elif c.type in ("first_purchase", "last_purchase", "registration"):
                low, high = c.get("days_from"), c.get("days_to")
                if c.type == "registration":
                    rows = [
                        (k, d) for k, d in queries.registration_days(self.connection) if d is not None and k < snap.n
                    ]
                    pairs = np.array(rows, np.int64).reshape(-1, 2)
                    keys, days = pairs[:, 0], pairs[:, 1]
                    shifts: tuple[int, ...] = (-1, 0, 1)
                else:
                    last = c.type == "last_purchase"
                    days = self._day_extreme(c.get("stores") if last else None, last)
                    keys = np.flatnonzero(days > 0)
                    days = days[keys]
                    shifts = (0,)
                bounds = [b for b in (low, None if high is None else high + 1) if b is not None]
                for offset in sorted({s + b for s in shifts for b in bounds}):
                    keep(days + offset, keys, unique=c.type != "registration")
            else:
                windows.setdefault(window_source(c.type), set()).add(c["period"].last_days)
        if birthdays:
            table = np.zeros(1232, np.int64)
            for ordinal in range(dt.date(2000, 1, 1).toordinal(), dt.date(2001, 1, 1).toordinal()):
                born = dt.date.fromordinal(ordinal)
                found = [d for d in (criterion_flip(c, Facts(0, birthday=born), today) for c in birthdays) if d]
                if found:
                    table[born.month * 100 + born.day] = min(found)
            keys = np.flatnonzero(snap.mmdd > 0)
            keep(table[snap.mmdd[keys]], keys, unique=True)
        for source, lengths in windows.items():
            if source == "agg_points":
                found = [
                    (k, d) for k, d in queries.window_leavings_many(self.connection, source, today, sorted(lengths))
                ]
                pairs = np.array([(k, d) for k, d in found if d is not None and k < snap.n], np.int64).reshape(-1, 2)
                keep(pairs[:, 1], pairs[:, 0])
                continue
            ordered = sorted(lengths)
            parts = (
                [(snap.days, snap.days_alive), (snap.days_new, None)]
                if source == "agg_days"
                else [(snap.items, snap.items_alive), (snap.items_new, None)]
            )
            for rows, alive in parts:
                day = rows["day"]
                mask = day > today - ordered[-1]
                if alive is not None:
                    mask &= alive
                day, key = day[mask].astype(np.int64), rows["key"][mask]
                # a row of day d leaves the shortest window holding it first, at d + n; a future row flips on its day
                spans = np.asarray(ordered, np.int64)
                at = np.searchsorted(spans, today - day, "right")  # the shortest window with n > today - day
                leaves = np.where(day > today, day, day + spans[np.minimum(at, len(spans) - 1)])
                keep(leaves, key)
        return out


def rfm_inputs(snap: Snapshot, today: int, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(keys, last purchase day, purchases, spend) of each customer with a purchase in the last ``window`` days,
    by key (central/storage/segment_engine.py ``rfm_inputs`` on the columns)."""
    parts = snap.day_rows(today - window + 1, today, None, ("key", "day", "purchases", "spend"))
    purchases, spend = snap.per_key_sum(parts, "purchases"), snap.per_key_sum(parts, "spend")
    last = np.zeros(snap.n, np.int64)
    for rows in parts:
        bought = rows["purchases"] > 0
        np.maximum.at(last, rows["key"][bought], rows["day"][bought])
    keys = np.flatnonzero(purchases > 0)
    return keys, last[keys], purchases[keys], spend[keys]


def _ordinal(iso: str) -> int:
    return 0 if iso.startswith("0000") else dt.date.fromisoformat(iso).toordinal()


def _in_range(values: np.ndarray, low: Any, high: Any) -> np.ndarray:
    found = np.ones(len(values), bool)
    if low is not None:
        found &= values >= low
    if high is not None:
        found &= values <= high
    return found


def _path(conn: sqlite3.Connection) -> str:

    return database_path(conn)


def current(conn: sqlite3.Connection, writing: bool = False) -> Snapshot:
    """This process's snapshot of ``conn``'s database, caught up."""
    return segment_columns.snapshot(conn, _path(conn), writing)
