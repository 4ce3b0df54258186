"""The trigger editor's steps as form fields, and back (docs/triggers.md).

The page posts one flat form. Step ``k`` (1, 2...) has ``s.<k>.<setting>`` (pause_days, within_days,
since_start_days, step_back_days, restart_days, limit_ever, limit_at_once, limit_queue_days), its conditions
``s.<k>.c.<n>.type`` with ``s.<k>.c.<n>.<parameter>`` and its actions ``s.<k>.a.<n>.type`` with
``s.<k>.a.<n>.<parameter>``; parameters use the segmenter's widgets (central/services/segment_form.py) plus
``pick:<list>`` (one value of a list: a template, a segment, a store, a promo code list). :func:`read_steps`
reads the form into a :class:`StepsDraft`, :func:`apply_action` runs the structural buttons (add/remove a step,
a condition, an action; the JSON import) without a script, :func:`to_steps` makes the document's ``steps``
and :func:`from_steps` the form of a stored document. The trigger's checks (central/marketing/triggers/
definition.py) say the rest; :func:`error_field` maps their places (``steps.2.conditions.1.days``) to the
form's fields (``s.2.c.1.days``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..marketing.triggers import definition as d
from ..storage.store import Store
from . import segment_form
from .segment_form import Item
from .text import N_, _

#: event conditions' parameters (the criteria's are the segmenter's)
EVENT_PARAMS: dict[str, list[tuple[str, str]]] = {
    "transaction": [
        ("kind", "one:transaction_kind"),
        ("stores", "stores"),
        ("count_from", "int"),
        ("check_min", "money"),
        ("check_max", "money"),
        ("sum_from", "money"),
        ("sum_to", "money"),
        ("categories", "words"),
        ("products", "words"),
        ("all", "bool:no"),
        ("absent", "bool:no"),
    ],
    "inactivity": [("days", "int"), ("stores", "stores")],
    "points_event": [
        ("direction", "one:points_direction"),
        ("kinds", "words"),
        ("stores", "stores"),
        ("amount_from", "money"),
    ],
    "segment_event": [("segment", "pick:segments"), ("change", "one:segment_change")],
    "message_event": [("outcome", "one:outcome"), ("template", "pick:templates")],
    "promo_code_event": [("list", "pick:promo_lists"), ("state", "one:promo_state")],
}
assert set(EVENT_PARAMS) == set(d.EVENT_CONDITIONS)
CONDITION_PARAMS = {**{k: v for k, v in segment_form.PARAMS.items()}, **EVENT_PARAMS}

ACTION_PARAMS: dict[str, list[tuple[str, str]]] = {
    "send": [("template", "pick:templates")],
    "cashier_message": [("text", "text"), ("days", "int")],
    "credit": [("points", "money"), ("expires_days", "int")],
    "debit": [("points", "money")],
    "zero_balance": [],
    "segment_add": [("segment", "pick:static_segments")],
    "segment_remove": [("segment", "pick:static_segments")],
    "block_card": [],
    "unblock_card": [],
    "tag": [("tag", "text"), ("remove", "bool:no")],
    "comment": [("text", "text")],
    "bind_store": [("store", "pick:stores")],
    "percent": [("percent", "int"), ("store", "pick:stores"), ("until", "date"), ("days", "int")],
    "promo_code": [("list", "pick:personal_lists")],
}
assert set(ACTION_PARAMS) == set(d.ACTIONS)

EVENT_LABELS = {
    "transaction": N_("Transaction since the step began"),
    "inactivity": N_("No purchase for N days"),
    "points_event": N_("Points credited or debited"),
    "segment_event": N_("Entered or left a segment"),
    "message_event": N_("Message delivered, opened, clicked or failed"),
    "promo_code_event": N_("Promo code received or activated"),
}
CONDITION_LABELS = {**segment_form.CRITERION_LABELS, **EVENT_LABELS}
ACTION_LABELS = {
    "send": N_("Send a message (template)"),
    "cashier_message": N_("Cashier message"),
    "credit": N_("Credit points"),
    "debit": N_("Debit points"),
    "zero_balance": N_("Zero the balance"),
    "segment_add": N_("Add to a static segment"),
    "segment_remove": N_("Remove from a static segment"),
    "block_card": N_("Block the cards"),
    "unblock_card": N_("Unblock the cards"),
    "tag": N_("Tag"),
    "comment": N_("Comment"),
    "bind_store": N_("Bind to a store"),
    "percent": N_("Personal percent"),
    "promo_code": N_("Issue a promo code"),
}
PARAM_LABELS = {
    **segment_form.PARAM_LABELS,
    "kind": N_("transaction type"),
    "count_from": N_("at least this many receipts"),
    "check_min": N_("check from"),
    "check_max": N_("check to"),
    "sum_from": N_("sum from"),
    "sum_to": N_("sum to"),
    "categories": N_("categories (comma separated)"),
    "products": N_("SKUs (comma separated)"),
    "all": N_("all of them in one receipt"),
    "absent": N_("absent from the receipt"),
    "days": N_("days"),
    "kinds": N_("operation types (comma separated)"),
    "amount_from": N_("amount from"),
    "segment": N_("segment"),
    "change": N_("change"),
    "template": N_("message template"),
    "list": N_("promo code list"),
    "text": N_("text"),
    "points": N_("points"),
    "expires_days": N_("expire after N days (empty: permanent)"),
    "tag": N_("tag"),
    "remove": N_("remove the tag instead"),
    "store": N_("store"),
    "percent": N_("percent"),
    "until": N_("until (the last day; empty: no end)"),
}
CHOICES = {
    **segment_form.CHOICES,
    "transaction_kind": [("purchase", N_("purchase")), ("refund", N_("refund"))],
    "points_direction": [("credited", N_("credited")), ("debited", N_("debited"))],
    "segment_change": [("entered", N_("entered")), ("left", N_("left"))],
}
#: a step's settings: (field, label, help)
SETTINGS = [
    ("pause_days", N_("Pause, days"), N_("after the conditions hold, before the actions")),
    ("within_days", N_("Within the step, days"), N_("time to meet the conditions; then the customer leaves")),
    ("since_start_days", N_("Since the trigger's start, days"), N_("time from the pass's start to this step")),
    ("step_back_days", N_("Step back after, days"), N_("without the conditions, back to the previous step")),
    ("restart_days", N_("Full restart after, days"), N_("after passing this step the progress is cleared")),
    ("limit_ever", N_("At most ever through the step"), N_("empty: no limit")),
    ("limit_at_once", N_("At most on the step at once"), N_("the rest queue, first come first served")),
    ("limit_queue_days", N_("The queue passed within, days"), N_("a customer queued longer leaves")),
]
SETTING_NAMES = [name for name, _label, _help in SETTINGS]
MAX_ITEMS = 20
_ITEM = re.compile(r"^s\.([1-9][0-9]?)\.(c|a)\.([1-9][0-9]?)\.type$")
_STEP = re.compile(r"^s\.([1-9][0-9]?)\.present$")


@dataclass
class StepDraft:
    settings: dict[str, str] = field(default_factory=dict)
    conditions: list[Item] = field(default_factory=list)
    actions: list[Item] = field(default_factory=list)


@dataclass
class StepsDraft:
    steps: list[StepDraft] = field(default_factory=lambda: [StepDraft()])


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 12


def _read_item(form: Mapping[str, Any], prefix: str, kind: str, params: Mapping[str, list[tuple[str, str]]]) -> Item:
    values: dict[str, Any] = {}
    for param, widget_kind in params[kind]:
        base, _arg = segment_form.widget(widget_kind)
        if base == "period":
            values[param] = {
                part: (form.get(f"{prefix}.{param}.{part}") or "").strip() for part in ("kind", "days", "from", "to")
            }
        elif base in segment_form.MULTI:
            values[param] = [v for v in segment_form._getlist(form, f"{prefix}.{param}") if v]  # noqa: SLF001
        else:
            values[param] = (form.get(f"{prefix}.{param}") or "").strip()
    return Item(kind, values)


def read_steps(form: Mapping[str, Any]) -> StepsDraft:
    """The posted form's steps, in the order of their numbers (each step posts ``s.<k>.present``)."""
    numbers: set[int] = set()
    items: dict[tuple[int, str], dict[int, str]] = {}
    for name in list(form.keys()):
        step = _STEP.match(name)
        if step:
            numbers.add(int(step.group(1)))
            continue
        match = _ITEM.match(name)
        if not match:
            continue
        kind = (form.get(name) or "").strip()
        params = CONDITION_PARAMS if match.group(2) == "c" else ACTION_PARAMS
        if kind in params:
            k = int(match.group(1))
            numbers.add(k)
            items.setdefault((k, match.group(2)), {})[int(match.group(3))] = kind
    draft = StepsDraft([])
    for k in sorted(numbers):
        step = StepDraft({name: (form.get(f"s.{k}.{name}") or "").strip() for name in SETTING_NAMES})
        for n, kind in sorted(items.get((k, "c"), {}).items()):
            step.conditions.append(_read_item(form, f"s.{k}.c.{n}", kind, CONDITION_PARAMS))
        for n, kind in sorted(items.get((k, "a"), {}).items()):
            step.actions.append(_read_item(form, f"s.{k}.a.{n}", kind, ACTION_PARAMS))
        draft.steps.append(step)
    if not draft.steps:
        draft.steps.append(StepDraft())
    return draft


def apply_action(db: Store, draft: StepsDraft, action: str, form: Mapping[str, Any]) -> dict[str, str] | None:
    """A structural button: ``add_step``, ``remove_step:<k>``, ``add_condition:<k>`` / ``add_action:<k>`` (the
    type chosen in ``add.s.<k>.c`` / ``add.s.<k>.a``), ``remove_condition:<k>:<n>``, ``remove_action:<k>:<n>``,
    ``import`` (the steps from the JSON in ``steps_json``). None if it was none of them, else the errors
    (the JSON's)."""
    parts = action.split(":")
    name = parts[0]
    k = int(parts[1]) if len(parts) > 1 and _number(parts[1]) else 0
    step = draft.steps[k - 1] if 1 <= k <= len(draft.steps) else None
    if name == "add_step":
        if len(draft.steps) < d.MAX_STEPS:
            draft.steps.append(StepDraft())
        return {}
    if name == "remove_step":
        if step is not None and len(draft.steps) > 1:
            del draft.steps[k - 1]
        return {}
    if name in ("add_condition", "add_action"):
        letter = "c" if name == "add_condition" else "a"
        kind = (form.get(f"add.s.{k}.{letter}") or "").strip()
        params = CONDITION_PARAMS if letter == "c" else ACTION_PARAMS
        target = None if step is None else (step.conditions if letter == "c" else step.actions)
        if target is not None and kind in params and len(target) < MAX_ITEMS:
            target.append(Item(kind, {}))
        return {}
    if name in ("remove_condition", "remove_action") and len(parts) == 3 and _number(parts[2]):
        target = None if step is None else (step.conditions if name == "remove_condition" else step.actions)
        n = int(parts[2])
        if target is not None and 1 <= n <= len(target):
            del target[n - 1]
        return {}
    if name == "import":
        text = (form.get("steps_json") or "").strip()
        try:
            steps = json.loads(text or "[]")
        except (ValueError, RecursionError) as exc:  # nested thousands deep: Python's recursion limit (was a 500)
            return {"steps_json": _("The steps are not valid JSON: %(error)s", error=str(exc))}
        if not isinstance(steps, list) or not all(isinstance(s, Mapping) for s in steps):
            return {"steps_json": _("The steps are a JSON list of steps.")}
        draft.steps = from_steps(db, steps).steps
        return {}
    return None


def to_steps(db: Store, draft: StepsDraft) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The document's ``steps`` and the form errors found while converting (amounts, SKUs)."""
    errors: dict[str, str] = {}
    cache: dict[str, Any] = {}
    out = []
    for k, step in enumerate(draft.steps, 1):
        doc: dict[str, Any] = {
            "conditions": [
                segment_form.item_document(db, f"s.{k}.c.{n}", item, CONDITION_PARAMS, errors, cache)
                for n, item in enumerate(step.conditions, 1)
            ],
            "actions": [
                segment_form.item_document(db, f"s.{k}.a.{n}", item, ACTION_PARAMS, errors, cache)
                for n, item in enumerate(step.actions, 1)
            ],
        }
        limits = {}
        for name in SETTING_NAMES:
            raw = step.settings.get(name) or ""
            if not raw:
                continue
            value: Any = int(raw) if _number(raw) else raw  # the definition says what is wrong with the rest
            if name.startswith("limit_"):
                limits[name.removeprefix("limit_")] = value
            else:
                doc[name] = value
        if limits:
            doc["limits"] = limits
        out.append(doc)
    return out, errors


def from_steps(db: Store, steps: Any) -> StepsDraft:
    """A stored document's steps as the form shows them (unknown types are left out)."""
    cache: dict[str, Any] = {}
    draft = StepsDraft([])
    for raw in steps if isinstance(steps, list) else []:
        if not isinstance(raw, Mapping):
            continue
        limits = raw.get("limits") if isinstance(raw.get("limits"), Mapping) else {}
        settings = {name: "" for name in SETTING_NAMES}
        for name in SETTING_NAMES:
            value = limits.get(name.removeprefix("limit_")) if name.startswith("limit_") else raw.get(name)
            settings[name] = "" if value is None or value == 0 and name == "pause_days" else str(value)
        step = StepDraft(settings)
        for c in raw.get("conditions") or []:
            if isinstance(c, Mapping) and c.get("type") in CONDITION_PARAMS:
                step.conditions.append(segment_form.document_item(db, c, CONDITION_PARAMS, cache))
        for a in raw.get("actions") or []:
            if isinstance(a, Mapping) and a.get("type") in ACTION_PARAMS:
                step.actions.append(segment_form.document_item(db, a, ACTION_PARAMS, cache))
        draft.steps.append(step)
    if not draft.steps:
        draft.steps.append(StepDraft())
    return draft


def error_field(where: str) -> str:
    """A trigger problem's place as the form's field: ``steps.2.conditions.1.days`` -> ``s.2.c.1.days``,
    ``steps.1.limits.at_once`` -> ``s.1.limit_at_once``; places outside the steps stay."""
    parts = where.split(".")
    if parts[0] != "steps" or len(parts) < 2:
        return where
    head = f"s.{parts[1]}"
    rest = parts[2:]
    if not rest:
        return head
    if rest[0] in ("conditions", "actions"):
        letter = "c" if rest[0] == "conditions" else "a"
        if len(rest) == 1:
            return f"{head}.{rest[0]}"
        return ".".join([head, letter, *rest[1:]])
    if rest[0] == "limits" and len(rest) == 2:
        return f"{head}.limit_{rest[1]}"
    return ".".join([head, *rest])


def form_errors(errors: Mapping[str, str]) -> dict[str, str]:
    """Service errors keyed for the form's fields."""
    out: dict[str, str] = {}
    for key, message in errors.items():
        out.setdefault(error_field(key), message)
    return out
