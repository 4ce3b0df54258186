"""Sign-in and out, the language switch, one's own password, and console users (administrators)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from ..i18n import LANGUAGES
from ..services import signin, users
from ..services.access import ROLES, FormError
from ..services.text import _
from ..storage.db import get_db
from .common import actor, client_address, form_data, load_actor, render, render_form, require_login, safe_next

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "GET":
        return render("console/login.html", next=request.args.get("next", ""))
    data = form_data()
    config = current_app.config
    try:
        user, token = signin.sign_in(
            get_db(),
            data.get("username", ""),
            request.form.get("password", ""),
            client_address(),
            hours=int(config["SESSION_HOURS"]),
            limits=signin.Limits.from_config(config),
        )
    except signin.Throttled as exc:
        return render("console/login.html", 429, errors=exc.errors, form=form_data(), next=data.get("next", ""))
    except FormError as exc:
        return render_form("console/login.html", exc, next=data.get("next", ""))
    lang = session.get("lang")
    # a fresh session on sign-in (no fixation); one this browser still had ends on the server (another user's
    # cookie, copied before, would go on working)
    signin.sign_out(get_db(), session.get("sid"), load_actor(), client_address())
    session.clear()
    session.permanent = True
    session["uid"], session["sv"], session["sid"] = user["id"], user["session_version"], token
    if user["language"] in LANGUAGES:
        session["lang"] = user["language"]
    elif lang:
        session["lang"] = lang
    return redirect(safe_next(data.get("next")))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    lang = session.get("lang")
    signin.sign_out(get_db(), session.get("sid"), load_actor(), client_address())  # the cookie stops working
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"))


@bp.post("/language")
def language() -> ResponseReturnValue:
    """Switch the interface language (kept on the account when signed in)."""
    lang = request.form.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang
        who = load_actor()
        if who is not None and who.id is not None:
            users.set_language(get_db(), who.id, lang)
    return redirect(safe_next(request.form.get("next")))


@bp.route("/account", methods=["GET", "POST"])
def account() -> ResponseReturnValue:
    """One's own password."""
    if (redirect_to := require_login()) is not None:
        return redirect_to
    who = actor()
    if request.method == "POST":
        errors = {}
        if request.form.get("password", "") != request.form.get("password2", ""):
            errors["password2"] = _("The two passwords differ.")
        try:
            if errors:
                raise FormError(errors)
            users.set_password(
                get_db(), who, who.id or 0, request.form.get("password", ""), current=request.form.get("current", "")
            )
        except FormError as exc:
            return render_form("console/account.html", exc)
        # the password change ended every session of this user, this one too: start a new one
        user = users.get_user(get_db(), who.id or 0)
        session["sv"] = user["session_version"]
        flash(_("Your password is changed."))
        return redirect(url_for("auth.account"))
    return render("console/account.html")


@bp.get("/users")
def user_list() -> ResponseReturnValue:
    if (redirect_to := require_login()) is not None:
        return redirect_to
    return render("console/users.html", users=users.list_users(get_db(), actor()), roles=ROLES)


@bp.route("/users/new", methods=["GET", "POST"])
def user_new() -> ResponseReturnValue:
    if (redirect_to := require_login()) is not None:
        return redirect_to
    who = actor()
    who.require("users.manage")
    stores = get_db().stores()
    if request.method == "POST":
        data = form_data()
        try:
            users.add_user(
                get_db(),
                who,
                data.get("username", ""),
                request.form.get("password", ""),
                data.get("role", ""),
                display_name=data.get("display_name"),
                stores=request.form.getlist("stores"),
            )
        except FormError as exc:
            return render_form(
                "console/user_form.html",
                exc,
                roles=ROLES,
                stores=stores,
                user=None,
                chosen=request.form.getlist("stores"),
            )
        flash(_("User %(name)s is created.", name=data.get("username")))
        return redirect(url_for("auth.user_list"))
    return render("console/user_form.html", roles=ROLES, stores=stores, user=None, chosen=[])


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user_edit(user_id: int) -> ResponseReturnValue:
    if (redirect_to := require_login()) is not None:
        return redirect_to
    who = actor()
    who.require("users.manage")
    db = get_db()
    user = users.get_user(db, user_id)
    stores = db.stores()
    if request.method == "POST":
        data = form_data()
        try:
            password = request.form.get("password", "")
            if password and len(password) < users.MIN_PASSWORD:  # checked before anything is written
                raise FormError(
                    {"password": _("The password must have at least %(n)d characters.", n=users.MIN_PASSWORD)}
                )
            users.update_user(
                db,
                who,
                user_id,
                role=data.get("role", ""),
                stores=request.form.getlist("stores"),
                active=bool(request.form.get("active")),
                display_name=data.get("display_name"),
            )
            if password:
                users.set_password(db, who, user_id, password)
        except FormError as exc:
            return render_form(
                "console/user_form.html",
                exc,
                roles=ROLES,
                stores=stores,
                user=user,
                chosen=request.form.getlist("stores"),
            )
        flash(_("User %(name)s is saved.", name=user["username"]))
        return redirect(url_for("auth.user_list"))
    return render(
        "console/user_form.html",
        roles=ROLES,
        stores=stores,
        user=user,
        chosen=user["stores"],
        form={
            "role": user["role"],
            "display_name": user["display_name"] or "",
            "active": "1" if user["active"] else "",
        },
    )


@bp.route("/tokens", methods=["GET", "POST"])
def api_tokens() -> ResponseReturnValue:
    """API tokens for monitoring and integrations: a new one is shown once, on this response only."""
    if (redirect_to := require_login()) is not None:
        return redirect_to
    from ..services import tokens

    who, db = actor(), get_db()
    who.require("tokens.manage")
    created = None
    if request.method == "POST":
        try:
            _, created = tokens.add_token(db, who, form_data().get("name", ""))
        except FormError as exc:
            return render_form("console/tokens.html", exc, tokens=tokens.list_tokens(db, who), created=None)
    return render("console/tokens.html", 201 if created else 200, tokens=tokens.list_tokens(db, who), created=created)


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> ResponseReturnValue:
    if (redirect_to := require_login()) is not None:
        return redirect_to
    from ..services import tokens

    tokens.revoke_token(get_db(), actor(), token_id)
    flash(_("The token is revoked: it no longer works."))
    return redirect(url_for("auth.api_tokens"))
