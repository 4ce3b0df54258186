"""Receipts in columns: the layout the batch kernel reads (shared/batch.py quotes it).

``prepare(rules, items)`` lays out calculator inputs; ``prepare_columns`` builds
the same layout straight from arrays (rows read from a database, times as UTC
epoch seconds). Both check the documented ranges the kernel is proven on.
The layout (numpy arrays; n receipts, m lines, J distinct campaigns). Names
are coded as indexes into the vocabularies ``skus``, ``categories``,
``levels`` and ``campaigns``; -1 means "none".

=========================== ========= =========================================================
per receipt                 dtype     meaning
=========================== ========= =========================================================
``line_start`` [n + 1]      int64     receipt r's lines are ``line_start[r]:line_start[r + 1]``
``day``                     int32     local date ordinal (``date.toordinal()``) in ``timezone``
``weekday``                 int8      ISO weekday of that date, 1 = Monday
``hour``                    int8      local hour 0..23
``redeem``                  int64     points the receipt redeems (0 .. 2**62)
``balance``                 int64     available points, where ``has_balance`` is 1
``has_balance``             uint8     0: not limited by a balance (a what-if)
``store_percent``           int32     the customer's personal store percent x100, -1: none
``network_percent``         int32     personal network-wide percent x100, -1: none
``level``                   int32     the customer's level (``levels``), -1: none
``campaign_start`` [n + 1]  int64     receipt r's campaigns: ``campaign[campaign_start[r]:...[r + 1]]``
``campaign``                int32     index into ``campaigns``
=========================== ========= =========================================================

=========================== ========= =========================================================
per line / per campaign     dtype     meaning
=========================== ========= =========================================================
``sku`` [m]                 int32     the line's SKU (``skus``), -1: none
``category`` [m]            int32     the category the receipt sends (``categories``), -1: none
``amount``, ``discount``    int64     minor units, 0 .. 10**10
``quantity`` [m]            int64     x1000 (fixed points per N units); 1000 when not given
``campaign_k`` [J]          int32     multiplier x1000
``campaign_all`` [J]        uint8     1: applies to every line (neither skus nor categories)
``campaign_kind`` [J]       uint8     0 multiplier (a Campaign), 1 percent_off, 2 money_off, 3 points (a Reward)
``campaign_value`` [J]      int64     a reward's percent x100, money or points
``campaign_per_units`` [J]  int64     a points reward's N units x1000 (0: per receipt)
``campaign_sku_start``      int64     [J + 1] offsets into ``campaign_sku`` (sorted indexes)
``campaign_category_start`` int64     [J + 1] offsets into ``campaign_category`` (sorted)
=========================== ========= =========================================================

The columns do not depend on the rule set except for the local time (its
zone): a product's category and every coefficient are looked up per
vocabulary entry at quote time, so one preparation serves the draft and the
current rule set alike.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import Problem, ReceiptError
from .numbers import MAX_AMOUNT, MAX_CAMPAIGNS, MAX_K, MAX_PERCENT, MAX_QUANTITY
from .receipts import (
    FIXED_POINTS,
    MAX_REWARD_POINTS,
    MAX_REWARDS,
    MONEY_OFF,
    PERCENT_OFF,
    Campaign,
    CustomerTerms,
    Receipt,
    Reward,
)
from .rules import RuleSet

#: redeem and balance are clamped to this: past it every answer is the same
CLAMP = 2**62
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()

#: the fourth element: the receipt's multipliers (Campaign) and promotions' rewards (Reward), rewards in order
Item = tuple[Receipt, CustomerTerms, "int | None", Sequence["Campaign | Reward"]]
REWARD_KINDS = {PERCENT_OFF: 1, MONEY_OFF: 2, FIXED_POINTS: 3}


@dataclass(frozen=True, eq=False)
class Prepared:
    """Receipts in columns (the layout of the module docstring)."""

    timezone: str
    skus: tuple[str, ...]
    categories: tuple[str, ...]
    levels: tuple[str, ...]
    campaigns: tuple[Campaign | Reward, ...]
    line_start: np.ndarray
    day: np.ndarray
    weekday: np.ndarray
    hour: np.ndarray
    redeem: np.ndarray
    balance: np.ndarray
    has_balance: np.ndarray
    store_percent: np.ndarray
    network_percent: np.ndarray
    level: np.ndarray
    campaign_start: np.ndarray
    campaign: np.ndarray
    sku: np.ndarray
    category: np.ndarray
    amount: np.ndarray
    discount: np.ndarray
    quantity: np.ndarray
    campaign_k: np.ndarray
    campaign_all: np.ndarray
    campaign_kind: np.ndarray
    campaign_value: np.ndarray
    campaign_per_units: np.ndarray
    campaign_sku_start: np.ndarray
    campaign_sku: np.ndarray
    campaign_category_start: np.ndarray
    campaign_category: np.ndarray

    @property
    def receipts(self) -> int:
        return len(self.line_start) - 1

    @property
    def lines(self) -> int:
        return len(self.amount)

    @functools.cached_property
    def sku_index(self) -> dict[str, int]:
        """{sku: index into skus}, built once (every rule set's lookup uses it)."""
        return {name: i for i, name in enumerate(self.skus)}

    @property
    def longest(self) -> int:
        """The most lines of one receipt (the kernel's scratch size)."""
        return int(np.diff(self.line_start).max()) if self.receipts else 0


class Vocabulary(dict[Any, int]):
    """name (or campaign) -> index, in order of first appearance."""

    def code(self, name: Hashable | None) -> int:
        return -1 if name is None else self.setdefault(name, len(self))


def prepare(rules: RuleSet, items: Iterable[Item]) -> Prepared:
    """Lay out ``(receipt, terms, balance, campaigns)`` items in columns, local times in the rules' zone.

    :raises ReceiptError: an item past the documented ranges (paths ``items[i]...``).
    """
    zone = rules.zone()
    skus, categories, levels, campaigns = Vocabulary(), Vocabulary(), Vocabulary(), Vocabulary()
    cols: dict[str, list[Any]] = {name: [] for name in RECEIPT_INPUTS + LINE_INPUTS}
    line_start, campaign_start = [0], [0]
    for receipt, terms, balance, receipt_campaigns in items:
        local = receipt.at.astimezone(zone)
        cols["day"].append(local.toordinal())
        cols["hour"].append(local.hour)
        cols["redeem"].append(receipt.redeem)
        cols["balance"].append(0 if balance is None else balance)
        cols["has_balance"].append(balance is not None)
        cols["store_percent"].append(-1 if terms.store_percent is None else terms.store_percent)
        cols["network_percent"].append(-1 if terms.network_percent is None else terms.network_percent)
        cols["level"].append(levels.code(terms.level))
        cols["campaign"].extend(campaigns.code(c) for c in receipt_campaigns)
        campaign_start.append(len(cols["campaign"]))
        for line in receipt.lines:
            cols["sku"].append(skus.code(line.sku))
            cols["category"].append(categories.code(line.category))
            cols["amount"].append(line.amount)
            cols["discount"].append(line.discount)
            cols["quantity"].append(line.quantity)
        line_start.append(len(cols["amount"]))
    return _assemble(rules.timezone, cols, line_start, campaign_start, skus, categories, levels, list(campaigns))


def prepare_columns(
    timezone: str,
    *,
    at: Any,
    line_start: Any,
    sku: Any,
    category: Any,
    amount: Any,
    discount: Any,
    skus: Sequence[str],
    categories: Sequence[str],
    redeem: Any = None,
    balance: Any = None,
    has_balance: Any = None,
    store_percent: Any = None,
    network_percent: Any = None,
    level: Any = None,
    levels: Sequence[str] = (),
    campaign_start: Any = None,
    campaign: Any = None,
    campaigns: Sequence[Campaign | Reward] = (),
    quantity: Any = None,
) -> Prepared:
    """The same layout from arrays: ``at`` is UTC epoch seconds per receipt, names already coded.

    Columns left out mean: nothing redeemed, no balance, no personal percent or
    level, no campaigns.
    :raises ReceiptError: a value past the documented ranges.
    """
    n = len(line_start) - 1
    day, _, hour = local_time(timezone, at)
    none = np.full(n, -1, np.int32)
    cols = {
        "day": day,
        "hour": hour,
        "redeem": np.zeros(n, np.int64) if redeem is None else redeem,
        "balance": np.zeros(n, np.int64) if balance is None else balance,
        "has_balance": np.zeros(n, np.uint8) if has_balance is None else has_balance,
        "store_percent": none if store_percent is None else store_percent,
        "network_percent": none if network_percent is None else network_percent,
        "level": none if level is None else level,
        "campaign": np.zeros(0, np.int32) if campaign is None else campaign,
        "sku": sku,
        "category": category,
        "amount": amount,
        "discount": discount,
        "quantity": np.full(len(amount), 1000, np.int64) if quantity is None else quantity,
    }
    starts = np.zeros(n + 1, np.int64) if campaign_start is None else campaign_start
    vocabularies = {}
    for what, names in (("skus", skus), ("categories", categories), ("levels", levels)):
        vocabularies[what] = Vocabulary((name, i) for i, name in enumerate(names))
        if len(vocabularies[what]) != len(names):
            raise ReceiptError([Problem(what, "names must be distinct")])
    return _assemble(
        timezone,
        cols,
        line_start,
        starts,
        vocabularies["skus"],
        vocabularies["categories"],
        vocabularies["levels"],
        list(campaigns),
    )


def local_time(timezone: str, at: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local (date ordinal, ISO weekday, hour) of UTC epoch seconds, exactly as ``astimezone``.

    The zone's offset is looked up once per distinct UTC hour; an hour in which
    the offset changes (a transition) is converted second by second.
    """
    zone = zoneinfo.ZoneInfo(timezone)
    at = np.ascontiguousarray(at, dtype=np.int64)
    hours, inverse = np.unique(at // 3600, return_inverse=True)
    offsets = np.empty(len(hours), np.int64)
    changing = []
    for i, h in enumerate(hours.tolist()):
        start = _offset(zone, h * 3600)
        offsets[i] = start
        if _offset(zone, h * 3600 + 3599) != start:
            changing.append(h)
    local = at + offsets[inverse.reshape(at.shape)]
    if changing:
        for i in np.flatnonzero(np.isin(at // 3600, changing)).tolist():
            local[i] = at[i] + _offset(zone, int(at[i]))
    day = (local // 86400 + _EPOCH_ORDINAL).astype(np.int32)
    return day, ((day - 1) % 7 + 1).astype(np.int8), (local % 86400 // 3600).astype(np.int8)


def _offset(zone: zoneinfo.ZoneInfo, seconds: int) -> int:
    offset = dt.datetime.fromtimestamp(seconds, zone).utcoffset()
    assert offset is not None
    return offset // dt.timedelta(seconds=1)


RECEIPT_INPUTS = (
    "day",
    "hour",
    "redeem",
    "balance",
    "has_balance",
    "store_percent",
    "network_percent",
    "level",
    "campaign",
)
LINE_INPUTS = ("sku", "category", "amount", "discount", "quantity")


def _assemble(
    timezone: str,
    cols: dict[str, Any],
    line_start: Any,
    campaign_start: Any,
    skus: Vocabulary,
    categories: Vocabulary,
    levels: Vocabulary,
    campaigns: list[Campaign | Reward],
) -> Prepared:
    """Check the ranges the kernel is proven on, build the campaign tables, freeze the arrays."""
    problems: list[Problem] = []
    starts = _offsets(line_start, "line_start", len(cols["amount"]))
    n = len(starts) - 1
    c_starts = _offsets(campaign_start, "campaign_start", len(cols["campaign"]))
    per_receipt = np.diff(c_starts)
    if len(c_starts) != n + 1:
        raise ReceiptError([Problem("campaign_start", "needs one offset per receipt and one more")])
    is_reward = np.array([isinstance(c, Reward) for c in campaigns] or [False], bool)
    codes = np.asarray(cols["campaign"], np.int64) if len(cols["campaign"]) else np.zeros(0, np.int64)
    if len(codes) and (codes.min() < 0 or codes.max() >= len(campaigns)):
        codes = np.zeros(0, np.int64)  # reported by _column below
    if len(codes) == len(cols["campaign"]) and len(c_starts) == n + 1:
        rewards_at = np.concatenate([[0], np.cumsum(is_reward[codes] if len(codes) else [])]).astype(np.int64)
        rewards = rewards_at[c_starts[1:]] - rewards_at[c_starts[:-1]]
        multipliers = per_receipt - rewards
        if np.any(multipliers > MAX_CAMPAIGNS):
            _report(problems, np.flatnonzero(multipliers > MAX_CAMPAIGNS), "campaigns", f"at most {MAX_CAMPAIGNS}")
        if np.any(rewards > MAX_REWARDS):
            _report(problems, np.flatnonzero(rewards > MAX_REWARDS), "rewards", f"at most {MAX_REWARDS}")

    arrays: dict[str, np.ndarray] = {}
    limits = {
        "day": (1, dt.date.max.toordinal(), np.int32),
        "hour": (0, 23, np.int8),
        "redeem": (0, None, np.int64),
        "balance": (None, None, np.int64),
        "has_balance": (0, 1, np.uint8),
        "store_percent": (-1, MAX_PERCENT, np.int32),
        "network_percent": (-1, MAX_PERCENT, np.int32),
        "level": (-1, len(levels) - 1, np.int32),
        "campaign": (0, len(campaigns) - 1, np.int32),
        "sku": (-1, len(skus) - 1, np.int32),
        "category": (-1, len(categories) - 1, np.int32),
        "amount": (0, MAX_AMOUNT, np.int64),
        "discount": (0, MAX_AMOUNT, np.int64),
        "quantity": (0, MAX_QUANTITY, np.int64),
    }
    for name, (low, high, dtype) in limits.items():
        values = cols[name]
        if name in ("redeem", "balance"):  # past 2**62 every answer is the same: clamp
            values = _clamped(problems, values, name)
        arrays[name] = _column(problems, values, name, low, high, dtype, starts if name in LINE_INPUTS else None)
    if not problems:
        running = np.concatenate([[0], np.cumsum(arrays["amount"])])
        totals = running[starts[1:]] - running[starts[:-1]]
        _report(problems, np.flatnonzero(totals > MAX_AMOUNT), "lines", f"the receipt total exceeds {MAX_AMOUNT}")
    tables_ = _campaign_tables(problems, campaigns, skus, categories)
    if problems:
        raise ReceiptError(problems[:20])
    day = arrays.pop("day")
    return Prepared(
        timezone=timezone,
        skus=tuple(skus),
        categories=tuple(categories),
        levels=tuple(levels),
        campaigns=tuple(campaigns),
        line_start=_frozen(starts),
        day=_frozen(day),
        weekday=_frozen(((day.astype(np.int64) - 1) % 7 + 1).astype(np.int8)),
        campaign_start=_frozen(c_starts),
        **{name: _frozen(a) for name, a in arrays.items()},
        **tables_,
    )


def _offsets(values: Any, name: str, end: int) -> np.ndarray:
    starts = np.ascontiguousarray(values, dtype=np.int64) if len(values) else np.zeros(1, np.int64)
    if starts.ndim != 1 or starts[0] != 0 or starts[-1] != end or np.any(np.diff(starts) < 0):
        raise ReceiptError([Problem(name, f"must rise from 0 to {end}")])
    return starts


def _clamped(problems: list[Problem], values: Any, name: str) -> Any:
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        return np.clip(values, -CLAMP, CLAMP)
    if any(type(v) is not int for v in values):
        return values  # _column reports it
    return [min(max(v, -CLAMP), CLAMP) for v in values]


def _column(
    problems: list[Problem],
    values: Any,
    name: str,
    low: int | None,
    high: int | None,
    dtype: Any,
    line_start: np.ndarray | None = None,
) -> np.ndarray:
    """An integer array of ``dtype`` with every value in [low, high], or problems naming the item."""
    array = np.asarray(values) if len(values) else np.zeros(0, np.int64)
    if array.dtype.kind not in "iub" or array.ndim != 1:
        problems.append(Problem(name, "must be integers (minor units, scaled percents, indexes)"))
        return np.zeros(len(values), dtype)
    array = array.astype(np.int64, copy=False)
    bad = np.zeros(len(array), bool)
    if low is not None:
        bad |= array < low
    if high is not None:
        bad |= array > high
    if bad.any():
        message = f"must be {low}..{high}" if high is not None else f"must be at least {low}"
        _report(problems, np.flatnonzero(bad), name, message, line_start)
    return np.ascontiguousarray(array, dtype=dtype)


def _report(
    problems: list[Problem], where: np.ndarray, name: str, message: str, line_start: np.ndarray | None = None
) -> None:
    """Problems at ``items[r].name``, or ``items[r].lines[i].name`` for line indexes (the first ten)."""
    for index in where[:10].tolist():
        if line_start is None:
            problems.append(Problem(f"items[{index}].{name}", message))
        else:
            r = int(np.searchsorted(line_start, index, side="right")) - 1
            problems.append(Problem(f"items[{r}].lines[{index - int(line_start[r])}].{name}", message))


def _campaign_tables(
    problems: list[Problem], campaigns: list[Campaign | Reward], skus: Vocabulary, categories: Vocabulary
) -> dict[str, np.ndarray]:
    ks, every, kinds, values, per_units, sku_lists, category_lists = [], [], [], [], [], [], []
    highs = {1: MAX_PERCENT, 2: MAX_AMOUNT, 3: MAX_REWARD_POINTS}
    for j, campaign in enumerate(campaigns):
        names = [*(campaign.skus or ()), *(campaign.categories or ())]
        if not all(isinstance(s, str) for s in names):
            problems.append(Problem(f"campaigns[{j}]", "names must be strings"))
            continue
        if isinstance(campaign, Reward):
            kind = REWARD_KINDS.get(campaign.kind, 0)
            if (
                not kind
                or type(campaign.value) is not int
                or not 0 <= campaign.value <= highs[kind]
                or type(campaign.per_units) is not int
                or not -(2**62) <= campaign.per_units <= 2**62
            ):
                problems.append(Problem(f"campaigns[{j}]", "a reward of a known kind with its value in range"))
                continue
            ks.append(1000)
            kinds.append(kind)
            values.append(campaign.value)
            per_units.append(max(campaign.per_units, 0))
        else:
            if type(campaign.k) is not int or not 0 <= campaign.k <= MAX_K:
                problems.append(Problem(f"campaigns[{j}]", f"k must be 0..{MAX_K} (x1000) and names strings"))
                continue
            ks.append(campaign.k)
            kinds.append(0)
            values.append(0)
            per_units.append(0)
        every.append(campaign.skus is None and campaign.categories is None)
        sku_lists.append(sorted(skus.code(s) for s in campaign.skus or ()))
        category_lists.append(sorted(categories.code(c) for c in campaign.categories or ()))
    return {
        "campaign_k": _frozen(np.array(ks, np.int32)),
        "campaign_all": _frozen(np.array(every, np.uint8)),
        "campaign_kind": _frozen(np.array(kinds, np.uint8)),
        "campaign_value": _frozen(np.array(values, np.int64)),
        "campaign_per_units": _frozen(np.array(per_units, np.int64)),
        "campaign_sku_start": _frozen(np.cumsum([0] + [len(s) for s in sku_lists], dtype=np.int64)),
        "campaign_sku": _frozen(np.array([i for s in sku_lists for i in s], np.int32)),
        "campaign_category_start": _frozen(np.cumsum([0] + [len(c) for c in category_lists], dtype=np.int64)),
        "campaign_category": _frozen(np.array([i for c in category_lists for i in c], np.int32)),
    }


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array
