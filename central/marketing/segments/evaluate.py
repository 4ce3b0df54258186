"""The per-customer evaluator: does one customer (a plain :class:`Facts`) match a definition today?

Pure: no Flask, no SQLite. ``today`` is a local date ordinal in the chain's time
zone; the facts' days are local dates of the receipts' stores (marketing.md,
Time and money). Money is integer minor units; the average check is compared as
a fraction (``from * purchases <= spend``), quantities are thousandths.

:func:`next_flip` says the first day after ``today`` on which the answer may
change with no event (relative periods, days since, birthdays, age): the
date-change refresh visits only customers whose day has come.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .definition import Criterion, Definition, Period, time_relative


class Day(NamedTuple):
    """A customer's receipts on one local day at one store."""

    day: int  # date ordinal
    store: str
    purchases: int
    spend: int  # purchases' amounts minus refunds' (minor units)
    items: int  # quantity of the purchases' lines, thousandths


class Item(NamedTuple):
    """Quantity of one category (kind 0) or product (kind 1) bought on one local day at one store."""

    day: int
    store: str
    kind: int
    id: int
    quantity: int  # thousandths


class Points(NamedTuple):
    """Points of one transaction type on one local day."""

    day: int
    type: str
    accrued: int
    redeemed: int


CATEGORY, PRODUCT = 0, 1


@dataclass
class Facts:
    """What the criteria read of one customer (built from the aggregates by central/marketing/store.py)."""

    key: int
    birthday: dt.date | None = None
    gender: str | None = None
    consents: frozenset[str] = frozenset()
    custom: Mapping[str, str] = field(default_factory=dict)
    registered_day: int | None = None
    home_store: str | None = None
    has_card: bool = False
    #: active cards: (number, category id or None)
    cards: tuple[tuple[str, int | None], ...] = ()
    level: str | None = None
    tags: frozenset[str] = frozenset()
    balance: int = 0
    days: tuple[Day, ...] = ()
    items: tuple[Item, ...] = ()
    points: tuple[Points, ...] = ()
    #: (r, f, m, class) or None when the customer has no purchase in the RFM window
    rfm: tuple[int, int, int, str] | None = None
    #: the promotions that gave the customer a reward (``promotion_results``)
    promotions: frozenset[str] = frozenset()
    #: (list, "received" | "activated"): a code of the list issued to the customer / an accepted use of theirs
    codes: frozenset[tuple[str, str]] = frozenset()
    #: (trigger, step 1.., "in" | "passed"): the step the customer is on now; every step they ever passed
    triggers: frozenset[tuple[int, int, str]] = frozenset()
    #: (mailing, "delivered" | "opened" | "clicked" | "failed") of the mailings' messages to the customer
    messages: frozenset[tuple[int, str]] = frozenset()
    #: indexes built on first use (items by (kind, id), sorted activity days per table)
    _index: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    def items_of(self, kind: int, ident: int) -> list[Item]:
        index = self._index.get("items")
        if index is None:
            index = self._index["items"] = {}
            for item in self.items:
                index.setdefault((item.kind, item.id), []).append(item)
        return index.get((kind, ident), [])

    def active_days(self, table: str) -> list[int]:
        """Sorted distinct days of ``days``, ``items`` or ``points``."""
        found = self._index.get(("days", table))
        if found is None:
            found = self._index[("days", table)] = sorted({r.day for r in getattr(self, table)})
        return found


@dataclass
class Context:
    """What evaluation needs besides the customer: today, product names, other segments' members."""

    today: int
    product_names: Mapping[int, str] = field(default_factory=dict)
    member: Callable[[int, int], bool] = lambda segment, key: False


def birthday_in(birthday: dt.date, year: int) -> dt.date:
    """The birthday in a year: 29 Feb is 28 Feb in other years (marketing.md)."""
    if birthday.month == 2 and birthday.day == 29 and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return birthday.replace(year=year)


def age_on(birthday: dt.date, today: dt.date) -> int:
    years = today.year - birthday.year
    return years - (today < birthday_in(birthday, today.year))


def _in(value: int, low: int | None, high: int | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _within(day: int, period: Period, today: int) -> bool:
    first, last = period.bounds(today)
    return (first is None or day >= first) and (last is None or day <= last)


def _days_ago(day: int | None, c: Criterion, today: int) -> bool:
    """A date criterion: date range, or days ago from..to."""
    if day is None:
        return False
    if c.get("date_from") is not None or c.get("date_to") is not None:
        return _in(day, c.get("date_from"), c.get("date_to"))
    return _in(today - day, c.get("days_from"), c.get("days_to"))


def _birthday_window(birthday: dt.date, today: int, before: int, after: int) -> bool:
    year = dt.date.fromordinal(today).year
    for y in (year - 1, year, year + 1):
        day = birthday_in(birthday, y).toordinal()
        if day - before <= today <= day + after:
            return True
    return False


def matches(c: Criterion, f: Facts, ctx: Context) -> bool:
    """One criterion for one customer."""
    today = ctx.today
    t = c.type
    if t == "age":
        if f.birthday is None:
            return False
        return _in(age_on(f.birthday, dt.date.fromordinal(today)), c.get("from"), c.get("to"))
    if t == "birthday":
        if f.birthday is None:
            return False
        if c.get("months"):
            return f.birthday.month in c["months"]
        return _birthday_window(f.birthday, today, c.get("days_before") or 0, c.get("days_after") or 0)
    if t == "gender":
        return (f.gender if f.gender in ("male", "female") else "unknown") in c["values"]
    if t == "consent":
        return bool(f.consents & c["channels"])
    if t == "field":
        value = f.custom.get(c["field"])
        value = "" if value is None else str(value)
        op = c["operator"]
        if op == "empty":
            return value == ""
        if op == "not_empty":
            return value != ""
        if op == "=":
            return value.casefold() == c["value"].casefold()
        return c["value"].casefold() in value.casefold()
    if t == "registration":
        if c.get("stores") is not None and f.home_store not in c["stores"]:
            return False
        if all(c.get(k) is None for k in ("date_from", "date_to", "days_from", "days_to")):
            return f.registered_day is not None or c.get("stores") is not None
        return _days_ago(f.registered_day, c, today)
    if t == "home_store":
        return f.home_store in c["stores"]
    if t == "kind":
        return ("registered" if f.has_card else "potential") in c["values"]
    if t == "card":
        low, high = c.get("number_from"), c.get("number_to")
        for number, category in f.cards:
            if c.get("categories") is not None and category not in c["categories"]:
                continue
            if (low is not None or high is not None) and not (
                number.isdigit()
                and _in(int(number), None if low is None else int(low), None if high is None else int(high))
            ):
                continue
            return True
        return False
    if t == "level":
        return f.level in c["levels"]
    if t == "tag":
        mode, tags = c["mode"], c["tags"]
        if mode == "any":
            return bool(f.tags & tags)
        if mode == "all":
            return tags <= f.tags
        return not (f.tags & tags)
    if t == "balance":
        return _in(f.balance, c.get("from"), c.get("to"))
    if t == "first_purchase":
        days = [d.day for d in f.days if d.purchases]
        return _days_ago(min(days) if days else None, c, today)
    if t == "last_purchase":
        stores = c.get("stores")
        days = [d.day for d in f.days if d.purchases and (stores is None or d.store in stores)]
        if not days:
            return False
        if all(c.get(k) is None for k in ("date_from", "date_to", "days_from", "days_to")):
            return True  # stores only: bought there at all
        return _days_ago(max(days), c, today)
    if t in ("purchases", "spend", "average_check", "average_items"):
        stores = c.get("stores")
        rows = [d for d in f.days if _within(d.day, c["period"], today) and (stores is None or d.store in stores)]
        purchases = sum(d.purchases for d in rows)
        if t == "purchases":
            return _in(purchases, c.get("from"), c.get("to"))
        spend = sum(d.spend for d in rows)
        if t == "spend":
            return _in(spend, c.get("from"), c.get("to"))
        if not purchases:
            return False
        if t == "average_check":  # spend / purchases in [from, to], as a fraction
            low, high = c.get("from"), c.get("to")
            return (low is None or low * purchases <= spend) and (high is None or spend <= high * purchases)
        items = sum(d.items for d in rows)
        low, high = c.get("from_quantity"), c.get("to_quantity")
        return (low is None or low * purchases <= items) and (high is None or items <= high * purchases)
    if t == "bought_category":
        stores = c.get("stores")
        total = sum(
            i.quantity
            for cat in c["categories"]
            for i in f.items_of(CATEGORY, cat)
            if _within(i.day, c["period"], today) and (stores is None or i.store in stores)
        )
        return _enough(total, c.get("min_quantity"))
    if t == "bought_products":
        per: dict[int, int] = {}
        for p in c["products"]:
            for i in f.items_of(PRODUCT, p):
                if _within(i.day, c["period"], today):
                    per[i.id] = per.get(i.id, 0) + i.quantity
        hits = [p for p in c["products"] if _enough(per.get(p, 0), c.get("min_quantity"))]
        return bool(hits) if c["mode"] == "any" else len(hits) == len(c["products"])
    if t == "product_name":
        needle = c["text"].casefold()
        per = {}
        for i in f.items:
            if i.kind == PRODUCT and _within(i.day, c["period"], today):
                per[i.id] = per.get(i.id, 0) + i.quantity
        return any(q > 0 and needle in (ctx.product_names.get(p) or "").casefold() for p, q in per.items())
    if t == "points":
        types = c.get("types")
        rows = [p for p in f.points if _within(p.day, c["period"], today) and (types is None or p.type in types)]
        total = sum(p.accrued if c["direction"] == "accrued" else p.redeemed for p in rows)
        return _in(total, c.get("from"), c.get("to"))
    if t == "rfm":
        if f.rfm is None:
            return False
        r, fr, m, klass = f.rfm
        return (
            (c.get("classes") is None or klass in c["classes"])
            and (c.get("r") is None or r in c["r"])
            and (c.get("f") is None or fr in c["f"])
            and (c.get("m") is None or m in c["m"])
        )
    if t == "promotion":
        return bool(f.promotions & c["promotions"]) == c["took_part"]
    if t == "promo_code":
        return any((lst, c["state"]) in f.codes for lst in c["lists"])
    if t == "trigger":
        trig, step, state = c["trigger"], c.get("step"), c["state"]
        seen = any(tr == trig and (step is None or st == step) for tr, st, _ in f.triggers)
        if state == "never":
            return not seen
        return any(tr == trig and (step is None or st == step) and s == state for tr, st, s in f.triggers)
    if t == "message":
        return any((m, c["outcome"]) in f.messages for m in c["mailings"])
    if t == "in_segment":
        inside = any(ctx.member(s, f.key) for s in c["segments"])
        return inside == c["in"]
    raise ValueError(f"unknown criterion {t}")


def _enough(total: int, minimum: int | None) -> bool:
    """``min quantity`` (thousandths); absent: any quantity bought (> 0)."""
    return total >= minimum if minimum else total > 0


def evaluate(definition: Definition, facts: Facts, ctx: Context) -> bool:
    """AND of the audiences (each an OR of criteria), minus the excluded audience."""
    for audience in definition.audiences:
        if not any(matches(c, facts, ctx) for c in audience):
            return False
    return not (definition.exclude and any(matches(c, facts, ctx) for c in definition.exclude))


# -- the next day the answer may change ------------------------------------------------------------------


def _flip_range(day: int | None, low: int | None, high: int | None, today: int) -> int | None:
    """``low <= today - day <= high`` changes at day + low and day + high + 1."""
    if day is None:
        return None
    found = [
        d
        for d in ((day + low) if low is not None else None, (day + high + 1) if high is not None else None)
        if d is not None and d > today
    ]
    return min(found) if found else None


#: where a windowed criterion's day rows live (the aggregates' tables): the flip index reads them. Items'
#: criteria read every item row, not only their own items': the exact flip (:func:`criterion_flip`) counts any
#: item day leaving the window, and the coarse day must never be later than it (nor missing where it has one)
WINDOW_SOURCE = {
    "points": "agg_points",
    "bought_category": "agg_items",
    "bought_products": "agg_items",
    "product_name": "agg_items",
}


def window_source(kind: str) -> str:
    """The aggregates' table holding the day rows of a windowed criterion of this kind."""
    return WINDOW_SOURCE.get(kind, "agg_days")


def criterion_flip(c: Criterion, f: Facts, today: int) -> int | None:
    """The first day after ``today`` on which this criterion's answer may change (None: never by time)."""
    if not time_relative(c):
        return None
    if c.type in ("age", "birthday"):
        if f.birthday is None:
            return None
        year = dt.date.fromordinal(today).year
        if c.type == "age":
            days = [birthday_in(f.birthday, y).toordinal() for y in (year, year + 1)]
        else:
            before, after = c.get("days_before") or 0, c.get("days_after") or 0
            days = []
            for y in (year - 1, year, year + 1, year + 2):
                b = birthday_in(f.birthday, y).toordinal()
                days += [b - before, b + after + 1]
        later = [d for d in days if d > today]
        return min(later) if later else None
    if c.type in ("registration", "first_purchase", "last_purchase"):
        if c.type == "registration":
            day = f.registered_day
        else:
            stores = c.get("stores") if c.type == "last_purchase" else None
            days = [d.day for d in f.days if d.purchases and (stores is None or d.store in stores)]
            day = (min(days) if c.type == "first_purchase" else max(days)) if days else None
        return _flip_range(day, c.get("days_from"), c.get("days_to"), today)
    # a relative period: the answer changes only when a day with activity leaves the window
    n = c["period"].last_days
    table = (
        "points"
        if c.type == "points"
        else "items"
        if c.type in ("bought_category", "bought_products", "product_name")
        else "days"
    )
    days = f.active_days(table)
    # the first day ahead enters the window, the first day inside it leaves at day + n
    ahead = bisect.bisect_right(days, today)
    inside = bisect.bisect_right(days, today - n)
    later = [
        d
        for d in (
            (days[ahead] if ahead < len(days) else None),
            (days[inside] + n if inside < len(days) and days[inside] <= today else None),
        )
        if d is not None
    ]
    return min(later) if later else None


def next_flip(definition: Definition, facts: Facts, today: int) -> int | None:
    """The first day after ``today`` on which the definition's answer may change without an event."""
    found = [d for c in definition.criteria() if (d := criterion_flip(c, facts, today)) is not None]
    return min(found) if found else None


def event_kinds(c: Criterion) -> frozenset[str]:
    """Which applied changes can change this criterion's answer (besides the date)."""
    t = c.type
    if t in (
        "purchases",
        "spend",
        "average_check",
        "average_items",
        "bought_category",
        "bought_products",
        "product_name",
        "first_purchase",
        "last_purchase",
        "rfm",
    ):
        return frozenset({"purchase", "refund"})
    if t in ("points", "balance"):
        return frozenset({"purchase", "refund", "points"})
    if t in ("age", "birthday", "gender", "field", "consent"):
        return frozenset({"profile"})
    if t in ("registration", "home_store", "kind", "card"):
        return frozenset({"registration", "card", "profile"})
    if t == "level":
        return frozenset({"purchase", "refund", "level"})
    if t == "tag":
        return frozenset({"tags"})
    if t == "in_segment":
        return frozenset({"segment"})
    return frozenset({t})


def definition_events(definition: Definition) -> frozenset[str]:
    out: set[str] = set()
    for c in definition.criteria():
        out |= event_kinds(c)
    return frozenset(out)


def quantity_milli(text: Any) -> int:
    """A line's quantity ("1", "0.5", 2) as thousandths (rounded half away from zero)."""
    import decimal

    try:
        number = decimal.Decimal(str(text))
    except (decimal.InvalidOperation, ValueError):
        return 1000
    if not number.is_finite():
        return 1000
    return int((number * 1000).quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_UP))


__all__ = [
    "CATEGORY",
    "PRODUCT",
    "Context",
    "Day",
    "Facts",
    "Item",
    "Points",
    "age_on",
    "birthday_in",
    "criterion_flip",
    "definition_events",
    "evaluate",
    "event_kinds",
    "matches",
    "next_flip",
    "quantity_milli",
]
