"""Console pages of messages to customers: channels, templates (preview, test send, SMS counter), mailings
(progress, pause, resume), and a customer's consents and messages (the account's Messages tab posts here).

All the work is in services/messages.py; this module turns forms into its calls. Secrets are never put
back into a page: their inputs stay empty ("saved" is shown), and an empty input keeps the saved value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, flash, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue

from shared.numbers import is_whole

from ..messages import notices, reasons, rules
from ..messages.adapters import BODY_FORMATS, METHODS, REPORT_FIELDS, SECURITY
from ..messages.templates import CHANNELS, LANGUAGES, NAMES, WITH_SUBJECT
from ..services import customers, messages, segments
from ..services.access import FormError
from ..services.filters import CustomerQuery
from ..services.text import N_, _
from ..storage.db import get_db
from .common import actor, console_blueprint, form_data, render

bp = console_blueprint("messages", "/messages")

CHANNEL_LABELS = {
    "email": N_("Email"),
    "sms": N_("SMS"),
    "voice": N_("Voice calls"),
    "push": N_("Web Push"),
    "telegram": N_("Telegram"),
    "cashier": N_("Cashier message"),
}
KIND_LABELS = {"marketing": N_("Marketing"), "service": N_("Service")}
STATE_LABELS = {
    "queueing": N_("queueing"),
    "running": N_("running"),
    "paused": N_("paused"),
    "finished": N_("finished"),
    "queued": N_("queued"),
    "sending": N_("sending"),
    "sent": N_("sent"),
    "delivered": N_("delivered"),
    "failed": N_("failed"),
    "skipped": N_("skipped"),
}
SOURCE_LABELS = {
    "till": N_("till"),
    "console": N_("console"),
    "import": N_("import"),
    "customer": N_("the customer"),
    "gateway": N_("SMS gateway (STOP)"),
}
#: the consents shown on a customer's Messages tab (cashier messages need none)
CONSENT_CHANNELS = ("email", "sms", "voice", "push", "telegram")

#: each channel's plain settings on the form, and its fixed secrets (gateways may have more, by name)
SETTINGS = {
    "email": (
        "host",
        "port",
        "security",
        "username",
        "sender",
        "sender_name",
        "timeout",
        "dkim_domain",
        "dkim_selector",
    ),
    "sms": ("method", "url", "body_format", "body", "sender", "id_field", "error_field", "timeout", *REPORT_FIELDS),
    "push": ("subject", "ttl"),
    "telegram": ("bot_name", "api_url"),
    "cashier": (),
}
SETTINGS["voice"] = SETTINGS["sms"]
SECRETS = {
    "email": ("password", "dkim_key"),
    "sms": ("api_key", "webhook_token"),
    "voice": ("api_key", "webhook_token"),
    "push": ("private_key",),
    "telegram": ("token", "webhook_token"),
    "cashier": (),
}


def reason_text(why: str | None) -> str:
    """The engine's English reason in the console's language (central/messages/reasons.py)."""
    if not why:
        return ""
    state = reasons.STATE.fullmatch(why)
    if state is not None:
        label = reasons.STATES[state.group(1)]
        return f"{_(label)}: {reason_text(state.group(2))}"
    after = reasons.AFTER.fullmatch(why)
    if after is not None:
        return _(reasons.AFTER_MSGID, reason=reason_text(after["reason"]), attempts=after["attempts"])
    found = reasons.explain(why)
    if found is None:
        return why
    msgid, params = found
    label = CHANNEL_LABELS.get(params.get("channel", ""))
    if label is not None:
        params["channel"] = _(label)
    field = reasons.FIELDS.get(params.get("field", ""))
    if field is not None:
        params["field"] = _(field)
    return _(msgid, **params)


def _labels() -> dict[str, Any]:
    return {
        "channel_labels": CHANNEL_LABELS,
        "kind_labels": KIND_LABELS,
        "state_labels": STATE_LABELS,
        "source_labels": SOURCE_LABELS,
    }


@bp.get("/")
def index() -> ResponseReturnValue:
    who = actor()
    if who.can("messages.send"):
        return redirect(url_for("messages.mailings"))
    return redirect(url_for("messages.templates"))


# -- channels -----------------------------------------------------------------------------------


@bp.get("/channels")
def channels() -> ResponseReturnValue:
    return render("console/messages/channels.html", channels=messages.list_channels(get_db(), actor()), **_labels())


def _channel_form(channel: str, row: dict[str, Any] | None) -> dict[str, str]:
    if row is None:
        defaults = {
            "email": {"port": "587", "security": "starttls"},
            "sms": {"method": "POST", "body_format": "json"},
            "push": {"ttl": "86400"},
            "telegram": {"api_url": "https://api.telegram.org"},
        }
        form = dict(defaults.get(channel, {"method": "POST", "body_format": "json"}))
        form.update({"enabled": "1", "rate_per_second": "0", "verify_tls": "1"})
        return form
    s = row["settings"]
    form = {k: "" if s.get(k) is None else str(s.get(k)) for k in SETTINGS[channel]}
    if channel in ("sms", "voice"):
        form["headers"] = "\n".join(f"{k}: {v}" for k, v in (s.get("headers") or {}).items())
    form["verify_tls"] = "1" if s.get("verify_tls", True) else ""
    form["local_endpoints"] = "1" if s.get("local_endpoints") else ""
    form["enabled"] = "1" if row["enabled"] else ""
    form["rate_per_second"] = str(row["rate_per_second"])
    return form


def _parse_channel_form(channel: str, data: dict[str, str]) -> tuple[dict[str, Any], dict[str, str | None], int]:
    settings: dict[str, Any] = {k: data.get(k, "") for k in SETTINGS[channel]}
    if channel == "email":
        settings["verify_tls"] = bool(data.get("verify_tls"))
    if channel == "push":
        settings["local_endpoints"] = bool(data.get("local_endpoints"))
    if channel in ("sms", "voice"):
        headers: dict[str, str] = {}
        for line in (data.get("headers") or "").splitlines():
            if line.strip():
                name, sep, value = line.partition(":")
                if not sep or not name.strip():
                    raise FormError({"headers": _("One header per line: Name: value.")})
                headers[name.strip()] = value.strip()
        settings["headers"] = headers
    secrets: dict[str, str | None] = {name: data.get(f"secret_{name}") for name in SECRETS[channel]}
    for key in request.form:
        if key.startswith("secret_") and key[7:] not in secrets:
            secrets[key[7:]] = data.get(key)
    extra_name = (data.get("new_secret_name") or "").strip()
    if extra_name:
        if not extra_name.replace("_", "").isalnum() or not extra_name.isascii():
            raise FormError({"new_secret_name": _("Letters, digits and _ only.")})
        secrets[extra_name] = data.get("new_secret_value") or ""
    rate = data.get("rate_per_second") or "0"
    if not is_whole(rate):
        raise FormError({"rate_per_second": _("A whole number 0..100000 (0: no limit).")})
    return settings, secrets, int(rate)


@bp.route("/channels/<channel>", methods=["GET", "POST"])
def channel(channel: str) -> ResponseReturnValue:
    db, who = get_db(), actor()
    who.require("messages.channels")
    if channel not in CHANNELS:
        return render("console/error.html", 404, title_code=404, detail=_("No such channel."))
    row = messages.get_channel(db, who, channel)
    context = {
        "channel": channel,
        "row": row,
        "settings_fields": SETTINGS[channel],
        "secret_names": sorted({*SECRETS[channel], *((row or {}).get("secrets") or {})}),
        "public_url": current_app.config.get("PUBLIC_URL") or "",
        "securities": SECURITY,
        "methods": METHODS,
        "body_formats": BODY_FORMATS,
        **_labels(),
    }
    if request.method == "POST":
        data = form_data()
        try:
            settings, secrets, rate = _parse_channel_form(channel, data)
            messages.set_channel(
                db, who, channel, settings, secrets, enabled=bool(data.get("enabled")), rate_per_second=rate
            )
        except FormError as exc:
            data = {k: v for k, v in data.items() if not k.startswith("secret_") and k != "new_secret_value"}
            return render("console/messages/channel.html", 422, errors=exc.errors, form=data, **context)
        flash(_("The %(channel)s channel is saved.", channel=_(CHANNEL_LABELS[channel])))
        return redirect(url_for("messages.channels"))
    return render("console/messages/channel.html", form=_channel_form(channel, row), **context)


# -- templates ----------------------------------------------------------------------------------


@bp.get("/templates")
def templates() -> ResponseReturnValue:
    return render("console/messages/templates.html", templates=messages.templates(get_db(), actor()), **_labels())


def _template_context(template_id: int | None) -> dict[str, Any]:
    return {
        "template_id": template_id,
        "channels": CHANNELS,
        "languages": LANGUAGES,
        "with_subject": WITH_SUBJECT,
        "variables": sorted(NAMES),
        **_labels(),
    }


@bp.route("/templates/new", methods=["GET", "POST"])
@bp.route("/templates/<int:template_id>", methods=["GET", "POST"])
def template(template_id: int | None = None) -> ResponseReturnValue:
    db, who = get_db(), actor()
    who.require("messages.write")
    row = None
    if template_id is not None:
        row = next((t for t in messages.templates(db, who) if t["id"] == template_id), None)
        if row is None:
            return render("console/error.html", 404, title_code=404, detail=_("No such template."))
    context = _template_context(template_id)
    form = (
        {k: str(row[k] or "") for k in ("name", "channel", "language", "kind", "subject", "body", "html")}
        if row
        else {"channel": request.args.get("channel", "email"), "language": "ru", "kind": "marketing"}
    )
    if request.method == "GET":
        return render("console/messages/template.html", form=form, **context)
    data = form_data()
    action = data.get("action", "save")
    if action == "save":
        try:
            ident = messages.save_template(
                db,
                who,
                name=data.get("name", ""),
                channel=data.get("channel", ""),
                language=data.get("language", ""),
                kind=data.get("kind", ""),
                subject=data.get("subject", ""),
                body=request.form.get("body", ""),
                html=request.form.get("html", ""),
            )
        except FormError as exc:
            return render("console/messages/template.html", 422, errors=exc.errors, form=data, **context)
        flash(_("The template is saved."))
        return redirect(url_for("messages.template", template_id=ident))
    if template_id is None:
        return redirect(url_for("messages.template"))
    found = customers.resolve(db, data.get("customer", ""))
    if found is None:
        return render(
            "console/messages/template.html",
            422,
            errors={"customer": _("No customer has this id, phone or card.")},
            form={**form, **{k: data[k] for k in ("customer", "address") if k in data}},
            **context,
        )
    try:
        if action == "test":
            messages.test_send(db, who, template_id, found, data.get("address", ""))
            flash(_("The test message is queued for %(to)s.", to=data.get("address", "")))
            return redirect(url_for("messages.template", template_id=template_id, customer=data.get("customer")))
        preview = messages.preview(db, who, template_id, found)
    except FormError as exc:
        return render(
            "console/messages/template.html",
            422,
            errors=exc.errors,
            form={**form, "customer": data.get("customer", ""), "address": data.get("address", "")},
            **context,
        )
    preview["refusal"] = reason_text(preview["refusal"])
    return render(
        "console/messages/template.html",
        form={**form, "customer": data.get("customer", ""), "address": data.get("address", "")},
        preview=preview,
        preview_customer=found,
        **context,
    )


# -- mailings -----------------------------------------------------------------------------------


@bp.get("/mailings")
def mailings() -> ResponseReturnValue:
    db, who = get_db(), actor()
    return render("console/messages/mailings.html", mailings=messages.mailings(db, who), **_labels())


def _segment_ids(segment_id: int) -> Iterator[str]:
    db, who = get_db(), actor()
    after = 0
    while True:
        page = segments.members(db, who, segment_id, after=after, limit=5000)
        yield from page["customers"]
        if page["next"] is None:
            return
        after = page["next"]


def _listed_ids(text: str) -> list[str]:
    """Customer ids from pasted ids, phones or card numbers (one per line, or separated by commas)."""
    db = get_db()
    found, missing = [], []
    for item in text.replace(",", "\n").replace(";", "\n").splitlines():
        if item.strip():
            cid = customers.resolve(db, item)
            (found.append(cid) if cid else missing.append(item.strip()))
    if missing:
        raise FormError({"list": _("Not found: %(items)s.", items=", ".join(missing[:10]))})
    return found


def _send_at(text: str) -> str | None:
    """A local time typed in the console's zone (datetime-local), as ISO 8601 with offset; None: now."""
    if not text:
        return None
    try:
        local = dt.datetime.fromisoformat(text)
    except ValueError:
        raise FormError({"send_at": _("Write a date and time, like 2026-12-24 10:00.")}) from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=ZoneInfo(current_app.config["CONSOLE_TIMEZONE"]))
    return local.isoformat()


@bp.route("/mailings/new", methods=["GET", "POST"])
def new_mailing() -> ResponseReturnValue:
    db, who = get_db(), actor()
    who.require("messages.send")
    query = CustomerQuery.from_args(request.args if request.method == "GET" else _filter_args())
    context = {
        "templates": messages.templates(db, who),
        "segments": segments.list_segments(db, who) if who.can("customers.read") else [],
        "filter_args": query.query_string() if request.method == "GET" else request.form.get("filter", ""),
        "has_filter": bool(query.q or query.conditions or query.kind != "all"),
        **_labels(),
    }
    if request.method == "GET":
        source = "filter" if context["has_filter"] else "segment"
        return render("console/messages/mailing_new.html", form={"source": source}, **context)
    data = form_data()
    try:
        source = data.get("source")
        recipients: Any
        if source == "segment":
            if not is_whole(data.get("segment") or ""):
                raise FormError({"segment": _("Choose a segment.")})
            segment_id = int(data["segment"])
            recipients = lambda: _segment_ids(segment_id)  # noqa: E731
        elif source == "filter":
            zone = current_app.config["CONSOLE_TIMEZONE"]
            recipients = lambda: (r["id"] for r in customers.iter_customers(db, who, query, zone))  # noqa: E731
        else:
            recipients = _listed_ids(data.get("list", ""))
        if not is_whole(data.get("template") or ""):
            raise FormError({"template": _("Choose a template.")})
        mailing_id = messages.create_mailing(
            db,
            who,
            name=data.get("name", ""),
            template_id=int(data["template"]),
            recipients=recipients,
            send_at=_send_at(data.get("send_at", "")),
        )
    except FormError as exc:
        return render("console/messages/mailing_new.html", 422, errors=exc.errors, form=data, **context)
    _wake_sender()
    return redirect(url_for("messages.mailing", mailing_id=mailing_id))


def _filter_args() -> Any:
    from urllib.parse import parse_qs

    from werkzeug.datastructures import MultiDict

    return MultiDict([(k, v) for k, vs in parse_qs(request.form.get("filter", "")).items() for v in vs])


def _wake_sender() -> None:
    sender = current_app.extensions.get("message_sender")
    if sender is not None:
        sender.notify()


@bp.get("/mailings/<int:mailing_id>")
def mailing(mailing_id: int) -> ResponseReturnValue:
    db, who = get_db(), actor()
    progress = messages.mailing_progress(db, who, mailing_id)
    progress["reasons"] = _shown_reasons(progress["reasons"])
    return render("console/messages/mailing.html", m=progress, **_labels())


def _shown_reasons(counted: dict[str, int]) -> dict[str, int]:
    """The counted reasons worded in the console's language (two English ones may word alike: added up)."""
    out: dict[str, int] = {}
    for why, n in counted.items():
        text = reason_text(why)
        out[text] = out.get(text, 0) + n
    return out


@bp.get("/mailings/<int:mailing_id>/progress")
def mailing_json(mailing_id: int) -> ResponseReturnValue:
    progress = messages.mailing_progress(get_db(), actor(), mailing_id)
    state = "finished" if progress["finished"] else progress["state"]
    return jsonify(
        {
            "state": state,
            "state_label": _(STATE_LABELS.get(state, state)),
            "counts": progress["counts"],
            "unsubscribed": progress["unsubscribed"],
            "opened": progress["opened"],
            "clicked": progress["clicked"],
            "reasons": _shown_reasons(progress["reasons"]),
        }
    )


@bp.post("/mailings/<int:mailing_id>/<any(pause, resume):what>")
def pause(mailing_id: int, what: str) -> ResponseReturnValue:
    try:
        messages.pause_mailing(get_db(), actor(), mailing_id, paused=what == "pause")
        flash(_("The mailing is paused.") if what == "pause" else _("The mailing goes on."))
        _wake_sender()
    except FormError as exc:
        flash(next(iter(exc.errors.values())))
    return redirect(url_for("messages.mailing", mailing_id=mailing_id))


# -- a customer's consents (the account's Messages tab) -----------------------------------------


@bp.post("/customer/<customer_id>/consents")
def consents(customer_id: str) -> ResponseReturnValue:
    db, who = get_db(), actor()
    customers.check_customer(db, who, customer_id, write=True)
    given = (db.message_customer(customer_id) or {}).get("consents") or {}
    changed = 0
    for channel_name in CONSENT_CHANNELS:
        want = bool(request.form.get(f"consent_{channel_name}"))
        if bool(given.get(channel_name)) != want:
            changed += int(messages.set_consent(db, who, customer_id, channel_name, want, "console"))
    flash(_("Consents are saved.") if changed else _("Nothing changed."))
    return redirect(url_for("customers.account", customer_id=customer_id, tab="messages"))


@bp.post("/customer/<customer_id>/language")
def language(customer_id: str) -> ResponseReturnValue:
    try:
        changed = messages.set_language(get_db(), actor(), customer_id, request.form.get("language", ""))
        flash(_("The language of messages is saved.") if changed else _("Nothing changed."))
    except FormError as exc:
        flash(next(iter(exc.errors.values())))
    return redirect(url_for("customers.account", customer_id=customer_id, tab="messages"))


@bp.post("/customer/<customer_id>/telegram-link")
def telegram_link(customer_id: str) -> ResponseReturnValue:
    try:
        link = messages.telegram_link(get_db(), actor(), customer_id)
        flash(_("Telegram start link (valid 7 days, once): %(url)s", url=link["url"]))
    except FormError as exc:
        flash(next(iter(exc.errors.values())))
    return redirect(url_for("customers.account", customer_id=customer_id, tab="messages"))


def customer_tab(customer_id: str) -> dict[str, Any]:
    """What the account's Messages tab shows: consents with their last change, and the messages."""
    db, who = get_db(), actor()
    history = messages.consent_history(db, who, customer_id)
    last: dict[str, dict[str, Any]] = {}
    for row in history:
        last[row["channel"]] = row
    return {
        "message_language": rules.language_of(db.message_customer(customer_id) or {}),
        "consent_channels": CONSENT_CHANNELS,
        "consent_last": last,
        "consent_history": list(reversed(history))[:50],
        "customer_messages": [
            {**m, "why": reason_text(m["why"])} for m in messages.customer_messages(db, who, customer_id)
        ],
        **_labels(),
    }


# -- service messages' switches -----------------------------------------------------------------

EVENT_LABELS = {
    "phone_code": N_("Phone verification code (registration at the till)"),
    "points_received": N_("Points received"),
    "points_spent": N_("Points spent"),
    "points_expiring": N_("Points expiring soon (7 days)"),
    "level_changed": N_("Level changed"),
    "redeem_code": N_("Redemption confirmation code (the till asks for it before points are redeemed)"),
}


@bp.route("/service", methods=["GET", "POST"])
def service() -> ResponseReturnValue:
    db, who = get_db(), actor()
    who.require("messages.write")
    store = request.values.get("store", "")
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        chosen = {
            (event, channel_name): request.form.get(f"{event}-{channel_name}", "")
            for event in notices.EVENTS
            for channel_name in notices.NOTICE_CHANNELS
        }
        try:
            changed = messages.set_service_switches(db, who, store, chosen)
            flash(_("Service messages are saved.") if changed else _("Nothing changed."))
            return redirect(url_for("messages.service", store=store or None))
        except FormError as exc:
            errors, status = exc.errors, 422
    templates_by_channel: dict[str, list[dict[str, Any]]] = {}
    for t in messages.templates(db, who):
        if t["kind"] == "service":
            templates_by_channel.setdefault(t["channel"], []).append(t)
    return render(
        "console/messages/service.html",
        status,
        errors=errors,
        store=store,
        stores=[s for s in db.stores() if not who.scoped or s["id"] in who.stores],
        switches=messages.service_switches(db, who, store),
        events=notices.EVENTS,
        notice_channels=notices.NOTICE_CHANNELS,
        event_labels=EVENT_LABELS,
        templates_by_channel=templates_by_channel,
        **_labels(),
    )
