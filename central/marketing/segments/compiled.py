"""The event path's evaluator: the dynamic segments' criteria compiled once per round (pure).

``evaluate.evaluate`` and ``evaluate.next_flip`` read a criterion's parameters and
scan a customer's facts for every (customer, segment) pair. An ingest round
evaluates the same few hundred customers against every dynamic segment, so
:class:`Round` does that work once:

* identical criteria of different segments are one (an index), and each
  customer's answer and flip day for it is computed once per round;
* the period sums (purchases, spend, average check, average items without a
  store filter) read prefix sums over the customer's sorted days (two bisects)
  instead of scanning every day per criterion;
* first and last purchase days are found once per customer;
* relative-period flips are shared per (table, days);
* over a batch of customers (:meth:`Round.members` with at least ``vector_from`` customers' facts), the
  period sums, bought category and first/last purchase criteria are answered for the whole batch at once
  with numpy (the batch's day and item rows as arrays, sums per distinct period shared), the others
  customer by customer; audiences are then boolean arrays over the batch.

Every answer is the one ``evaluate.matches`` / ``evaluate.criterion_flip`` give
(tests/marketing/test_segment_property.py checks the two agree); criteria
without a fast path call them.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import accumulate
from typing import Any

import numpy as np

from .definition import Criterion, Definition, time_relative
from .evaluate import CATEGORY, Context, Facts, _days_ago, _flip_range, _in, age_on, criterion_flip, matches

#: (audiences as criterion indexes, excluded indexes, time-relative criterion indexes)
Plan = tuple[tuple[tuple[int, ...], ...], tuple[int, ...], tuple[int, ...]]
_SUMS = ("purchases", "spend", "average_check", "average_items")


def _sums(f: Facts) -> tuple[list[int], list[int], list[int], list[int]]:
    """Sorted distinct days and prefix sums of purchases, spend and items over them (all stores)."""
    found = f._index.get("sums")
    if found is None:
        per: dict[int, list[int]] = {}
        for d in f.days:
            row = per.get(d.day)
            if row is None:
                per[d.day] = [d.purchases, d.spend, d.items]
            else:
                row[0] += d.purchases
                row[1] += d.spend
                row[2] += d.items
        days = sorted(per)
        found = f._index["sums"] = (
            days,
            [0, *accumulate(per[d][0] for d in days)],
            [0, *accumulate(per[d][1] for d in days)],
            [0, *accumulate(per[d][2] for d in days)],
        )
    return found


def _purchase_span(f: Facts) -> tuple[int, int] | None:
    """(first, last) day with a purchase, any store."""
    found = f._index.get("span", False)
    if found is False:
        days = [d.day for d in f.days if d.purchases]
        found = f._index["span"] = (min(days), max(days)) if days else None
    return found


def _compile(c: Criterion, ctx: Context) -> Callable[[Facts], bool] | None:
    """A fast form of ``matches`` for the criterion (its parameters read once), or None: ``matches`` itself."""
    today, t = ctx.today, c.type
    if t in _SUMS and c.get("stores") is None:
        first, last = c["period"].bounds(today)
        if t == "average_items":
            low, high = c.get("from_quantity"), c.get("to_quantity")
        else:
            low, high = c.get("from"), c.get("to")

        def period_sum(f: Facts) -> bool:
            days, pp, ps, pi = _sums(f)
            i = 0 if first is None else bisect.bisect_left(days, first)
            j = len(days) if last is None else bisect.bisect_right(days, last)
            if i >= j:
                purchases = spend = items = 0
            else:
                purchases, spend, items = pp[j] - pp[i], ps[j] - ps[i], pi[j] - pi[i]
            if t == "purchases":
                return (low is None or purchases >= low) and (high is None or purchases <= high)
            if t == "spend":
                return (low is None or spend >= low) and (high is None or spend <= high)
            if not purchases:
                return False
            value = spend if t == "average_check" else items
            return (low is None or low * purchases <= value) and (high is None or value <= high * purchases)

        return period_sum
    if t in ("first_purchase", "last_purchase") and c.get("stores") is None:
        plain = all(c.get(k) is None for k in ("date_from", "date_to", "days_from", "days_to"))
        at = 0 if t == "first_purchase" else 1

        def purchase_day(f: Facts) -> bool:
            span = _purchase_span(f)
            if span is None:
                return False
            if plain and t == "last_purchase":
                return True
            return _days_ago(span[at], c, today)

        return purchase_day
    if t == "bought_category" and c.get("stores") is None:
        first, last = c["period"].bounds(today)
        categories, minimum = tuple(c["categories"]), c.get("min_quantity")

        def category(f: Facts) -> bool:
            total = 0
            for cat in categories:
                for i in f.items_of(CATEGORY, cat):
                    if (first is None or i.day >= first) and (last is None or i.day <= last):
                        total += i.quantity
            return total >= minimum if minimum else total > 0

        return category
    if t == "home_store":
        stores = c["stores"]
        return lambda f: f.home_store in stores
    if t == "consent":
        channels = c["channels"]
        return lambda f: bool(f.consents & channels)
    if t == "tag":
        tags = c["tags"]
        if c["mode"] == "any":
            return lambda f: bool(f.tags & tags)
        if c["mode"] == "all":
            return lambda f: tags <= f.tags
        return lambda f: not (f.tags & tags)
    if t == "age":
        on, low, high = dt.date.fromordinal(today), c.get("from"), c.get("to")
        return lambda f: f.birthday is not None and _in(age_on(f.birthday, on), low, high)
    if t == "level":
        levels = c["levels"]
        return lambda f: f.level in levels
    if t == "birthday" and not c.get("months"):
        window = _birthday_table(c, today)
        return lambda f: f.birthday is not None and window[f.birthday.month * 32 + f.birthday.day]
    return None


_BIRTHDAYS: dict[tuple[Criterion, int], list[bool]] = {}


def _birthday_table(c: Criterion, today: int) -> list[bool]:
    """A birthday window's answer per month * 32 + day of birth, for one day: the answer depends on the month and
    day only (``evaluate.birthday_in``), so each of the 366 is asked once, of a leap year's date."""
    found = _BIRTHDAYS.get((c, today))
    if found is None:
        if len(_BIRTHDAYS) > 1000:
            _BIRTHDAYS.clear()
        found = [False] * (13 * 32)
        start = dt.date(2000, 1, 1).toordinal()
        for ordinal in range(start, start + 366):
            born = dt.date.fromordinal(ordinal)
            found[born.month * 32 + born.day] = matches(c, Facts(0, birthday=born), Context(today=today))
        _BIRTHDAYS[(c, today)] = found
    return found


def _period_flip(table: str, n: int, today: int) -> Callable[[Facts], int | None]:
    """``criterion_flip`` of a relative period of ``n`` days over a table's active days."""

    def flip(f: Facts) -> int | None:
        days = f.active_days(table)
        ahead = bisect.bisect_right(days, today)
        inside = bisect.bisect_right(days, today - n)
        best = days[ahead] if ahead < len(days) else None
        if inside < len(days) and days[inside] <= today:
            leaves = days[inside] + n
            if best is None or leaves < best:
                best = leaves
        return best

    return flip


def _compile_flip(c: Criterion, today: int) -> tuple[Any, Callable[[Facts], int | None]]:
    """(a sharing key, the criterion's flip day for a customer)."""
    if c.type in ("first_purchase", "last_purchase") and c.get("stores") is None:
        at, low, high = (0 if c.type == "first_purchase" else 1), c.get("days_from"), c.get("days_to")

        def purchase_flip(f: Facts) -> int | None:
            span = _purchase_span(f)
            return _flip_range(None if span is None else span[at], low, high, today)

        return ("span", at, low, high), purchase_flip
    period = c.get("period")
    if c.type not in ("age", "birthday", "registration", "first_purchase", "last_purchase") and period is not None:
        table = (
            "points"
            if c.type == "points"
            else "items"
            if c.type in ("bought_category", "bought_products", "product_name")
            else "days"
        )
        return ("period", table, period.last_days), _period_flip(table, period.last_days, today)
    return ("criterion", c), lambda f: criterion_flip(c, f, today)


class ColumnFacts(Mapping[int, Facts]):
    """A round's facts as columns: what the vector criteria read (:func:`_vectorised`), with the :class:`Facts`
    objects made only when a criterion without a vector form asks for one (``build``, once for all).

    The event path reads a few hundred customers per ingest round; making a ``Facts`` and a tuple per day and item
    row for each, only for :class:`_Batch` to turn them back into arrays, was most of its reading's cost. Here the
    storage hands the rows over as arrays (``day_rows``: customer index, day, purchases, spend, items; ``item_rows``:
    customer index, category id, day, quantity, category rows only) and the profile as lists in ``order`` (the
    keys, sorted) (central/storage/aggregates.py ``load_facts(columns=True)``). ``build`` must give the same facts
    ``load_facts`` gives (tests/marketing/test_segment_property.py loads every example this way too)."""

    def __init__(
        self,
        keys: list[int],
        profile: Mapping[str, list[Any]],
        days: np.ndarray,
        items: np.ndarray,
        build: Callable[[], dict[int, Facts]],
    ) -> None:
        self.order = keys
        self.profile = profile
        self.day_rows = days
        self.item_rows = items
        self._build = build
        self._built: dict[int, Facts] | None = None
        self._at: dict[int, int] | None = None

    def facts(self) -> dict[int, Facts]:
        if self._built is None:
            self._built = self._build()
        return self._built

    def __getitem__(self, key: int) -> Facts:
        if self._at is None:
            self._at = dict(zip(self.order, range(len(self.order)), strict=True))
        if key not in self._at:
            raise KeyError(key)
        return self.facts()[key]

    def __contains__(self, key: object) -> bool:
        if self._at is None:
            self._at = dict(zip(self.order, range(len(self.order)), strict=True))
        return key in self._at

    def __iter__(self) -> Iterator[int]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


#: the profile columns a :class:`_Batch` reads (as lists in its customers' order)
PROFILE = ("birthday", "gender", "consents", "home_store", "level", "tags")


def _grouped(rows: np.ndarray) -> np.ndarray:
    """Rows ordered by their first column (the customer index), as the batch's sums need them."""
    at = rows[:, 0]
    if len(at) > 1 and bool((at[1:] < at[:-1]).any()):
        return rows[np.argsort(at, kind="stable")]
    return rows


class _Batch:
    """The facts of a round's customers as arrays (their order is ``keys``), and the sums shared by criteria."""

    def __init__(self, facts: Mapping[int, Facts]) -> None:
        self.facts = facts
        self.keys = np.fromiter(facts, np.int64, len(facts))
        self.n = len(self.keys)
        if isinstance(facts, ColumnFacts):
            day_rows, item_rows = facts.day_rows, facts.item_rows
            self._profile: dict[str, list[Any]] = dict(facts.profile)
        else:
            days = [(i, d.day, d.purchases, d.spend, d.items) for i, f in enumerate(facts.values()) for d in f.days]
            day_rows = np.array(days, np.int64).reshape(-1, 5)
            items = [
                (i, i_.id, i_.day, i_.quantity)
                for i, f in enumerate(facts.values())
                for i_ in f.items
                if i_.kind == CATEGORY
            ]
            item_rows = np.array(items, np.int64).reshape(-1, 4)
            self._profile = {}
        day_rows, item_rows = _grouped(day_rows), _grouped(item_rows)
        self.d_at, self.d_day = day_rows[:, 0], day_rows[:, 1]
        self.d_values = day_rows[:, 2:]
        self.i_at, self.i_item, self.i_day, self.i_quantity = (item_rows[:, c] for c in range(4))
        self._births: tuple[np.ndarray, np.ndarray] | None = None
        self.sums: dict[tuple[int | None, int | None], np.ndarray] = {}
        self._by_day: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (see period_sums)
        self.span: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.answers: dict[int, np.ndarray] = {}
        self.among: set[int] | None = None  # the last ``among`` of :meth:`Round.members` and its mask
        self.among_size = -1
        self.among_mask = np.ones(0, bool)

    def period_sums(self, first: int | None, last: int | None) -> np.ndarray:
        """(customers x 3): purchases, spend, items over the days of [first, last] (all stores): differences of
        one running sum over the rows ordered by (customer, day), at each customer's first and last row of the
        period (two binary searches per period, whatever the rows)."""
        found = self.sums.get((first, last))
        if found is None:
            if self._by_day is None:
                order = self.d_at * _STRIDE + self.d_day
                if len(order) > 1 and bool((order[1:] < order[:-1]).any()):
                    sort = np.argsort(order, kind="stable")
                    order, values = order[sort], self.d_values[sort]
                else:
                    values = self.d_values
                running = np.zeros((len(order) + 1, values.shape[1]), np.int64)
                np.cumsum(values, axis=0, out=running[1:])
                self._by_day = (order, running, np.arange(self.n, dtype=np.int64) * _STRIDE)
            order, running, base = self._by_day
            low = 0 if first is None else min(max(first, 0), _STRIDE - 1)
            high = _STRIDE - 1 if last is None else min(max(last, -1), _STRIDE - 1)
            if high < low:
                found = np.zeros((self.n, running.shape[1]), np.int64)
            else:
                start = np.searchsorted(order, base + low, "left")
                end = np.searchsorted(order, base + high, "right")
                found = running[end] - running[start]
            self.sums[(first, last)] = found
        return found

    def profile(self, name: str) -> list[Any]:
        """A profile column (:data:`PROFILE`) in the batch's order."""
        found = self._profile.get(name)
        if found is None:
            found = self._profile[name] = [getattr(f, name) for f in self.facts.values()]
        return found

    def births(self) -> tuple[np.ndarray, np.ndarray]:
        """(year, month * 32 + day) of each customer's birthday; (0, 0) without one."""
        if self._births is None:
            born = self.profile("birthday")
            self._births = (
                np.fromiter((0 if b is None else b.year for b in born), np.int64, self.n),
                np.fromiter((0 if b is None else b.month * 32 + b.day for b in born), np.int64, self.n),
            )
        return self._births

    def purchase_span(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(has a purchase, first day, last day) per customer."""
        if self.span is None:
            bought = self.d_values[:, 0] != 0
            at, day = self.d_at[bought], self.d_day[bought]
            first = np.full(self.n, np.iinfo(np.int64).max, np.int64)
            last = np.zeros(self.n, np.int64)  # (day ordinals are positive)
            np.minimum.at(first, at, day)
            np.maximum.at(last, at, day)
            has = np.zeros(self.n, bool)
            has[at] = True
            first[~has] = 0
            self.span = (has, first, last)
        return self.span


#: a day ordinal's room in a (customer index, day) sort key: above every date's (9999-12-31 is 3,652,059)
_STRIDE = 1 << 22


def _sum_per(at: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """The sums of ``values``' rows per customer index ``at`` (ascending: the batch's rows come grouped by
    customer), as integers: differences of running sums at each customer's first row."""
    running = np.zeros((len(at) + 1, *values.shape[1:]), np.int64)
    np.cumsum(values, axis=0, out=running[1:])
    bounds = np.searchsorted(at, np.arange(n + 1))
    return running[bounds[1:]] - running[bounds[:-1]]


def _range_mask(values: np.ndarray, low: int | None, high: int | None) -> np.ndarray:
    mask = np.ones(len(values), bool)
    if low is not None:
        mask &= values >= low
    if high is not None:
        mask &= values <= high
    return mask


_VECTORS: dict[tuple[Criterion, int], Callable[[_Batch], np.ndarray] | None] = {}


def _vector(c: Criterion, today: int) -> Callable[[_Batch], np.ndarray] | None:
    """:func:`_vectorised`, kept across rounds (a criterion and a day give the same function)."""
    found = _VECTORS.get((c, today), False)
    if found is False:
        if len(_VECTORS) > 10000:
            _VECTORS.clear()
        found = _VECTORS[(c, today)] = _vectorised(c, today)
    return found


def _vectorised(c: Criterion, today: int) -> Callable[[_Batch], np.ndarray] | None:
    """The criterion over a whole batch (a boolean per customer), when it has a numpy form (what ``_compile``'s
    fast paths say, for every customer at once)."""
    t = c.type
    if t in _SUMS and c.get("stores") is None:
        first, last = c["period"].bounds(today)
        if t == "average_items":
            low, high = c.get("from_quantity"), c.get("to_quantity")
        else:
            low, high = c.get("from"), c.get("to")
        column = 0 if t == "purchases" else 1 if t in ("spend", "average_check") else 2
        if t in ("average_check", "average_items") and any(v is not None and abs(v) > 2**31 for v in (low, high)):
            return None  # (a bound times the purchases might not fit in 64 bits: customer by customer)

        def sums(b: _Batch) -> np.ndarray:
            found = b.period_sums(first, last)
            value = found[:, column]
            if t in ("purchases", "spend"):
                return _range_mask(value, low, high)
            purchases = found[:, 0]
            mask = purchases != 0
            if low is not None:
                mask &= low * purchases <= value
            if high is not None:
                mask &= value <= high * purchases
            return mask

        return sums
    if t in ("first_purchase", "last_purchase") and c.get("stores") is None:
        at = 1 if t == "first_purchase" else 2
        dates = c.get("date_from") is not None or c.get("date_to") is not None

        def purchase_day(b: _Batch) -> np.ndarray:
            span = b.purchase_span()
            day = span[at]
            if dates:
                return span[0] & _range_mask(day, c.get("date_from"), c.get("date_to"))
            return span[0] & _range_mask(today - day, c.get("days_from"), c.get("days_to"))

        return purchase_day
    if t == "bought_category" and c.get("stores") is None:
        first, last = c["period"].bounds(today)
        categories, minimum = np.array(sorted(set(c["categories"])), np.int64), c.get("min_quantity")

        def category(b: _Batch) -> np.ndarray:
            keep = b.i_item == categories[0] if len(categories) == 1 else np.isin(b.i_item, categories)
            if first is not None:
                keep &= b.i_day >= first
            if last is not None:
                keep &= b.i_day <= last
            total = _sum_per(b.i_at[keep], b.i_quantity[keep], b.n)
            return total >= minimum if minimum else total > 0

        return category
    return _vectorised_profile(c, today)


def _vectorised_profile(c: Criterion, today: int) -> Callable[[_Batch], np.ndarray] | None:
    """The criteria on the customer's row that have a numpy form over a batch (``evaluate.matches``'s answers)."""
    t = c.type
    if t in ("home_store", "level"):
        allowed = c["stores"] if t == "home_store" else c["levels"]
        return lambda b: np.fromiter((v in allowed for v in b.profile(t)), bool, b.n)
    if t == "gender":
        values = c["values"]
        return lambda b: np.fromiter(
            ((g if g in ("male", "female") else "unknown") in values for g in b.profile("gender")), bool, b.n
        )
    if t == "consent":
        channels = c["channels"]
        return lambda b: np.fromiter((bool(x & channels) for x in b.profile("consents")), bool, b.n)
    if t == "tag":
        tags, mode = c["tags"], c["mode"]
        if mode == "any":
            return lambda b: np.fromiter((bool(x & tags) for x in b.profile("tags")), bool, b.n)
        if mode == "all":
            return lambda b: np.fromiter((tags <= x for x in b.profile("tags")), bool, b.n)
        return lambda b: np.fromiter((not (x & tags) for x in b.profile("tags")), bool, b.n)
    if t == "birthday":
        if c.get("months"):
            months = np.array(sorted(c["months"]), np.int64)
            return lambda b: (b.births()[1] != 0) & np.isin(b.births()[1] // 32, months)
        window = np.array(_birthday_table(c, today), bool)  # (index 0: no birthday, never in a window)
        return lambda b: window[b.births()[1]]
    if t == "age":
        on = dt.date.fromordinal(today)
        low, high = c.get("from"), c.get("to")
        on_code = on.month * 32 + on.day
        leap = calendar.isleap(on.year)

        def age(b: _Batch) -> np.ndarray:
            year, code = b.births()
            if not leap:  # (29 Feb is 28 Feb in a common year: evaluate.birthday_in)
                code = np.where(code == 2 * 32 + 29, 2 * 32 + 28, code)
            years = on.year - year - (on_code < code)
            return (year != 0) & _range_mask(years, low, high)

        return age
    return None


class Round:
    """The compiled criteria of one round (one ``today``, one context); answers memoised per customer.

    ``vector_from``: from this many customers' facts on, :meth:`members` answers the criteria for the whole
    batch at once (numpy); below it, customer by customer (a console write's one customer)."""

    def __init__(self, ctx: Context, vector_from: int = 32) -> None:
        self.ctx = ctx
        self.vector_from = vector_from
        self._vectors: list[Callable[[_Batch], np.ndarray] | None] = []
        self._batch: _Batch | None = None
        self._index: dict[Criterion, int] = {}
        self._tests: list[Callable[[Facts], bool]] = []
        self._shared: list[bool] = []  # False: never memoised (``in_segment`` reads changing membership)
        self._flip_index: dict[Any, int] = {}
        self._flips: list[Callable[[Facts], int | None]] = []
        self._flip_of: dict[int, int] = {}
        self._plans: dict[int, tuple[Definition, Plan]] = {}
        self._sets: dict[int, set[int]] = {}
        self._sets_of: Mapping[int, Facts] | None = None
        self._answers, self._flip_memo = ("answers", id(self)), ("flips", id(self))  # this round's memos in a Facts

    def _matches(self, c: Criterion, f: Facts) -> bool:
        return matches(c, f, self.ctx)

    def rebind(self, ctx: Context) -> None:
        """Use the round's compiled criteria and plans again with a new context of the same day (the next ingest
        round: ``ctx.member`` and the product names read the new transaction); answers are not kept."""
        assert ctx.today == self.ctx.today
        self.ctx = ctx
        self._batch = None
        self._sets, self._sets_of = {}, None
        self._answers, self._flip_memo = ("answers", id(self), object()), ("flips", id(self), object())

    def _criterion(self, c: Criterion) -> int:
        found = self._index.get(c)
        if found is None:
            found = self._index[c] = len(self._tests)
            test = _compile(c, self.ctx)
            self._tests.append(test if test is not None else functools.partial(self._matches, c))
            self._vectors.append(_vector(c, self.ctx.today))
            self._shared.append(c.type != "in_segment")
            if time_relative(c):
                key, flip = _compile_flip(c, self.ctx.today)
                if key not in self._flip_index:
                    self._flip_index[key] = len(self._flips)
                    self._flips.append(flip)
                self._flip_of[found] = self._flip_index[key]
        return found

    def plan(self, definition: Definition) -> Plan:
        found = self._plans.get(id(definition))
        if found is None or found[0] is not definition:
            audiences = tuple(tuple(self._criterion(c) for c in a) for a in definition.audiences)
            exclude = tuple(self._criterion(c) for c in definition.exclude or ())
            flips = tuple(sorted({self._flip_of[i] for a in (*audiences, exclude) for i in a if i in self._flip_of}))
            found = self._plans[id(definition)] = (definition, (audiences, exclude, flips))
        return found[1]

    def _answer(self, i: int, f: Facts) -> bool:
        if not self._shared[i]:
            return self._tests[i](f)
        memo = f._index.get(self._answers)
        if memo is None:
            memo = f._index[self._answers] = {}
        found = memo.get(i)
        if found is None:
            found = memo[i] = self._tests[i](f)
        return found

    def evaluate(self, plan: Plan, f: Facts) -> bool:
        """What ``evaluate.evaluate`` says."""
        answer = self._answer
        for audience in plan[0]:
            for i in audience:
                if answer(i, f):
                    break
            else:
                return False
        return not any(answer(i, f) for i in plan[1])

    def _matching(self, i: int, facts: Mapping[int, Facts], among: Iterable[int]) -> set[int]:
        """The customers of ``facts`` criterion ``i`` holds for (all of them once, when it can be shared)."""
        test = self._tests[i]
        if not self._shared[i] or (i not in self._sets and 4 * len(among) < len(facts)):  # a few: not worth all
            return {k for k in among if k in facts and test(facts[k])}
        found = self._sets.get(i)
        if found is None or self._sets_of is not facts:
            if self._sets_of is not facts:
                self._sets, self._sets_of = {}, facts
            found = self._sets[i] = {k for k, f in facts.items() if test(f)}
        return found

    def _mask(self, i: int, batch: _Batch) -> np.ndarray:
        """Criterion ``i`` over the batch (shared ones once per batch)."""
        found = batch.answers.get(i) if self._shared[i] else None
        if found is None:
            vector = self._vectors[i]
            if vector is not None:
                found = vector(batch)
            else:
                test = self._tests[i]
                found = np.fromiter((test(f) for f in batch.facts.values()), bool, batch.n)
            if self._shared[i]:
                batch.answers[i] = found
        return found

    def members(self, plan: Plan, facts: Mapping[int, Facts], among: set[int]) -> set[int]:
        """The keys of ``among`` (with facts) that match: ``evaluate`` for each, as set operations (as boolean
        arrays over the batch when it has ``vector_from`` customers or more)."""
        if len(facts) >= self.vector_from and facts:
            return self._members_at_once(plan, facts, among)
        result: set[int] | None = None
        for audience in plan[0]:
            union: set[int] = set()
            for i in audience:
                union |= self._matching(i, facts, among)
            result = union if result is None else result & union
            if not result:
                return set()
        found = (set(facts) if result is None else result) & among
        for i in plan[1]:
            found -= self._matching(i, facts, found)
        return found

    def _batch_of(self, facts: Mapping[int, Facts]) -> _Batch:
        batch = self._batch
        if batch is None or batch.facts is not facts:
            batch = self._batch = _Batch(facts)
        return batch

    def _members_at_once(self, plan: Plan, facts: Mapping[int, Facts], among: set[int]) -> set[int]:
        batch = self._batch_of(facts)
        # (the engine passes the same set, unchanged, for every segment a round concerns)
        if batch.among is not among or batch.among_size != len(among):
            batch.among, batch.among_size = among, len(among)
            batch.among_mask = (
                np.ones(batch.n, bool)
                if among.issuperset(facts)
                else np.fromiter((k in among for k in facts), bool, batch.n)
            )
        return set(batch.keys[self.member_mask(plan, facts, batch.among_mask)].tolist())

    def member_mask(self, plan: Plan, facts: Mapping[int, Facts], among: np.ndarray) -> np.ndarray:
        """:meth:`members` as a boolean array over ``facts`` in its order, of the customers ``among`` marks (the
        event path's rounds compare it with the memberships as arrays: central/marketing/engine.py)."""
        batch = self._batch_of(facts)
        mask = among
        for audience in plan[0]:
            if len(audience) == 1:
                mask = mask & self._mask(audience[0], batch)
            else:
                union = self._mask(audience[0], batch) | self._mask(audience[1], batch)
                for i in audience[2:]:
                    union |= self._mask(i, batch)
                mask = mask & union
            if not mask.any():
                return mask
        for i in plan[1]:
            mask = mask & ~self._mask(i, batch)
        return mask

    def next_flip(self, plan: Plan, f: Facts) -> int | None:
        """What ``evaluate.next_flip`` says."""
        return self.first_flip(plan[2], f)

    def first_flip(self, flips: Iterable[int], f: Facts) -> int | None:
        """The earliest of these compiled flips (indexes as in ``Plan``) for a customer."""
        memo = f._index.get(self._flip_memo)
        if memo is None:
            memo = f._index[self._flip_memo] = {}
        best = None
        for i in flips:
            day = memo.get(i, False)
            if day is False:
                day = memo[i] = self._flips[i](f)
            if day is not None and (best is None or day < best):
                best = day
        return best
