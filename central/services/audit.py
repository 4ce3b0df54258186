"""The audit log: one row per console write (who, when, what, before and after), in the write's transaction."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..storage.audit_log import add_audit_row
from ..storage.clock import now_utc
from ..storage.store import Store
from .access import Actor, FormError
from .formats import format_minor, parse_local
from .text import N_, _

PAGE = 100
# what each action code reads as on the Audit page and a customer's Changes tab
ACTIONS: dict[str, Any] = {
    "customer.profile": N_("Profile edited"),
    "customer.phone": N_("Phone changed"),
    "customer.points": N_("Points accrued or debited by hand"),
    "customer.temporary_points": N_("Temporary points given"),
    "customer.percents": N_("Personal percents changed"),
    "customer.percents_ended": N_("Personal percents ended"),
    "customer.tags": N_("Tags changed"),
    "customer.comment": N_("Comment added"),
    "customer.message": N_("Cashier message added"),
    "customer.message_delete": N_("Cashier message removed"),
    "customer.merge": N_("Customers merged"),
    "customer.import_update": N_("Customer updated from a file"),
    "card.issue": N_("Card issued"),
    "card.block": N_("Card blocked"),
    "card.unblock": N_("Card unblocked"),
    "card.main": N_("Main card chosen"),
    "card.reassign": N_("Card moved to another customer"),
    "card_category.add": N_("Card category added"),
    "category.add": N_("Product category added"),
    "field.add": N_("Questionnaire field added"),
    "field.remove": N_("Questionnaire field removed"),
    "filter.save": N_("Filter saved"),
    "filter.delete": N_("Filter deleted"),
    "import.customers": N_("Customers imported from a file"),
    "import.update": N_("Customers updated from a file"),
    "export.customers": N_("Customers exported"),
    "export.transactions": N_("Transactions exported"),
    "levels.save": N_("Levels saved"),
    "program.add": N_("Bonus program added"),
    "program.update": N_("Bonus program changed"),
    "rules.draft": N_("Rules draft saved"),
    "rules.discard": N_("Rules draft discarded"),
    "rules.publish": N_("Rules published"),
    "store.add": N_("Store added"),
    "store.update": N_("Store changed"),
    "store.token": N_("Store enrollment token made"),
    "user.add": N_("User added"),
    "user.update": N_("User changed"),
    "user.password": N_("Password changed"),
    "flag.resolve": N_("Flag resolved"),
    "dead_letter.resolve": N_("Undelivered event resolved"),
    "debt.resolve": N_("Debt resolved"),
    "messages.channel": N_("Message channel set up"),
    "messages.template": N_("Message template saved"),
    "messages.test": N_("Test message sent"),
    "messages.send": N_("Message sent to a customer"),
    "mailing.create": N_("Mailing created"),
    "mailing.pause": N_("Mailing paused"),
    "mailing.resume": N_("Mailing resumed"),
    "customer.consent": N_("Consent changed"),
    "messages.link": N_("Telegram start link made"),
    "auth.login": N_("Signed in"),
    "auth.logout": N_("Signed out"),
    "auth.failed": N_("Failed sign-in"),
    "auth.lockout": N_("Sign-in locked after failures"),
    "auth.throttled": N_("Sign-ins from an address slowed down"),
    "token.add": N_("API token made"),
    "token.revoke": N_("API token revoked"),
    "store.message": N_("Cashier message for a store"),
}
# field names in before/after, as the pages name them (others are shown as they are)
FIELDS: dict[str, Any] = {
    "name": N_("name"),
    "email": N_("email"),
    "birthday": N_("birthday"),
    "gender": N_("gender"),
    "phone": N_("phone"),
    "phone_verified": N_("phone confirmed"),
    "balance": N_("balance"),
    "points": N_("points"),
    "consents": N_("consents"),
    "custom": N_("questionnaire fields"),
    "tags": N_("tags"),
    "text": N_("text"),
    "until": N_("until"),
    "reason": N_("reason"),
    "status": N_("status"),
    "main": N_("main card"),
    "customer_id": N_("customer"),
    "category": N_("category"),
    "role": N_("role"),
    "stores": N_("stores"),
    "display_name": N_("full name"),
    "username": N_("user name"),
    "version": N_("version"),
    "file": N_("file"),
    "imported": N_("imported"),
    "updated": N_("updated"),
    "unchanged": N_("unchanged"),
    "skipped_rows": N_("rows skipped"),
    "total": N_("rows"),
    "level": N_("level"),
    "store": N_("store"),
    "sms": N_("SMS"),
    "personal_data": N_("personal data"),
    "email_consent": N_("email consent"),
    "points_per_money": N_("points per 1 of money"),
    "base_percent": N_("base percent"),
    "city": N_("city"),
    "timezone": N_("time zone"),
    "program_id": N_("bonus program"),
    "groups": N_("groups"),
    "label": N_("label"),
    "type": N_("type"),
    "note": N_("note"),
    "resolved": N_("resolved"),
    "merged": N_("merged"),
    "network_percent": N_("network percent"),
    "store_percents": N_("percents per store"),
    "network_percent_ends_at": N_("network percent ends"),
    "store_percent_ends": N_("ends of the store percents"),
    "rows": N_("rows"),
}
_POINTS = {"balance", "points", "spend"}
_FLAGS = {"phone_verified", "resolved"}


def record(
    conn: sqlite3.Connection,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: str | int | None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    *,
    store: str | None = None,
) -> None:
    """Write one audit row inside the caller's transaction (so the write and its record land together)."""
    add_audit_row(
        conn,
        now_utc(),
        actor.id,
        actor.username,
        action,
        entity,
        None if entity_id is None else str(entity_id),
        store,
        _json(before),
        _json(after),
    )


def record_export(db: Store, actor: Actor, name: str, fmt: str, query: str) -> None:
    """An export of a list (who took which customers or transactions out of the console)."""
    with db.transaction() as conn:
        record(conn, actor, f"export.{name}", "export", name, None, {"format": fmt, "query": query[:2000]})


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def entries(
    db: Store,
    actor: Actor,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The audit log, newest first (``before_id`` pages back); administrators and marketers."""
    actor.require("audit.read")
    return history(db, entity=entity, entity_id=entity_id, before_id=before_id, limit=limit)


@dataclass
class AuditPage:
    rows: list[dict[str, Any]]
    older: int | None  # the id to page back from (``before``), None on the last page
    newer: int | None  # the id to page forward from (``after``), None on the first page


def search(db: Store, actor: Actor, args: Mapping[str, str], zone: str, limit: int = PAGE) -> AuditPage:
    """The audit log filtered by user, action and local dates, newest first, paged by id (keyset, never OFFSET).

    ``args``: ``user``, ``action``, ``from``, ``to`` (YYYY-MM-DD in ``zone``,
    both days included), ``entity``, ``id``, and the page keys ``before`` or
    ``after`` (an audit row's id). A bad value is a :class:`FormError` naming it.
    """
    actor.require("audit.read")
    equal, moments, errors = [], {}, {}
    for key, column in (("user", "username"), ("action", "action"), ("entity", "entity"), ("id", "entity_id")):
        if args.get(key):
            equal.append((column, args[key]))
    for key, end in (("from", False), ("to", True)):
        if args.get(key):
            try:
                moment = parse_local(args[key], zone, end_of_day=end)
            except ValueError:
                errors[key] = _("Write the date as YYYY-MM-DD.")
                continue
            moments[key] = moment.astimezone(dt.UTC).isoformat()
    keys = {}
    for key in ("before", "after"):
        if args.get(key):
            text = str(args[key])
            if not (text.isascii() and text.isdigit() and len(text) <= 18):  # an id SQLite can hold
                errors[key] = _("This is not a page of the list.")
            else:
                keys[key] = int(args[key])
    if errors:
        raise FormError(errors)
    forward = "after" in keys and "before" not in keys
    rows = db.audit_rows(
        equal,
        at_from=moments.get("from"),
        at_before=moments.get("to"),
        id_below=keys.get("before"),
        id_above=keys["after"] if forward else None,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    if forward:
        rows.reverse()
    if not rows:
        return AuditPage(rows, None, None)
    older = rows[-1]["id"] if (more if not forward else True) else None
    newer = rows[0]["id"] if (("before" in keys) or (forward and more)) else None
    return AuditPage(rows, older, newer)


def users(db: Store) -> list[str]:
    """Everyone who appears in the audit log, for the filter."""
    return db.audit_usernames()


def action_label(code: str) -> str:
    """An action as people read it ("Card blocked"); an unknown code as it is."""
    label = ACTIONS.get(code)
    return str(label) if label is not None else code


def changes(row: Mapping[str, Any], language: str) -> list[dict[str, Any]]:
    """A row's before and after as readable lines: [{field, before, after, changed}], Cyrillic as it is."""
    before, after = row.get("before") or {}, row.get("after") or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return [
            {"field": "", "before": readable(before, language), "after": readable(after, language), "changed": True}
        ]
    lines = []
    for key in dict.fromkeys([*before, *after]):
        was, now = before.get(key), after.get(key)
        lines.append(
            {
                "field": str(FIELDS.get(key, key)),
                "before": readable(was, language, key) if key in before else "",
                "after": readable(now, language, key) if key in after else "",
                "changed": key not in before or key not in after or was != now,
            }
        )
    return lines


def readable(value: Any, language: str, key: str = "") -> str:
    """One value as text: yes/no, points with decimals, lists and nested fields spelled out, no JSON escapes."""
    if value is None or value == "" or value == [] or value == {}:
        return "\u2014"
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if key in _FLAGS and value in (0, 1):
        return str(_("yes") if value else _("no"))
    if isinstance(value, int) and key in _POINTS:
        return format_minor(value, language)
    if isinstance(value, list):
        return ", ".join(readable(v, language) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{FIELDS.get(k, k)}: {readable(v, language, k)}" for k, v in value.items())
    return str(value)


def history(
    db: Store,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Audit rows of one object, unchecked: callers check access to the object first."""
    equal = [(column, value) for column, value in (("entity", entity), ("entity_id", entity_id)) if value is not None]
    return db.audit_rows(equal, id_below=before_id, limit=limit)
