"""A rule set as lookup tables: what the Cython kernel and the batch look things up in.

Every entry is computed by the reference's own helpers (``time_coefficient``,
``item_coefficient``, ``line_redeemable``), so the kernel cannot drift from
the specification in *what applies*; it only re-does the arithmetic, in C.

* k_time depends on the local weekday, hour and date only. Rules without a date
  give one 7 x 24 table (``week``, index ``(weekday - 1) * 24 + hour``); a date
  rule always wins (the most specific kind), so ``dates`` maps a date's ordinal
  to the largest k of its date rules.
* k_item and redeemability split into a product part (by SKU) and a category
  part (by the line's category), see :func:`category_entry`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import NamedTuple

from ._accrual_py import item_coefficient, line_redeemable, time_coefficient
from .numbers import MAX_K, MAX_PERCENT, MAX_PPM
from .receipts import Line
from .rules import SPECIFICITY, RuleSet

#: a Monday: the week table is evaluated on the week that starts here
_MONDAY = dt.date(2024, 1, 1)
_NO_LINE = Line(amount=0)


class ProductEntry(NamedTuple):
    k: int  # x1000; -1: the product has no k of its own
    redeemable: bool
    category: str | None


class CategoryEntry(NamedTuple):
    k_item: int  # x1000: k_item of a line of this category whose product has no k
    redeemable: bool


def week_table(rules: RuleSet) -> list[int]:
    """k_time of every (ISO weekday, hour) by the rules that are not dates; 168 entries."""
    undated = dataclasses.replace(rules, time_rules=tuple(r for r in rules.time_rules if r.kind != "date"))
    return [
        time_coefficient(undated, dt.datetime.combine(_MONDAY + dt.timedelta(days=day), dt.time(hour)))
        for day in range(7)
        for hour in range(24)
    ]


def date_table(rules: RuleSet) -> dict[int, int]:
    """{date ordinal: k_time} for the dates that date rules name (a date rule always wins)."""
    dates = {rule.date for rule in rules.time_rules if rule.kind == "date" and rule.date is not None}
    return {day.toordinal(): time_coefficient(rules, dt.datetime.combine(day, dt.time())) for day in dates}


def product_entry(rules: RuleSet, sku: str) -> ProductEntry:
    """The product part of k_item and redeemability (only for SKUs of ``rules.products``)."""
    product = rules.products[sku]  # the fields item_coefficient and line_redeemable read first
    return ProductEntry(-1 if product.k is None else product.k, product.redeemable, product.category)


def category_entry(rules: RuleSet, category: str) -> CategoryEntry:
    """The category part: k_item without a product k (category > groups > 1), redeemable."""
    return CategoryEntry(item_coefficient(rules, _NO_LINE, category), line_redeemable(rules, _NO_LINE, category))


def category_names(rules: RuleSet) -> list[str]:
    """Every category the rule set names (categories, group members, products' categories)."""
    names = dict.fromkeys(rules.categories)
    for group in rules.category_groups.values():
        names.update(dict.fromkeys(sorted(group.categories)))
    for product in rules.products.values():
        if product.category is not None:
            names[product.category] = None
    return list(names)


def level_percents(rules: RuleSet) -> dict[str, int]:
    """{level name: percent}; the first level of a name wins, as in ``RuleSet.level``."""
    out: dict[str, int] = {}
    for level in rules.levels:
        out.setdefault(level.name, level.percent)
    return out


def kernel_can_run(rules: RuleSet) -> bool:
    """Whether every value is inside the ranges the kernel's integer widths are proven on.

    ``parse_rules`` guarantees it; a RuleSet built by hand past the ranges is
    quoted by the reference instead (same answers, no overflow possible).
    """

    def within(value: int | None, high: int) -> bool:
        return value is None or (type(value) is int and 0 <= value <= high)

    r = rules.redemption
    ks: list[int | None] = [rule.k for rule in rules.time_rules]
    ks += [tier.k for tier in rules.receipt_tiers]
    ks += [c.k for c in rules.categories.values()] + [g.k for g in rules.category_groups.values()]
    ks += [p.k for p in rules.products.values()]
    percents = [rules.base_percent, r.max_percent, r.reduced_max_percent, r.discount_threshold_percent]
    percents += [level.percent for level in rules.levels]
    return (
        all(rule.kind in SPECIFICITY for rule in rules.time_rules)
        and all(within(k, MAX_K) for k in ks)
        and all(within(p, MAX_PERCENT) for p in percents)
        and within(rules.points_per_money, MAX_PPM)
        and all(within(tier.from_amount, 2**62) for tier in rules.receipt_tiers)
        and type(rules.total_step) is int
        and -(2**62) <= rules.total_step <= 2**62
    )
