"""Console pages: each store's rule set (edit, validate in place, what-if, publish), levels, categories."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ..services import level_program as levels_service
from ..services import rules, stores, whatif
from ..services.access import FormError
from ..services.rules_form import SECTIONS, TIME_RULE_TYPES, form_values, posted_values
from ..services.text import _
from ..storage.db import get_db
from .common import actor, console_blueprint, render

bp = console_blueprint("rules", "/rules")


@bp.get("/")
def index() -> ResponseReturnValue:
    db, who = get_db(), actor()
    who.require("rules.read")
    drafts = rules.drafts(db)
    return render("console/rules/index.html", stores=stores.list_stores(db, who), drafts=drafts)


def _editor(store_id: str, values: dict[str, Any], status: int = 200, **extra: Any) -> ResponseReturnValue:
    db, who = get_db(), actor()
    _doc, info = rules.draft(db, who, store_id)
    found = rules.current(db, store_id)
    return render(
        "console/rules/edit.html",
        status,
        store=db.get_store(store_id),
        values=values,
        draft_info=info,
        current_version=found[0] if found else None,
        versions=rules.versions(db, who, store_id),
        categories=[c["name"] for c in rules.categories(db, who)],
        levels=levels_service.current(db),
        time_rule_types=TIME_RULE_TYPES,
        **extra,
    )


@bp.get("/<store_id>")
def edit(store_id: str) -> ResponseReturnValue:
    doc, _info = rules.draft(get_db(), actor(), store_id)
    return _editor(store_id, form_values(doc))


@bp.post("/<store_id>")
def post(store_id: str) -> ResponseReturnValue:
    """One form, several buttons: add a row, save the draft, see the what-if, publish, discard."""
    db, who = get_db(), actor()
    action = request.form.get("action", "save")
    if action.startswith("add:"):
        section = action[4:]
        values = posted_values(request.form)
        if section in SECTIONS:
            values[section].append({"_index": _next_index(section), "redeemable": True, "weekdays": []})
        rules.draft(db, who, store_id)  # the actor may see these rules
        return _editor(store_id, values)
    try:
        if action == "discard":
            rules.discard_draft(db, who, store_id)
            flash(_("The draft is discarded."))
            return redirect(url_for("rules.edit", store_id=store_id))
        if action == "whatif":
            days = request.form.get("days", type=int) or 30
            result = whatif.compare(db, who, store_id, request.form, days)
            return _editor(store_id, posted_values(request.form), whatif=result, days=days)
        if action == "publish":
            version = rules.publish(db, who, store_id, request.form)
            flash(_("Version %(v)s is published; the store's agents receive it as soon as they are online.", v=version))
            return redirect(url_for("rules.edit", store_id=store_id))
        rules.save_draft(db, who, store_id, request.form)
        flash(_("The draft is saved. It is not published yet."))
        return redirect(url_for("rules.edit", store_id=store_id))
    except FormError as exc:
        return _editor(store_id, posted_values(request.form), 422, errors=exc.errors)


def _next_index(section: str) -> int:
    import re

    used = [int(m.group(1)) for key in request.form.keys() if (m := re.match(rf"{section}-(\d+)-", key))]
    return max(used, default=-1) + 1


@bp.route("/levels", methods=["GET", "POST"])
def levels() -> ResponseReturnValue:
    db, who = get_db(), actor()
    who.require("rules.read")
    if request.method == "POST":
        if request.form.get("action") == "add":
            values = levels_service.current(db)
            values["levels"] = [{"_index": r["_index"], **r} for r in _level_rows()] + [
                {"_index": len(_level_rows()) + 100}
            ]
            values.update(
                window_days=request.form.get("window_days", "0"),
                auto=bool(request.form.get("auto")),
                demotion=bool(request.form.get("demotion")),
            )
            return render("console/rules/levels.html", values=values)
        try:
            published = levels_service.save(db, who, request.form)
        except FormError as exc:
            values = {
                "levels": _level_rows(),
                "window_days": request.form.get("window_days", ""),
                "auto": bool(request.form.get("auto")),
                "demotion": bool(request.form.get("demotion")),
            }
            return render("console/rules/levels.html", 422, values=values, errors=exc.errors)
        flash(
            _(
                "The levels are saved and published to %(n)d stores. Customers move to their levels after their "
                "next purchase, and all of them at the next nightly run.",
                n=len(published),
            )
        )
        return redirect(url_for("rules.levels"))
    values = levels_service.current(db)
    values["levels"] = [{"_index": i, **row} for i, row in enumerate(values["levels"])]
    return render("console/rules/levels.html", values=values)


def _level_rows() -> list[dict[str, Any]]:
    from ..services.rules_form import rows

    return rows(request.form, "levels")


@bp.route("/categories", methods=["GET", "POST"])
def categories() -> ResponseReturnValue:
    db, who = get_db(), actor()
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            rules.add_category(db, who, request.form.get("category", ""))
            return redirect(url_for("rules.categories"))
        except FormError as exc:
            errors = exc.errors
    return render(
        "console/rules/categories.html", 422 if errors else 200, errors=errors, categories=rules.categories(db, who)
    )
