"""Console pages: triggers (list with per-step statistics, editor, start/stop/copy, test on a customer)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ..services import level_program, segment_form, trigger_form
from ..services import stores as store_service
from ..services import triggers as service
from ..services.access import FormError
from ..services.cards import categories as card_categories
from ..services.text import _
from ..storage.db import get_db
from ..storage.store import NotFound
from .common import actor, console_blueprint, render

bp = console_blueprint("triggers", "/triggers")


@bp.get("/")
def index() -> ResponseReturnValue:
    db, who = get_db(), actor()
    return render("console/triggers/index.html", triggers=service.listing(db, who), templates=TEMPLATE_NAMES())


def TEMPLATE_NAMES() -> list[tuple[str, str]]:  # noqa: N802 (translated when shown)
    return [
        ("welcome", _("Welcome bonus on registration")),
        ("birthday", _("Birthday bonus with a cashier message")),
        ("come_back", _("Come back after 30 days: a temporary bonus")),
        ("second_purchase", _("Second purchase within 14 days")),
        ("monthly_segment", _("Monthly segment refresh with full restart")),
    ]


def _stores(db: Any, who: Any) -> list[tuple[str, str]]:
    return [(s["id"], f"{s['id']} · {s['name']}") for s in store_service.list_stores(db, who)]


def _form_of(doc: dict[str, Any]) -> dict[str, Any]:
    limits = doc.get("limits") or {}
    return {
        "name": doc.get("name", ""),
        "owner_store": doc.get("owner_store", ""),
        "group": doc.get("group", ""),
        "hours": [str(h) for h in doc.get("hours") or []],
        "limit_ever": str(limits.get("ever") or ""),
        "limit_per_firing": str(limits.get("per_firing") or ""),
    }


def _posted_form() -> dict[str, Any]:
    form: dict[str, Any] = {
        k: (request.form.get(k) or "").strip()
        for k in ("name", "owner_store", "group", "limit_ever", "limit_per_firing")
    }
    form["hours"] = request.form.getlist("hours")
    form["steps_json"] = request.form.get("steps_json") or ""
    return form


def _document(form: Mapping[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": form["name"],
        "owner_store": form["owner_store"],
        "group": form["group"],
        "hours": [int(h) for h in form["hours"] if h.isascii() and h.isdigit()],
        "steps": steps,
    }
    limits = {k: form[f"limit_{k}"] for k in ("ever", "per_firing") if form[f"limit_{k}"]}
    if limits:
        doc["limits"] = limits
    return doc


def _pickers(db: Any, who: Any) -> dict[str, list[tuple[Any, str]]]:
    """What the steps' pickers offer: stores, levels, categories, segments, message templates, promo code lists."""
    known = db.trigger_known()
    segments = db.segment_list()
    code_lists = db.code_lists()
    return {
        "stores": [(s["id"], f"{s['id']} · {s['name']}") for s in db.stores()],
        "levels": [(name, name) for name, *_rest in level_program.levels(db)],
        "categories": db.catalog_category_choices(),
        "card_categories": [(c["id"], c["name"]) for c in card_categories(db, who)],
        "segments": [(r["id"], r["name"]) for r in segments],
        "static_segments": [(r["id"], r["name"]) for r in segments if known["segments"].get(r["id"]) == "static"],
        "scores": [(i, str(i)) for i in range(1, 6)],
        "months": [(i, str(i)) for i in range(1, 13)],
        "templates": [(t["id"], f"{t['id']} · {t['name']} ({t['channel']})") for t in db.message_templates()],
        "promo_lists": [(r["id"], f"{r['id']} · {r['name']}") for r in code_lists],
        "personal_lists": [(r["id"], f"{r['id']} · {r['name']}") for r in code_lists if r["kind"] == "personal"],
    }


def _editor(
    trigger: dict[str, Any] | None,
    form: dict[str, Any],
    draft: trigger_form.StepsDraft,
    errors: dict[str, str],
    status: int = 200,
) -> ResponseReturnValue:
    db, who = get_db(), actor()
    steps, _conversion = trigger_form.to_steps(db, draft)
    if not form.get("steps_json"):
        form = {**form, "steps_json": json.dumps(steps, ensure_ascii=False, indent=2)}
    return render(
        "console/triggers/form.html",
        status,
        trigger=trigger,
        form=form,
        draft=draft,
        errors=errors,
        stores=_stores(db, who),
        templates=TEMPLATE_NAMES(),
        condition_params=trigger_form.CONDITION_PARAMS,
        action_params=trigger_form.ACTION_PARAMS,
        condition_labels=trigger_form.CONDITION_LABELS,
        action_labels=trigger_form.ACTION_LABELS,
        param_labels=trigger_form.PARAM_LABELS,
        choices=trigger_form.CHOICES,
        settings=trigger_form.SETTINGS,
        pickers=_pickers(db, who),
        widget=segment_form.widget,
    )


def _post(trigger: dict[str, Any] | None) -> ResponseReturnValue:
    """The editor's post: a structural button comes back with the form, ``save`` checks and saves."""
    db, who = get_db(), actor()
    form = _posted_form()
    action = request.form.get("action") or "save"
    if "steps" in request.form and not any(k.startswith("s.") for k in request.form):
        # the whole steps as one JSON document (a script's post; the page's import button does the same)
        draft = trigger_form.StepsDraft()
        problems = trigger_form.apply_action(db, draft, "import", {"steps_json": request.form["steps"]})
        if problems:
            return _editor(trigger, form, draft, problems, 422)
    else:
        draft = trigger_form.read_steps(request.form)
    done = trigger_form.apply_action(db, draft, action, request.form)
    if done is not None:
        if action == "import" and not done:
            form["steps_json"] = ""  # shown again from the imported steps
        return _editor(trigger, form, draft, done)
    steps, errors = trigger_form.to_steps(db, draft)
    doc = _document(form, steps)
    try:
        if errors:  # the amounts that did not convert, with every other problem the checks find
            service.check(db, doc)
            raise FormError({})
        if trigger is None:
            ident = service.create(db, who, doc)
            flash(_("Trigger %(name)s is saved as a draft.", name=doc["name"]))
        else:
            ident = trigger["id"]
            version = service.save(db, who, ident, doc)
            flash(_("Trigger %(name)s is saved (version %(v)d).", name=doc["name"], v=version))
    except FormError as exc:
        form["steps_json"] = ""
        return _editor(trigger, form, draft, {**trigger_form.form_errors(exc.errors), **errors}, 422)
    return redirect(url_for("triggers.index", _anchor=f"t{ident}"))


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    db, who = get_db(), actor()
    if request.method == "POST":
        return _post(None)
    stores = _stores(db, who)
    owner = stores[0][0] if stores else ""
    chosen = request.args.get("template")
    doc = service.templates(owner).get(
        chosen or "", {"owner_store": owner, "hours": list(range(9, 22)), "steps": [{"conditions": [], "actions": []}]}
    )
    if chosen and chosen in dict(TEMPLATE_NAMES()):
        doc = {**doc, "name": dict(TEMPLATE_NAMES())[chosen]}
    return _editor(None, _form_of(doc), trigger_form.from_steps(db, doc.get("steps")), {})


def _trigger(trigger_id: int) -> dict[str, Any]:
    """The trigger the URL names, as the actor may see it; none (or another store's): the 404 page."""
    try:
        return service.get(get_db(), actor(), trigger_id)
    except FormError as exc:
        raise NotFound(" ".join(map(str, exc.errors.values()))) from None


@bp.route("/<int:trigger_id>", methods=["GET", "POST"])
def edit(trigger_id: int) -> ResponseReturnValue:
    db = get_db()
    trigger = _trigger(trigger_id)
    if request.method == "POST":
        return _post(trigger)
    doc = trigger["document"] or {}
    return _editor(trigger, _form_of(doc), trigger_form.from_steps(db, doc.get("steps")), {})


@bp.post("/<int:trigger_id>/control")
def control(trigger_id: int) -> ResponseReturnValue:
    db, who = get_db(), actor()
    action = request.form.get("action")
    try:
        if action == "start":
            n = service.start(db, who, trigger_id)
            flash(_("The trigger runs; %(n)d customers entered its first step.", n=n))
        elif action == "stop":
            service.stop(db, who, trigger_id)
            flash(_("The trigger is stopped; customers keep their progress."))
        elif action == "copy":
            ident = service.copy(db, who, trigger_id)
            return redirect(url_for("triggers.edit", trigger_id=ident))
    except FormError as exc:
        flash(" ".join(f"{k}: {v}" for k, v in exc.errors.items()), "error")
    return redirect(url_for("triggers.index", _anchor=f"t{trigger_id}"))


@bp.get("/<int:trigger_id>/test")
def test(trigger_id: int) -> ResponseReturnValue:
    db, who = get_db(), actor()
    trigger = _trigger(trigger_id)
    customer = (request.args.get("customer") or "").strip()
    result, errors = None, {}
    if customer:
        try:
            result = service.test(db, who, trigger_id, customer)
        except FormError as exc:
            errors = exc.errors
    return render(
        "console/triggers/test.html", trigger=trigger, result=result, customer=customer, errors=errors, form={}
    )
