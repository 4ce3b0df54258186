"""Custom questionnaire fields head office defines (string, number, yes/no, date) and their values.

Values live in the customer's ``custom`` JSON object under the field's name:
strings as text, numbers as decimal strings (exact, never floats), yes/no as
booleans, dates as "YYYY-MM-DD". Removing a field keeps the values already
stored (they show up again if it is defined again).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from ..storage.clock import now_utc
from ..storage.store import Store
from . import audit
from .access import Actor, FormError
from .text import N_, _

TYPES = {"string": N_("text"), "number": N_("number"), "yes_no": N_("yes/no"), "date": N_("date")}
_NAME = re.compile(r"\A[a-z][a-z0-9_]{0,39}\Z")
_NUMBER = re.compile(r"\A-?\d{1,15}(?:[.,]\d{1,6})?\Z")


def definitions(db: Store) -> list[dict[str, Any]]:
    return db.custom_fields()


def define(db: Store, actor: Actor, data: Mapping[str, Any]) -> None:
    actor.require("fields.write")
    errors: dict[str, str] = {}
    name = (data.get("name") or "").strip()
    label = (data.get("label") or "").strip()
    kind = data.get("type") or ""
    if not _NAME.match(name):
        errors["name"] = _("Use latin lower-case letters, digits and _ (starting with a letter).")
    elif db.custom_field(name) is not None:
        errors["name"] = _("A field with this name exists.")
    if not label or len(label) > 100:
        errors["label"] = _("Write a label of 1 to 100 characters.")
    if kind not in TYPES:
        errors["type"] = _("Choose from the list.")
    if errors:
        raise FormError(errors)
    customer_edit = bool(data.get("customer_edit"))
    with db.transaction() as conn:
        db.add_custom_field(name, label, kind, now_utc(), customer_edit)
        audit.record(
            conn,
            actor,
            "field.add",
            "custom_field",
            name,
            None,
            {"label": label, "type": kind, "customer_edit": customer_edit},
        )


def set_customer_edit(db: Store, actor: Actor, name: str, customer_edit: bool) -> None:
    """Offer the field on the customer's own questionnaire (the web card), or stop offering it."""
    actor.require("fields.write")
    with db.transaction() as conn:
        row = db.custom_field(name)
        if row is None or row["customer_edit"] == customer_edit:
            return
        db.set_custom_field_customer_edit(name, customer_edit)
        audit.record(
            conn,
            actor,
            "field.customer_edit",
            "custom_field",
            name,
            {"customer_edit": row["customer_edit"]},
            {"customer_edit": customer_edit},
        )


def customer_editable(db: Store) -> list[dict[str, Any]]:
    """The fields the customer may edit on the web card, in the form's order."""
    return [f for f in definitions(db) if f["customer_edit"]]


def remove(db: Store, actor: Actor, name: str) -> None:
    actor.require("fields.write")
    with db.transaction() as conn:
        row = db.custom_field(name)
        if row is None:
            return
        db.delete_custom_field(name)
        audit.record(conn, actor, "field.remove", "custom_field", name, row, None)


def parse_value(kind: str, raw: Any) -> Any:
    """A typed value from a form or an import; None for empty; ValueError when it does not fit the type."""
    if kind == "yes_no":
        if isinstance(raw, bool):
            return raw
        text = str(raw or "").strip().lower()
        if text in ("", "none"):
            return None
        if text in ("1", "yes", "y", "true", "да", "on"):
            return True
        if text in ("0", "no", "n", "false", "нет", "off"):
            return False
        raise ValueError(_("Write yes or no."))
    text = str(raw if raw is not None else "").strip()
    if not text:
        return None
    if kind == "number":
        if not _NUMBER.match(text):
            raise ValueError(_("Write a number like 12 or 12.5."))
        return text.replace(",", ".")
    if kind == "date":
        try:
            return dt.date.fromisoformat(text[:10]).isoformat()
        except ValueError:
            raise ValueError(_("Write the date as YYYY-MM-DD.")) from None
    if len(text) > 500:
        raise ValueError(_("At most 500 characters."))
    return text


def parse_custom(
    db: Store,
    data: Mapping[str, Any],
    errors: dict[str, str],
    current: Mapping[str, Any] | None = None,
    customer_only: bool = False,
) -> dict[str, Any]:
    """The ``custom`` object from form fields ``custom_<name>``; a problem goes to ``errors``. With
    ``customer_only`` only the fields the customer may edit are read (anything else posted is ignored, the
    stored values kept)."""
    out = dict(current or {})
    for f in customer_editable(db) if customer_only else definitions(db):
        key = f"custom_{f['name']}"
        raw = data.get(key)
        if f["type"] == "yes_no" and raw is None:
            raw = False  # an unchecked checkbox is not posted
        try:
            value = parse_value(f["type"], raw)
        except ValueError as exc:
            errors[key] = str(exc)
            continue
        if value is None:
            out.pop(f["name"], None)
        else:
            out[f["name"]] = value
    return out
