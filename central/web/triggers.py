"""Console pages: triggers (list with per-step statistics, editor, start/stop/copy, test on a customer)."""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ..services import stores as store_service
from ..services import triggers as service
from ..services.access import FormError
from ..services.text import _
from ..storage.db import get_db
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
        "steps": json.dumps(doc.get("steps") or [], ensure_ascii=False, indent=2),
    }


def _posted() -> tuple[dict[str, Any], dict[str, Any]]:
    """(the document, the form as typed); FormError when the steps are not JSON."""
    form = {
        k: (request.form.get(k) or "").strip()
        for k in ("name", "owner_store", "group", "steps", "limit_ever", "limit_per_firing")
    }
    form["hours"] = request.form.getlist("hours")
    doc: dict[str, Any] = {
        "name": form["name"],
        "owner_store": form["owner_store"],
        "group": form["group"],
        "hours": [int(h) for h in form["hours"] if h.isdigit()],
    }
    limits = {k: form[f"limit_{k}"] for k in ("ever", "per_firing") if form[f"limit_{k}"]}
    if limits:
        doc["limits"] = limits
    try:
        doc["steps"] = json.loads(form["steps"] or "[]")
    except ValueError as exc:
        raise FormError({"steps": _("The steps are not valid JSON: %(error)s", error=str(exc))}) from None
    return doc, form


def _editor(
    trigger: dict[str, Any] | None, form: dict[str, Any], errors: dict[str, str], status: int = 200
) -> ResponseReturnValue:
    db, who = get_db(), actor()
    step_errors = {k: v for k, v in errors.items() if k.startswith("steps.") or k == "steps"}
    return render(
        "console/triggers/form.html",
        status,
        trigger=trigger,
        form=form,
        errors=errors,
        step_errors=step_errors,
        stores=_stores(db, who),
        templates=TEMPLATE_NAMES(),
    )


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    db, who = get_db(), actor()
    if request.method == "POST":
        try:
            doc, form = _posted()
            ident = service.create(db, who, doc)
        except FormError as exc:
            return _editor(None, _posted_form(), exc.errors, 422)
        flash(_("Trigger %(name)s is saved as a draft.", name=doc["name"]))
        return redirect(url_for("triggers.index", _anchor=f"t{ident}"))
    stores = _stores(db, who)
    owner = stores[0][0] if stores else ""
    chosen = request.args.get("template")
    doc = service.templates(owner).get(
        chosen or "", {"owner_store": owner, "hours": list(range(9, 22)), "steps": [{"conditions": [], "actions": []}]}
    )
    if chosen and chosen in dict(TEMPLATE_NAMES()):
        doc = {**doc, "name": dict(TEMPLATE_NAMES())[chosen]}
    return _editor(None, _form_of(doc), {})


def _posted_form() -> dict[str, Any]:
    form = {
        k: (request.form.get(k) or "").strip()
        for k in ("name", "owner_store", "group", "steps", "limit_ever", "limit_per_firing")
    }
    form["hours"] = request.form.getlist("hours")
    return form


@bp.route("/<int:trigger_id>", methods=["GET", "POST"])
def edit(trigger_id: int) -> ResponseReturnValue:
    db, who = get_db(), actor()
    trigger = service.get(db, who, trigger_id)
    if request.method == "POST":
        try:
            doc, _form = _posted()
            version = service.save(db, who, trigger_id, doc)
        except FormError as exc:
            return _editor(trigger, _posted_form(), exc.errors, 422)
        flash(_("Trigger %(name)s is saved (version %(v)d).", name=doc["name"], v=version))
        return redirect(url_for("triggers.index", _anchor=f"t{trigger_id}"))
    return _editor(trigger, _form_of(trigger["document"] or {}), {})


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
    trigger = service.get(db, who, trigger_id)
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
