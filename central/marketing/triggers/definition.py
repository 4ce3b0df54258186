"""A trigger's document, parsed and checked (pure: no Flask, no SQLite).

The document (JSON)::

    {"name": str, "owner_store": str, "group": str, "hours": [0..23, ...],
     "limits": {"ever": N, "per_firing": N},                 # optional, whole trigger
     "steps": [{"conditions": [condition, ...],
                "pause_days": N, "within_days": N, "since_start_days": N,
                "step_back_days": N, "restart_days": N,
                "limits": {"ever": N, "at_once": N, "queue_days": X},
                "actions": [action, ...]}, ...]}

A condition is a segment criterion (``segments/definition.py``'s ``CRITERIA``) or an event
condition (``EVENT_CONDITIONS``); an action is one of ``ACTIONS``. :func:`parse_trigger` raises
:class:`TriggerError` listing every problem (where, message id, parameters; the service layer
translates them), and nothing is saved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.numbers import is_whole

from ..segments.definition import CRITERIA, Criterion, Problem, parse_criterion


def N_(text: str) -> str:
    return text


class TriggerError(ValueError):
    """A trigger document that cannot be saved; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.where}: {p.text()}" for p in problems))

    def messages(self, gettext: Any = None) -> dict[str, str]:
        found: dict[str, str] = {}
        for problem in self.problems:
            found.setdefault(problem.where, problem.text(gettext))
        return found


EVENT_CONDITIONS = ("transaction", "inactivity", "points_event", "segment_event", "message_event", "promo_code_event")
TRANSACTION_KINDS = ("purchase", "refund")
#: a promo code condition's states (issued and used are their other names)
PROMO_STATES = {"received": "received", "issued": "received", "activated": "activated", "used": "activated"}
CHANNELS = ("sms", "email", "push", "telegram", "voice")
ACTIONS = (
    "send",
    "cashier_message",
    "credit",
    "debit",
    "zero_balance",
    "segment_add",
    "segment_remove",
    "block_card",
    "unblock_card",
    "tag",
    "comment",
    "bind_store",
    "percent",
    "promo_code",
)
MAX_STEPS = 50
MAX_DAYS = 3660


@dataclass(frozen=True)
class Condition:
    """An event condition (``type`` in EVENT_CONDITIONS) with its parameters, or a segment criterion."""

    type: str
    params: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    criterion: Criterion | None = None

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


@dataclass(frozen=True)
class Action:
    type: str
    params: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


@dataclass(frozen=True)
class Limits:
    ever: int | None = None  # customers ever through (the trigger: entering step 1; a step: passing it)
    at_once: int | None = None  # customers on the step at once (the rest queue, first come first served)
    queue_days: int | None = None  # a queued customer waits at most X days for a place
    per_firing: int | None = None  # customers whose actions run in one firing (the trigger's limits only)


@dataclass(frozen=True)
class Step:
    conditions: tuple[Condition, ...]
    actions: tuple[Action, ...] = ()
    pause_days: int = 0
    within_days: int | None = None
    since_start_days: int | None = None
    step_back_days: int | None = None
    restart_days: int | None = None
    limits: Limits = Limits()


@dataclass(frozen=True)
class Trigger:
    name: str
    owner_store: str
    group: str
    hours: frozenset[int]
    steps: tuple[Step, ...]
    limits: Limits = Limits()

    def segments_used(self) -> set[int]:
        found = set()
        for step in self.steps:
            for a in step.actions:
                if a.type in ("segment_add", "segment_remove"):
                    found.add(a.params["segment"])
            for c in step.conditions:
                if c.type == "segment_event":
                    found.add(c.params["segment"])
        return found


@dataclass
class Known:
    """What a document may name: stores, static and all segments, message templates (id -> channel)."""

    stores: Collection[str] = ()
    segments: Collection[int] = ()
    static_segments: Collection[int] = ()
    templates: Mapping[int, str] = field(default_factory=dict)
    #: the personal promo-code lists (the "promo_code" action issues one of their codes)
    code_lists: Collection[str] = ()
    #: store id -> its local date today ("" -> the chain's): a percent's end date before it is refused
    today: Mapping[str, dt.date] = field(default_factory=dict)

    def today_at(self, store: str) -> dt.date | None:
        """The owner store's local date today (the chain's for a store without a time zone), if known."""
        return self.today.get(store) or self.today.get("")


class _Problems(list[Problem]):
    def add(self, where: str, message: str, **params: Any) -> None:
        self.append(Problem(where, message, tuple(sorted(params.items()))))


def _int(
    doc: Mapping[str, Any], name: str, where: str, bad: _Problems, *, low: int = 0, high: int = MAX_DAYS
) -> int | None:
    value = doc.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str) and is_whole(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        bad.add(f"{where}.{name}", N_("must be a whole number from %(low)d to %(high)d"), low=low, high=high)
        return None
    return value


def _limits(doc: Any, where: str, bad: _Problems, *, trigger: bool) -> Limits:
    if doc is None:
        return Limits()
    if not isinstance(doc, Mapping):
        bad.add(where, N_("limits are an object"))
        return Limits()
    names = ("ever", "per_firing") if trigger else ("ever", "at_once", "queue_days")
    for key in sorted(set(doc) - set(names)):
        bad.add(f"{where}.{key}", N_("unknown part %(name)s"), name=repr(key))
    values = {n: _int(doc, n, where, bad, low=1, high=10**9) for n in names}
    if values.get("queue_days") is not None and values.get("at_once") is None:
        bad.add(f"{where}.queue_days", N_("the queue's days need a limit of customers on the step at once"))
    return Limits(**values)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    return tuple(sorted({str(v) for v in value if str(v).strip()}))


def _condition(doc: Any, where: str, bad: _Problems, known: Known | None) -> Condition | None:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("type"), str):
        bad.add(where, N_("a condition is an object with a type"))
        return None
    kind = doc["type"]
    if kind in CRITERIA:
        criterion, problems = parse_criterion(doc, where)
        bad.extend(problems)
        if criterion is not None and known is not None and kind == "in_segment":
            for s in criterion["segments"]:
                if s not in known.segments:
                    bad.add(where, N_("segment %(id)s does not exist (deleted?)"), id=s)
        return Condition(kind, {}, criterion) if criterion else None
    if kind not in EVENT_CONDITIONS:
        bad.add(where + ".type", N_("unknown condition %(name)s"), name=repr(kind))
        return None
    p: dict[str, Any] = {"stores": _strings(doc.get("stores"))}
    if known is not None:
        for s in p["stores"]:
            if s not in known.stores:
                bad.add(where + ".stores", N_("unknown store %(store)s"), store=s)
    if kind == "transaction":
        p["kind"] = doc.get("kind") or "purchase"
        if p["kind"] not in TRANSACTION_KINDS:
            bad.add(where + ".kind", N_("choose purchase or refund"))
        p["count_from"] = _int(doc, "count_from", where, bad, low=1, high=10**6) or 1
        for name in ("check_min", "check_max", "sum_from", "sum_to"):
            p[name] = _int(doc, name, where, bad, high=2**62)
        p["categories"] = _strings(doc.get("categories"))
        p["products"] = _strings(doc.get("products"))
        p["all"] = bool(doc.get("all"))
        p["absent"] = bool(doc.get("absent"))
    elif kind == "inactivity":
        p["days"] = _int(doc, "days", where, bad, low=1)
        if p["days"] is None and f"{where}.days" not in {b.where for b in bad}:
            bad.add(where + ".days", N_("say after how many days without a purchase"))
    elif kind == "points_event":
        p["direction"] = doc.get("direction") or "credited"
        if p["direction"] not in ("credited", "debited"):
            bad.add(where + ".direction", N_("choose credited or debited"))
        p["kinds"] = _strings(doc.get("kinds"))
        p["amount_from"] = _int(doc, "amount_from", where, bad, high=2**62)
    elif kind == "segment_event":
        p["segment"] = _int(doc, "segment", where, bad, high=2**62)
        p["change"] = doc.get("change") or "entered"
        if p["change"] not in ("entered", "left"):
            bad.add(where + ".change", N_("choose entered or left"))
        if p["segment"] is None:
            bad.add(where + ".segment", N_("choose a segment"))
        elif known is not None and p["segment"] not in known.segments:
            bad.add(where + ".segment", N_("segment %(id)s does not exist (deleted?)"), id=p["segment"])
    elif kind == "message_event":
        p["outcome"] = doc.get("outcome") or "delivered"
        if p["outcome"] not in ("delivered", "opened", "clicked", "failed"):
            bad.add(where + ".outcome", N_("choose delivered, opened, clicked or failed"))
        p["template"] = _int(doc, "template", where, bad, high=2**62)
    elif kind == "promo_code_event":
        listed = doc.get("list")
        if not isinstance(listed, (str, int)) or isinstance(listed, bool) or not str(listed).strip():
            bad.add(where + ".list", N_("choose a promo code list"))
        p["list"] = str(listed).strip() if isinstance(listed, (str, int)) else None
        state = PROMO_STATES.get(doc.get("state") or "activated")
        if state is None:
            bad.add(where + ".state", N_("choose received or activated"))
        p["state"] = state or "activated"
    return Condition(kind, p)


def _end_date(doc: Mapping[str, Any], where: str, bad: _Problems, today: dt.date | None) -> str | None:
    """A percent's ``until``: a date YYYY-MM-DD (the last day it applies, in the trigger's local time), not
    before ``today``."""
    raw = doc.get("until")
    if raw is None or raw == "":
        return None
    try:
        if not isinstance(raw, str) or len(raw.strip()) != 10:
            raise ValueError(raw)
        day = dt.date.fromisoformat(raw.strip())
    except ValueError:
        bad.add(where + ".until", N_("write the end date as YYYY-MM-DD, like 2027-01-31"))
        return None
    if today is not None and day < today:
        bad.add(
            where + ".until",
            N_("the end date %(date)s has passed: choose today or a later date"),
            date=day.isoformat(),
        )
    return day.isoformat()


def _action(doc: Any, where: str, bad: _Problems, known: Known | None, today: dt.date | None = None) -> Action | None:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("type"), str):
        bad.add(where, N_("an action is an object with a type"))
        return None
    kind = doc["type"]
    if kind not in ACTIONS:
        bad.add(where + ".type", N_("unknown action %(name)s"), name=repr(kind))
        return None
    p: dict[str, Any] = {}
    if kind == "send":
        p["template"] = _int(doc, "template", where, bad, low=1, high=2**62)
        if p["template"] is None:
            bad.add(where + ".template", N_("choose a message template"))
        elif known is not None and p["template"] not in known.templates:
            bad.add(where + ".template", N_("template %(id)s does not exist"), id=p["template"])
    elif kind in ("cashier_message", "comment"):
        p["text"] = str(doc.get("text") or "").strip()
        if not 0 < len(p["text"]) <= 500:
            bad.add(where + ".text", N_("write 1 to 500 characters"))
        if kind == "cashier_message":
            p["days"] = _int(doc, "days", where, bad, low=1) or 7
    elif kind in ("credit", "debit"):
        p["points"] = _int(doc, "points", where, bad, low=1, high=10**12)
        if p["points"] is None and not any(b.where == where + ".points" for b in bad):
            bad.add(where + ".points", N_("say how many points (minor units)"))
        if kind == "credit":
            p["expires_days"] = _int(doc, "expires_days", where, bad, low=1)
    elif kind in ("segment_add", "segment_remove"):
        p["segment"] = _int(doc, "segment", where, bad, low=1, high=2**62)
        if p["segment"] is None:
            bad.add(where + ".segment", N_("choose a segment"))
        elif known is not None and p["segment"] not in known.segments:
            bad.add(where + ".segment", N_("segment %(id)s does not exist (deleted?)"), id=p["segment"])
        elif known is not None and p["segment"] not in known.static_segments:
            bad.add(
                where + ".segment",
                N_("segment %(id)s is dynamic: only a static segment can be changed"),
                id=p["segment"],
            )
    elif kind == "tag":
        p["tag"] = str(doc.get("tag") or "").strip().lower().lstrip("#")
        if not p["tag"] or len(p["tag"]) > 40 or not all(ch.isalnum() or ch == "-" for ch in p["tag"]):
            bad.add(where + ".tag", N_("a tag is a word of letters, digits and dashes"))
        p["remove"] = bool(doc.get("remove"))
    elif kind == "bind_store":
        p["store"] = str(doc.get("store") or "")
        if known is not None and p["store"] not in known.stores:
            bad.add(where + ".store", N_("unknown store %(store)s"), store=p["store"])
    elif kind == "percent":
        p["percent"] = _int(doc, "percent", where, bad, high=100)
        if p["percent"] is None and not any(b.where == where + ".percent" for b in bad):
            bad.add(where + ".percent", N_("say the percent (0 to 100)"))
        p["store"] = doc.get("store") or None
        # optional end: N days from the action, or the last day (inclusive, the trigger's local time)
        p["days"] = _int(doc, "days", where, bad, low=1)
        p["until"] = _end_date(doc, where, bad, today)
        if p["days"] is not None and p["until"] is not None:
            bad.add(where + ".until", N_("give either an end date or a number of days, not both"))
    elif kind == "promo_code":
        p["list"] = str(doc.get("list") or "")
        if not p["list"] or (known is not None and p["list"] not in known.code_lists):
            bad.add(where + ".list", N_("choose a personal promo-code list"))
    return Action(kind, p)


def parse_trigger(doc: Any, known: Known | None = None) -> Trigger:
    """Check and normalise a trigger document; :class:`TriggerError` lists every problem."""
    bad = _Problems()
    if not isinstance(doc, Mapping):
        raise TriggerError([Problem("trigger", N_("a trigger is an object"))])
    for key in sorted(set(doc) - {"name", "owner_store", "group", "hours", "limits", "steps"}):
        bad.add(key, N_("unknown part %(name)s"), name=repr(key))
    name = str(doc.get("name") or "").strip()
    if not 0 < len(name) <= 200:
        bad.add("name", N_("give the trigger a name (at most 200 characters)"))
    owner = str(doc.get("owner_store") or "")
    if not owner:
        bad.add("owner_store", N_("choose the owner store"))
    elif known is not None and owner not in known.stores:
        bad.add("owner_store", N_("unknown store %(store)s"), store=owner)
    group = str(doc.get("group") or "").strip()
    if not 0 < len(group) <= 100:
        bad.add("group", N_("choose a group (at most 100 characters)"))
    raw_hours = doc.get("hours") or []
    hours: set[int] = set()
    if not isinstance(raw_hours, list) or any(
        isinstance(h, bool) or not isinstance(h, int) or not 0 <= h <= 23 for h in raw_hours
    ):
        bad.add("hours", N_("firing hours are whole hours from 0 to 23"))
    else:
        hours = set(raw_hours)
    if not hours and not any(b.where == "hours" for b in bad):
        bad.add("hours", N_("choose at least one firing hour: without one the trigger never fires"))
    limits = _limits(doc.get("limits"), "limits", bad, trigger=True)
    today = known.today_at(owner) if known is not None else None
    raw_steps = doc.get("steps")
    steps: list[Step] = []
    if not isinstance(raw_steps, list) or not raw_steps:
        bad.add("steps", N_("a trigger needs at least one step"))
        raw_steps = []
    if len(raw_steps) > MAX_STEPS:
        bad.add("steps", N_("at most %(n)d steps"), n=MAX_STEPS)
    for i, raw in enumerate(raw_steps, 1):
        where = f"steps.{i}"
        if not isinstance(raw, Mapping):
            bad.add(where, N_("a step is an object"))
            continue
        for key in sorted(
            set(raw)
            - {
                "conditions",
                "actions",
                "pause_days",
                "within_days",
                "since_start_days",
                "step_back_days",
                "restart_days",
                "limits",
            }
        ):
            bad.add(f"{where}.{key}", N_("unknown part %(name)s"), name=repr(key))
        conditions = []
        for j, c in enumerate(raw.get("conditions") or [], 1):
            parsed = _condition(c, f"{where}.conditions.{j}", bad, known)
            if parsed is not None:
                conditions.append(parsed)
        actions = []
        for j, a in enumerate(raw.get("actions") or [], 1):
            parsed_action = _action(a, f"{where}.actions.{j}", bad, known, today)
            if parsed_action is not None:
                actions.append(parsed_action)
        pause = _int(raw, "pause_days", where, bad) or 0
        if not raw.get("conditions") and not pause:
            bad.add(f"{where}.conditions", N_("a step needs at least one condition (or a pause)"))
        back = _int(raw, "step_back_days", where, bad, low=1)
        if back is not None and i == 1:
            bad.add(f"{where}.step_back_days", N_("the first step has no step to go back to"))
        steps.append(
            Step(
                tuple(conditions),
                tuple(actions),
                pause,
                _int(raw, "within_days", where, bad, low=1),
                _int(raw, "since_start_days", where, bad, low=1),
                back,
                _int(raw, "restart_days", where, bad, low=1),
                _limits(raw.get("limits"), f"{where}.limits", bad, trigger=False),
            )
        )
    if bad:
        raise TriggerError(list(bad))
    return Trigger(name, owner, group, frozenset(hours), tuple(steps), limits)
