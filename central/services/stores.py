"""Stores (name, city, time zone, base percent, groups, bonus program) and their sync status.

The status is what the agents last said (their retained ``status``
messages: online or not, outbox depth, rule-set version, last sync) next to
what the central server holds (the newest rule-set version, open dead
letters, debts and flags to review). Reviewing one marks it resolved with a
note, audited.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from shared.errors import LoyaltyError
from shared.numbers import PERCENT_DECIMALS, is_whole, parse_scaled

from ..points.programs import customers_in, default_program
from ..points.versions import bump_versions
from ..storage.clock import now_utc
from ..storage.review import REVIEWABLE
from ..storage.store import NotFound, Store
from . import audit
from .access import Actor, FormError
from .text import _

_FIELDS = ("name", "city", "timezone", "base_percent", "program_id")


def _percent(text: str, errors: dict[str, str], field: str = "base_percent") -> str:
    text = (text or "").strip().replace(",", ".")
    try:
        if parse_scaled(text, PERCENT_DECIMALS) > 100 * 100:
            raise ValueError
    except ValueError:
        errors[field] = _("Write a percent 0..100 with at most 2 decimals, like 5 or 2.5.")
    return text


def list_stores(db: Store, actor: Actor) -> list[dict[str, Any]]:
    """The actor's stores with their groups, program, rule-set version and what their agents run."""
    actor.require("stores.read")
    latest = db.latest_rules()
    groups = db.store_memberships()
    by_id = {p["id"]: p for p in programs_list(db)}
    out = []
    for store in db.stores():
        if actor.scoped and store["id"] not in actor.stores:
            continue
        agents = db.agents(store["id"])
        version, doc = latest.get(store["id"], (None, None))
        store["rules_version"] = version
        store["effective_percent"] = doc.get("base_percent") if doc else store["base_percent"]
        store["groups"] = groups.get(store["id"], [])
        store["program"] = by_id.get(store["program_id"])
        store["agents"] = agents
        store["online"] = sum(1 for a in agents if a["state"] == "online")
        store["running"] = sorted({a["rules_version"] for a in agents if a["rules_version"] is not None})
        depths = [a["outbox_depth"] for a in agents if a["outbox_depth"] is not None]
        store["outbox"] = sum(depths) if depths else None
        store["last_sync"] = max((a["last_sync"] for a in agents if a["last_sync"]), default=None)
        out.append(store)
    return out


def groups_list(db: Store) -> list[dict[str, Any]]:
    return db.store_groups()


def group_stores(db: Store, group_id: int) -> list[str]:
    return db.group_stores(group_id)


def programs_list(db: Store, actor: Actor | None = None, *, with_points: bool = False) -> list[dict[str, Any]]:
    """Every program with its stores (those without a program count for the default one), the default first.

    ``with_points``: also the points outstanding, the debts and the customers holding points in each
    (a scan of the lots: for the programs page, not for forms); a store manager's figures count
    their stores' customers only, as the home page's liability does.
    """
    scope = actor.stores if actor is not None and actor.scoped else None
    rows = db.bonus_programs_with_points(scope) if with_points else db.bonus_programs()
    stores, _default = db.programs_of_stores()
    for row in rows:
        row["stores"] = sum(1 for program in stores.values() if program == row["id"])
    return rows


def _validate(db: Store, data: Mapping[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    values["name"] = (data.get("name") or "").strip()
    if not values["name"] or len(values["name"]) > 100:
        errors["name"] = _("Write a name of 1 to 100 characters.")
    values["city"] = (data.get("city") or "").strip() or None
    values["timezone"] = (data.get("timezone") or "").strip()
    try:
        zoneinfo.ZoneInfo(values["timezone"])
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = _("Write an IANA time zone like Europe/Moscow.")
    values["base_percent"] = _percent(data.get("base_percent") or "0", errors)
    program = data.get("program_id") or ""
    values["program_id"] = int(program) if is_whole(program) else None
    if (program and values["program_id"] is None) or (
        values["program_id"] is not None and not db.program_exists(values["program_id"])
    ):
        errors["program_id"] = _("Choose from the list.")
    return values


def add_store(db: Store, actor: Actor, data: Mapping[str, Any], groups: list[str]) -> str:
    """A new store; returns its one-time enrollment token (shown once, only its hash is kept)."""
    actor.require("stores.write")
    errors: dict[str, str] = {}
    store_id = (data.get("id") or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", store_id):
        errors["id"] = _("Use 1 to 64 latin letters, digits and . _ -")
    elif db.store_exists(store_id):
        errors["id"] = _("A store with this id exists.")
    values = _validate(db, data, errors)
    if errors:
        raise FormError(errors)
    try:
        db.add_store(store_id, values["name"], values["timezone"])
    except LoyaltyError as exc:
        raise FormError({"id": str(exc)}) from None
    with db.transaction() as conn:
        db.set_store_details(store_id, values["city"], values["base_percent"], values["program_id"])
        db.set_store_groups(store_id, groups)
        audit.record(conn, actor, "store.add", "store", store_id, None, {**values, "groups": groups}, store=store_id)
    return db.new_enrollment_token(store_id)


def update_store(db: Store, actor: Actor, store_id: str, data: Mapping[str, Any], groups: list[str]) -> None:
    actor.require("stores.write")
    before = db.get_store(store_id)
    errors: dict[str, str] = {}
    values = _validate(db, data, errors)
    if errors:
        raise FormError(errors)
    with db.transaction() as conn:
        old_groups = db.store_memberships().get(store_id, [])
        db.update_store(
            store_id, values["name"], values["city"], values["timezone"], values["base_percent"], values["program_id"]
        )
        db.set_store_groups(store_id, groups)
        default = default_program(conn)
        old, new = before["program_id"] or default, values["program_id"] or default
        if old != new:
            # the store's agents must be sent the new program's lots (and lose the old ones): customers with
            # lots in either get new versions. Agents ignore older versions, so no cursor is reset. Events
            # still in the store's outbox land in the new program when they arrive (docs/console.md).
            bump_versions(conn, customers_in(conn, [old, new]))
        audit.record(
            conn,
            actor,
            "store.update",
            "store",
            store_id,
            {**{k: before[k] for k in _FIELDS}, "groups": old_groups},
            {**values, "groups": groups},
            store=store_id,
        )


def new_token(db: Store, actor: Actor, store_id: str, hours: int) -> str:
    """A one-time enrollment token for another agent of the store."""
    import datetime as dt

    actor.require("stores.write")
    token = db.new_enrollment_token(store_id, dt.timedelta(hours=hours))
    with db.transaction() as conn:
        audit.record(conn, actor, "store.token", "store", store_id, None, {"valid_hours": hours}, store=store_id)
    return token


def save_program(db: Store, actor: Actor, data: Mapping[str, Any]) -> int:
    """A bonus account (program): its name and the points one unit of money earns (accrual.md points_per_money)."""
    actor.require("programs.write")
    from shared.numbers import PPM_DECIMALS

    errors: dict[str, str] = {}
    name = (data.get("name") or "").strip()
    if not name or len(name) > 100:
        errors["name"] = _("Write a name of 1 to 100 characters.")
    rate = (data.get("points_per_money") or "").strip().replace(",", ".")
    try:
        if not 1 <= parse_scaled(rate, PPM_DECIMALS) <= 9000:
            raise ValueError
    except ValueError:
        errors["points_per_money"] = _("Write a rate from 0.001 to 9, like 1 or 0.5.")
    ident = data.get("id") or ""
    if errors:
        raise FormError(errors)
    with db.transaction() as conn:
        if is_whole(ident):
            before = db.program_settings(int(ident))
            if before is None:
                raise NotFound(f"no program {ident}")
            db.update_program(int(ident), name, rate)
            audit.record(
                conn, actor, "program.update", "program", ident, before, {"name": name, "points_per_money": rate}
            )
            return int(ident)
        if db.program_name_taken(name):
            raise FormError({"name": _("A program with this name exists.")})
        new_id = db.add_program(name, rate, now_utc())
        audit.record(conn, actor, "program.add", "program", new_id, None, {"name": name, "points_per_money": rate})
        return new_id


# -- sync status and review ----------------------------------------------------------------------


def status(db: Store, actor: Actor) -> dict[str, Any]:
    """Per store: agents (online, outbox, versions, last sync); open dead letters, debts and flags;
    what recovery did with the events of agents restored from a backup."""
    actor.require("stores.read")
    stores = list_stores(db, actor)
    visible = [s["id"] for s in stores]
    return {
        "stores": stores,
        # those of no store only for who sees every store
        "dead_letters": db.open_dead_letters(visible, with_storeless=not actor.scoped),
        "debts": db.open_debts(visible),
        "flags": db.open_flags(visible, with_storeless=not actor.scoped),
        "recovered": db.recovered_events(visible),
    }


def resolve(db: Store, actor: Actor, what: str, ident: str, note: str) -> None:
    """Mark a dead letter, debt or flag as reviewed (with a note)."""
    actor.require("sync.resolve")
    if what not in REVIEWABLE:
        raise NotFound(f"nothing to review called {what}")
    note = note.strip()
    if not note or len(note) > 500:
        raise FormError({"note": _("Say what was done about it (1 to 500 characters).")})
    with db.transaction() as conn:
        row = db.open_review_item(what, ident)
        if row is None:
            raise FormError({"note": _("It is already reviewed.")})
        db.resolve_review_item(what, ident, note, now_utc())
        before = {k: v for k, v in row.items() if k != "payload"}
        audit.record(
            conn,
            actor,
            f"{what}.resolve",
            what,
            ident,
            before,
            {"resolved": True, "note": note},
            store=row.get("store"),
        )
