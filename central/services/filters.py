"""Customer filters: the quick search and AND/OR conditions, turned into one SQL WHERE clause.

A :class:`CustomerQuery` is what the list page's URL says: ``q`` (the quick
search: every term must match some field, so each term narrows), ``kind``
(registered = has a card, potential = known without a card), conditions
``(field, op, value)`` joined by ``match`` = all (AND) or any (OR), and one
period (``period_from``/``period_to``) for the "in a period" fields.
:func:`where` checks every value (a :class:`FormError` per bad condition,
keyed ``c<i>``) and hands the checked filter to central/storage/customer_filter.py,
which builds parameterised SQL over ``customers c``; nothing from the URL is
ever put into SQL text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from shared.identifiers import InvalidIdentifier, normalize_phone

from ..marketing.segments.definition import RFM_CLASSES
from ..storage.customer_filter import CheckedCondition, CustomerFilter, customer_filter_sql
from .access import Actor, BadQuery, FormError
from .formats import parse_local, parse_minor
from .text import N_, _

Condition = tuple[str, str, str]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
KINDS = ("all", "registered", "potential")


@dataclass
class CustomerQuery:
    q: str = ""
    kind: str = "all"
    match: str = "all"
    conditions: list[Condition] = field(default_factory=list)
    period_from: str = ""
    period_to: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> CustomerQuery:
        """From request args (a MultiDict: f/o/v are parallel lists of field, op, value)."""
        getlist = arg_list(args)
        fields_, ops, values = getlist("f"), getlist("o"), getlist("v")
        conditions = [(f, o, v.strip()) for f, o, v in zip(fields_, ops, values, strict=False) if f]
        kind = args.get("kind") if args.get("kind") in KINDS else "all"
        return cls(
            q=(args.get("q") or "").strip(),
            kind=kind,
            match="any" if args.get("match") == "any" else "all",
            conditions=conditions,
            period_from=(args.get("period_from") or "").strip(),
            period_to=(args.get("period_to") or "").strip(),
        )

    def to_args(self) -> list[tuple[str, str]]:
        args = [
            ("q", self.q),
            ("kind", self.kind),
            ("match", self.match),
            ("period_from", self.period_from),
            ("period_to", self.period_to),
        ]
        for f, o, v in self.conditions:
            args += [("f", f), ("o", o), ("v", v)]
        return [(k, v) for k, v in args if v and not (k == "kind" and v == "all") and not (k == "match" and v == "all")]

    def query_string(self) -> str:
        return urlencode(self.to_args())

    @property
    def segment_id(self) -> int | None:
        """The saved segment the list is narrowed to (its first ``segment is N`` condition: the segment's page
        puts it first), or None."""
        for f, o, v in self.conditions:
            if f == "segment" and o == "is" and v.isascii() and v.isdigit() and len(v) <= 12:
                return int(v)
        return None

    @property
    def empty(self) -> bool:
        return not self.q and self.kind == "all" and not self.conditions


def arg_list(args: Mapping[str, Any]) -> Callable[[str], list[Any]]:
    """``getlist`` of request args (a MultiDict), or of a plain dict whose values are lists."""
    if hasattr(args, "getlist"):
        return args.getlist  # type: ignore[no-any-return]
    return lambda key: list(args.get(key) or [])


#: field -> (label, ops); ops name what the value means
FIELDS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "name": (N_("Name"), ("contains", "equals", "empty", "filled")),
    "card": (N_("Card number"), ("contains", "equals")),
    "phone": (N_("Phone"), ("contains", "equals", "empty")),
    "phone_verified": (N_("Phone verified"), ("yes", "no")),
    "email": (N_("Email"), ("contains", "empty", "filled")),
    "birthday": (N_("Birthday"), ("month", "day", "from", "to", "empty")),
    "gender": (N_("Gender"), ("is",)),
    "level": (N_("Level"), ("is", "is_not", "empty")),
    "balance": (N_("Balance"), ("ge", "le")),
    "spend": (N_("Spend, all time"), ("ge", "le")),
    "visits": (N_("Visits, all time"), ("ge", "le")),
    "avg_check": (N_("Average check, all time"), ("ge", "le")),
    "spend_period": (N_("Spend in the period"), ("ge", "le")),
    "visits_period": (N_("Visits in the period"), ("ge", "le")),
    "avg_check_period": (N_("Average check in the period"), ("ge", "le")),
    "last_purchase": (N_("Last purchase"), ("after", "before", "never")),
    "last_accrual": (N_("Last accrual"), ("after", "before", "never")),
    "last_redemption": (N_("Last redemption"), ("after", "before", "never")),
    "home_store": (N_("Registration store"), ("is", "is_not")),
    "channel": (N_("Registration channel"), ("is",)),
    "created": (N_("Registered"), ("after", "before")),
    "tag": (N_("Tag"), ("has", "has_not")),
    "consent": (N_("Consent"), ("has", "has_not")),
    "segment": (N_("Segment (number)"), ("is", "is_not")),
    "rfm": (N_("RFM class"), ("is", "is_not")),
}
OPS = {
    "contains": N_("contains"),
    "equals": N_("equals"),
    "empty": N_("is empty"),
    "filled": N_("is filled"),
    "yes": N_("yes"),
    "no": N_("no"),
    "month": N_("month is"),
    "day": N_("day is (MM-DD)"),
    "from": N_("from date"),
    "to": N_("to date"),
    "is": N_("is"),
    "is_not": N_("is not"),
    "ge": N_("at least"),
    "le": N_("at most"),
    "after": N_("on or after"),
    "before": N_("before"),
    "never": N_("never"),
    "has": N_("has"),
    "has_not": N_("has not"),
}
_NO_VALUE = {"empty", "filled", "yes", "no", "never"}


def where(query: CustomerQuery, actor: Actor, zone: str, backend: str = "sqlite") -> tuple[str, list[Any]]:
    """SQL over ``customers c`` for the query and the actor's scope (central/storage/customer_filter.py builds
    it for the database's ``backend``, ``db.dialect``); :class:`FormError` on bad values."""
    f = CustomerFilter(kind=query.kind, any_condition=query.match == "any")
    if actor.scoped:
        f.scope = sorted(actor.stores)
        f.home_only = actor.scope == "home"
    f.long_terms, f.short_terms = search_terms(query.q)
    errors: dict[str, str] = {}
    f.period = _period(query, zone, errors)
    for i, condition in enumerate(query.conditions):
        try:
            f.conditions.append(_condition(condition, zone, f.period))
        except ValueError as exc:
            errors[f"c{i}"] = str(exc)
    if errors:
        raise FormError(errors)
    return customer_filter_sql(f, backend)


def search_terms(text: str) -> tuple[list[str], list[str]]:
    """The quick search's terms: (those of 3+ characters, the shorter ones); every term must match."""
    text = text.strip()
    if not text:
        return [], []
    if _CONTROL.search(text):
        # FTS5 cannot take a NUL inside a phrase, and nobody types control characters: say so
        raise BadQuery({"q": _("The search contains control characters: type letters, digits or signs.")})
    try:
        terms = [normalize_phone(text)[1:]]  # the whole query is a phone number in any usual form
    except InvalidIdentifier:
        terms = [_clean(t) for t in text.split()]
        terms = [t for t in terms if t]
    return [t for t in terms if len(t) >= 3], [t for t in terms if len(t) < 3]


def _clean(term: str) -> str:
    # "+7", "(912)", "123-45-67" are pieces of a phone as people type it: keep the digits
    if re.fullmatch(r"[+()\d\s-]+", term):
        return re.sub(r"\D", "", term)
    return term


def _period(query: CustomerQuery, zone: str, errors: dict[str, str]) -> tuple[int, int] | None:
    if not any(f.endswith("_period") for f, _, _ in query.conditions):
        return None
    try:
        start = parse_local(query.period_from, zone) if query.period_from else dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        end = parse_local(query.period_to, zone, end_of_day=True) if query.period_to else dt.datetime.now(dt.UTC)
    except ValueError:
        errors["period"] = _("Write the period's dates as YYYY-MM-DD.")
        return None
    if end <= start:
        errors["period"] = _("The period ends before it starts.")
        return None
    return int(start.timestamp()), int(end.timestamp())


def _condition(condition: Condition, zone: str, period: tuple[int, int] | None) -> CheckedCondition:
    """A condition checked, its value normalised; :class:`ValueError` saying what is wrong."""
    name, op, value = condition
    if name.startswith("custom:"):
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name[7:]) or op not in ("equals", "contains", "empty"):
            raise ValueError(_("Choose a field and a condition."))
        return name, op, value
    if name not in FIELDS or op not in FIELDS[name][1]:
        raise ValueError(_("Choose a field and a condition."))
    if op not in _NO_VALUE and name not in ("gender",) and not value:
        raise ValueError(_("Enter a value."))
    check = _CHECKS.get(name)
    if check is None:
        raise ValueError(_("Choose a field and a condition."))
    return name, op, check(op, value, zone, period)


def _as_is(op: str, value: str, *rest: Any) -> str:
    return value


def _money(value: str) -> int:
    try:
        return parse_minor(value)
    except ValueError:
        raise ValueError(_("Write an amount like 1500 or 1500,50.")) from None


def _count(value: str) -> int:
    if not value.isdigit():
        raise ValueError(_("Write a whole number."))
    return int(value)


def _number(money: bool) -> Callable[..., int]:
    def check(op: str, value: str, *rest: Any) -> int:
        return _money(value) if money else _count(value)

    return check


def _utc(value: str, zone: str) -> str:
    try:
        return parse_local(value, zone).astimezone(dt.UTC).isoformat(timespec="seconds")
    except ValueError:
        raise ValueError(_("Write the date as YYYY-MM-DD.")) from None


def _moment(op: str, value: str, zone: str, *rest: Any) -> str | None:
    return None if op == "never" else _utc(value, zone)


def _birthday(op: str, value: str, *rest: Any) -> str | None:
    if op == "empty":
        return None
    if op == "month":
        if not value.isdigit() or not 1 <= int(value) <= 12:
            raise ValueError(_("Write the month as a number 1..12."))
        return f"{int(value):02d}"
    if op == "day":
        if not re.fullmatch(r"\d\d-\d\d", value):
            raise ValueError(_("Write the day as MM-DD, e.g. 03-08."))
        return value
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(_("Write the date as YYYY-MM-DD.")) from None
    return value


def _in_period(money: bool) -> Callable[..., int]:
    def check(op: str, value: str, zone: str, period: tuple[int, int] | None) -> int:
        if period is None:
            raise ValueError(_("Set the period above."))
        return _money(value) if money else _count(value)

    return check


# a customer's registration channel and a purchase's channel as marketers say them
CHANNELS = {
    "till": N_("at the till"),
    "delivery": N_("delivery"),
    "online": N_("online"),
    "import": N_("loaded from a file"),
    "console": N_("head office"),
}


def channel_label(code: str | None) -> str:
    """A channel code as people say it ("import" -> "loaded from a file"); an unknown code as it is."""
    label = CHANNELS.get(code or "")
    return str(label) if label is not None else (code or "")


def _channel_code(op: str, value: str, *rest: Any) -> str:
    """What a marketer typed for a channel: its label in the page's language, or the code itself."""
    typed = value.strip().lower()
    for code, label in CHANNELS.items():
        if typed in (code, str(label).lower()):
            return code
    return value


def _card(op: str, value: str, *rest: Any) -> str:
    return re.sub(r"[\s-]", "", value)


def _phone(op: str, value: str, *rest: Any) -> str:
    if op == "equals":
        try:
            return normalize_phone(value)
        except InvalidIdentifier as exc:
            raise ValueError(str(exc)) from None
    return re.sub(r"\D", "", value) if op == "contains" else value


def _tag(op: str, value: str, *rest: Any) -> str:
    return value.strip().lower()


#: consents a customer can have (customers.consents keys; messages' channels: docs/messages.md)
CONSENTS = ("personal_data", "email", "sms", "voice", "push", "telegram")


def _consent(op: str, value: str, *rest: Any) -> str:
    value = value.strip().lower()
    if value not in CONSENTS:
        raise ValueError(_("Choose a consent: %(names)s.", names=", ".join(CONSENTS)))
    return value


def _segment(op: str, value: str, *rest: Any) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise ValueError(_("Write the segment's number."))
    return int(value)


def _rfm(op: str, value: str, *rest: Any) -> str:
    typed = value.strip().lower()
    if typed not in RFM_CLASSES:
        raise ValueError(_("Write an RFM class: %(classes)s.", classes=", ".join(RFM_CLASSES)))
    return typed


#: field -> its value checked and normalised for central/storage/customer_filter.py
_CHECKS: dict[str, Callable[..., Any]] = {
    "name": _as_is,
    "email": _as_is,
    "phone": _phone,
    "card": _card,
    "phone_verified": _as_is,
    "birthday": _birthday,
    "gender": _as_is,
    "level": _as_is,
    "home_store": _as_is,
    "channel": _channel_code,
    "balance": _number(money=True),
    "spend": _number(money=True),
    "visits": _number(money=False),
    "avg_check": _number(money=True),
    "spend_period": _in_period(money=True),
    "visits_period": _in_period(money=False),
    "avg_check_period": _in_period(money=True),
    "last_purchase": _moment,
    "last_accrual": _moment,
    "last_redemption": _moment,
    "created": _moment,
    "tag": _tag,
    "consent": _consent,
    "segment": _segment,
    "rfm": _rfm,
}


def field_choices(custom: Sequence[Mapping[str, Any]]) -> list[tuple[str, Any, tuple[str, ...]]]:
    """(field, label, ops) for the filter form, custom fields last."""
    out = [(name, label, ops) for name, (label, ops) in FIELDS.items()]
    out += [(f"custom:{f['name']}", f["label"], ("equals", "contains", "empty")) for f in custom]
    return out
