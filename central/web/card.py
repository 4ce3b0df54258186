"""The customer's own web card (mobile first): sign-up by a store's link, sign-in by phone and SMS code, the card
page with the rotating QR code, consents; a web app manifest and a service worker (docs/web-card.md).

Sessions are server-side: the ``card_session`` cookie (HttpOnly, SameSite=Lax) holds a random id whose
SHA-256 is a ``web_sessions`` row; a new id is made at every sign-in (no fixation) and the row is deleted at
sign-out. Every page reads the customer from the session only: no URL names a customer.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from ..i18n import LANGUAGES
from ..services import web_card as wc
from ..services.access import FormError
from ..services.text import _
from ..storage.db import get_db
from .common import client_address, form_data, render

bp = Blueprint("card", __name__, url_prefix="/card")
COOKIE = "card_session"
STATIC = Path(__file__).resolve().parent.parent / "static"


def _limits() -> wc.Limits:
    c = current_app.config
    return wc.Limits(
        minutes=int(c["WEB_CODE_MINUTES"]),
        attempts=int(c["WEB_CODE_ATTEMPTS"]),
        resend_seconds=int(c["WEB_CODE_RESEND_SECONDS"]),
        per_phone_hour=int(c["WEB_CODES_PER_PHONE"]),
        per_address_hour=int(c["WEB_CODES_PER_ADDRESS"]),
        wrong_per_address_hour=int(c["WEB_WRONG_CODES_PER_ADDRESS"]),
        per_hour=int(c["WEB_CODES_PER_HOUR"]),
        regions=frozenset(r.strip().upper() for r in str(c["WEB_CODE_REGIONS"]).split(",") if r.strip()),
        session_days=int(c["WEB_SESSION_DAYS"]),
    )


@bp.before_request
def _language() -> None:
    lang = request.args.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang


@bp.after_request
def _no_store(response: Any) -> Any:
    # personal data: never kept by shared caches (the service worker keeps the last card itself)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _customer() -> str | None:
    if "card_customer" not in g:
        g.card_customer = wc.session_customer(get_db(), request.cookies.get(COOKIE))
    return g.card_customer  # type: ignore[no-any-return]


def _lang() -> str:
    from ..i18n import current_language

    return current_language()


def _signed_in(customer_id: str) -> ResponseReturnValue:
    """A fresh session id for this customer (any id the browser held before is ended: no fixation)."""
    db = get_db()
    wc.end_session(db, request.cookies.get(COOKIE))
    token = wc.start_session(db, customer_id, _limits())
    session.pop("card_phone", None)
    session.pop("card_purpose", None)
    response = redirect(url_for("card.index"))
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(current_app.config["WEB_SESSION_DAYS"]) * 86400,
        path="/card",
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config["WEB_CARD_COOKIE_SECURE"]),
    )
    return response


# -- sign-up, sign-in, sign-out ------------------------------------------------------------------


@bp.route("/join/<store>", methods=["GET", "POST"])
def join(store: str) -> ResponseReturnValue:
    db = get_db()
    shop = wc.signup_store(db, store)
    if request.method == "POST":
        try:
            sent = wc.request_signup_code(db, store, form_data(), client_address(), _lang(), _limits())
        except FormError as exc:
            return render("card/join.html", 422, shop=shop, errors=exc.errors, form=form_data())
        except wc.RateLimited as exc:
            return render("card/join.html", 429, shop=shop, errors={"phone": str(exc)}, form=form_data())
        session["card_phone"], session["card_purpose"] = sent["phone"], wc.SIGNUP
        return redirect(url_for("card.code"))
    return render("card/join.html", shop=shop)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "GET" and _customer() is not None:
        return redirect(url_for("card.index"))
    if request.method == "POST":
        try:
            sent = wc.request_login_code(get_db(), request.form.get("phone", ""), client_address(), _lang(), _limits())
        except FormError as exc:
            return render("card/login.html", 422, errors=exc.errors, form=form_data())
        except wc.RateLimited as exc:
            return render("card/login.html", 429, errors={"phone": str(exc)}, form=form_data())
        session["card_phone"], session["card_purpose"] = sent["phone"], wc.LOGIN
        return redirect(url_for("card.code"))
    return render("card/login.html", signed_out=bool(request.args.get("out")))


@bp.route("/code", methods=["GET", "POST"])
def code() -> ResponseReturnValue:
    phone, purpose = session.get("card_phone"), session.get("card_purpose")
    if not isinstance(phone, str) or purpose not in (wc.SIGNUP, wc.LOGIN):
        return redirect(url_for("card.login"))
    if request.method == "POST":
        confirm = wc.confirm_signup if purpose == wc.SIGNUP else wc.confirm_login
        try:
            customer_id = confirm(get_db(), phone, request.form.get("code", ""), client_address(), _limits())
        except FormError as exc:
            return render("card/code.html", 422, phone=phone, errors=exc.errors)
        except wc.RateLimited as exc:
            return render("card/code.html", 429, phone=phone, errors={"code": str(exc)})
        return _signed_in(customer_id)
    return render("card/code.html", phone=phone)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    wc.end_session(get_db(), request.cookies.get(COOKIE))
    response = redirect(url_for("card.login", out=1))
    response.delete_cookie(COOKIE, path="/card")
    return response


# -- the card ------------------------------------------------------------------------------------


@bp.get("/")
def index() -> ResponseReturnValue:
    customer_id = _customer()
    if customer_id is None:
        return redirect(url_for("card.login"))
    from ..services import messages

    db = get_db()
    view = wc.card(db, customer_id)
    telegram = db.message_channel("telegram")
    return render(
        "card/card.html",
        card=view,
        qr=bool(current_app.config["QR_SECRET"]),
        qr_step=int(current_app.config["QR_STEP"]),
        telegram=bool(telegram and telegram["enabled"]),
        channels=wc.CHANNELS,
        vapid=messages.vapid_public_key(db) or "",
        own=wc.own_data(db, customer_id),
        saved=bool(request.args.get("saved")),
    )


@bp.route("/profile", methods=["GET", "POST"])
def profile() -> ResponseReturnValue:
    """The customer's own questionnaire: name parts, email, gender, the birthday once (docs/web-card.md)."""
    from ..services import customer_admin

    customer_id = _customer()
    if customer_id is None:
        return redirect(url_for("card.login"))
    from ..services import fields

    db = get_db()
    view = wc.own_data(db, customer_id)
    custom = fields.customer_editable(db)  # the custom fields head office lets the customer edit
    if request.method == "POST":
        try:
            customer_admin.update_own_questionnaire(db, wc.CUSTOMER, customer_id, form_data())
        except FormError as exc:
            return render("card/profile.html", 422, own=view, errors=exc.errors, form=form_data(), custom=custom)
        return redirect(url_for("card.index", saved=1) + "#own-data")
    return render("card/profile.html", own=view, form=view, custom=custom)


def _own() -> str:
    customer_id = _customer()
    if customer_id is None:
        abort(401)
    return customer_id


@bp.get("/qr.svg")
def qr_image() -> ResponseReturnValue:
    """The rotating QR code of the session's customer (the tills check it with ``verify_qr``)."""
    secret = current_app.config["QR_SECRET"]
    if not secret:
        abort(404)
    token = wc.qr(secret, _own(), step=int(current_app.config["QR_STEP"]))
    import qrcode
    import qrcode.image.svg

    out = io.BytesIO()
    qrcode.make(token["token"], image_factory=qrcode.image.svg.SvgPathImage, border=2).save(out)
    response = make_response(out.getvalue())
    response.headers["Content-Type"] = "image/svg+xml"
    response.headers["X-Refresh-In"] = str(token["refresh_in"])
    return response


@bp.get("/qr.json")
def qr_json() -> ResponseReturnValue:
    secret = current_app.config["QR_SECRET"]
    if not secret:
        abort(404)
    return jsonify(wc.qr(secret, _own(), step=int(current_app.config["QR_STEP"])))


@bp.get("/barcode.svg")
def barcode_image() -> ResponseReturnValue:
    """The main card's barcode (Code 128): what a till scans when the phone is offline."""
    view = wc.card(get_db(), _own())
    if not view["card"]:
        abort(404)
    import barcode
    from barcode.writer import SVGWriter

    out = io.BytesIO()
    barcode.get("code128", view["card"], writer=SVGWriter()).write(
        out, options={"module_height": 18.0, "module_width": 0.35, "font_size": 8, "text_distance": 4}
    )
    response = make_response(out.getvalue())
    response.headers["Content-Type"] = "image/svg+xml"
    return response


@bp.post("/consents")
def consents() -> ResponseReturnValue:
    customer_id = _own()
    channel = request.form.get("channel", "")
    granted = request.form.get("granted") == "1"
    try:
        wc.set_own_consent(get_db(), customer_id, channel, granted)
    except FormError:
        abort(400)
    return redirect(url_for("card.index") + "#consents")


@bp.post("/telegram")
def telegram() -> ResponseReturnValue:
    """A one-time Telegram start link for the session's customer (docs/messages.md, "telegram")."""
    from ..services import messages
    from ..services.access import SYSTEM, FormError

    try:
        link = messages.telegram_link(get_db(), SYSTEM, _own())
    except FormError:  # no Telegram channel set up (the card shows no button then): no such page
        abort(404)
    return redirect(link["url"])


# Web Push (docs/messages.md, "push"): card.js subscribes with the VAPID key the page carries and posts the
# browser's PushSubscription here; that also records push consent (source: the customer).
@bp.post("/push")
def push_subscribe() -> ResponseReturnValue:
    from ..services import messages
    from ..services.access import FormError

    customer_id = _own()
    if messages.vapid_public_key(get_db()) is None:
        return jsonify({"error": "push is not set up"}), 404
    subscription = request.get_json(silent=True)
    if not isinstance(subscription, dict):
        abort(400)
    try:
        messages.subscribe_push(get_db(), customer_id, subscription)
    except FormError as exc:
        return jsonify({"error": next(iter(exc.errors.values()))}), 422
    return jsonify({"ok": True})


# -- installable: manifest, service worker, poster --------------------------------------------


@bp.get("/manifest.webmanifest")
def manifest() -> ResponseReturnValue:
    doc = {
        "name": _("Loyalty card"),
        "short_name": _("Card"),
        "start_url": url_for("card.index"),
        "scope": url_for("card.index"),
        "display": "standalone",
        "background_color": "#f5f6f8",
        "theme_color": "#1f6feb",
        "icons": [
            {"src": url_for("static", filename=f"card-{n}.png"), "sizes": f"{n}x{n}", "type": "image/png"}
            for n in (192, 512)
        ],
    }
    response = make_response(json.dumps(doc, ensure_ascii=False))
    response.headers["Content-Type"] = "application/manifest+json"
    return response


@bp.get("/sw.js")
def service_worker() -> ResponseReturnValue:
    """The service worker, served under /card/ so that its scope is the card."""
    response = make_response((STATIC / "card-sw.js").read_text(encoding="utf-8"))
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    return response


@bp.get("/join/<store>/poster")
def poster(store: str) -> ResponseReturnValue:
    """A printable poster with the store's sign-up QR code."""
    shop = wc.signup_store(get_db(), store)
    return render("card/poster.html", shop=shop, link=join_url(store))


@bp.get("/join/<store>/qr.svg")
def join_qr(store: str) -> ResponseReturnValue:
    wc.signup_store(get_db(), store)
    import qrcode
    import qrcode.image.svg

    out = io.BytesIO()
    qrcode.make(join_url(store), image_factory=qrcode.image.svg.SvgPathImage, border=2).save(out)
    response = make_response(out.getvalue())
    response.headers["Content-Type"] = "image/svg+xml"
    return response


def join_url(store: str) -> str:
    """The store's sign-up link: PUBLIC_URL based when it is set (what a poster or slip prints)."""
    base = current_app.config.get("PUBLIC_URL") or request.host_url
    return base.rstrip("/") + url_for("card.join", store=store)
