"""Promotions at the till (marketing.md, "Promotions"; docs/accrual.md, "Promotions"): pure, no I/O.

A store's agent holds a :class:`PromotionSet` (published beside the rule set, versioned: docs/sync.md,
"Promotions down"). When it quotes a receipt it asks :meth:`PromotionSet.select` which promotions
apply (store, dates, weekdays, hours, audience, birthday window, receipt conditions, promo code,
per-customer limits, priority, combinable), and hands their rewards to the calculator:
multipliers as :class:`~shared.receipts.Campaign` (accrual.md's k_campaign), discounts and fixed
points as :class:`~shared.receipts.Reward`. The arithmetic is the calculator's (reference and
kernel); this module only chooses.

The document (JSON)::

    {"version": 4,
     "promotions": [{"id": "P1", "name": "Sushi x2", "stores": ["S1"], "from": "2026-12-01",
       "to": "2026-12-31", "weekdays": [5, 6], "from_hour": 17, "to_hour": 18,
       "audience": "segments", "segments": [3],
       "conditions": {"min_total": 100000, "skus": ["SKU-1"], "categories": ["SUSHI"],
                      "min_quantity": "2", "match": "any", "code_list": "SPRING"},
       "reward": {"kind": "multiplier", "k": "2"},
       "reward_lines": {"skus": [...], "categories": [...]},
       "limit": {"times": 1, "per": "week"}, "birthday": {"days_before": 3, "days_after": 3},
       "priority": 10, "combinable": true}],
     "code_lists": [{"id": "SPRING", "kind": "single", "max_uses": 1, "from": "2026-03-01",
       "to": "2026-05-31", "offline": "bounded", "offline_limit": 100, "key": "<hex>", "stores": null}]}

Rewards: ``{"kind": "multiplier", "k": "2"}``, ``{"kind": "points", "points": 5000, "per_units": "2",
"expires_days": 30}`` (``expires_days``: temporary points), ``{"kind": "percent_off", "percent": "10"}``,
``{"kind": "money_off", "amount": 5000}``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._validate import Collector, index_path, key_path
from .errors import ValidationError
from .numbers import K_DECIMALS, MAX_AMOUNT, MAX_K, MAX_PERCENT, MAX_QUANTITY, PERCENT_DECIMALS, QUANTITY_DECIMALS
from .receipts import (
    FIXED_POINTS,
    MAX_REWARD_POINTS,
    MAX_REWARDS,
    MONEY_OFF,
    PERCENT_OFF,
    Campaign,
    Reward,
)

MULTIPLIER = "multiplier"
REWARD_KINDS = (MULTIPLIER, FIXED_POINTS, PERCENT_OFF, MONEY_OFF)
AUDIENCES = ("all", "identified", "segments")
LIMIT_PERIODS = ("day", "week", "year", "promotion")
CODE_KINDS = ("single", "multi", "personal")
OFFLINE_POLICIES = ("never", "bounded")
#: multipliers per receipt (accrual.md: at most 5 campaigns); discounts and fixed points: MAX_REWARDS
MAX_MULTIPLIERS = 5
MAX_PROMOTIONS = 10_000


class PromotionError(ValidationError):
    """The promotions document does not follow this module's format."""

    code = "invalid_promotions"
    what = "promotions"


@dataclass(frozen=True, slots=True)
class CodeList:
    id: str
    kind: str = "single"  # single | multi | personal
    max_uses: int = 1  # per code
    starts: dt.date | None = None
    ends: dt.date | None = None
    offline: str = "never"  # never | bounded (single-use codes up to offline_limit per store)
    offline_limit: int = 0
    key: bytes = b""  # the list's HMAC key (shared/promo_codes.py); empty: uploaded codes, no offline check
    tag_length: int = 3
    check: bool = True
    prefix: str = ""
    stores: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class Promotion:
    id: str
    name: str
    reward_kind: str
    value: int  # k x1000 | points | percent x100 | money
    stores: frozenset[str] | None = None
    starts: dt.date | None = None
    ends: dt.date | None = None
    weekdays: frozenset[int] | None = None
    from_hour: int | None = None
    to_hour: int | None = None
    audience: str = "all"
    segments: frozenset[int] = frozenset()
    min_total: int = 0
    skus: frozenset[str] | None = None  # condition: any / all of these present
    categories: frozenset[str] | None = None
    min_quantity: int = 0  # x1000, per SKU or category named (0: present at all)
    match: str = "any"
    code_list: str | None = None
    reward_skus: frozenset[str] | None = None  # the lines rewarded (default: the condition's)
    reward_categories: frozenset[str] | None = None
    per_units: int = 0  # fixed points per N matching units (x1000); 0: per receipt
    expires_days: int | None = None  # temporary points
    limit_times: int = 0  # 0: no limit per customer
    limit_per: str = "promotion"
    birthday_before: int | None = None  # a birthday promotion: within the window, once a year
    birthday_after: int = 0
    priority: int = 0
    combinable: bool = True

    @property
    def lines_filter(self) -> tuple[frozenset[str] | None, frozenset[str] | None]:
        if self.reward_skus is not None or self.reward_categories is not None:
            return self.reward_skus, self.reward_categories
        return self.skus, self.categories

    def campaign(self) -> Campaign:
        skus, categories = self.lines_filter
        return Campaign(k=self.value, skus=skus, categories=categories, id=self.id)

    def reward(self) -> Reward:
        skus, categories = self.lines_filter
        return Reward(self.reward_kind, self.value, skus, categories, self.per_units, self.id)

    @property
    def needs_identified(self) -> bool:
        return self.audience != "all" or self.limit_times > 0 or self.birthday_before is not None


@dataclass(frozen=True, slots=True)
class Shopper:
    """What the agent knows of the customer for promotions (None customer: an anonymous receipt)."""

    customer_id: str | None = None
    segments: frozenset[int] = frozenset()
    birthday: str | None = None  # YYYY-MM-DD or --MM-DD
    #: promotion id -> the local dates (ISO) of this customer's earlier rewards from it (the agent's record)
    uses: Mapping[str, Sequence[str]] = field(default_factory=dict)


ANONYMOUS = Shopper()


@dataclass(frozen=True, slots=True)
class Basket:
    """The receipt as the conditions read it: local time, total, quantities by SKU and category."""

    local: dt.datetime
    total: int
    sku_quantity: Mapping[str, int]
    category_quantity: Mapping[str, int]


def basket(local: dt.datetime, lines: Iterable[Any], categories: Iterable[str | None]) -> Basket:
    """A receipt's lines (``sku``, ``quantity``, ``amount``) with their categories (the rule set's choice)."""
    total = 0
    skus: dict[str, int] = {}
    cats: dict[str, int] = {}
    for line, category in zip(lines, categories, strict=True):
        total += line.amount
        units = line.quantity or 1000  # a line sold with quantity 0 counts as one unit
        if line.sku is not None:
            skus[line.sku] = skus.get(line.sku, 0) + units
        if category is not None:
            cats[category] = cats.get(category, 0) + units
    return Basket(local, total, skus, cats)


@dataclass(frozen=True, slots=True)
class Applied:
    """A promotion chosen for a receipt, with the promo code that unlocked it (if any)."""

    promotion: Promotion
    code: str | None = None


class PromotionSet:
    """A store's promotions and code lists, indexed for selection (about 1 microsecond per candidate)."""

    def __init__(self, version: int, promotions: Sequence[Promotion], code_lists: Sequence[CodeList] = ()) -> None:
        self.version = version
        #: priority order: higher priority first, then the document's order
        self.promotions = tuple(sorted(promotions, key=lambda p: -p.priority))
        self.by_id = {p.id: p for p in self.promotions}
        self.code_lists = {c.id: c for c in code_lists}
        self._rank = {p.id: i for i, p in enumerate(self.promotions)}
        # candidates: promotions without an item condition always; the others by the SKUs/categories they name
        self._general: list[int] = []
        self._by_sku: dict[str, list[int]] = {}
        self._by_category: dict[str, list[int]] = {}
        for i, p in enumerate(self.promotions):
            if p.skus is None and p.categories is None:
                self._general.append(i)
            for sku in p.skus or ():
                self._by_sku.setdefault(sku, []).append(i)
            for cat in p.categories or ():
                self._by_category.setdefault(cat, []).append(i)

    def __len__(self) -> int:
        return len(self.promotions)

    def candidates(self, store: str, bag: Basket) -> list[Promotion]:
        found = set(self._general)
        for sku in bag.sku_quantity:
            found.update(self._by_sku.get(sku, ()))
        for cat in bag.category_quantity:
            found.update(self._by_category.get(cat, ()))
        return [self.promotions[i] for i in sorted(found)]

    def select(self, store: str, bag: Basket, shopper: Shopper, codes: Mapping[str, str] = {}) -> list[Applied]:
        """The promotions this receipt gets, in priority order.

        :param codes: accepted promo codes, list id -> code (the agent checked them first).

        Priority decides (higher first, then the document's order): the first applicable promotion is
        taken; a non-combinable one is taken only if nothing is taken yet, and then nothing else is;
        a combinable one is taken while everything taken is combinable. At most 5 multipliers
        (accrual.md's campaigns) and 20 discounts or fixed points; the rest are skipped.
        """
        day = bag.local.date()
        taken: list[Applied] = []
        multipliers = rewards = 0
        for p in self.candidates(store, bag):
            if taken and (not p.combinable or not taken[-1].promotion.combinable):
                continue
            multiplier = p.reward_kind == MULTIPLIER
            if (multipliers if multiplier else rewards) >= (MAX_MULTIPLIERS if multiplier else MAX_REWARDS):
                if multipliers >= MAX_MULTIPLIERS and rewards >= MAX_REWARDS:
                    break  # nothing more can be taken
                continue  # that kind is full: no need to look at its conditions
            code = None
            if p.code_list is not None:
                code = codes.get(p.code_list)
                if code is None:
                    continue
            if not applies(p, store, bag, shopper, day):
                continue
            if multiplier:
                multipliers += 1
            else:
                rewards += 1
            taken.append(Applied(p, code))
            if not p.combinable:
                break
        return taken

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "promotions": [promotion_doc(p) for p in self.promotions],
            "code_lists": [code_list_doc(c) for c in self.code_lists.values()],
        }


def calculator_inputs(applied: Sequence[Applied]) -> tuple[list[Campaign], list[Reward]]:
    """The chosen promotions as the calculator's campaigns (multipliers) and rewards, in priority order."""
    campaigns = [a.promotion.campaign() for a in applied if a.promotion.reward_kind == MULTIPLIER]
    rewards = [a.promotion.reward() for a in applied if a.promotion.reward_kind != MULTIPLIER]
    return campaigns, rewards


def applies(p: Promotion, store: str, bag: Basket, shopper: Shopper, day: dt.date) -> bool:
    """Every condition of ``p`` but the promo code and the caps of :meth:`PromotionSet.select`."""
    if p.stores is not None and store not in p.stores:
        return False
    if (p.starts is not None and day < p.starts) or (p.ends is not None and day > p.ends):
        return False
    if p.weekdays is not None and bag.local.isoweekday() not in p.weekdays:
        return False
    if p.from_hour is not None and p.to_hour is not None and not _in_hours(bag.local.hour, p.from_hour, p.to_hour):
        return False
    if p.needs_identified and shopper.customer_id is None:
        return False
    if p.audience == "segments" and not (p.segments & shopper.segments):
        return False
    if bag.total < p.min_total:
        return False
    if (p.skus is not None or p.categories is not None) and not _items_match(p, bag):
        return False
    if p.birthday_before is not None and not in_birthday_window(
        shopper.birthday, day, p.birthday_before, p.birthday_after
    ):
        return False
    if p.limit_times > 0 and used(shopper.uses.get(p.id, ()), p.limit_per, day) >= p.limit_times:
        return False
    return True


def _in_hours(hour: int, start: int, end: int) -> bool:
    """Whole hours, both included; a wrapping interval (22..2) covers both ends (accrual.md's reading)."""
    return start <= hour <= end if start <= end else (hour >= start or hour <= end)


def _items_match(p: Promotion, bag: Basket) -> bool:
    need = max(p.min_quantity, 1)
    skus, cats = p.skus or frozenset(), p.categories or frozenset()
    if p.match == "all":  # every one named is there (the first missing one answers)
        return all(bag.sku_quantity.get(s, 0) >= need for s in skus) and all(
            bag.category_quantity.get(c, 0) >= need for c in cats
        )
    # any: the receipt's few SKUs and categories looked up in the promotion's sets
    return any(q >= need and s in skus for s, q in bag.sku_quantity.items()) or any(
        q >= need and c in cats for c, q in bag.category_quantity.items()
    )


def used(dates: Sequence[str], per: str, day: dt.date) -> int:
    """How many of a customer's earlier rewards (local dates) fall in the limit's period around ``day``:
    the same day, the same ISO week, the same calendar year, or ever (``promotion``)."""
    if per == "promotion":
        return len(dates)
    count = 0
    for text in dates:
        d = dt.date.fromisoformat(text)
        if (
            (per == "day" and d == day)
            or (per == "week" and d.isocalendar()[:2] == day.isocalendar()[:2])
            or (per == "year" and d.year == day.year)
        ):
            count += 1
    return count


def birthday_on(birthday: str, year: int) -> dt.date | None:
    """The customer's birthday in ``year`` (29 February: 28 February in other years); None if unreadable."""
    try:
        month, day = int(birthday[-5:-3]), int(birthday[-2:])
        if month == 2 and day == 29:
            leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
            return dt.date(year, 2, 29 if leap else 28)
        return dt.date(year, month, day)
    except (ValueError, TypeError, IndexError):
        return None


def in_birthday_window(birthday: str | None, day: dt.date, before: int, after: int) -> bool:
    """Whether ``day`` is within ``before`` days before to ``after`` days after the birthday (any year
    around it, so a window across New Year works)."""
    if not birthday:
        return False
    for year in (day.year - 1, day.year, day.year + 1):
        b = birthday_on(birthday, year)
        if b is not None and b - dt.timedelta(days=before) <= day <= b + dt.timedelta(days=after):
            return True
    return False


# -- the document ---------------------------------------------------------------------------------------

_FIELDS = (
    "id",
    "name",
    "stores",
    "from",
    "to",
    "weekdays",
    "from_hour",
    "to_hour",
    "audience",
    "segments",
    "conditions",
    "reward",
    "reward_lines",
    "limit",
    "birthday",
    "priority",
    "combinable",
)


def parse_promotions(doc: Any) -> PromotionSet:
    """Validate a promotions document and index it; every problem is reported with its path.

    :raises PromotionError:
    """
    c = Collector()
    obj = c.object(doc, "", required=("version", "promotions"), optional=("code_lists", "store"))
    if obj is None:
        raise PromotionError(c.problems)
    version = c.integer(obj.get("version"), "version", 0, 2**62)
    lists: list[CodeList] = []
    for i, raw in enumerate(c.list(obj.get("code_lists", []), "code_lists", max_items=10_000) or []):
        found = _code_list(c, raw, index_path("code_lists", i))
        if found is not None:
            lists.append(found)
    list_ids = {cl.id for cl in lists}
    promotions: list[Promotion] = []
    seen: set[str] = set()
    for i, raw in enumerate(c.list(obj.get("promotions"), "promotions", max_items=MAX_PROMOTIONS) or []):
        path = index_path("promotions", i)
        p = _promotion(c, raw, path)
        if p is None:
            continue
        if p.id in seen:
            c.add(key_path(path, "id"), f"the id {p.id!r} is used twice")
        if p.code_list is not None and p.code_list not in list_ids:
            c.add(key_path(path, "conditions.code_list"), f"no code list {p.code_list!r} in code_lists")
        seen.add(p.id)
        promotions.append(p)
    if c.problems:
        raise PromotionError(c.problems)
    assert version is not None
    return PromotionSet(version, promotions, lists)


def _date(c: Collector, value: Any, path: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        c.add(path, f"must be a date YYYY-MM-DD, got {value!r}")
        return None


def _names(c: Collector, value: Any, path: str) -> frozenset[str] | None:
    if value is None:
        return None
    items = c.list(value, path, max_items=10_000)
    if items is None:
        return None
    return frozenset(s for j, v in enumerate(items) if (s := c.string(v, index_path(path, j), max_length=100)))


def _promotion(c: Collector, raw: Any, path: str) -> Promotion | None:
    before = len(c.problems)
    obj = c.object(raw, path, required=("id", "name", "reward"), optional=_FIELDS)
    if obj is None:
        return None
    ident = c.string(obj["id"], key_path(path, "id"), max_length=64) if "id" in obj else None
    name = c.string(obj["name"], key_path(path, "name"), max_length=200) if "name" in obj else None
    values: dict[str, Any] = {}
    values["stores"] = _names(c, obj.get("stores"), key_path(path, "stores"))
    values["starts"] = _date(c, obj.get("from"), key_path(path, "from"))
    values["ends"] = _date(c, obj.get("to"), key_path(path, "to"))
    if values["starts"] and values["ends"] and values["starts"] > values["ends"]:
        c.add(key_path(path, "to"), "must not be before from")
    if obj.get("weekdays") is not None:
        days = c.list(obj["weekdays"], key_path(path, "weekdays"), min_items=1, max_items=7) or []
        values["weekdays"] = frozenset(
            d for j, v in enumerate(days) if (d := c.integer(v, index_path(key_path(path, "weekdays"), j), 1, 7))
        )
    for name_ in ("from_hour", "to_hour"):
        if obj.get(name_) is not None:
            values[name_] = c.integer(obj[name_], key_path(path, name_), 0, 23)
    if ("from_hour" in values) != ("to_hour" in values):
        c.add(key_path(path, "to_hour"), "from_hour and to_hour go together")
    audience = obj.get("audience", "all")
    if audience not in AUDIENCES:
        c.add(key_path(path, "audience"), f"must be one of {', '.join(AUDIENCES)}")
    values["audience"] = audience
    if audience == "segments":
        segs = c.list(obj.get("segments"), key_path(path, "segments"), min_items=1, max_items=1000) or []
        values["segments"] = frozenset(
            s
            for j, v in enumerate(segs)
            if (s := c.integer(v, index_path(key_path(path, "segments"), j), 0, 2**62)) is not None
        )
    cond_path = key_path(path, "conditions")
    cond = c.object(
        obj.get("conditions") or {},
        cond_path,
        optional=("min_total", "skus", "categories", "min_quantity", "match", "code_list"),
    )
    if cond is not None:
        if "min_total" in cond:
            values["min_total"] = c.integer(cond["min_total"], key_path(cond_path, "min_total"), 0, MAX_AMOUNT)
        values["skus"] = _names(c, cond.get("skus"), key_path(cond_path, "skus"))
        values["categories"] = _names(c, cond.get("categories"), key_path(cond_path, "categories"))
        if "min_quantity" in cond:
            values["min_quantity"] = c.decimal(
                cond["min_quantity"], key_path(cond_path, "min_quantity"), QUANTITY_DECIMALS, 0, MAX_QUANTITY
            )
        match = cond.get("match", "any")
        if match not in ("any", "all"):
            c.add(key_path(cond_path, "match"), "must be any or all")
        values["match"] = match
        if cond.get("code_list") is not None:
            values["code_list"] = c.string(cond["code_list"], key_path(cond_path, "code_list"), max_length=64)
    lines = c.object(obj.get("reward_lines") or {}, key_path(path, "reward_lines"), optional=("skus", "categories"))
    if lines:
        values["reward_skus"] = _names(c, lines.get("skus"), key_path(path, "reward_lines.skus"))
        values["reward_categories"] = _names(c, lines.get("categories"), key_path(path, "reward_lines.categories"))
    kind, value = _reward(c, obj.get("reward"), key_path(path, "reward"), values)
    if obj.get("limit") is not None:
        lp = key_path(path, "limit")
        limit = c.object(obj["limit"], lp, required=("times", "per"))
        if limit is not None:
            values["limit_times"] = c.integer(limit.get("times"), key_path(lp, "times"), 1, 10**6)
            if limit.get("per") not in LIMIT_PERIODS:
                c.add(key_path(lp, "per"), f"must be one of {', '.join(LIMIT_PERIODS)}")
            values["limit_per"] = limit.get("per")
    if obj.get("birthday") is not None:
        bp = key_path(path, "birthday")
        birthday = c.object(obj["birthday"], bp, optional=("days_before", "days_after"))
        if birthday is not None:
            values["birthday_before"] = c.integer(birthday.get("days_before", 0), key_path(bp, "days_before"), 0, 31)
            values["birthday_after"] = c.integer(birthday.get("days_after", 0), key_path(bp, "days_after"), 0, 31)
            if "limit_times" not in values:  # once a year
                values["limit_times"], values["limit_per"] = 1, "year"
    if "priority" in obj:
        values["priority"] = c.integer(obj["priority"], key_path(path, "priority"), -(10**6), 10**6)
    if "combinable" in obj:
        values["combinable"] = c.boolean(obj["combinable"], key_path(path, "combinable"))
    if len(c.problems) > before or ident is None or name is None or kind is None or value is None:
        return None
    return Promotion(id=ident, name=name, reward_kind=kind, value=value, **values)


def _reward(c: Collector, raw: Any, path: str, values: dict[str, Any]) -> tuple[str | None, int | None]:
    obj = c.object(
        raw, path, required=("kind",), optional=("k", "points", "per_units", "expires_days", "percent", "amount")
    )
    if obj is None:
        return None, None
    kind = obj.get("kind")
    if kind == MULTIPLIER:
        return kind, c.decimal(obj.get("k"), key_path(path, "k"), K_DECIMALS, 0, MAX_K)
    if kind == FIXED_POINTS:
        if obj.get("per_units") is not None:
            values["per_units"] = c.decimal(
                obj["per_units"], key_path(path, "per_units"), QUANTITY_DECIMALS, 1, MAX_QUANTITY
            )
        if obj.get("expires_days") is not None:
            values["expires_days"] = c.integer(obj["expires_days"], key_path(path, "expires_days"), 1, 3660)
        return kind, c.integer(obj.get("points"), key_path(path, "points"), 0, MAX_REWARD_POINTS)
    if kind == PERCENT_OFF:
        return kind, c.decimal(obj.get("percent"), key_path(path, "percent"), PERCENT_DECIMALS, 0, MAX_PERCENT)
    if kind == MONEY_OFF:
        return kind, c.integer(obj.get("amount"), key_path(path, "amount"), 0, MAX_AMOUNT)
    c.add(key_path(path, "kind"), f"must be one of {', '.join(REWARD_KINDS)}")
    return None, None


def _code_list(c: Collector, raw: Any, path: str) -> CodeList | None:
    before = len(c.problems)
    obj = c.object(
        raw,
        path,
        required=("id",),
        optional=(
            "kind",
            "max_uses",
            "from",
            "to",
            "offline",
            "offline_limit",
            "key",
            "tag_length",
            "check",
            "prefix",
            "stores",
        ),
    )
    if obj is None:
        return None
    ident = c.string(obj.get("id"), key_path(path, "id"), max_length=64)
    kind = obj.get("kind", "single")
    if kind not in CODE_KINDS:
        c.add(key_path(path, "kind"), f"must be one of {', '.join(CODE_KINDS)}")
    offline = obj.get("offline", "never")
    if offline not in OFFLINE_POLICIES:
        c.add(key_path(path, "offline"), f"must be one of {', '.join(OFFLINE_POLICIES)}")
    try:
        key = bytes.fromhex(obj.get("key", ""))
    except (TypeError, ValueError):
        c.add(key_path(path, "key"), "must be hexadecimal")
        key = b""
    found = CodeList(
        id=ident or "",
        kind=kind,
        max_uses=c.integer(obj.get("max_uses", 1), key_path(path, "max_uses"), 1, 10**9) or 1,
        starts=_date(c, obj.get("from"), key_path(path, "from")),
        ends=_date(c, obj.get("to"), key_path(path, "to")),
        offline=offline,
        offline_limit=c.integer(obj.get("offline_limit", 0), key_path(path, "offline_limit"), 0, 10**9) or 0,
        key=key,
        tag_length=c.integer(obj.get("tag_length", 3), key_path(path, "tag_length"), 0, 8) or 0,
        check=bool(obj.get("check", True)),
        prefix=str(obj.get("prefix", "")),
        stores=_names(c, obj.get("stores"), key_path(path, "stores")),
    )
    return None if len(c.problems) > before else found


def promotion_doc(p: Promotion) -> dict[str, Any]:
    """The JSON form :func:`parse_promotions` reads back to an equal :class:`Promotion`."""
    from .numbers import format_scaled

    doc: dict[str, Any] = {"id": p.id, "name": p.name, "priority": p.priority, "combinable": p.combinable}
    if p.stores is not None:
        doc["stores"] = sorted(p.stores)
    if p.starts:
        doc["from"] = p.starts.isoformat()
    if p.ends:
        doc["to"] = p.ends.isoformat()
    if p.weekdays is not None:
        doc["weekdays"] = sorted(p.weekdays)
    if p.from_hour is not None:
        doc["from_hour"], doc["to_hour"] = p.from_hour, p.to_hour
    doc["audience"] = p.audience
    if p.audience == "segments":
        doc["segments"] = sorted(p.segments)
    cond: dict[str, Any] = {"match": p.match}
    if p.min_total:
        cond["min_total"] = p.min_total
    if p.skus is not None:
        cond["skus"] = sorted(p.skus)
    if p.categories is not None:
        cond["categories"] = sorted(p.categories)
    if p.min_quantity:
        cond["min_quantity"] = format_scaled(p.min_quantity, 3)
    if p.code_list is not None:
        cond["code_list"] = p.code_list
    doc["conditions"] = cond
    if p.reward_skus is not None or p.reward_categories is not None:
        doc["reward_lines"] = {
            k: sorted(v) for k, v in (("skus", p.reward_skus), ("categories", p.reward_categories)) if v is not None
        }
    reward: dict[str, Any] = {"kind": p.reward_kind}
    if p.reward_kind == MULTIPLIER:
        reward["k"] = format_scaled(p.value, 3)
    elif p.reward_kind == FIXED_POINTS:
        reward["points"] = p.value
        if p.per_units:
            reward["per_units"] = format_scaled(p.per_units, 3)
        if p.expires_days:
            reward["expires_days"] = p.expires_days
    elif p.reward_kind == PERCENT_OFF:
        reward["percent"] = format_scaled(p.value, 2)
    else:
        reward["amount"] = p.value
    doc["reward"] = reward
    if p.birthday_before is not None:
        doc["birthday"] = {"days_before": p.birthday_before, "days_after": p.birthday_after}
    if p.limit_times:
        doc["limit"] = {"times": p.limit_times, "per": p.limit_per}
    return doc


def code_list_doc(cl: CodeList) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": cl.id,
        "kind": cl.kind,
        "max_uses": cl.max_uses,
        "offline": cl.offline,
        "offline_limit": cl.offline_limit,
        "key": cl.key.hex(),
        "tag_length": cl.tag_length,
        "check": cl.check,
        "prefix": cl.prefix,
    }
    if cl.starts:
        doc["from"] = cl.starts.isoformat()
    if cl.ends:
        doc["to"] = cl.ends.isoformat()
    if cl.stores is not None:
        doc["stores"] = sorted(cl.stores)
    return doc


EMPTY = PromotionSet(0, ())
