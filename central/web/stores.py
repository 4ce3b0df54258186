"""Console pages: stores (list, add, edit, enrollment tokens), bonus programs, and the stores' sync status."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ..services import stores
from ..services.access import FormError
from ..services.text import _
from ..storage.db import get_db
from .common import actor, console_blueprint, form_data, render

bp = console_blueprint("stores", "/stores")


@bp.get("/")
def index() -> ResponseReturnValue:
    db, who = get_db(), actor()
    return render("console/stores/index.html", **stores.status(db, who), latest=db.latest_rules())


def _groups() -> list[str]:
    return [g for g in request.form.getlist("groups") if g] + [
        g.strip() for g in (request.form.get("new_groups") or "").split(",") if g.strip()
    ]


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    db, who = get_db(), actor()
    who.require("stores.write")
    context = {"store": None, "groups": stores.groups_list(db), "programs": stores.programs_list(db), "chosen": []}
    if request.method == "POST":
        try:
            token = stores.add_store(db, who, form_data(), _groups())
        except FormError as exc:
            return render(
                "console/stores/form.html", 422, errors=exc.errors, form=form_data(), **{**context, "chosen": _groups()}
            )
        return render(
            "console/stores/token.html",
            store_id=form_data()["id"],
            token=token,
            hours=current_app.config["ENROLL_TOKEN_HOURS"],
        )
    return render("console/stores/form.html", form={"timezone": "Europe/Moscow", "base_percent": "5"}, **context)


@bp.route("/<store_id>", methods=["GET", "POST"])
def edit(store_id: str) -> ResponseReturnValue:
    db, who = get_db(), actor()
    who.require("stores.read")
    who.require_store(store_id)
    store = db.get_store(store_id)
    chosen = [s for s in stores.list_stores(db, who) if s["id"] == store_id][0]["groups"]
    context = {
        "store": store,
        "groups": stores.groups_list(db),
        "programs": stores.programs_list(db),
        "agents": db.agents(store_id),
    }
    if request.method == "POST":
        try:
            if request.form.get("action") == "token":
                token = stores.new_token(db, who, store_id, int(current_app.config["ENROLL_TOKEN_HOURS"]))
                return render(
                    "console/stores/token.html",
                    store_id=store_id,
                    token=token,
                    hours=current_app.config["ENROLL_TOKEN_HOURS"],
                )
            stores.update_store(db, who, store_id, form_data(), _groups())
        except FormError as exc:
            return render(
                "console/stores/form.html", 422, errors=exc.errors, form=form_data(), chosen=_groups(), **context
            )
        flash(_("Store %(id)s is saved.", id=store_id))
        return redirect(url_for("stores.index"))
    form = {k: store[k] or "" for k in ("name", "city", "timezone", "base_percent")}
    form["program_id"] = str(store["program_id"] or "")
    return render("console/stores/form.html", form=form, chosen=chosen, **context)


@bp.post("/review/<what>/<ident>")
def review(what: str, ident: str) -> ResponseReturnValue:
    """Mark a dead letter, a debt or a flag as reviewed."""
    try:
        stores.resolve(get_db(), actor(), what, ident, request.form.get("note", ""))
        flash(_("Marked as reviewed."))
    except FormError as exc:
        flash(next(iter(exc.errors.values())))
    return redirect(url_for("stores.index") + "#review")


@bp.route("/programs", methods=["GET", "POST"])
def programs() -> ResponseReturnValue:
    """Bonus programs (bonus accounts) and their conversion rate."""
    db, who = get_db(), actor()
    who.require("stores.read")
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            stores.save_program(db, who, form_data())
            flash(_("The program is saved."))
            return redirect(url_for("stores.programs"))
        except FormError as exc:
            errors = exc.errors
    return render(
        "console/stores/programs.html",
        422 if errors else 200,
        errors=errors,
        form=form_data() if errors else {},
        programs=stores.programs_list(db, who, with_points=True),
    )
