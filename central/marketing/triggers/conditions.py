"""A step's conditions for one customer now, and why (pure).

Segment criteria are answered by the segments' per-customer evaluator on the customer's
:class:`Facts`; event conditions look at the customer's events since they arrived on the
step (:class:`Event`), except inactivity, which reads the last purchase day of the facts
(a timer: it is re-armed by each purchase). :func:`check_step` gives the verdict, one
:class:`Why` per condition (shown by Test), and the first local day on which the answer may
change with no event (the run's wake-up).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..segments.definition import criterion_doc
from ..segments.evaluate import Context, Facts, criterion_flip, matches
from .definition import Condition, Step


def N_(text: str) -> str:
    return text


@dataclass(frozen=True)
class Event:
    """Something that happened to a customer (from the ingest's trigger events or the console)."""

    kind: str  # purchase, refund, registration, points, segment, message, promo_code
    at: dt.datetime
    store: str | None = None
    amount: int = 0  # a receipt's total, points, ...
    ref: Any = None  # the segment, template or list concerned
    detail: str | None = None  # entered/left, credited/debited, an outcome, a points kind
    categories: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Why:
    condition: int  # 1-based
    holds: bool
    message: str
    params: tuple[tuple[str, Any], ...] = ()

    def text(self, gettext: Any = None) -> str:
        params = dict(self.params)
        if gettext is not None:
            return gettext(self.message, **params)
        return self.message % params if params else self.message


@dataclass
class Verdict:
    holds: bool
    reasons: list[Why] = field(default_factory=list)
    change_day: int | None = None  # the first local day the answer may change without an event


def _why(i: int, holds: bool, message: str, **params: Any) -> Why:
    return Why(i, holds, message, tuple(sorted(params.items())))


def _transaction(c: Condition, events: Sequence[Event]) -> tuple[bool, int, int]:
    """(holds, matching receipts, their sum)."""
    stores = c.get("stores")
    count = total = 0
    for e in events:
        if e.kind != c.get("kind") or (stores and e.store not in stores):
            continue
        if c.get("check_min") is not None and e.amount < c.get("check_min"):
            continue
        if c.get("check_max") is not None and e.amount > c.get("check_max"):
            continue
        wanted_c, wanted_p = set(c.get("categories") or ()), set(c.get("products") or ())
        if wanted_c or wanted_p:
            if c.get("all"):
                present = wanted_c <= e.categories and wanted_p <= e.products
            else:
                present = bool(wanted_c & e.categories or wanted_p & e.products)
            if present == bool(c.get("absent")):
                continue
        count += 1
        total += e.amount
    holds = count >= (c.get("count_from") or 1)
    if c.get("sum_from") is not None and total < c.get("sum_from"):
        holds = False
    if c.get("sum_to") is not None and total > c.get("sum_to"):
        holds = False
    return holds, count, total


def last_purchase_day(facts: Facts, stores: Sequence[str] = ()) -> int | None:
    days = [d.day for d in facts.days if d.purchases and (not stores or d.store in stores)]
    return max(days) if days else None


def check_condition(
    i: int, c: Condition, facts: Facts, ctx: Context, events: Sequence[Event]
) -> tuple[Why, int | None]:
    """One condition: why it holds or not, and the day it may change by itself."""
    today = ctx.today
    if c.criterion is not None:
        holds = matches(c.criterion, facts, ctx)
        doc = criterion_doc(c.criterion)
        shown = ", ".join(f"{k}={v}" for k, v in doc.items() if k != "type")
        message = N_("%(criterion)s (%(params)s) holds") if holds else N_("%(criterion)s (%(params)s) does not hold")
        return _why(i, holds, message, criterion=c.type, params=shown), criterion_flip(c.criterion, facts, today)
    if c.type == "transaction":
        holds, count, total = _transaction(c, events)
        return (
            _why(
                i,
                holds,
                N_("%(count)d matching %(kind)s receipt(s) for %(total)d since the step began; %(needed)d needed"),
                count=count,
                kind=c.get("kind"),
                total=total,
                needed=c.get("count_from") or 1,
            ),
            None,
        )
    if c.type == "inactivity":
        days = c.get("days")
        last = last_purchase_day(facts, c.get("stores") or ())
        reference = last if last is not None else facts.registered_day
        if reference is None:
            return _why(i, False, N_("no purchase and no registration date known")), None
        idle = today - reference
        holds = idle >= days
        if last is None:
            message = N_("no purchase since registration %(idle)d day(s) ago; %(days)d needed")
        else:
            message = N_("last purchase %(idle)d day(s) ago; %(days)d needed")
        return _why(i, holds, message, idle=idle, days=days), (None if holds else reference + days)
    if c.type == "points_event":
        want = c.get("direction")
        stores, kinds = c.get("stores"), c.get("kinds")
        found = [
            e
            for e in events
            if e.kind == "points"
            and e.detail == want
            and (not stores or e.store in stores)
            and (not kinds or (e.ref in kinds))
            and e.amount >= (c.get("amount_from") or 1)
        ]
        return _why(
            i,
            bool(found),
            N_("%(n)d point operation(s) %(direction)s since the step began"),
            n=len(found),
            direction=want,
        ), None
    if c.type == "segment_event":
        found = [e for e in events if e.kind == "segment" and e.ref == c.get("segment") and e.detail == c.get("change")]
        return (
            _why(
                i,
                bool(found),
                N_("%(change)s segment %(segment)s %(n)d time(s) since the step began"),
                change=c.get("change"),
                segment=c.get("segment"),
                n=len(found),
            ),
            None,
        )
    if c.type == "message_event":
        found = [
            e
            for e in events
            if e.kind == "message" and e.detail == c.get("outcome") and (c.get("template") in (None, e.ref))
        ]
        return _why(
            i,
            bool(found),
            N_("%(n)d message(s) %(outcome)s since the step began"),
            n=len(found),
            outcome=c.get("outcome"),
        ), None
    if c.type == "promo_code_event":
        found = [e for e in events if e.kind == "promo_code" and e.ref == c.get("list") and e.detail == c.get("state")]
        return _why(
            i, bool(found), N_("%(n)d promo code(s) %(state)s since the step began"), n=len(found), state=c.get("state")
        ), None
    return _why(i, False, N_("unknown condition %(type)s"), type=c.type), None


def check_step(step: Step, facts: Facts, ctx: Context, events: Sequence[Event]) -> Verdict:
    """All of a step's conditions (a pause-only step holds at once)."""
    verdict = Verdict(True)
    for i, c in enumerate(step.conditions, 1):
        why, change = check_condition(i, c, facts, ctx, events)
        verdict.reasons.append(why)
        verdict.holds = verdict.holds and why.holds
        if change is not None and (verdict.change_day is None or change < verdict.change_day):
            verdict.change_day = change
    return verdict


def step_holds(step: Step, facts: Facts, ctx: Context, events: Sequence[Event]) -> tuple[bool, int | None]:
    """:func:`check_step`'s answer without its reasons (the engine's hot path): (all hold, the change day).
    Criteria are matched directly; event conditions go through :func:`check_condition` (their reasons are cheap)."""
    holds, change_day = True, None
    for i, c in enumerate(step.conditions, 1):
        if c.criterion is not None:
            ok, change = matches(c.criterion, facts, ctx), criterion_flip(c.criterion, facts, ctx.today)
        elif c.type == "inactivity":
            last = last_purchase_day(facts, c.get("stores") or ())
            reference = last if last is not None else facts.registered_day
            if reference is None:
                ok, change = False, None
            else:
                ok = ctx.today - reference >= c.get("days")
                change = None if ok else reference + c.get("days")
        else:
            why, change = check_condition(i, c, facts, ctx, events)
            ok = why.holds
        holds = holds and ok
        if change is not None and (change_day is None or change < change_day):
            change_day = change
    return holds, change_day


def events_since(events: Sequence[Event], since: dt.datetime) -> list[Event]:
    return [e for e in events if e.at >= since]


def needs(step: Step) -> Mapping[str, bool]:
    """What a step's conditions read: events since the step began, the customer's facts."""
    return {
        "events": any(c.criterion is None and c.type != "inactivity" for c in step.conditions),
        "facts": any(c.criterion is not None or c.type == "inactivity" for c in step.conditions),
    }
