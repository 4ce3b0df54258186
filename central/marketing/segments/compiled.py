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
* relative-period flips are shared per (table, days).

Every answer is the one ``evaluate.matches`` / ``evaluate.criterion_flip`` give
(tests/marketing/test_segment_property.py checks the two agree); criteria
without a fast path call them.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from itertools import accumulate
from typing import Any

from .definition import Criterion, Definition, time_relative
from .evaluate import CATEGORY, Context, Facts, _days_ago, _flip_range, criterion_flip, matches

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


def _compile(c: Criterion, ctx: Context) -> Callable[[Facts], bool]:
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
    return lambda f: matches(c, f, ctx)


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


class Round:
    """The compiled criteria of one round (one ``today``, one context); answers memoised per customer."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
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

    def _criterion(self, c: Criterion) -> int:
        found = self._index.get(c)
        if found is None:
            found = self._index[c] = len(self._tests)
            self._tests.append(_compile(c, self.ctx))
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

    def members(self, plan: Plan, facts: Mapping[int, Facts], among: set[int]) -> set[int]:
        """The keys of ``among`` (with facts) that match: ``evaluate`` for each, as set operations."""
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
