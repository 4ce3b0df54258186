"""The segmenter's form: a draft of audiences and criteria as posted fields, and back (docs/segments.md).

The page posts one flat form: ``c.<audience>.<n>.type`` names each criterion (audience ``1``, ``2``... or
``x`` for the excluded one) and ``c.<audience>.<n>.<parameter>`` its parameters (several values: several
fields of one name; a period: ``.period.kind`` = all / days / dates with ``.period.days``, ``.period.from``,
``.period.to``). :func:`read_draft` reads it into a :class:`Draft` (the typed text, kept to show again),
:func:`apply_action` adds or removes criteria and audiences (the page's buttons work without a script),
:func:`to_document` turns a draft into the definition document (amounts typed as "1500,50" become minor
units, SKUs become catalog ids) and :func:`from_document` a stored definition into a draft. The
definition's own checks (central/marketing/segments/definition.py) say the rest; :func:`error_field`
maps their places (``audiences.1.2.to``) to the form's fields (``c.1.2.to``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..marketing.segments import definition as d
from ..storage.store import Store
from .formats import parse_minor
from .text import N_, _

#: the widgets of each parameter kind
#: int, money, quantity, date, text, period, one:<choices>, many:<choices>, bool, stores, levels,
#: categories, card_categories, products, segments, words (free list), ids (numbers), scores, months
PARAMS: dict[str, list[tuple[str, str]]] = {
    "age": [("from", "int"), ("to", "int")],
    "birthday": [("days_before", "int"), ("days_after", "int"), ("months", "months")],
    "gender": [("values", "many:gender")],
    "consent": [("channels", "many:channel")],
    "field": [("field", "text"), ("operator", "one:operator"), ("value", "text")],
    "registration": [
        ("stores", "stores"),
        ("days_from", "int"),
        ("days_to", "int"),
        ("date_from", "date"),
        ("date_to", "date"),
    ],
    "home_store": [("stores", "stores")],
    "kind": [("values", "many:kind")],
    "card": [("categories", "card_categories"), ("number_from", "text"), ("number_to", "text")],
    "level": [("levels", "levels")],
    "tag": [("tags", "words"), ("mode", "one:tag_mode")],
    "balance": [("from", "money"), ("to", "money")],
    "first_purchase": [("date_from", "date"), ("date_to", "date"), ("days_from", "int"), ("days_to", "int")],
    "last_purchase": [
        ("date_from", "date"),
        ("date_to", "date"),
        ("days_from", "int"),
        ("days_to", "int"),
        ("stores", "stores"),
    ],
    "purchases": [("from", "int"), ("to", "int"), ("period", "period"), ("stores", "stores")],
    "spend": [("from", "money"), ("to", "money"), ("period", "period"), ("stores", "stores")],
    "average_check": [("from", "money"), ("to", "money"), ("period", "period")],
    "average_items": [("from_quantity", "quantity"), ("to_quantity", "quantity"), ("period", "period")],
    "bought_category": [
        ("categories", "categories"),
        ("period", "period"),
        ("min_quantity", "quantity"),
        ("stores", "stores"),
    ],
    "bought_products": [
        ("products", "products"),
        ("period", "period"),
        ("min_quantity", "quantity"),
        ("mode", "one:product_mode"),
    ],
    "product_name": [("text", "text"), ("period", "period")],
    "points": [
        ("direction", "one:direction"),
        ("from", "money"),
        ("to", "money"),
        ("period", "period"),
        ("types", "words"),
    ],
    "rfm": [("classes", "many:rfm"), ("r", "scores"), ("f", "scores"), ("m", "scores")],
    "promotion": [("promotions", "words"), ("took_part", "bool")],
    "promo_code": [("lists", "words"), ("state", "one:promo_state")],
    "trigger": [("trigger", "int"), ("step", "int"), ("state", "one:trigger_state")],
    "message": [("mailings", "ids"), ("outcome", "one:outcome")],
    "in_segment": [("segments", "segments"), ("in", "bool")],
}
assert set(PARAMS) == set(d.CRITERIA)

CRITERION_LABELS = {
    "age": N_("Age"),
    "birthday": N_("Birthday"),
    "gender": N_("Gender"),
    "consent": N_("Consent"),
    "field": N_("Questionnaire field"),
    "registration": N_("Registration"),
    "home_store": N_("Home store"),
    "kind": N_("Registered or potential"),
    "card": N_("Card"),
    "level": N_("Level"),
    "tag": N_("Tag"),
    "balance": N_("Balance"),
    "first_purchase": N_("First purchase"),
    "last_purchase": N_("Last purchase"),
    "purchases": N_("Purchases"),
    "spend": N_("Spend"),
    "average_check": N_("Average check"),
    "average_items": N_("Average items per receipt"),
    "bought_category": N_("Bought category"),
    "bought_products": N_("Bought products (SKU)"),
    "product_name": N_("Product name"),
    "points": N_("Points"),
    "rfm": N_("RFM class"),
    "promotion": N_("Promotion"),
    "promo_code": N_("Promo code"),
    "trigger": N_("Trigger"),
    "message": N_("Message"),
    "in_segment": N_("In segment"),
}

PARAM_LABELS = {
    "from": N_("from"),
    "to": N_("to"),
    "days_before": N_("days before"),
    "days_after": N_("days after"),
    "months": N_("or months"),
    "values": N_("values"),
    "channels": N_("channels"),
    "field": N_("field"),
    "operator": N_("operator"),
    "value": N_("value"),
    "stores": N_("stores"),
    "days_from": N_("days ago, from"),
    "days_to": N_("days ago, to"),
    "date_from": N_("date from"),
    "date_to": N_("date to"),
    "categories": N_("categories"),
    "number_from": N_("card number from"),
    "number_to": N_("card number to"),
    "levels": N_("levels"),
    "tags": N_("tags (comma separated)"),
    "mode": N_("mode"),
    "period": N_("period"),
    "from_quantity": N_("items from"),
    "to_quantity": N_("items to"),
    "min_quantity": N_("minimum quantity"),
    "products": N_("SKUs (comma separated)"),
    "text": N_("text"),
    "direction": N_("direction"),
    "types": N_("transaction types (comma separated)"),
    "classes": N_("classes"),
    "r": N_("R score"),
    "f": N_("F score"),
    "m": N_("M score"),
    "promotions": N_("promotion ids (comma separated)"),
    "took_part": N_("took part"),
    "lists": N_("code list ids (comma separated)"),
    "state": N_("state"),
    "trigger": N_("trigger number"),
    "step": N_("step"),
    "mailings": N_("mailing numbers"),
    "outcome": N_("outcome"),
    "segments": N_("segments"),
    "in": N_("in the segment"),
}

CHOICES: dict[str, list[tuple[str, str]]] = {
    "gender": [("male", N_("male")), ("female", N_("female")), ("unknown", N_("unknown"))],
    "channel": [("sms", "SMS"), ("email", "email"), ("push", "push"), ("telegram", "Telegram")],
    "operator": [("=", "="), ("contains", N_("contains")), ("empty", N_("is empty")), ("not_empty", N_("is filled"))],
    "kind": [("registered", N_("registered (with a card)")), ("potential", N_("potential (no card)"))],
    "tag_mode": [("any", N_("any of them")), ("all", N_("all of them")), ("none", N_("none of them"))],
    "product_mode": [("any", N_("any of them")), ("all", N_("all of them"))],
    "direction": [("accrued", N_("accrued")), ("redeemed", N_("redeemed"))],
    "rfm": [
        ("champion", N_("champion")),
        ("loyal", N_("loyal")),
        ("potential loyalist", N_("potential loyalist")),
        ("new", N_("new")),
        ("promising", N_("promising")),
        ("needs attention", N_("needs attention")),
        ("about to sleep", N_("about to sleep")),
        ("at risk", N_("at risk")),
        ("can't lose", N_("can't lose")),
        ("hibernating", N_("hibernating")),
    ],
    "promo_state": [("received", N_("received")), ("activated", N_("activated"))],
    "trigger_state": [("in", N_("is in")), ("passed", N_("passed")), ("never", N_("never entered"))],
    "outcome": [
        ("delivered", N_("delivered")),
        ("opened", N_("opened")),
        ("clicked", N_("clicked")),
        ("failed", N_("failed")),
    ],
}
RFM_LABELS = dict(CHOICES["rfm"])
MULTI = {"many", "stores", "levels", "categories", "card_categories", "segments", "scores", "months"}
_FIELD = re.compile(r"^c\.([1-9][0-9]{0,2}|x)\.([1-9][0-9]{0,2})\.type$")


def _number(text: str) -> bool:
    """Plain ASCII digits of a sane length (``"²".isdigit()`` is true, yet no number)."""
    return text.isascii() and text.isdigit() and len(text) <= 12


def widget(kind: str) -> tuple[str, str]:
    """("one", "operator") for "one:operator"; ("int", "") for "int"."""
    base, _sep, arg = kind.partition(":")
    return base, arg


@dataclass
class Item:
    """One criterion as typed: its type and its parameters' text (a list for several values)."""

    type: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Draft:
    audiences: list[list[Item]] = field(default_factory=lambda: [[]])
    exclude: list[Item] | None = None

    def groups(self) -> list[tuple[str, list[Item]]]:
        """(form prefix, criteria): "1", "2"... then "x"."""
        out = [(str(i), a) for i, a in enumerate(self.audiences, 1)]
        if self.exclude is not None:
            out.append(("x", self.exclude))
        return out

    @property
    def empty(self) -> bool:
        return not any(self.audiences) and not self.exclude


def _getlist(form: Any, name: str) -> list[str]:
    if hasattr(form, "getlist"):
        return [v.strip() for v in form.getlist(name)]
    value = form.get(name)
    if value is None:
        return []
    return [str(v).strip() for v in (value if isinstance(value, list) else [value])]


def read_draft(form: Mapping[str, Any]) -> Draft:
    """The posted form's criteria, in the order of their numbers."""
    found: dict[str, dict[int, str]] = {}
    for name in list(form.keys()):
        match = _FIELD.match(name)
        if match and _getlist(form, name)[:1] and _getlist(form, name)[0] in PARAMS:
            found.setdefault(match.group(1), {})[int(match.group(2))] = _getlist(form, name)[0]
    declared = str(form.get("audiences") or "1")
    declared_count = int(declared) if _number(declared) else 1
    audience_count = max([int(a) for a in found if a != "x"] + [declared_count])
    draft = Draft([[] for _ in range(max(1, min(audience_count, d.MAX_AUDIENCES)))])
    if "x" in found or form.get("exclude"):
        draft.exclude = []
    for group, items in found.items():
        target = draft.exclude if group == "x" else draft.audiences[min(int(group), len(draft.audiences)) - 1]
        assert target is not None
        for n in sorted(items):
            kind = items[n]
            prefix = f"c.{group}.{n}."
            values: dict[str, Any] = {}
            for param, widget_kind in PARAMS[kind]:
                base, _arg = widget(widget_kind)
                if base == "period":
                    values[param] = {
                        part: (form.get(f"{prefix}period.{part}") or "").strip()
                        for part in ("kind", "days", "from", "to")
                    }
                elif base in MULTI:
                    values[param] = [v for v in _getlist(form, prefix + param) if v]
                else:
                    values[param] = (form.get(prefix + param) or "").strip()
            target.append(Item(kind, values))
    return draft


def apply_action(draft: Draft, action: str, form: Mapping[str, Any]) -> bool:
    """A structural button: ``add:<group>`` (the type chosen in ``add.<group>``), ``remove:<group>:<n>``,
    ``add_audience``, ``remove_audience:<n>``, ``exclude`` (start the excluded audience). True if it was one."""
    parts = action.split(":")
    if parts[0] == "add" and len(parts) == 2:
        kind = (form.get(f"add.{parts[1]}") or "").strip()
        target = _group(draft, parts[1])
        if kind in PARAMS and target is not None and sum(len(a) for _g, a in draft.groups()) < d.MAX_CRITERIA:
            target.append(Item(kind, {}))
        return True
    if parts[0] == "remove" and len(parts) == 3:
        target = _group(draft, parts[1])
        if target is not None and _number(parts[2]) and 1 <= int(parts[2]) <= len(target):
            del target[int(parts[2]) - 1]
        if parts[1] == "x" and not draft.exclude:
            draft.exclude = None
        return True
    if parts[0] == "add_audience":
        if len(draft.audiences) < d.MAX_AUDIENCES:
            draft.audiences.append([])
        return True
    if parts[0] == "remove_audience" and len(parts) == 2 and _number(parts[1]):
        index = int(parts[1]) - 1
        if 0 <= index < len(draft.audiences) and len(draft.audiences) > 1:
            del draft.audiences[index]
        return True
    if parts[0] == "exclude":
        if draft.exclude is None:
            draft.exclude = []
        return True
    return False


def _group(draft: Draft, name: str) -> list[Item] | None:
    if name == "x":
        if draft.exclude is None:
            draft.exclude = []
        return draft.exclude
    if _number(name) and 1 <= int(name) <= len(draft.audiences):
        return draft.audiences[int(name) - 1]
    return None


# -- draft -> document ---------------------------------------------------------------------------------------


def item_document(
    db: Store,
    prefix: str,
    item: Item,
    params: Mapping[str, list[tuple[str, str]]],
    errors: dict[str, str],
    cache: dict[str, Any],
) -> dict[str, Any]:
    """One typed item (a criterion; a trigger's condition or action too) as its document: ``params`` names its
    parameters' widgets; conversion errors go to ``errors`` under ``<prefix>.<parameter>``."""
    doc: dict[str, Any] = {"type": item.type}
    for param, widget_kind in params[item.type]:
        base, _arg = widget(widget_kind)
        raw = item.values.get(param)
        name = f"{prefix}.{param}"
        if base == "period":
            period = _period(raw or {}, name, errors)
            if period is not None:
                doc[param] = period
            continue
        if raw in (None, "", []):
            continue
        if base == "money":
            try:
                doc[param] = parse_minor(raw)
            except ValueError:
                errors[name] = _("Write an amount like 1500 or 1500,50.")
        elif base == "bool":
            doc[param] = raw == "yes"
        elif base in ("categories", "card_categories", "segments", "scores", "months"):
            doc[param] = [int(v) if _number(v) else v for v in raw]
        elif base == "pick":
            doc[param] = int(raw) if _number(raw) else raw
        elif base == "ids":
            doc[param] = [int(v) if _number(v) else v for v in re.split(r"[,\s]+", raw) if v]
        elif base == "words":
            doc[param] = [v for v in re.split(r"[,\s]+", raw) if v]
        elif base == "products":
            if "skus" not in cache:
                cache["skus"] = db.catalog_product_ids()
            skus = cache["skus"]
            wanted = [v for v in re.split(r"[,\s]+", raw) if v]
            unknown = [v for v in wanted if v not in skus]
            if unknown:
                errors[name] = _("Unknown SKU: %(skus)s.", skus=", ".join(unknown[:10]))
            else:
                doc[param] = [skus[v] for v in wanted]
        else:
            doc[param] = raw
    return doc


def to_document(db: Store, draft: Draft) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The definition document of a draft, and the form errors found while converting (amounts, SKUs).

    None when the draft has no criterion at all."""
    if draft.empty:
        return None, {}
    errors: dict[str, str] = {}
    cache: dict[str, Any] = {}

    def criterion(prefix: str, item: Item) -> dict[str, Any]:
        return item_document(db, prefix, item, PARAMS, errors, cache)

    audiences = [
        [criterion(f"c.{i}.{j}", item) for j, item in enumerate(a, 1)] for i, a in enumerate(draft.audiences, 1)
    ]
    exclude = (
        None if draft.exclude is None else [criterion(f"c.x.{j}", item) for j, item in enumerate(draft.exclude, 1)]
    )
    if exclude == []:
        exclude = None
    return {"audiences": audiences, "exclude": exclude}, errors


def _period(raw: Mapping[str, str], name: str, errors: dict[str, str]) -> dict[str, Any] | None:
    kind = raw.get("kind") or "all"
    if kind == "days":
        days = raw.get("days") or ""
        if not _number(days) or int(days) < 1:
            errors[name] = _("Write the number of days, 1 or more.")
            return None
        return {"last_days": int(days)}
    if kind == "dates":
        out = {k: raw[k] for k in ("from", "to") if raw.get(k)}
        if not out:
            errors[name] = _("Give the period's dates.")
            return None
        return out
    return None


def error_field(where: str) -> str:
    """A definition problem's place as the form's field: ``definition.audiences.1.2.to`` -> ``c.1.2.to``."""
    where = where.removeprefix("definition.")
    parts = where.split(".")
    if parts[0] == "audiences" and len(parts) >= 3:
        return "c." + ".".join(parts[1:])
    if parts[0] == "exclude" and len(parts) >= 2:
        return "c.x." + ".".join(parts[1:])
    if parts[0] in ("audiences", "exclude"):
        return "audiences" if len(parts) == 1 else "c." + ("x" if parts[0] == "exclude" else parts[1])
    return "definition"


def form_errors(errors: Mapping[str, str]) -> dict[str, str]:
    """Service errors keyed for the form (definition places become field names; others stay)."""
    out: dict[str, str] = {}
    for key, message in errors.items():
        target = error_field(key) if key.startswith("definition") else key
        out.setdefault(target, message)
    return out


# -- document -> draft ------------------------------------------------------------------------------------------


def document_item(
    db: Store, c: Mapping[str, Any], params: Mapping[str, list[tuple[str, str]]], cache: dict[str, Any]
) -> Item:
    """A stored item (a criterion; a trigger's condition or action) as the form shows it."""
    values: dict[str, Any] = {}
    for param, widget_kind in params.get(c["type"], []):
        base, _arg = widget(widget_kind)
        raw = c.get(param)
        if base == "period":
            if raw is None:
                values[param] = {"kind": "all"}
            elif "last_days" in raw:
                values[param] = {"kind": "days", "days": str(raw["last_days"])}
            else:
                values[param] = {"kind": "dates", "from": raw.get("from") or "", "to": raw.get("to") or ""}
        elif raw is None:
            values[param] = [] if base in MULTI else ""
        elif base == "money":
            values[param] = _amount(int(raw))
        elif base == "bool":
            values[param] = "yes" if raw else "no"
        elif base in MULTI:
            values[param] = [str(v) for v in (raw if isinstance(raw, list) else [raw])]
        elif base == "products":
            if "names" not in cache:
                cache["names"] = {v: k for k, v in db.catalog_product_ids().items()}
            values[param] = ", ".join(cache["names"].get(int(v), str(v)) for v in raw)
        elif base in ("ids", "words"):
            values[param] = ", ".join(str(v) for v in (raw if isinstance(raw, list) else [raw]))
        else:
            values[param] = str(raw)
    return Item(c["type"], values)


def from_document(db: Store, doc: Mapping[str, Any] | None) -> Draft:
    """A stored definition as the form shows it."""
    if not doc:
        return Draft()
    cache: dict[str, Any] = {}

    def item(c: Mapping[str, Any]) -> Item:
        return document_item(db, c, PARAMS, cache)

    audiences = [[item(c) for c in a] for a in doc.get("audiences") or [[]]]
    exclude = doc.get("exclude")
    return Draft(audiences or [[]], None if exclude is None else [item(c) for c in exclude])


def _amount(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole}" + (f",{cents:02d}" if cents else "")
