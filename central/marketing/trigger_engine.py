"""The triggers' durable engine (docs/triggers.md): events and the clock move customers through triggers.

* :func:`dispatch` reads the events outbox (``trigger_events``, written in the ingest's transaction)
  from its cursor and wakes only the customers concerned: their runs (or fresh ones) get ``wake_at = now``.
* :func:`process_due` pops the runs whose ``wake_at`` has come (a partial index), per running trigger,
  in batches: each run is decided by the pure scenario (``triggers/scenario.py``) and its actions'
  effects, the exactly-once register rows and the run's progress are written in one transaction.
  Timers (pause ends, periods, inactivity re-armed by each purchase, time-relative criteria such as
  birthdays, firing hours, full restarts) are all the run's ``wake_at``: the date change visits only
  the runs due that day.
* :func:`enter_all` puts every customer into a started trigger, evaluating its first step set-based.
* :class:`TriggerEngine` runs these on a thread inside ``loyalty-central serve`` (one holder at a time,
  a lease) and alone as ``loyalty-central triggers run``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import time
import uuid
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..daemon import DaemonThread
from ..gc_pause import without_gc
from ..points.ledger import LedgerBatch
from ..points.versions import VersionCounter, bump_versions
from ..storage import aggregates
from ..storage import messages as message_queries
from ..storage import promotions as promotion_store
from ..storage import segments as segment_store
from ..storage import triggers as q
from . import engine as segments_engine
from .segments.definition import criterion_doc, parse_definition
from .segments.evaluate import Context, Facts, event_kinds
from .set_evaluator import SetEvaluator
from .triggers.conditions import Event, step_holds
from .triggers.definition import Action, Trigger, parse_trigger
from .triggers.scenario import ACTIVE, Decision, Gate, Run, decide

log = logging.getLogger(__name__)
LEASE = "trigger-engine"
POINTS = ("credit", "debit", "zero_balance")
SYSTEM = "trigger"


@functools.lru_cache(maxsize=65536)
def _text(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).isoformat(timespec="seconds")


@functools.lru_cache(maxsize=65536)
def _time(text: str | None) -> dt.datetime | None:
    """A stored UTC text as a time (runs entered or woken together share theirs: parsed once)."""
    if text is None:
        return None
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def day_start(day: int, zone: dt.tzinfo) -> dt.datetime:
    """A local date's first instant (UTC)."""
    return dt.datetime.combine(dt.date.fromordinal(day), dt.time(), zone).astimezone(dt.UTC)


_day_start = functools.lru_cache(maxsize=4096)(day_start)


_PARSED: dict[str, Trigger] = {}


def definition(conn: Any, trigger_id: int, version: int) -> Trigger:
    """A version's parsed document (parsed once per text: the cache holds no database's ids)."""
    text = q.version_document(conn, trigger_id, version)
    if text is None:
        raise LookupError(f"trigger {trigger_id} version {version}")
    found = _PARSED.get(text)
    if found is None:
        if len(_PARSED) > 1000:
            _PARSED.clear()
        found = _PARSED[text] = parse_trigger(json.loads(text))
    return found


def zone_of(name: str | None, fallback: dt.tzinfo) -> dt.tzinfo:
    """The time zone of this name (a store's), else ``fallback`` (the chain's)."""
    try:
        return zoneinfo.ZoneInfo(name) if name else fallback
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return fallback


def _run(row: Mapping[str, Any]) -> Run:
    return Run(
        row["step"],
        row["phase"],
        row["pass_no"],
        _time(row["since"]),  # type: ignore[arg-type]
        _time(row["started"]),  # type: ignore[arg-type]
        _time(row["held_at"]),
        _time(row["restart_at"]),
    )


def _saved(
    trigger_id: int, key: int, version: int, run: Run, wake: dt.datetime | None, furthest: int
) -> tuple[Any, ...]:
    """A run's progress in ``q.save_runs``' order (q.SAVED_COLUMNS, then the key). ``furthest``: the furthest step
    passed before; a run working on step k (0-based) has passed k steps, whatever its phase."""
    return (
        version,
        run.step,
        run.phase,
        run.pass_no,
        _text(run.since),
        _text(run.started),
        _text(run.held_at),
        _text(run.restart_at),
        _text(wake),
        max(furthest, run.step),
        trigger_id,
        key,
    )


def _events(row: Sequence[Any]) -> list[Event]:
    """A row of the events outbox as the conditions see it (a purchase's points are points events too)."""
    _, kind, at, store, amount, ref, detail, cats, skus, pin, pout = row
    moment = _time(at)
    assert moment is not None
    out = [
        Event(
            kind,
            moment,
            store,
            amount or 0,
            int(ref) if kind in _NUMBERED and ref is not None and ref.isdigit() else ref,
            detail,
            frozenset((cats or "").split("\n")) - {""},
            frozenset((skus or "").split("\n")) - {""},
        )
    ]
    if pin:
        out.append(Event("points", moment, store, pin, kind, "credited"))
    if pout:
        out.append(Event("points", moment, store, pout, kind, "debited"))
    return out


#: the outbox's kinds whose ``ref`` is a number (a segment, a message template); a promo code list's id is text
_NUMBERED = ("segment", "message")

#: the events outbox's kinds each condition may change with (a registration concerns every trigger: the new
#: customer enters it)
_EVENT_KINDS = {
    "transaction": {"purchase", "refund"},
    "inactivity": {"purchase"},
    "points_event": {"purchase", "refund", "points"},
    "segment_event": {"segment"},
    "message_event": {"message"},
    "promo_code_event": {"promo_code"},
}
_CHANGES = {  # segments' change names (evaluate.event_kinds) -> the outbox's kinds
    "purchase": {"purchase"},
    "refund": {"refund"},
    "points": {"purchase", "refund", "points"},
    "level": {"purchase", "refund", "level"},
    "segment": {"segment"},
    "tags": {"tags"},
    "profile": {"profile"},
    "card": {"card"},
    "registration": {"registration"},
    # the criteria over rewards, codes and messages (docs/segments.md): a reward comes with a purchase (a voided
    # receipt is a refund event); codes and messages have their own events. (A run of another trigger is no event.)
    "promotion": {"purchase", "refund"},
    "promo_code": {"promo_code", "purchase", "refund"},
    "message": {"message"},
}
_CONCERNS: dict[int, tuple[Trigger, frozenset[str]]] = {}


def concerns(trigger: Trigger) -> frozenset[str]:
    """The event kinds that may change any of a trigger's conditions (registration always)."""
    found = _CONCERNS.get(id(trigger))
    if found is not None and found[0] is trigger:
        return found[1]
    kinds = {"registration"}
    for step in trigger.steps:
        for c in step.conditions:
            if c.criterion is not None:
                for change in event_kinds(c.criterion):
                    kinds |= _CHANGES.get(change, set())
            else:
                kinds |= _EVENT_KINDS.get(c.type, set())
    if len(_CONCERNS) > 1000:
        _CONCERNS.clear()
    _CONCERNS[id(trigger)] = (trigger, frozenset(kinds))
    return frozenset(kinds)


def _needs_events(trigger: Trigger) -> bool:
    return any(c.criterion is None and c.type != "inactivity" for step in trigger.steps for c in step.conditions)


def _tables(trigger: Trigger) -> set[str]:
    tables: set[str] = set()
    for step in trigger.steps:
        for c in step.conditions:
            if c.criterion is not None:
                tables |= set(aggregates.TABLES_OF.get(c.type, ()))
            elif c.type == "inactivity":
                tables.add("days")
    return tables


# -- the events outbox -> wake-ups ---------------------------------------------------------------------------------


def dispatch(conn: Any, now: dt.datetime, limit: int = 20000) -> int:
    """Wake the customers of the events after the cursor in every running trigger; returns the events read.
    Segments entered and left (the segments' history, its own cursor) become events first."""
    changes = q.segment_changes_after(conn, q.cursor(conn, "trigger_segments"), limit)
    if changes:
        q.add_events(
            conn,
            [
                (cid, "segment", at, None, 0, str(seg), "entered" if entered else "left")
                for _, cid, seg, entered, at in changes
                if cid
            ],
        )
        q.set_cursor(conn, changes[-1][0], "trigger_segments")
    start = q.cursor(conn) or 0
    events = q.events_after(conn, start, limit)
    if not events:
        return 0
    firsts_by_id: dict[str, dict[str, str]] = {}  # customer -> kind -> their first event's time
    for _, cid, at, kind in events:
        mine = firsts_by_id.setdefault(cid, {})
        if kind not in mine or at < mine[kind]:
            mine[kind] = at
    keys = aggregates.keys_of(conn, firsts_by_id)
    now_text = _text(now)
    for trigger in q.running(conn):
        concerned = concerns(definition(conn, trigger["id"], trigger["version"]))
        firsts = {
            keys[cid]: min(at for kind, at in kinds.items() if kind in concerned)
            for cid, kinds in firsts_by_id.items()
            if not concerned.isdisjoint(kinds)
        }
        if firsts:
            q.wake_for_events(conn, trigger, firsts, now_text)  # type: ignore[arg-type]
    q.set_cursor(conn, events[-1][0])
    return len(events)


#: processed events are kept this many days (docs/triggers.md: a step's event conditions count the events since
#: the customer arrived on it; a customer waiting longer counts those of the last RETENTION_DAYS)
RETENTION_DAYS = 400


def prune_events(db: Any, now: dt.datetime, days: int = RETENTION_DAYS) -> int:
    """The nightly job's part: delete the events read by the engine and older than ``days``, a transaction per
    range; returns the rows deleted."""
    before = _text(now - dt.timedelta(days=days))
    assert before is not None
    deleted, after = 0, None
    while True:
        with db.transaction() as conn:
            n, after = q.prune_events(conn, before, after)
        deleted += n
        if after is None:
            return deleted


def wake_after_stop(conn: Any, trigger_id: int, stopped: dt.datetime, now: dt.datetime) -> None:
    """A resumed trigger: customers with events since it stopped (a day's margin for agents' clocks) are due now."""
    q.wake_customers_with_events(conn, trigger_id, _text(stopped), _text(now))  # type: ignore[arg-type]


# -- entering every customer at the start ---------------------------------------------------------------------------


def enter_all(conn: Any, trigger_id: int, now: dt.datetime) -> int:
    """Every customer not yet in gets a run on step 1: due now if its conditions hold now (set-based),
    else woken when they may (a flip day, an inactivity timer) or by an event. Returns the runs made."""
    with without_gc():
        return _enter_all(conn, trigger_id, now)


def _enter_all(conn: Any, trigger_id: int, now: dt.datetime) -> int:
    row = next((r for r in q.running(conn) if r["id"] == trigger_id), None)
    if row is None:
        return 0
    trigger = definition(conn, trigger_id, row["version"])
    chain = aggregates.chain_zone(conn)
    today = aggregates.today(conn, now)
    step = trigger.steps[0]
    now_text = _text(now)
    version = row["version"]
    if not step.conditions:  # a pause alone: everyone pauses from now, in one statement of central/storage/triggers.py
        wake = _text(now + dt.timedelta(days=step.pause_days))
        values = (trigger_id, version, 0, "pause", 1, now_text, now_text, now_text, None, wake)
        return q.insert_runs_for_all(conn, values)
    holds: set[int] | None = None
    change: dict[int, int] = {}

    def narrow(found: set[int]) -> None:
        nonlocal holds
        holds = found if holds is None else holds & found

    criteria = [c.criterion for c in step.conditions if c.criterion is not None]
    if criteria:
        doc = {"audiences": [[criterion_doc(c)] for c in criteria]}
        as_segment = parse_definition(doc)
        narrow(SetEvaluator(conn, today).members(as_segment))
        for key, day in segments_engine.all_flips(conn, as_segment, today).items():
            if day < change.get(key, day + 1):
                change[key] = day
    for c in step.conditions:
        if c.type == "inactivity":  # counted from the last purchase (at the stores), else from the registration day
            stores = c.get("stores") or ()
            days = c.get("days")
            reference = q.last_purchase_days(conn, stores)
            local: dict[str, int] = {}  # customers registered in one batch share their times: parsed once
            for key, created in q.registrations_without_purchase(conn, stores):
                found_day = local.get(created)
                if found_day is None:
                    found_day = local[created] = _time(created).astimezone(chain).date().toordinal()  # type: ignore[union-attr]
                reference[key] = found_day
            found = set()
            since = today - days  # the timer has run out for a reference day on or before this one
            for key, day in reference.items():
                if day <= since:
                    found.add(key)
                else:
                    day += days
                    if day < change.get(key, day + 1):
                        change[key] = day
            narrow(found)
        elif c.criterion is None:
            narrow(set())  # an event condition: no event since the start yet
    # one statement in key order: the ready customers wake now (code 0), the others on their first flip/timer day
    ready = holds or set()
    for key in ready:
        change[key] = 0
    moments = {day: _text(day_start(day, chain)) for day in set(change.values()) if day}
    moments[0] = now_text
    values = (trigger_id, version, 0, "wait", 1, now_text, now_text, None, None)
    return q.enter_runs(conn, values, sorted(change.items()), moments)  # type: ignore[arg-type]


# -- due runs -> decisions -> effects ----------------------------------------------------------------------


@dataclass
class Batch:
    """What one batch of a trigger's runs read once."""

    facts: dict[int, Facts]
    events: dict[int, list[Event]]
    ctx: Context
    chain: dt.tzinfo


def percent_end(params: Mapping[str, Any], now: dt.datetime, zone: dt.tzinfo) -> dt.datetime | None:
    """When a ``percent`` action's percent stops applying: ``days`` after the action, or the start of the day
    after ``until`` (inclusive) in the trigger's local time; None: it does not end."""
    if params.get("days"):
        return now + dt.timedelta(days=params["days"])
    if params.get("until"):
        return day_start(dt.date.fromisoformat(params["until"]).toordinal() + 1, zone)
    return None


class Effects:
    """The actions' effects, in the engine's transaction, each after its key was claimed."""

    def __init__(
        self, conn: Any, now: dt.datetime, owner_store: str, trigger_id: int, name: str, zone: dt.tzinfo = dt.UTC
    ) -> None:
        self.connection = conn
        self.now = now
        self.zone = zone  # the trigger's local time (its owner store's): a percent's end date
        self.now_text = _text(now)
        self.owner_store = owner_store
        self.trigger_id = trigger_id
        self.name = name
        self.ledger: LedgerBatch | None = None
        self.changed: set[str] = set()  # customers whose down-sync data changed
        self.points: set[str] = set()
        self.tags: set[str] = set()
        self.cards: set[str] = set()  # cards blocked or unblocked, home store bound: the segments reading them follow
        self.codes: set[str] = set()  # customers issued a promo code
        self.tags_added: list[tuple[str, str]] = []
        self.tags_removed: list[tuple[str, str]] = []
        self._notes: dict[tuple[int, int, int], tuple[str, str]] = {}  # (version, step, pass) -> comment, detail

    def _note(self, version: int, step: int, pass_no: int) -> tuple[str, str]:
        """The ledger's reason and the receipt log's detail of a (version, step, pass): made once per batch."""
        found = self._notes.get((version, step, pass_no))
        if found is None:
            comment = f"trigger {self.trigger_id} ({self.name}) v{version} step {step + 1} pass {pass_no}"
            detail = json.dumps({"reason": comment, "trigger": self.trigger_id, "step": step + 1}, ensure_ascii=False)
            found = self._notes[(version, step, pass_no)] = (comment, detail)
        return found

    def do(self, cid: str, key: int, version: int, step: int, pass_no: int, index: int, action: Action) -> None:
        conn, p = self.connection, action.params
        ident = f"trigger:{self.trigger_id}:{version}:{key}:{step + 1}:{pass_no}:{index}"
        comment, detail = self._note(version, step, pass_no)
        kind = action.type
        if kind in ("credit", "debit", "zero_balance"):
            if self.ledger is None:
                self.ledger = LedgerBatch(conn, self.now_text)
            batch = self.ledger
            op = {"id": ident, "at": self.now_text, "store": self.owner_store}
            state = batch.state(cid)
            if state is None:
                return
            if kind == "credit" and p.get("expires_days"):
                expires = _text(self.now + dt.timedelta(days=p["expires_days"]))
                batch.add_lot(cid, f"{cid}:{ident}", p["points"], None, expires, "bonus.promo", op, reason=comment)
                points = p["points"]
            else:
                points = (
                    p["points"] if kind == "credit" else -min(p.get("points") or state.balance, max(state.balance, 0))
                )
                if not points:
                    return
                batch.adjust(cid, points, "bonus.promo", op, reason=comment, operator=SYSTEM)
            batch.receipts.operation(
                "bonus.promo",
                cid,
                points,
                self.now_text,
                event_id=ident,
                detail_json=detail,
            )
            self.points.add(cid)
        elif kind == "send":
            template = q.template_row(conn, p["template"])
            if template is not None:
                message_queries.enqueue(
                    conn,
                    f"trigger:{self.trigger_id}:{version}:{step + 1}:{pass_no}:{index}",
                    [cid],
                    template["channel"],
                    template["kind"],
                    template["id"],
                    template["language"],
                    extra={"store": self.owner_store},
                )
        elif kind == "cashier_message":
            until = _text(self.now + dt.timedelta(days=p.get("days") or 7))
            q.add_cashier_message(conn, ident, cid, p["text"], until, self.now_text, SYSTEM)
            self.changed.add(cid)
        elif kind in ("segment_add", "segment_remove"):
            inside = segment_store.is_member(conn, p["segment"], key)
            if kind == "segment_add" and not inside:
                segment_store.change_members_many(conn, [(p["segment"], [key], [])], self.now_text, "trigger")
            elif kind == "segment_remove" and inside:
                segment_store.change_members_many(conn, [(p["segment"], [], [key])], self.now_text, "trigger")
        elif kind == "tag":
            (self.tags_removed if p.get("remove") else self.tags_added).append((cid, p["tag"]))
            self.tags.add(cid)
        elif kind == "comment":
            q.add_comment(conn, cid, SYSTEM, p["text"], self.now_text)
        elif kind in ("block_card", "unblock_card"):
            q.set_cards_status(conn, cid, kind == "block_card", comment, self.now_text)
            self.changed.add(cid)
            self.cards.add(cid)
        elif kind == "bind_store":
            q.bind_store(conn, cid, p["store"])
            self.changed.add(cid)
            self.cards.add(cid)
        elif kind == "percent":
            ends = percent_end(p, self.now, self.zone)
            if ends is not None and ends <= self.now:
                return  # its end date passed before the customer got here: nothing to set
            q.set_percent(conn, cid, str(p["percent"]), p.get("store"), _text(ends))
            self.changed.add(cid)
        elif kind == "promo_code":  # a code of a personal list, issued once per pass (the key claimed above)
            if promotion_store.issue_code(conn, p["list"], cid, self.now_text) is not None:
                self.changed.add(cid)  # it goes down in the customer's delta
                self.codes.add(cid)

    def finish(self) -> None:
        if self.tags_added or self.tags_removed:
            q.change_tags(self.connection, self.tags_added, self.tags_removed)
        if self.ledger is not None:
            counter = VersionCounter(self.connection)
            self.ledger.flush(counter)
            counter.save()
        if self.changed:
            bump_versions(self.connection, sorted(self.changed))
        if self.points:
            segments_engine.customer_changed(self.connection, sorted(self.points), "points")
        if self.tags:
            segments_engine.customer_changed(self.connection, sorted(self.tags), "tags")
        if self.cards:  # (home store: "card" concerns it too, evaluate.event_kinds)
            segments_engine.follow(self.connection, self.cards, {"card"}, "trigger")
        if self.codes:
            segments_engine.customer_changed(self.connection, sorted(self.codes), "promo_code")


def _load(
    conn: Any, triggers: Sequence[Trigger], rows: Sequence[Mapping[str, Any]], now: dt.datetime, ids: Mapping[int, str]
) -> Batch:
    chain = aggregates.chain_zone(conn)
    keys = sorted({r["customer_key"] for r in rows})
    tables: set[str] = set()
    for t in triggers:
        tables |= _tables(t)
    facts = aggregates.load_facts(conn, keys, zone=chain, tables=tables)
    events: dict[int, list[Event]] = {}
    since = min(r["since"] for r in rows)
    key_of = {cid: key for key, cid in ids.items()}
    if any(_needs_events(t) for t in triggers):
        for row in q.customer_events(conn, sorted(key_of), since):
            events.setdefault(key_of[row[0]], []).extend(_events(row))
    today = aggregates.today(conn, now)
    return Batch(facts, events, segments_engine.context(conn, today), chain)


def decide_runs(
    conn: Any,
    trigger_row: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    now: dt.datetime,
    before_effects: Callable[[], None] | None = None,
) -> tuple[int, int]:
    """Decide these runs of one trigger and write their effects and progress (the caller's transaction).
    Returns (runs handled, actions done)."""
    tid = trigger_row["id"]
    versions = {r["version"] for r in rows} | {trigger_row["version"]}
    defs = {v: definition(conn, tid, v) for v in versions}
    current = defs[trigger_row["version"]]
    chain = aggregates.chain_zone(conn)
    zone = zone_of(trigger_row.get("timezone"), chain)
    ids = q.customer_ids(conn, [r["customer_key"] for r in rows])
    batch = _load(conn, list(defs.values()), rows, now, ids)
    on: dict[int, int] = {}
    counted = any(step.limits.at_once is not None for t in defs.values() for step in t.steps)
    queued: dict[int, int] = {}
    for (step, phase), n in (q.on_counts(conn, tid) if counted else {}).items():  # only a step limit needs them
        if step >= 1 and (phase in ACTIVE or phase == "done"):
            on[step - 1] = on.get(step - 1, 0) + n
        if phase == "queue":
            queued[step] = n
    gate = Gate(
        current, q.entered_counts(conn, tid), on, trigger_row.get("slot"), trigger_row.get("slot_count") or 0, queued
    )
    decided: list[tuple[Mapping[str, Any], int, Decision]] = []
    saved: list[tuple[Any, ...]] = []
    moved: set[int] = set()  # customers whose trigger facts (the step they are on, the furthest passed) changed
    for row in rows:
        key = row["customer_key"]
        facts = batch.facts.get(key)
        trigger = defs[row["version"]]
        run = _run(row)
        if facts is None or row["step"] > len(trigger.steps):  # merged away, or a broken row
            out = Run(run.step, "out", run.pass_no, now, run.started)
            saved.append(_saved(tid, key, row["version"], out, None, row.get("furthest") or 0))
            continue
        own = batch.events.get(key, [])

        def check(
            k: int, run: Run, trigger: Trigger = trigger, facts: Facts = facts, own: list[Event] = own
        ) -> tuple[bool, dt.datetime | None]:
            holds, day = step_holds(trigger.steps[k], facts, batch.ctx, [e for e in own if e.at >= run.since])
            return holds, (None if day is None else _day_start(day, batch.chain))

        gate.trigger = trigger
        d = decide(trigger, run, now, check, gate, zone)
        version = row["version"]
        if "restart" in d.notes:
            version = trigger_row["version"]  # a new pass enters the current version
        decided.append((row, version, d))
        saved.append(_saved(tid, key, version, d.run, d.wake_at, row.get("furthest") or 0))
        if d.run.step != run.step or (d.run.phase == "out") != (run.phase == "out"):
            moved.add(key)
    if before_effects is not None:
        before_effects()
    effects = Effects(conn, now, trigger_row["owner_store"], tid, str(current.name), zone)
    paying = {ids[row["customer_key"]] for row, _, d in decided for a in d.actions if a[3].type in POINTS}
    if paying:  # the ledger's state of every customer whose points change, read at once
        effects.ledger = LedgerBatch(conn, _text(now))
        effects.ledger.prefetch([{"body": {"customer_id": cid}} for cid in sorted(paying)])
    stats: dict[int, list[int]] = {}
    done = 0
    wanted = [
        (version, row["customer_key"], step, pass_no, index, action.type)
        for row, version, d in decided
        for step, pass_no, index, action in d.actions
    ]
    claimed = q.claim_actions(conn, tid, wanted, _text(now))  # type: ignore[arg-type]
    for row, version, d in decided:
        key = row["customer_key"]
        for note in d.notes:
            if note.startswith("passed:"):
                stats.setdefault(int(note[7:]), [0, 0])[0] += 1
        for step, pass_no, index, action in d.actions:
            if (version, key, step, pass_no, index) in claimed:
                effects.do(ids[key], key, version, step, pass_no, index, action)
                stats.setdefault(step, [0, 0])[1] += 1
                done += 1
    effects.finish()
    saved.sort(key=lambda r: r[-1])  # the runs' primary key in order: neighbouring pages
    q.save_runs(conn, saved)
    if moved:  # the dynamic segments with a trigger criterion on this trigger (none: nothing read)
        segments_engine.trigger_progress(conn, tid, moved, ids, now)
    q.bump_stats(conn, tid, {s: (e, a) for s, (e, a) in stats.items()})
    q.set_slot(conn, tid, gate.slot, gate.slot_count)
    for k, step in enumerate(current.steps):
        at_once = step.limits.at_once
        if at_once is not None and gate.on.get(k, 0) < at_once:
            q.wake_queue(conn, tid, k, at_once - gate.on.get(k, 0), _text(now))  # type: ignore[arg-type]
    return len(rows), done


def process_due(
    db: Any,
    now: dt.datetime,
    *,
    batch: int = 2000,
    limit: int | None = None,
    before_effects: Callable[[], None] | None = None,
) -> tuple[int, int]:
    """Decide the runs due by ``now`` in every running trigger, a transaction per batch; (runs, actions).

    A batch gathers up to ``batch`` due runs over the triggers in turn (a date change wakes a few runs in each of
    many triggers: one commit for them all, not one per trigger)."""
    runs = actions = 0
    now_text = _text(now)
    with db.transaction() as conn:
        pending = [r["id"] for r in q.running(conn)]
    while pending and (limit is None or runs < limit):
        taken = 0
        with without_gc(), db.transaction() as conn:
            current = {r["id"]: r for r in q.running(conn)}
            while pending and taken < batch and (limit is None or runs + taken < limit):
                trigger_row, want = current.get(pending[0]), batch - taken
                rows = [] if trigger_row is None else q.due(conn, pending[0], now_text, want)  # type: ignore[arg-type]
                if rows:
                    n, a = decide_runs(conn, trigger_row, rows, now, before_effects)  # type: ignore[arg-type]
                    taken += n
                    actions += a
                if len(rows) < want:  # this trigger has nothing more due (else the next batch asks it again)
                    pending.pop(0)
        runs += taken
    return runs, actions


def run_once(
    db: Any, now: dt.datetime | None = None, before_effects: Callable[[], None] | None = None
) -> tuple[int, int, int]:
    """One pass: the events to wake-ups, then every due run; (events, runs, actions)."""
    now = now or dt.datetime.now(dt.UTC)
    with db.transaction() as conn:
        events = dispatch(conn, now)
    runs, actions = process_due(db, now, before_effects=before_effects)
    return events, runs, actions


def _test_pause() -> Callable[[], None] | None:
    """A hook for the crash tests: ``LOYALTY_TRIGGERS_PAUSE=<seconds>`` sleeps between deciding and doing,
    after touching ``LOYALTY_TRIGGERS_MARK`` (a file) so the test knows when to kill."""
    seconds = float(os.environ.get("LOYALTY_TRIGGERS_PAUSE") or 0)
    if not seconds:
        return None
    mark = os.environ.get("LOYALTY_TRIGGERS_MARK")

    def pause() -> None:
        if mark:
            with open(mark, "a") as out:
                out.write("deciding\n")
        time.sleep(seconds)

    return pause


class TriggerEngine(DaemonThread):
    """The engine's thread: a pass each ``interval`` seconds (one holder at a time: a lease)."""

    thread_name = "trigger-engine"

    def __init__(self, db_path: str, *, interval: float = 1.0, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.db_path = db_path
        self.interval = interval
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        super().__init__()
        self.holder = f"triggers-{uuid.uuid4().hex[:12]}"
        self._db: Any = None

    @property
    def db(self) -> Any:
        if self._db is None:
            from ..storage.store import Store

            self._db = Store(self.db_path)
            self._db.use_engine_pragmas()
        return self._db

    def run_once(self) -> tuple[int, int, int]:
        db = self.db
        with db.transaction():
            if not db.take_message_lease(LEASE, self.holder, max(5.0, 10 * self.interval)):
                return 0, 0, 0
        return run_once(db, self.clock(), _test_pause())

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                events, runs, _ = self.run_once()
            except Exception:
                log.exception("trigger engine pass failed")
                events = runs = 0
            if not events and not runs:
                self._stop.wait(self.interval)
        if self._db is not None:
            with self._db.transaction():
                self._db.release_message_lease(LEASE, self.holder)
            self._db.close()
            self._db = None
