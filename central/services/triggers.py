"""Triggers for the console (marketing.md, Triggers; docs/triggers.md): create, edit (a new version once
the trigger has run), copy, start, stop, test on a customer, the list with per-step statistics, a
customer's triggers, and ready-made templates of the seeds' examples.

Only users with access to a trigger's owner store see it; admins and marketers change triggers.
"""

from __future__ import annotations

import copy as copying
import datetime as dt
import json
import zoneinfo
from collections.abc import Mapping
from typing import Any

from ..marketing import engine as segments_engine
from ..marketing import trigger_engine as engine
from ..marketing.triggers.conditions import check_step
from ..marketing.triggers.definition import Known, Trigger, TriggerError, parse_trigger
from ..marketing.triggers.hours import next_firing
from ..storage import aggregates
from ..storage import triggers as q
from ..storage.clock import now_utc
from ..storage.store import Store
from . import audit
from . import segments as segment_service
from .access import ADMIN, MARKETER, Actor, Forbidden, FormError
from .text import _

STATES = ("draft", "running", "stopped")


def _require_write(actor: Actor) -> None:
    if actor.role not in (ADMIN, MARKETER):
        raise Forbidden(f"{actor.username} ({actor.role}) may not change triggers")


def _todays(db: Store, zones: dict[str, str]) -> dict[str, dt.date]:
    """store -> its local date now ("" -> the chain's): the trigger's local time (docs/triggers.md)."""
    now = dt.datetime.now(dt.UTC)
    chain = engine.zone_of(db.setting("chain_timezone"), zoneinfo.ZoneInfo(aggregates.DEFAULT_CHAIN_ZONE))
    found = {"": now.astimezone(chain).date()}
    for store, name in zones.items():
        found[store] = now.astimezone(engine.zone_of(name, chain)).date()
    return found


def known(db: Store) -> Known:
    found = db.trigger_known()
    return Known(
        stores=set(found["stores"]),
        segments=set(found["segments"]),
        static_segments={s for s, kind in found["segments"].items() if kind == "static"},
        templates=found["templates"],
        code_lists=set(found["code_lists"]),
        today=_todays(db, found["zones"]),
    )


def check(db: Store, doc: Any) -> Trigger:
    """The parsed trigger, or :class:`FormError` naming each place at fault (translated); nothing is saved."""
    try:
        return parse_trigger(doc, known(db))
    except TriggerError as error:
        raise FormError(error.messages(_)) from None


def _row(db: Store, actor: Actor, trigger_id: int) -> dict[str, Any]:
    row = db.trigger_row(trigger_id)
    if row is None or (actor.scoped and row["owner_store"] not in actor.stores):
        raise FormError({"trigger": _("No such trigger.")})
    return row


def create(db: Store, actor: Actor, doc: Any) -> int:
    _require_write(actor)
    trigger = check(db, doc)
    actor.require_store(trigger.owner_store)
    with db.transaction() as conn:
        ident = db.add_trigger(doc, now_utc(), actor.username)
        audit.record(conn, actor, "trigger.create", "trigger", ident, None, {"document": doc})
    return ident


def save(db: Store, actor: Actor, trigger_id: int, doc: Any) -> int:
    """Save an edit; a trigger that has run gets a new version (runs keep theirs). Returns the version."""
    _require_write(actor)
    row = _row(db, actor, trigger_id)
    trigger = check(db, doc)
    actor.require_store(trigger.owner_store)
    with db.transaction() as conn:
        before = db.trigger_document(trigger_id, row["version"])
        version = db.save_trigger_version(trigger_id, doc, bool(row["ran"]), now_utc(), actor.username)
        audit.record(
            conn,
            actor,
            "trigger.edit",
            "trigger",
            trigger_id,
            {"document": before},
            {"document": doc, "version": version},
        )
    return version


def copy(db: Store, actor: Actor, trigger_id: int) -> int:
    _require_write(actor)
    row = _row(db, actor, trigger_id)
    doc = copying.deepcopy(db.trigger_document(trigger_id, row["version"]) or {})
    doc["name"] = _("%(name)s (copy)", name=doc.get("name", ""))[:200]
    return create(db, actor, doc)


def start(db: Store, actor: Actor, trigger_id: int, now: dt.datetime | None = None) -> int:
    """Start (or resume) a trigger: every customer not yet in enters step 1; returns how many entered."""
    _require_write(actor)
    row = _row(db, actor, trigger_id)
    check(db, db.trigger_document(trigger_id, row["version"]))  # a segment it names may have been deleted since
    now = now or dt.datetime.now(dt.UTC)
    with db.transaction() as conn:
        db.set_trigger_state(trigger_id, "running", now.isoformat(timespec="seconds"), actor.username)
        entered = engine.enter_all(conn, trigger_id, now)
        if row["state"] == "stopped":  # events while it was stopped wake their customers now
            stopped = dt.datetime.fromisoformat(row["updated_at"]) - dt.timedelta(days=1)
            engine.wake_after_stop(conn, trigger_id, stopped, now)
        audit.record(conn, actor, "trigger.start", "trigger", trigger_id, {"state": row["state"]}, {"state": "running"})
    return entered


def stop(db: Store, actor: Actor, trigger_id: int) -> None:
    """Stop a trigger: progress is kept; starting it again resumes."""
    _require_write(actor)
    row = _row(db, actor, trigger_id)
    with db.transaction() as conn:
        db.set_trigger_state(trigger_id, "stopped", now_utc(), actor.username)
        audit.record(conn, actor, "trigger.stop", "trigger", trigger_id, {"state": row["state"]}, {"state": "stopped"})


def get(db: Store, actor: Actor, trigger_id: int) -> dict[str, Any]:
    row = _row(db, actor, trigger_id)
    return {**row, "document": db.trigger_document(trigger_id, row["version"])}


def listing(db: Store, actor: Actor) -> list[dict[str, Any]]:
    """The triggers the actor may see, with their firing hours and per-step statistics."""
    out = []
    for row in db.triggers_list():
        if actor.scoped and row["owner_store"] not in actor.stores:
            continue
        doc = db.trigger_document(row["id"], row["version"]) or {}
        counts = db.trigger_step_counts(row["id"])
        steps = []
        for k in range(len(doc.get("steps") or [])):
            stats = counts["stats"].get(k, {"entered": 0, "actions": 0})
            phases = counts["phases"]
            steps.append(
                {
                    "number": k + 1,
                    "entered": stats["entered"],
                    "actions": stats["actions"],
                    "waiting": phases.get((k, "wait"), 0) + phases.get((k, "pause"), 0),
                    "queued": phases.get((k, "queue"), 0),
                    "passed": counts["stats"].get(k + 1, {"entered": 0})["entered"]
                    if k + 1 < len(doc["steps"])
                    else stats["entered"],
                }
            )
        out.append({**row, "hours": sorted(doc.get("hours") or []), "steps": steps})
    return out


def customer_triggers(db: Store, actor: Actor, customer_id: str) -> list[dict[str, Any]]:
    """The triggers a customer is in (that the actor may see): step, phase, since."""
    visible = {r["id"] for r in listing(db, actor)}
    return [r for r in db.customer_triggers(customer_id) if r["id"] in visible]


def test(db: Store, actor: Actor, trigger_id: int, customer_id: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Run the trigger for one customer without changing anything: each step's verdict now and why, and the
    actions it would take (those of the step the customer works on, when its conditions hold)."""
    row = _row(db, actor, trigger_id)
    trigger = parse_trigger(db.trigger_document(trigger_id, row["version"]))
    now = now or dt.datetime.now(dt.UTC)
    with db.transaction() as conn:  # reads only: nothing is written
        found = q.customer_key(conn, customer_id)
        if found is None:
            raise FormError({"customer": _("No such customer.")})
        key = found
        zone = aggregates.chain_zone(conn)
        facts = aggregates.load_facts(conn, [key], zone=zone).get(key)
        if facts is None:
            raise FormError({"customer": _("No such customer.")})
        run = q.run_of(conn, trigger_id, key)
        since = run["since"] if run else (row["started_at"] or now.isoformat(timespec="seconds"))
        events = [e for r in q.customer_events(conn, [customer_id], since) for e in engine._events(r)]
        ctx = segments_engine.context(conn, aggregates.today(conn, now))
        current = run["step"] if run else 0
        steps = []
        for k, step in enumerate(trigger.steps):
            verdict = check_step(step, facts, ctx, events)
            steps.append(
                {
                    "number": k + 1,
                    "holds": verdict.holds,
                    "current": k == current and (run is None or run["phase"] in ("wait", "pause", "queue")),
                    "reasons": [
                        {"condition": w.condition, "holds": w.holds, "text": w.text(_)} for w in verdict.reasons
                    ],
                    "pause_days": step.pause_days,
                    "actions": [_action_text(a.type, a.params) for a in step.actions],
                }
            )
        would = []
        if current < len(trigger.steps) and steps[current]["holds"] and steps[current]["current"]:
            would = steps[current]["actions"]
    store_zone = engine.zone_of(db.trigger_store_zone(trigger.owner_store), zone)
    firing = next_firing(trigger.hours, store_zone, now)
    return {
        "customer": customer_id,
        "run": run,
        "steps": steps,
        "would": would,
        "next_firing": firing.isoformat(timespec="minutes") if firing else None,
    }


def _action_text(kind: str, p: Mapping[str, Any]) -> str:
    if kind == "credit":
        if p.get("expires_days"):
            return _(
                "credit %(points)s points, expiring after %(days)d days", points=p["points"], days=p["expires_days"]
            )
        return _("credit %(points)s points", points=p["points"])
    if kind == "debit":
        return _("debit %(points)s points", points=p["points"])
    if kind == "send":
        return _("send message template %(id)s", id=p["template"])
    if kind == "cashier_message":
        return _("cashier message: %(text)s", text=p["text"])
    if kind in ("segment_add", "segment_remove"):
        return (
            _("add to segment %(id)s", id=p["segment"])
            if kind == "segment_add"
            else _("remove from segment %(id)s", id=p["segment"])
        )
    if kind == "tag":
        return _("tag #%(tag)s", tag=p["tag"])
    if kind == "percent":
        text = (
            _("personal percent %(percent)s%% in store %(store)s", percent=p["percent"], store=p["store"])
            if p.get("store")
            else _("personal network-wide percent %(percent)s%%", percent=p["percent"])
        )
        if p.get("until"):
            return text + ", " + _("until %(date)s inclusive", date=p["until"])
        if p.get("days"):
            return text + ", " + _("for %(days)d days", days=p["days"])
        return text
    return _("%(action)s %(params)s", action=kind, params=json.dumps(dict(p), ensure_ascii=False, sort_keys=True))


# -- templates: the seeds' examples -------------------------------------------------------------------------------


def templates(owner_store: str, segment: int | None = None) -> dict[str, dict[str, Any]]:
    """Ready-made trigger documents (000's examples), for the editor to start from."""
    base = {"owner_store": owner_store, "hours": list(range(9, 22))}
    return {
        "welcome": {
            **base,
            "name": "Welcome bonus",
            "group": "Loyalty",
            "steps": [
                {
                    "conditions": [{"type": "registration", "days_from": 0, "days_to": 1}],
                    "actions": [{"type": "credit", "points": 10000}],
                }
            ],
        },
        "birthday": {
            **base,
            "name": "Birthday bonus",
            "group": "Loyalty",
            "steps": [
                {
                    "conditions": [{"type": "birthday", "days_before": 0, "days_after": 0}],
                    "actions": [
                        {"type": "credit", "points": 20000, "expires_days": 7},
                        {"type": "cashier_message", "text": "Birthday: congratulate and give the gift", "days": 1},
                    ],
                    "restart_days": 300,
                }
            ],
        },
        "come_back": {
            **base,
            "name": "Come back",
            "group": "Reactivation",
            "steps": [
                {
                    "conditions": [{"type": "inactivity", "days": 30}],
                    "actions": [{"type": "credit", "points": 30000, "expires_days": 14}],
                    "restart_days": 45,
                }
            ],
        },
        "second_purchase": {
            **base,
            "name": "Second purchase within 14 days",
            "group": "Loyalty",
            "steps": [
                {"conditions": [{"type": "transaction", "kind": "purchase", "count_from": 1}]},
                {
                    "conditions": [{"type": "transaction", "kind": "purchase", "count_from": 1}],
                    "within_days": 14,
                    "actions": [{"type": "credit", "points": 10000}],
                },
            ],
        },
        "monthly_segment": {
            **base,
            "name": "Lapsed customers (monthly refresh)",
            "group": "Segmentation",
            "steps": [
                {
                    "conditions": [{"type": "last_purchase", "days_from": 30}],
                    "actions": [{"type": "segment_add", "segment": segment}],
                    "restart_days": 30,
                },
                {
                    "conditions": [{"type": "last_purchase", "days_to": 29}],
                    "actions": [{"type": "segment_remove", "segment": segment}],
                },
            ],
        },
    }


def _segment_users(db: Store, segment_id: int) -> list[str]:
    """Triggers whose current version names a segment (a segment in use is not deleted)."""
    names = []
    for row in db.triggers_list():
        doc = db.trigger_document(row["id"], row["version"]) or {}
        try:
            used = parse_trigger(doc).segments_used()
        except TriggerError:
            continue
        if segment_id in used:
            names.append(_("trigger %(name)s", name=row["name"]))
    return names


segment_service.USERS.append(_segment_users)
