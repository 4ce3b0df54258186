"""Public endpoints of messages: one-click unsubscribe (RFC 8058) and the SMS/voice gateways' webhook.

No sign-in: the unsubscribe link carries a signed token, the webhook URL the channel's
``webhook_token`` secret. No SQL here (services/messages.py does the work).
"""

from __future__ import annotations

import base64

from flask import Blueprint, abort, jsonify, redirect, request
from flask.typing import ResponseReturnValue
from markupsafe import escape

from shared.errors import LoyaltyError

from ..services import messages
from ..services.text import _
from ..storage.db import get_db

bp = Blueprint("message_hooks", __name__)


def _page(title: str, text: str, status: int = 200) -> ResponseReturnValue:
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head>"
        f"<body><h1>{escape(title)}</h1><p>{escape(text)}</p></body></html>"
    )
    return body, status, {"Content-Type": "text/html; charset=utf-8"}


@bp.route("/messages/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> ResponseReturnValue:
    """GET: the page confirming it (mail clients and people following the link);
    POST: RFC 8058 one-click (``List-Unsubscribe=One-Click``) or the page's button. Both unsubscribe:
    a person who clicks "unsubscribe" should not have to click twice."""
    db = get_db()
    done = messages.unsubscribe(db, messages.link_key(db), token)
    if done is None:
        return _page(_("Link not valid"), _("This unsubscribe link is not valid."), 404)
    return _page(_("Unsubscribed"), _("You will get no more marketing messages on this channel."))


#: a transparent 1x1 GIF
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@bp.get("/messages/o/<token>")
def opened(token: str) -> ResponseReturnValue:
    """The opening pixel of a tracked email (central/messages/tracking.py)."""
    if not messages.track_open(get_db(), token):
        abort(404)
    return PIXEL, 200, {"Content-Type": "image/gif", "Cache-Control": "no-store"}


@bp.get("/messages/c/<token>")
def clicked(token: str) -> ResponseReturnValue:
    """A tracked link: counted, then on to where it leads (only a target signed in the token)."""
    target = messages.track_click(get_db(), token)
    if target is None:
        return _page(_("Link not valid"), _("This link is not valid."), 404)
    return redirect(target, 302)


@bp.post("/hooks/messages/<channel>/<token>")
def gateway_webhook(channel: str, token: str) -> ResponseReturnValue:
    """Delivery reports and replies from an SMS or voice gateway (JSON or form fields)."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        payload = request.values.to_dict()
    try:
        changed = messages.gateway_report(get_db(), channel, token, payload)
    except LoyaltyError as exc:
        status = getattr(exc, "status", 400)
        abort(404 if status == 404 else 403)
    return jsonify({"ok": True, **changed})


@bp.post("/hooks/telegram")
def telegram_webhook() -> ResponseReturnValue:
    """The bot's updates (setWebhook with ``secret_token`` = the channel's ``webhook_token``)."""
    update = request.get_json(silent=True)
    if not isinstance(update, dict):
        abort(400)
    try:
        what = messages.telegram_update(get_db(), request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""), update)
    except LoyaltyError as exc:
        abort(404 if getattr(exc, "status", 400) == 404 else 403)
    return jsonify({"ok": True, "result": what})
