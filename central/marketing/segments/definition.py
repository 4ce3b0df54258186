"""A segment's definition: audiences of criteria, parsed and checked (pure: no Flask, no SQLite).

The document (JSON) is::

    {"audiences": [[criterion, ...], ...],   # each audience: its criteria joined by OR
     "exclude": [criterion, ...] | null}      # at most one excluded audience (NOT)

The segment is the intersection (AND) of its audiences minus the excluded one
(marketing.md, Segments). A criterion is ``{"type": <name>, <parameters>...}``;
the names and parameters are marketing.md's Criteria table (``CRITERIA``).

:func:`parse_definition` turns a document into a :class:`Definition` (frozen
dataclasses, so identical criteria compare and hash equal and can be shared)
or raises :class:`DefinitionError` listing every problem, each naming where it
is (``audiences.1.2.to``), a message id and its parameters; the service layer
translates them (gettext, ru/en).

Units: money in integer minor units; quantities in thousandths (``"1.5"`` ->
1500); dates are local ISO dates (``YYYY-MM-DD``); a period is
``{"last_days": N}`` (the N local dates ending today, today included) or
``{"from": date, "to": date}`` (both included), absent for all time.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.numbers import is_whole


def N_(text: str) -> str:
    """Marks a message for extraction; translated where it is shown."""
    return text


MAX_AUDIENCES = 20
MAX_CRITERIA = 50


@dataclass(frozen=True)
class Problem:
    """One problem of a definition: where (a dotted path), a message id and its parameters."""

    where: str
    message: str
    params: tuple[tuple[str, Any], ...] = ()

    def text(self, gettext: Callable[..., str] | None = None) -> str:
        params = dict(self.params)
        if gettext is not None:
            return gettext(self.message, **params)
        return self.message % params if params else self.message


class DefinitionError(ValueError):
    """A definition that cannot be used; ``problems`` says every reason. Nothing was changed."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.where}: {p.text()}" for p in self.problems))

    def messages(self, gettext: Callable[..., str] | None = None) -> dict[str, str]:
        """where -> message (the first one per place), translated with ``gettext`` if given."""
        found: dict[str, str] = {}
        for problem in self.problems:
            found.setdefault(problem.where, problem.text(gettext))
        return found


@dataclass(frozen=True)
class Period:
    """Local dates: the last N days ending today, or an absolute pair (ordinals), or all time (both None)."""

    last_days: int | None = None
    start: int | None = None  # date ordinal, included
    end: int | None = None

    def bounds(self, today: int) -> tuple[int | None, int | None]:
        """(first, last) day ordinals included; None is open."""
        if self.last_days is not None:
            return today - self.last_days + 1, today
        return self.start, self.end

    @property
    def relative(self) -> bool:
        return self.last_days is not None

    def to_doc(self) -> dict[str, Any] | None:
        if self.last_days is not None:
            return {"last_days": self.last_days}
        if self.start is None and self.end is None:
            return None
        return {"from": _iso(self.start), "to": _iso(self.end)}


ALL_TIME = Period()


@dataclass(frozen=True)
class Criterion:
    """One parsed criterion: its type and its parameters (normalised, hashable)."""

    type: str
    params: tuple[tuple[str, Any], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_map", dict(self.params))  # (not a field: equality and hash stay on params)

    def __getitem__(self, name: str) -> Any:
        return self._map[name]  # type: ignore[attr-defined]

    def get(self, name: str, default: Any = None) -> Any:
        return self._map.get(name, default)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Definition:
    audiences: tuple[tuple[Criterion, ...], ...]
    exclude: tuple[Criterion, ...] | None = None
    #: the segment ids named by "in segment" criteria (for cycles and re-evaluation order)
    nested: frozenset[int] = field(default=frozenset())

    def criteria(self) -> list[Criterion]:
        found = [c for audience in self.audiences for c in audience]
        return found + list(self.exclude or ())

    def to_doc(self) -> dict[str, Any]:
        return {
            "audiences": [[criterion_doc(c) for c in a] for a in self.audiences],
            "exclude": None if self.exclude is None else [criterion_doc(c) for c in self.exclude],
        }


def _iso(ordinal: int | None) -> str | None:
    return None if ordinal is None else dt.date.fromordinal(ordinal).isoformat()


def criterion_doc(criterion: Criterion) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": criterion.type}
    for key, value in criterion.params:
        if isinstance(value, Period):
            value = value.to_doc()
        elif isinstance(value, frozenset):
            value = sorted(value)
        elif key in DATE_PARAMS:
            value = _iso(value)
        elif key in QUANTITY_PARAMS and value is not None:
            value = str(decimal.Decimal(value) / 1000)
        if value is not None:
            doc[key] = value
    return doc


# -- parameter readers -----------------------------------------------------------------------------


class _Bad(Exception):
    def __init__(self, message: str, **params: Any) -> None:
        self.message = message
        self.params = tuple(sorted(params.items()))


GENDERS = ("male", "female", "unknown")
CHANNELS = ("sms", "email", "push", "telegram")
FIELD_OPERATORS = ("=", "contains", "empty", "not_empty")
KINDS = ("registered", "potential")
TAG_MODES = ("any", "all", "none")
PRODUCT_MODES = ("any", "all")
DIRECTIONS = ("accrued", "redeemed")
RFM_CLASSES = (
    "champion",
    "loyal",
    "potential loyalist",
    "new",
    "promising",
    "needs attention",
    "about to sleep",
    "at risk",
    "can't lose",
    "hibernating",
)
PROMO_STATES = ("received", "activated")
TRIGGER_STATES = ("in", "passed", "never")
MESSAGE_OUTCOMES = ("delivered", "opened", "clicked", "failed")
DATE_PARAMS = {"date_from", "date_to"}
QUANTITY_PARAMS = {"min_quantity", "from_quantity", "to_quantity"}
#: the widest integer a parameter may hold (SQLite's INTEGER)
_MAX_INT = 2**62


def _int(value: Any, *, minimum: int = 0, maximum: int = _MAX_INT) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and is_whole(value.strip().removeprefix("-")):
            value = int(value.strip())
        else:
            raise _Bad(N_("must be a whole number"))
    if value < minimum or value > maximum:
        raise _Bad(N_("must be from %(low)d to %(high)d"), low=minimum, high=maximum)
    return value


def _quantity(value: Any) -> int:
    """A quantity as thousandths: 2 -> 2000, "0.5" -> 500."""
    try:
        number = decimal.Decimal(str(value).strip())
    except (decimal.InvalidOperation, ValueError):
        raise _Bad(N_("must be a number")) from None
    if not number.is_finite() or number < 0 or number > 10**12:
        raise _Bad(N_("must be a number from 0 up"))
    milli = number * 1000
    if milli != milli.to_integral_value():
        raise _Bad(N_("at most three decimal places"))
    return int(milli)


def _date(value: Any) -> int:
    if not isinstance(value, str):
        raise _Bad(N_("must be a date (YYYY-MM-DD)"))
    try:
        return dt.date.fromisoformat(value.strip()).toordinal()
    except ValueError:
        raise _Bad(N_("must be a date (YYYY-MM-DD)")) from None


def _choices(value: Any, allowed: Sequence[str]) -> frozenset[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list | tuple) or not values:
        raise _Bad(N_("choose at least one of: %(allowed)s"), allowed=", ".join(allowed))
    bad = [v for v in values if v not in allowed]
    if bad:
        raise _Bad(N_("unknown value %(value)s; one of: %(allowed)s"), value=repr(bad[0]), allowed=", ".join(allowed))
    return frozenset(values)


def _strings(value: Any) -> frozenset[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list | tuple) or not values:
        raise _Bad(N_("give at least one value"))
    out = set()
    for v in values:
        if not isinstance(v, str) or not v.strip():
            raise _Bad(N_("every value must be non-empty text"))
        out.add(v.strip())
    return frozenset(out)


def _ids(value: Any) -> frozenset[int]:
    values = [value] if isinstance(value, int | str) and not isinstance(value, bool) else value
    if not isinstance(values, list | tuple) or not values:
        raise _Bad(N_("give at least one value"))
    return frozenset(_int(v, minimum=1) for v in values)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(N_("must be non-empty text"))
    if len(value) > 200:
        raise _Bad(N_("at most %(n)d characters"), n=200)
    return value.strip()


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad(N_("must be true or false"))
    return value


def _one(allowed: Sequence[str]) -> Callable[[Any], str]:
    def read(value: Any) -> str:
        if value not in allowed:
            raise _Bad(
                N_("unknown value %(value)s; one of: %(allowed)s"), value=repr(value), allowed=", ".join(allowed)
            )
        return value

    return read


def _scores(value: Any) -> frozenset[int]:
    values = [value] if isinstance(value, int) else value
    if not isinstance(values, list | tuple) or not values:
        raise _Bad(N_("give at least one value"))
    return frozenset(_int(v, minimum=1, maximum=5) for v in values)


def _period(value: Any) -> Period:
    if value is None:
        return ALL_TIME
    if not isinstance(value, Mapping):
        raise _Bad(N_("a period is the last N days or a pair of dates"))
    if set(value) == {"last_days"}:
        return Period(last_days=_int(value["last_days"], minimum=1, maximum=36600))
    if set(value) <= {"from", "to"} and value:
        start = _date(value["from"]) if value.get("from") is not None else None
        end = _date(value["to"]) if value.get("to") is not None else None
        if start is not None and end is not None and start > end:
            raise _Bad(N_("the period's start is after its end"))
        return Period(start=start, end=end)
    raise _Bad(N_("a period is the last N days or a pair of dates"))


MONEY = lambda v: _int(v, minimum=-_MAX_INT)  # noqa: E731 - spend may be negative (refunds)
COUNT = _int
DAYS = lambda v: _int(v, maximum=36600)  # noqa: E731
YEARS = lambda v: _int(v, maximum=150)  # noqa: E731
MONTHS = lambda v: frozenset(_int(m, minimum=1, maximum=12) for m in (v if isinstance(v, list | tuple) else [v]))  # noqa: E731
#: the period parameter's reader
PERIOD = _period

#: criterion -> {parameter: reader}; ranges are (from, to) pairs checked below
CRITERIA: dict[str, dict[str, Callable[[Any], Any]]] = {
    "age": {"from": YEARS, "to": YEARS},
    "birthday": {"days_before": DAYS, "days_after": DAYS, "months": MONTHS},
    "gender": {"values": lambda v: _choices(v, GENDERS)},
    "consent": {"channels": lambda v: _choices(v, CHANNELS)},
    "field": {"field": _text, "operator": _one(FIELD_OPERATORS), "value": lambda v: str(v) if v is not None else None},
    "registration": {"stores": _strings, "days_from": DAYS, "days_to": DAYS, "date_from": _date, "date_to": _date},
    "home_store": {"stores": _strings},
    "kind": {"values": lambda v: _choices(v, KINDS)},
    "card": {"categories": _ids, "number_from": _text, "number_to": _text},
    "level": {"levels": _strings},
    "tag": {"tags": _strings, "mode": _one(TAG_MODES)},
    "balance": {"from": MONEY, "to": MONEY},
    "first_purchase": {"date_from": _date, "date_to": _date, "days_from": DAYS, "days_to": DAYS},
    "last_purchase": {"date_from": _date, "date_to": _date, "days_from": DAYS, "days_to": DAYS, "stores": _strings},
    "purchases": {"from": COUNT, "to": COUNT, "period": PERIOD, "stores": _strings},
    "spend": {"from": MONEY, "to": MONEY, "period": PERIOD, "stores": _strings},
    "average_check": {"from": MONEY, "to": MONEY, "period": PERIOD},
    "average_items": {"from_quantity": _quantity, "to_quantity": _quantity, "period": PERIOD},
    "bought_category": {"categories": _ids, "period": PERIOD, "min_quantity": _quantity, "stores": _strings},
    "bought_products": {"products": _ids, "period": PERIOD, "min_quantity": _quantity, "mode": _one(PRODUCT_MODES)},
    "product_name": {"text": _text, "period": PERIOD},
    "points": {"direction": _one(DIRECTIONS), "from": MONEY, "to": MONEY, "period": PERIOD, "types": _strings},
    "rfm": {"classes": lambda v: _choices(v, RFM_CLASSES), "r": _scores, "f": _scores, "m": _scores},
    "promotion": {"promotions": _strings, "took_part": _bool},  # promotions' and lists' ids are text ("P1")
    "promo_code": {"lists": _strings, "state": _one(PROMO_STATES)},
    "trigger": {
        "trigger": lambda v: _int(v, minimum=1),
        "step": lambda v: _int(v, minimum=1),
        "state": _one(TRIGGER_STATES),
    },
    "message": {"mailings": _ids, "outcome": _one(MESSAGE_OUTCOMES)},
    "in_segment": {"segments": _ids, "in": _bool},
}
#: parameters a criterion cannot go without
REQUIRED: dict[str, tuple[str, ...]] = {
    "gender": ("values",),
    "consent": ("channels",),
    "field": ("field", "operator"),
    "home_store": ("stores",),
    "kind": ("values",),
    "level": ("levels",),
    "tag": ("tags",),
    "bought_category": ("categories",),
    "bought_products": ("products",),
    "product_name": ("text",),
    "points": ("direction",),
    "promotion": ("promotions",),
    "promo_code": ("lists", "state"),
    "trigger": ("trigger", "state"),
    "message": ("mailings", "outcome"),
    "in_segment": ("segments",),
}
#: (from, to) pairs: from <= to when both are given
RANGES = (
    ("from", "to"),
    ("days_from", "days_to"),
    ("date_from", "date_to"),
    ("from_quantity", "to_quantity"),
    ("number_from", "number_to"),
)
#: criteria at least one of whose parameters must be given (a range or a choice)
NEEDS_ONE: dict[str, tuple[str, ...]] = {
    "age": ("from", "to"),
    "birthday": ("days_before", "days_after", "months"),
    "balance": ("from", "to"),
    "card": ("categories", "number_from", "number_to"),
    "purchases": ("from", "to"),
    "spend": ("from", "to"),
    "average_check": ("from", "to"),
    "average_items": ("from_quantity", "to_quantity"),
    "first_purchase": ("date_from", "date_to", "days_from", "days_to"),
    "last_purchase": ("date_from", "date_to", "days_from", "days_to", "stores"),
    "points": ("from", "to"),
    "rfm": ("classes", "r", "f", "m"),
}
#: defaults filled in when absent
DEFAULTS: dict[str, dict[str, Any]] = {
    "tag": {"mode": "any"},
    "promotion": {"took_part": True},
    "in_segment": {"in": True},
    "purchases": {"period": ALL_TIME},
    "spend": {"period": ALL_TIME},
    "average_check": {"period": ALL_TIME},
    "average_items": {"period": ALL_TIME},
    "bought_category": {"period": ALL_TIME},
    "bought_products": {"period": ALL_TIME, "mode": "any"},
    "product_name": {"period": ALL_TIME},
    "points": {"period": ALL_TIME},
}


def parse_criterion(doc: Any, where: str) -> tuple[Criterion | None, list[Problem]]:
    if not isinstance(doc, Mapping):
        return None, [Problem(where, N_("a criterion must be an object with a type"))]
    kind = doc.get("type")
    if kind not in CRITERIA:
        return None, [Problem(f"{where}.type", N_("unknown criterion %(name)s"), (("name", repr(kind)),))]
    readers = CRITERIA[kind]
    problems: list[Problem] = []
    values: dict[str, Any] = dict(DEFAULTS.get(kind, {}))
    for key, raw in doc.items():
        if key == "type":
            continue
        if key not in readers:
            problems.append(
                Problem(
                    f"{where}.{key}",
                    N_("criterion %(criterion)s has no parameter %(name)s"),
                    (("criterion", kind), ("name", repr(key))),
                )
            )
            continue
        if raw is None or raw == "" or raw == []:
            continue  # an empty parameter is an absent one
        try:
            values[key] = readers[key](raw)
        except _Bad as bad:
            problems.append(Problem(f"{where}.{key}", bad.message, bad.params))
    for key in REQUIRED.get(kind, ()):
        if values.get(key) is None and not any(p.where == f"{where}.{key}" for p in problems):
            problems.append(
                Problem(f"{where}.{key}", N_("%(criterion)s needs %(name)s"), (("criterion", kind), ("name", key)))
            )
    if kind in NEEDS_ONE and not problems and not any(values.get(k) is not None for k in NEEDS_ONE[kind]):
        problems.append(
            Problem(
                where,
                N_("%(criterion)s needs one of: %(names)s"),
                (("criterion", kind), ("names", ", ".join(NEEDS_ONE[kind]))),
            )
        )
    for low, high in RANGES:
        a, b = values.get(low), values.get(high)
        if a is not None and b is not None and a > b:
            problems.append(Problem(f"{where}.{high}", N_("%(high)s is below %(low)s"), (("high", high), ("low", low))))
    problems += _specific(kind, values, where)
    if problems:
        return None, problems
    return Criterion(kind, tuple(sorted(values.items()))), []


def _specific(kind: str, values: dict[str, Any], where: str) -> list[Problem]:
    problems = []
    if (
        kind == "birthday"
        and values.get("months")
        and (values.get("days_before") is not None or values.get("days_after") is not None)
    ):
        problems.append(Problem(where, N_("birthday: a window of days or months, not both")))
    if kind == "field" and values.get("operator") in ("=", "contains") and not values.get("value"):
        problems.append(
            Problem(f"{where}.value", N_("%(criterion)s needs %(name)s"), (("criterion", kind), ("name", "value")))
        )
    if kind in ("first_purchase", "last_purchase"):
        dates = values.get("date_from") is not None or values.get("date_to") is not None
        days = values.get("days_from") is not None or values.get("days_to") is not None
        if dates and days:
            problems.append(Problem(where, N_("a date range or days ago, not both")))
    if (
        kind == "registration"
        and (values.get("date_from") is not None or values.get("date_to") is not None)
        and (values.get("days_from") is not None or values.get("days_to") is not None)
    ):
        problems.append(Problem(where, N_("a date range or days ago, not both")))
    if kind == "card":
        for key in ("number_from", "number_to"):
            if values.get(key) is not None and not values[key].isdigit():
                problems.append(Problem(f"{where}.{key}", N_("a card number is digits")))
    if kind == "trigger" and values.get("step") is None and values.get("state") == "passed":
        problems.append(
            Problem(f"{where}.step", N_("%(criterion)s needs %(name)s"), (("criterion", kind), ("name", "step")))
        )
    return problems


def parse_definition(
    doc: Any, *, self_id: int | None = None, nested_of: Callable[[int], frozenset[int] | None] | None = None
) -> Definition:
    """Check and normalise a definition document; :class:`DefinitionError` lists every problem.

    ``nested_of(id)`` gives the segments a stored segment nests (None: no such segment); with it,
    unknown nested segments and cycles through ``self_id`` are refused.
    """
    problems: list[Problem] = []
    if not isinstance(doc, Mapping):
        raise DefinitionError([Problem("definition", N_("a definition is an object with audiences"))])
    unknown = set(doc) - {"audiences", "exclude"}
    for key in sorted(unknown):
        problems.append(Problem(key, N_("unknown part %(name)s"), (("name", repr(key)),)))
    raw_audiences = doc.get("audiences")
    if not isinstance(raw_audiences, list) or not raw_audiences:
        problems.append(Problem("audiences", N_("give at least one audience")))
        raw_audiences = []
    if len(raw_audiences) > MAX_AUDIENCES:
        problems.append(Problem("audiences", N_("at most %(n)d audiences"), (("n", MAX_AUDIENCES),)))
    audiences = []
    count = 0

    def audience(raw: Any, where: str) -> tuple[Criterion, ...]:
        nonlocal count
        if not isinstance(raw, list) or not raw:
            problems.append(Problem(where, N_("an audience needs at least one criterion")))
            return ()
        found = []
        for j, item in enumerate(raw, 1):
            criterion, bad = parse_criterion(item, f"{where}.{j}")
            problems.extend(bad)
            if criterion is not None and criterion not in found:
                found.append(criterion)
        count += len(raw)
        return tuple(found)

    for i, raw in enumerate(raw_audiences, 1):
        audiences.append(audience(raw, f"audiences.{i}"))
    exclude = None
    if doc.get("exclude") is not None:
        raw = doc["exclude"]
        if isinstance(raw, list) and raw and all(isinstance(r, list) for r in raw):
            problems.append(Problem("exclude", N_("at most one excluded audience")))
        else:
            exclude = audience(raw, "exclude")
    if count > MAX_CRITERIA:
        problems.append(Problem("audiences", N_("at most %(n)d criteria"), (("n", MAX_CRITERIA),)))
    definition = Definition(tuple(audiences), exclude)
    nested = frozenset(s for c in definition.criteria() if c.type == "in_segment" for s in c["segments"])
    if not problems and nested_of is not None:
        problems += _nesting(nested, self_id, nested_of)
    if problems:
        raise DefinitionError(problems)
    return Definition(definition.audiences, definition.exclude, nested)


def _nesting(
    nested: frozenset[int], self_id: int | None, nested_of: Callable[[int], frozenset[int] | None]
) -> list[Problem]:
    problems = []
    for segment in sorted(nested):
        if segment == self_id:
            problems.append(Problem("in_segment", N_("a segment cannot contain itself")))
            continue
        if nested_of(segment) is None:
            problems.append(Problem("in_segment", N_("no segment %(id)d"), (("id", segment),)))
            continue
        # walk what the nested segment nests: reaching self_id is a cycle
        seen, todo = {segment}, [segment]
        while todo:
            for child in nested_of(todo.pop()) or frozenset():
                if child == self_id:
                    problems.append(
                        Problem("in_segment", N_("segment %(id)d contains this one: a cycle"), (("id", segment),))
                    )
                    todo = []
                    break
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
    return problems


#: criteria whose answer changes when the local date changes (with no event)
def time_relative(criterion: Criterion) -> bool:
    if criterion.type in ("age", "birthday"):
        return criterion.type == "age" or criterion.get("months") is None
    if criterion.type in ("registration", "first_purchase", "last_purchase"):
        return criterion.get("days_from") is not None or criterion.get("days_to") is not None
    period = criterion.get("period")
    return isinstance(period, Period) and period.relative
