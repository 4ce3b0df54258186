"""Rule sets in the console: a draft per store, validated in place, published as a new version.

The draft is the rule set being edited (``rule_drafts``): it starts as a
copy of the store's current rule set (or a new one from the store's base
percent and program). Saving or publishing validates it with
``shared.rules.parse_rules`` -- the agents' own validator -- and maps every
problem to the form field that shows it; nothing is written on error.
Publishing stores the next version (``Store.add_rules``), which the
publisher sends to the store's agents retained; the store's time zone and
the chain-wide level program (central/points/levels.py) are filled in at publish
time so every store's rule set carries the same levels.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shared.errors import RuleSetError
from shared.rules import RuleSet, parse_rules

from ..storage.clock import now_utc
from ..storage.store import Store
from . import audit
from .access import Actor, FormError
from .rule_messages import translate
from .rules_form import document, field_of
from .text import _


def _store(db: Store, actor: Actor, store_id: str, permission: str) -> dict[str, Any]:
    actor.require(permission)
    actor.require_store(store_id)
    return db.get_store(store_id)


def current(db: Store, store_id: str) -> tuple[int, dict[str, Any]] | None:
    return db.latest_rules().get(store_id)


def drafts(db: Store) -> dict[str, dict[str, Any]]:
    """store -> when and by whom its rule-set draft was last saved."""
    return db.rule_drafts()


def versions(db: Store, actor: Actor, store_id: str) -> list[dict[str, Any]]:
    _store(db, actor, store_id, "rules.read")
    return db.rule_set_versions(store_id, 50)


def starting_document(db: Store, store: Mapping[str, Any]) -> dict[str, Any]:
    """A new store's first rule set: its base percent, its program's rate, nothing redeemable yet."""
    doc: dict[str, Any] = {
        "version": 0,
        "store": store["id"],
        "timezone": store["timezone"],
        "base_percent": store["base_percent"] or "0",
        "redemption": {"max_percent": "0"},
    }
    # a store without a program is in the default one (central/points/programs.py), and takes its rate
    rate = db.program_rate(store.get("program_id") or db.default_program())
    if rate is not None:
        doc["points_per_money"] = rate
    return doc


def draft(db: Store, actor: Actor, store_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the document being edited, draft info or None when it is the current rule set unchanged)."""
    store = _store(db, actor, store_id, "rules.read")
    row = db.rule_draft(store_id)
    if row is not None:
        return json.loads(row["document"]), row
    found = current(db, store_id)
    return (dict(found[1]) if found else starting_document(db, store)), None


def with_program(db: Store, doc: Mapping[str, Any], store: Mapping[str, Any]) -> dict[str, Any]:
    """The document as it is published: the store's zone, the program's levels."""
    out = {k: v for k, v in doc.items() if k != "levels"}
    out["timezone"] = store["timezone"]
    out["store"] = store["id"]
    levels = db.level_program().levels
    if levels:
        out["levels"] = [{"name": name, "from_spend": start, "percent": percent} for name, start, percent in levels]
    return out


def validate(db: Store, store: Mapping[str, Any], form: Any, base: Mapping[str, Any]) -> tuple[dict[str, Any], RuleSet]:
    """The posted form as a checked document; :class:`FormError` with a message per field otherwise."""
    doc, errors, indexes = document(form, base)
    try:
        rules = parse_rules({**with_program(db, doc, store), "version": max(1, int(base.get("version") or 0))})
    except RuleSetError as exc:
        for problem in exc.problems:
            errors.setdefault(field_of(problem.path, doc, indexes), translate(problem.message))
        raise FormError(errors) from None
    if errors:
        raise FormError(errors)
    return doc, rules


def save_draft(db: Store, actor: Actor, store_id: str, form: Any) -> dict[str, Any]:
    store = _store(db, actor, store_id, "rules.write")
    base, _info = draft(db, actor, store_id)
    doc, _rules = validate(db, store, form, base)
    found = current(db, store_id)
    with db.transaction() as conn:
        before = db.rule_draft_document(store_id)
        db.save_rule_draft(store_id, doc, found[0] if found else None, now_utc(), actor.username)
        audit.record(conn, actor, "rules.draft", "rules", store_id, before, doc, store=store_id)
    return doc


def discard_draft(db: Store, actor: Actor, store_id: str) -> None:
    _store(db, actor, store_id, "rules.write")
    with db.transaction() as conn:
        before = db.rule_draft_document(store_id)
        if before is None:
            return
        db.delete_rule_draft(store_id)
        audit.record(conn, actor, "rules.discard", "rules", store_id, before, None, store=store_id)


def publish(db: Store, actor: Actor, store_id: str, form: Any | None = None) -> int:
    """Publish the posted form (or the saved draft) as the store's next rule-set version."""
    store = _store(db, actor, store_id, "rules.write")
    base, info = draft(db, actor, store_id)
    if form is None:
        from .rules_form import form_values

        form = _as_form(form_values(base))
    doc, _rules = validate(db, store, form, base)
    found = current(db, store_id)
    published = with_program(db, doc, store)
    with db.transaction() as conn:  # the version, the draft's removal and the audit row: all or nothing
        version = db.add_rules(store_id, published, conn)
        db.delete_rule_draft(store_id)
        audit.record(
            conn,
            actor,
            "rules.publish",
            "rules",
            store_id,
            found[1] if found else None,
            {**published, "version": version},
            store=store_id,
        )
    return version


def republish_all(db: Store, actor: Actor) -> list[tuple[str, int]]:
    """Every store's current rule set again as a new version (after the level program changed)."""
    out = []
    for store in db.stores():
        found = current(db, store["id"])
        if found is None:
            continue
        published = with_program(db, found[1], store)
        published.pop("version", None)
        with db.transaction() as conn:
            version = db.add_rules(store["id"], published, conn)
            audit.record(
                conn,
                actor,
                "rules.publish",
                "rules",
                store["id"],
                found[1],
                {**published, "version": version},
                store=store["id"],
            )
        out.append((store["id"], version))
    return out


def _as_form(values: Mapping[str, Any]) -> Any:
    """form_values() back into a posted-form MultiDict (publishing a saved draft as it is)."""
    from werkzeug.datastructures import MultiDict

    form = MultiDict()
    for key, value in values.items():
        if isinstance(value, list):
            for i, row in enumerate(value):
                for name, item in row.items():
                    if name == "weekdays":
                        for day in item:
                            form.add(f"{key}-{i}-weekdays", str(day))
                    elif name == "redeemable":
                        if item:
                            form.add(f"{key}-{i}-redeemable", "1")
                    else:
                        form.add(f"{key}-{i}-{name}", "" if item is None else str(item))
        elif isinstance(value, bool):
            if value:
                form.add(key, "1")
        else:
            form.add(key, "" if value is None else str(value))
    return form


def categories(db: Store, actor: Actor) -> list[dict[str, Any]]:
    """Categories known to the chain (seen in receipts or added by hand), for the editor's pick lists."""
    actor.require("rules.read")
    return db.catalog_categories()


def add_category(db: Store, actor: Actor, name: str) -> None:
    actor.require("rules.write")
    name = name.strip()
    if not name or len(name) > 100:
        raise FormError({"category": _("Write a name of 1 to 100 characters.")})
    with db.transaction() as conn:
        if db.catalog_category_exists(name):
            raise FormError({"category": _("This category exists.")})
        db.add_catalog_category(name, now_utc())
        audit.record(conn, actor, "category.add", "category", name, None, {"name": name})
