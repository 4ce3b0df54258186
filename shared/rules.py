"""The rule set of accrual.md: model, parser and validator.

``parse_rules(doc)`` turns the rule set's JSON into a frozen :class:`RuleSet`
whose decimals are already scaled integers (percent x100, k x1000). A bad rule
set raises :class:`~shared.errors.RuleSetError` listing every problem with its
JSON path, e.g. ``time_rules[2].to_hour: must be 0..23``.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._validate import Collector, index_path, key_path
from .errors import Problem, RuleSetError
from .numbers import (
    K_DECIMALS,
    MAX_AMOUNT,
    MAX_K,
    MAX_PERCENT,
    MAX_PPM,
    PERCENT_DECIMALS,
    PPM_DECIMALS,
)

#: time-rule kinds, most specific first (accrual.md, k_time)
TIME_RULE_KINDS = ("date", "weekdays_hours", "weekdays", "hours")
SPECIFICITY = {kind: rank for rank, kind in enumerate(TIME_RULE_KINDS)}

MAX_VERSION = 2**63 - 1


@dataclass(frozen=True, slots=True)
class TimeRule:
    """One coefficient by date, weekdays and/or hours, in the store's local time."""

    kind: str
    k: int
    date: dt.date | None = None
    weekdays: frozenset[int] = frozenset()
    from_hour: int = 0
    to_hour: int = 23

    def matches(self, local: dt.datetime) -> bool:
        """Whether a local (store time zone) moment falls under this rule."""
        if self.kind == "date":
            return local.date() == self.date
        if self.kind == "weekdays":
            return local.isoweekday() in self.weekdays
        if self.kind == "hours":
            return hour_in_interval(local.hour, self.from_hour, self.to_hour)
        # weekdays_hours
        hour, weekday = local.hour, local.isoweekday()
        if self.from_hour <= self.to_hour:
            return weekday in self.weekdays and self.from_hour <= hour <= self.to_hour
        # The interval wraps past midnight: the hours after midnight belong to the
        # evening that started the day before ("Friday 22..2" covers Saturday 01:30).
        if hour >= self.from_hour:
            return weekday in self.weekdays
        if hour <= self.to_hour:
            return previous_weekday(weekday) in self.weekdays
        return False


def hour_in_interval(hour: int, from_hour: int, to_hour: int) -> bool:
    """Inclusive whole-hour interval; from_hour > to_hour wraps past midnight."""
    if from_hour <= to_hour:
        return from_hour <= hour <= to_hour
    return hour >= from_hour or hour <= to_hour


def previous_weekday(weekday: int) -> int:
    """ISO weekday of the day before (Monday's previous is Sunday, 7)."""
    return 7 if weekday == 1 else weekday - 1


@dataclass(frozen=True, slots=True)
class Tier:
    """Receipt-size coefficient: applies from this receipt total (minor units) up."""

    from_amount: int
    k: int


@dataclass(frozen=True, slots=True)
class Category:
    k: int | None = None
    redeemable: bool = True


@dataclass(frozen=True, slots=True)
class CategoryGroup:
    categories: frozenset[str]
    k: int


@dataclass(frozen=True, slots=True)
class Product:
    category: str | None = None
    k: int | None = None
    redeemable: bool = True


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    from_spend: int
    percent: int


@dataclass(frozen=True, slots=True)
class Redemption:
    """Caps on paying with points (percents x100)."""

    max_percent: int = 0
    reduced_max_percent: int = 0
    discount_threshold_percent: int = 100 * 100
    accrue_on_redeemed: bool = False


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A store's validated rule set; decimals are scaled integers (see shared/numbers.py)."""

    version: int
    store: str
    timezone: str
    base_percent: int
    points_per_money: int = 1000
    time_rules: tuple[TimeRule, ...] = ()
    receipt_tiers: tuple[Tier, ...] = ()  # sorted by from_amount
    categories: Mapping[str, Category] = field(default_factory=dict)
    category_groups: Mapping[str, CategoryGroup] = field(default_factory=dict)
    products: Mapping[str, Product] = field(default_factory=dict)
    levels: tuple[Level, ...] = ()  # sorted by from_spend
    redemption: Redemption = Redemption()
    total_step: int = 1
    #: the JSON document as given, for storing and publishing unchanged
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def level(self, name: str | None) -> Level | None:
        for level in self.levels:
            if level.name == name:
                return level
        return None

    def level_for_spend(self, spend: int) -> Level | None:
        """The highest level whose from_spend the spend reaches."""
        chosen = None
        for level in self.levels:
            if spend >= level.from_spend:
                chosen = level
        return chosen

    def to_json(self) -> str:
        return json.dumps(self.document, ensure_ascii=False, sort_keys=True)


_TOP_REQUIRED = ("version", "store", "timezone", "base_percent")
_TOP_OPTIONAL = (
    "points_per_money",
    "time_rules",
    "receipt_tiers",
    "categories",
    "category_groups",
    "products",
    "levels",
    "redemption",
    "total_step",
)


def parse_rules(doc: Mapping[str, Any] | str | bytes) -> RuleSet:
    """Validate a rule set (JSON text or decoded object) and build a :class:`RuleSet`.

    :raises RuleSetError: listing every problem with its JSON path.
    """
    if isinstance(doc, str | bytes):
        try:
            doc = json.loads(doc)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RuleSetError([Problem("", f"not valid JSON: {exc}")]) from None
        except RecursionError:  # arrays nested thousands deep: Python's recursion limit (was a traceback)
            raise RuleSetError([Problem("", "not valid JSON: nested too deeply")]) from None
    c = Collector()
    top = c.object(doc, "", required=_TOP_REQUIRED, optional=_TOP_OPTIONAL)
    if top is None:
        raise RuleSetError(c.problems)

    version = c.integer(top.get("version"), "version", 0, MAX_VERSION) if "version" in top else None
    store = c.string(top["store"], "store", max_length=64) if "store" in top else None
    timezone = _timezone(c, top["timezone"]) if "timezone" in top else None
    base_percent = _percent(c, top["base_percent"], "base_percent") if "base_percent" in top else None
    ppm = 1000
    if "points_per_money" in top:
        ppm = c.decimal(top["points_per_money"], "points_per_money", PPM_DECIMALS, 1, MAX_PPM) or 1000
    total_step = 1
    if "total_step" in top:
        total_step = c.integer(top["total_step"], "total_step", 1, MAX_AMOUNT) or 1

    rules = RuleSet(
        version=version or 0,
        store=store or "",
        timezone=timezone or "UTC",
        base_percent=base_percent or 0,
        points_per_money=ppm,
        time_rules=_time_rules(c, top.get("time_rules", [])),
        receipt_tiers=_tiers(c, top.get("receipt_tiers", [])),
        categories=_categories(c, top.get("categories", {})),
        category_groups=_groups(c, top.get("category_groups", {})),
        products=_products(c, top.get("products", {})),
        levels=_levels(c, top.get("levels", [])),
        redemption=_redemption(c, top.get("redemption")),
        total_step=total_step,
        document=dict(top),
    )
    if c.problems:
        raise RuleSetError(c.problems)
    return rules


def _percent(c: Collector, value: Any, path: str) -> int | None:
    return c.decimal(value, path, PERCENT_DECIMALS, 0, MAX_PERCENT, " percent")


def _k(c: Collector, value: Any, path: str) -> int | None:
    return c.decimal(value, path, K_DECIMALS, 0, MAX_K)


def _timezone(c: Collector, value: Any) -> str | None:
    name = c.string(value, "timezone")
    if name is None:
        return None
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        c.add("timezone", f'unknown time zone {name!r} (use an IANA name like "Europe/Moscow")')
        return None
    return name


def _hour(c: Collector, value: Any, path: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
        c.add(path, f"must be 0..23, got {value!r}")
        return None
    return value


def _weekdays(c: Collector, value: Any, path: str) -> frozenset[int] | None:
    items = c.list(value, path, min_items=1)
    if items is None:
        return None
    days = set()
    for i, day in enumerate(items):
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 7:
            c.add(index_path(path, i), f"must be an ISO weekday 1..7 (1 = Monday), got {day!r}")
        else:
            days.add(day)
    return frozenset(days)


_TIME_RULE_FIELDS = {
    "date": ("date",),
    "weekdays_hours": ("weekdays", "from_hour", "to_hour"),
    "weekdays": ("weekdays",),
    "hours": ("from_hour", "to_hour"),
}


def _time_rules(c: Collector, value: Any) -> tuple[TimeRule, ...]:
    items = c.list(value, "time_rules")
    if items is None:
        return ()
    out = []
    for i, raw in enumerate(items):
        path = index_path("time_rules", i)
        kind = raw.get("type") if isinstance(raw, Mapping) else None
        if kind not in _TIME_RULE_FIELDS:
            if isinstance(raw, Mapping):
                c.add(key_path(path, "type"), "must be one of " + ", ".join(TIME_RULE_KINDS) + f", got {kind!r}")
            else:
                c.object(raw, path)
            continue
        fields = _TIME_RULE_FIELDS[kind]
        obj = c.object(raw, path, required=("type", "k", *fields))
        if obj is None:
            continue
        k = _k(c, obj["k"], key_path(path, "k")) if "k" in obj else None
        rule = TimeRule(kind=kind, k=k or 0)
        if "date" in fields and "date" in obj:
            date = _date(c, obj["date"], key_path(path, "date"))
            rule = TimeRule(kind=kind, k=rule.k, date=date)
        if "weekdays" in fields and "weekdays" in obj:
            days = _weekdays(c, obj["weekdays"], key_path(path, "weekdays")) or frozenset()
            rule = TimeRule(kind=kind, k=rule.k, weekdays=days)
        if "from_hour" in fields:
            start = _hour(c, obj.get("from_hour"), key_path(path, "from_hour")) if "from_hour" in obj else None
            end = _hour(c, obj.get("to_hour"), key_path(path, "to_hour")) if "to_hour" in obj else None
            rule = TimeRule(
                kind=kind,
                k=rule.k,
                weekdays=rule.weekdays,
                from_hour=start if start is not None else 0,
                to_hour=end if end is not None else 23,
            )
        out.append(rule)
    return tuple(out)


def _date(c: Collector, value: Any, path: str) -> dt.date | None:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    c.add(path, f'must be a date "YYYY-MM-DD", got {value!r}')
    return None


def _tiers(c: Collector, value: Any) -> tuple[Tier, ...]:
    items = c.list(value, "receipt_tiers")
    if items is None:
        return ()
    tiers: dict[int, Tier] = {}
    for i, raw in enumerate(items):
        path = index_path("receipt_tiers", i)
        obj = c.object(raw, path, required=("from", "k"))
        if obj is None:
            continue
        start = c.integer(obj["from"], key_path(path, "from"), 0, MAX_AMOUNT) if "from" in obj else None
        k = _k(c, obj["k"], key_path(path, "k")) if "k" in obj else None
        if start is None or k is None:
            continue
        if start in tiers:
            c.add(key_path(path, "from"), f"another tier already starts at {start}")
            continue
        tiers[start] = Tier(start, k)
    return tuple(sorted(tiers.values(), key=lambda t: t.from_amount))


def _check_name(c: Collector, name: Any, path: str) -> bool:
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        c.add(path, "names must be non-empty strings of at most 100 characters")
        return False
    return True


def _categories(c: Collector, value: Any) -> dict[str, Category]:
    obj = c.object(value, "categories", optional=value.keys() if isinstance(value, Mapping) else ())
    if obj is None:
        return {}
    out = {}
    for name, raw in obj.items():
        path = key_path("categories", str(name))
        if not _check_name(c, name, path):
            continue
        entry = c.object(raw, path, optional=("k", "redeemable"))
        if entry is None:
            continue
        k = _k(c, entry["k"], key_path(path, "k")) if "k" in entry else None
        redeemable = c.boolean(entry["redeemable"], key_path(path, "redeemable")) if "redeemable" in entry else True
        out[name] = Category(k=k, redeemable=redeemable is not False)
    return out


def _groups(c: Collector, value: Any) -> dict[str, CategoryGroup]:
    obj = c.object(value, "category_groups", optional=value.keys() if isinstance(value, Mapping) else ())
    if obj is None:
        return {}
    out = {}
    for name, raw in obj.items():
        path = key_path("category_groups", str(name))
        if not _check_name(c, name, path):
            continue
        entry = c.object(raw, path, required=("categories", "k"))
        if entry is None:
            continue
        members = (
            c.list(entry.get("categories"), key_path(path, "categories"), min_items=1)
            if "categories" in entry
            else None
        )
        k = _k(c, entry["k"], key_path(path, "k")) if "k" in entry else None
        names = []
        for i, member in enumerate(members or []):
            if _check_name(c, member, index_path(key_path(path, "categories"), i)):
                names.append(member)
        if members is not None and k is not None:
            out[name] = CategoryGroup(categories=frozenset(names), k=k)
    return out


def _products(c: Collector, value: Any) -> dict[str, Product]:
    obj = c.object(value, "products", optional=value.keys() if isinstance(value, Mapping) else ())
    if obj is None:
        return {}
    out = {}
    for sku, raw in obj.items():
        path = key_path("products", str(sku))
        if not _check_name(c, sku, path):
            continue
        entry = c.object(raw, path, optional=("category", "k", "redeemable"))
        if entry is None:
            continue
        category = None
        if "category" in entry and _check_name(c, entry["category"], key_path(path, "category")):
            category = entry["category"]
        k = _k(c, entry["k"], key_path(path, "k")) if "k" in entry else None
        redeemable = c.boolean(entry["redeemable"], key_path(path, "redeemable")) if "redeemable" in entry else True
        out[sku] = Product(category=category, k=k, redeemable=redeemable is not False)
    return out


def _levels(c: Collector, value: Any) -> tuple[Level, ...]:
    items = c.list(value, "levels")
    if items is None:
        return ()
    names: set[str] = set()
    starts: set[int] = set()
    out = []
    for i, raw in enumerate(items):
        path = index_path("levels", i)
        obj = c.object(raw, path, required=("name", "from_spend", "percent"))
        if obj is None:
            continue
        name = c.string(obj["name"], key_path(path, "name"), max_length=100) if "name" in obj else None
        start = c.integer(obj["from_spend"], key_path(path, "from_spend"), 0, 2**62) if "from_spend" in obj else None
        percent = _percent(c, obj["percent"], key_path(path, "percent")) if "percent" in obj else None
        if name is not None and name in names:
            c.add(key_path(path, "name"), f"level {name!r} is defined twice")
            continue
        if start is not None and start in starts:
            c.add(key_path(path, "from_spend"), f"another level already starts at {start}")
            continue
        if name is None or start is None or percent is None:
            continue
        names.add(name)
        starts.add(start)
        out.append(Level(name, start, percent))
    return tuple(sorted(out, key=lambda level: level.from_spend))


def _redemption(c: Collector, value: Any) -> Redemption:
    if value is None:
        return Redemption()
    obj = c.object(
        value,
        "redemption",
        optional=("max_percent", "reduced_max_percent", "discount_threshold_percent", "accrue_on_redeemed"),
    )
    if obj is None:
        return Redemption()
    max_percent = _percent(c, obj["max_percent"], "redemption.max_percent") if "max_percent" in obj else 0
    reduced = max_percent
    if "reduced_max_percent" in obj:
        reduced = _percent(c, obj["reduced_max_percent"], "redemption.reduced_max_percent")
    threshold: int | None = 100 * 100
    if "discount_threshold_percent" in obj:
        threshold = _percent(c, obj["discount_threshold_percent"], "redemption.discount_threshold_percent")
    accrue = False
    if "accrue_on_redeemed" in obj:
        accrue = c.boolean(obj["accrue_on_redeemed"], "redemption.accrue_on_redeemed") or False
    return Redemption(
        max_percent=max_percent or 0,
        reduced_max_percent=reduced or 0,
        discount_threshold_percent=threshold if threshold is not None else 100 * 100,
        accrue_on_redeemed=accrue,
    )
