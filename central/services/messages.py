"""Messages to customers, the console's service API: channels, templates, previews, sends, mailings, consent.

Each function checks the actor first, validates (``FormError`` per field, nothing changed) and
writes in one transaction with its audit row. Sending itself is the sender's job
(central/messages/sender.py): these functions only queue rows in the outbox, one per
(cause, customer, channel), so asking twice never sends twice. See docs/messages.md.

Channel secrets (the SMTP password, a gateway's token) are stored and never returned: reads
give :data:`MASK` in their place, and saving a channel with the mask (or nothing) keeps them.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from shared.errors import LoyaltyError
from shared.numbers import is_whole

from ..marketing import engine as segments
from ..messages import channels, notices, push, reasons, rules, sender, tokens, tracking
from ..messages.html import check_html
from ..messages.sender import address_of, make_variables, render_message
from ..messages.templates import CHANNELS, LANGUAGES, WITH_SUBJECT, TemplateError, check, sms_parts
from ..storage import messages as q
from ..storage.clock import utc
from ..storage.store import NotFound, Store
from . import audit
from .access import Actor, FormError
from .customers import check_customer
from .text import _

MASK = "********"
CHUNK = 5000
#: channels this version can send on (all of them)
READY = ("email", "sms", "voice", "push", "telegram", "cashier")
#: how long a Telegram start link can be used
LINK_DAYS = 7


def _channel_name(channel: str) -> str:
    if channel not in CHANNELS:
        raise FormError({"channel": _("Choose a channel from the list.")})
    return channel


# -- channels -----------------------------------------------------------------------------------


def _masked(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "channel": row["channel"],
        "settings": row["settings"],
        "secrets": dict.fromkeys(row["secrets"], MASK),
        "enabled": bool(row["enabled"]),
        "rate_per_second": row["rate_per_second"],
        "updated_at": row["updated_at"],
        "updated_by": row["updated_by"],
    }


def get_channel(db: Store, actor: Actor, channel: str) -> dict[str, Any] | None:
    """A channel's settings with its secrets masked, or None if it is not set up."""
    actor.require("messages.write")
    row = db.message_channel(_channel_name(channel))
    return None if row is None else _masked(row)


def list_channels(db: Store, actor: Actor) -> list[dict[str, Any]]:
    actor.require("messages.write")
    out = []
    for name in CHANNELS:
        row = db.message_channel(name)
        out.append(
            {
                "channel": name,
                "ready": name in READY,
                "configured": row is not None,
                **({} if row is None else _masked(row)),
            }
        )
    return out


def set_channel(
    db: Store,
    actor: Actor,
    channel: str,
    settings: Mapping[str, Any],
    secrets: Mapping[str, str | None] | None = None,
    *,
    enabled: bool = True,
    rate_per_second: int = 0,
) -> dict[str, Any]:
    """Set up a channel; secrets given as None, "" or :data:`MASK` keep the saved value. Returns it masked."""
    actor.require("messages.channels")
    channel = _channel_name(channel)
    if channel not in READY:
        raise FormError({"channel": _("This channel cannot send yet in this version.")})
    if not isinstance(rate_per_second, int) or isinstance(rate_per_second, bool) or not 0 <= rate_per_second <= 100000:
        raise FormError({"rate_per_second": _("A whole number 0..100000 (0: no limit).")})
    before = db.message_channel(channel)
    kept = dict(before["secrets"]) if before else {}
    for name, value in (secrets or {}).items():
        if value in (None, "", MASK):
            continue
        if not isinstance(value, str) or len(value) > 4096:
            raise FormError({f"secret_{name}": _("A secret is text up to 4096 characters.")})
        kept[str(name)] = value
    if channel == "push" and not kept.get("private_key"):
        kept["private_key"] = push.new_private_key()  # VAPID keys are made, not typed
    try:
        checked = channels.check(channel, dict(settings), kept)
    except LoyaltyError as exc:
        raise FormError({"settings": str(exc)}) from None
    with db.transaction() as conn:
        q.save_channel(conn, channel, checked, kept, enabled, rate_per_second, actor.username, db.path)
        audit.record(
            conn,
            actor,
            "messages.channel",
            "channel",
            channel,
            None if before is None else {"settings": before["settings"], "secrets": sorted(before["secrets"])},
            {"settings": checked, "secrets": sorted(kept), "enabled": enabled, "rate_per_second": rate_per_second},
        )
    row = db.message_channel(channel)
    assert row is not None
    return _masked(row)


# -- templates ----------------------------------------------------------------------------------


def template_problem(problem: str) -> str:
    """A template's refusal at saving (templates.check, html.check_html: English, ``field: ...``) in the
    user's language, without the field's name (the form shows it beside the field): the wording of
    central/messages/reasons.py, as the console words the send-time reasons."""
    found = reasons.explain_template(problem) or reasons.explain(problem)  # or one found at rendering
    if found is None:
        return problem
    msgid, params = found
    if params.get("field") in reasons.FIELDS:
        params["field"] = _(reasons.FIELDS[params["field"]])
    if "detail" in params:
        syntax = reasons.explain_syntax(params["detail"])
        if syntax is not None:
            params["detail"] = _(syntax[0], **syntax[1]) if syntax[1] else _(syntax[0])
    return _(msgid, **params) if params else _(msgid)


def save_template(
    db: Store,
    actor: Actor,
    *,
    name: str,
    channel: str,
    language: str,
    body: str,
    subject: str = "",
    kind: str = rules.MARKETING,
    html: str = "",
) -> int:
    """Save (add or replace) the template ``name`` for a channel and language; returns its id. An email
    template may have an HTML body (``html``): its text part is ``body`` if written, else made from the HTML."""
    actor.require("messages.write")
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name or len(name) > 200:
        errors["name"] = _("Write a name of 1..200 characters.")
    if channel not in CHANNELS:
        errors["channel"] = _("Choose a channel from the list.")
    if language not in LANGUAGES:
        errors["language"] = _("Choose a language from the list.")
    if kind not in rules.KINDS:
        errors["kind"] = _("Choose marketing or service.")
    subject = (subject or "").strip()
    if channel in WITH_SUBJECT and not subject:
        errors["subject"] = _("Write a subject.")
    html = (html or "").strip()
    if html and channel != "email":
        errors["html"] = _("Only an email can have an HTML body.")
    for field, source in (("subject", subject), ("body", body), ("html", html)):
        if field in errors:
            continue
        try:
            check(source or "", field)
            if field == "html" and html:
                check_html(html)
        except TemplateError as exc:
            errors[field] = template_problem(str(exc))
    if not (body or "").strip() and not html and "body" not in errors:
        errors["body"] = _("Write the message.")
    if errors:
        raise FormError(errors)
    with db.transaction() as conn:
        ident = q.save_template(conn, name, channel, language, kind, subject, body, actor.username, html or None)
        audit.record(
            conn,
            actor,
            "messages.template",
            "template",
            ident,
            None,
            {
                "name": name,
                "channel": channel,
                "language": language,
                "kind": kind,
                "subject": subject,
                "text": body,
                **({"html": html} if html else {}),
            },
        )
    return ident


def templates(db: Store, actor: Actor) -> list[dict[str, Any]]:
    actor.require("messages.write")
    return db.message_templates()


def _template(db: Store, template_id: int) -> dict[str, Any]:
    row = db.message_template(template_id)
    if row is None:
        raise NotFound(f"template {template_id} not found")
    return row


def preview(
    db: Store, actor: Actor, template_id: int, customer_id: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The template as this real customer would get it now, and why they would not get it (or None)."""
    actor.require("messages.write")
    check_customer(db, actor, customer_id)
    template = _template(db, template_id)
    customer = db.message_customer(customer_id)
    assert customer is not None
    context = make_variables(
        customer, db.soonest_expiry(customer_id), dict(extra or {}), "https://example.invalid/unsubscribe"
    )
    try:
        subject, body, page = render_message(template, context, template["language"])
    except TemplateError as exc:
        raise FormError({"body": template_problem(str(exc))}) from None
    out = {
        "subject": subject,
        "body": body,
        "html": page,
        "to": address_of(template["channel"], customer, None),
        "refusal": rules.refusal(template["channel"], template["kind"], customer),
    }
    if template["channel"] in ("sms", "voice"):
        out["sms_parts"], out["per_part"] = sms_parts(body)
    return out


# -- sending ------------------------------------------------------------------------------------


def _ready(db: Store, channel: str) -> None:
    row = db.message_channel(channel)
    if row is None or not row["enabled"]:
        raise FormError({"channel": _("The %(channel)s channel is not set up.", channel=channel)})


def test_send(db: Store, actor: Actor, template_id: int, customer_id: str, address: str) -> int:
    """Send the template, as ``customer_id`` would get it, to the actor's own ``address``; the outbox row's id."""
    actor.require("messages.write")
    check_customer(db, actor, customer_id)
    template = _template(db, template_id)
    _ready(db, template["channel"])
    if template["channel"] == "cashier":
        raise FormError({"address": _("A cashier message cannot be sent to yourself.")})
    problem = rules.address_problem(template["channel"], {"email": address, "phone": address})
    if problem:
        raise FormError({"address": problem})
    cause = f"test:{uuid.uuid4().hex}"
    with db.transaction() as conn:
        q.enqueue(
            conn,
            cause,
            [customer_id],
            template["channel"],
            template["kind"],
            template_id,
            template["language"],
            address=address,
        )
        audit.record(
            conn, actor, "messages.test", "template", template_id, None, {"customer_id": customer_id, "to": address}
        )
    return _row_id(db, cause, customer_id, template["channel"])


def _row_id(db: Store, cause: str, customer_id: str, channel: str) -> int:
    return db.outbox_id(cause, customer_id, channel)


def send_one(
    db: Store,
    actor: Actor,
    template_id: int,
    customer_id: str,
    *,
    cause: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> int:
    """Queue one message for one customer; the outbox row's id.

    ``cause`` names what asks for it (a trigger: ``trigger:<version>:<step>:<pass>``); the same
    cause, customer and channel queue one message however often this is called.
    """
    actor.require("messages.send")
    check_customer(db, actor, customer_id)
    template = _template(db, template_id)
    _ready(db, template["channel"])
    cause = cause or f"one:{uuid.uuid4().hex}"
    if not isinstance(cause, str) or not 0 < len(cause) <= 200:
        raise FormError({"cause": _("A cause of 1..200 characters.")})
    with db.transaction() as conn:
        added = q.enqueue(
            conn,
            cause,
            [customer_id],
            template["channel"],
            template["kind"],
            template_id,
            template["language"],
            extra=dict(extra or {}),
        )
        if added:
            audit.record(
                conn,
                actor,
                "messages.send",
                "customer",
                customer_id,
                None,
                {"template": template_id, "channel": template["channel"], "cause": cause},
            )
    return _row_id(db, cause, customer_id, template["channel"])


def create_mailing(
    db: Store,
    actor: Actor,
    *,
    name: str,
    template_id: int,
    recipients: Iterable[str] | Callable[[], Iterable[str]],
    send_at: str | None = None,
) -> int:
    """A mailing of a template to a list of customer ids (or a callable giving them: a segment), now or at
    ``send_at`` (ISO 8601 with offset); returns its id. Unknown and merged-away ids are left out; an empty
    list is an error and queues nothing."""
    actor.require("messages.send")
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name or len(name) > 200:
        errors["name"] = _("Write a name of 1..200 characters.")
    template = db.message_template(template_id)
    if template is None:
        errors["template"] = _("Choose a template.")
    elif db.message_channel(template["channel"]) is None:
        errors["template"] = _("The %(channel)s channel is not set up.", channel=template["channel"])
    when = None
    if send_at:
        try:
            when = utc(send_at)
        except ValueError:
            errors["send_at"] = _("Write a time like 2026-12-24T10:00:00+03:00.")
    if errors:
        raise FormError(errors)
    assert template is not None
    ids = list(dict.fromkeys(str(i) for i in (recipients() if callable(recipients) else recipients)))
    known: list[str] = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        found = db.existing_customers(chunk)
        known.extend(i for i in chunk if i in found)
    if not known:
        raise FormError({"recipients": _("Nobody to send to: the list is empty.")})
    with db.transaction() as conn:
        now = _now()
        mailing_id = q.add_mailing(
            conn, name, template["channel"], template_id, template["kind"], when or now, len(known), actor.username
        )
        audit.record(
            conn,
            actor,
            "mailing.create",
            "mailing",
            mailing_id,
            None,
            {"name": name, "template": template_id, "total": len(known), "send_at": when},
        )
    # queued in chunks (a 100,000-customer mailing does not hold the write lock for long), held
    # (not_before = HELD) until all are in; queueing again adds only what is missing
    for start in range(0, len(known), CHUNK):
        with db.transaction() as conn:
            q.enqueue(
                conn,
                f"mailing:{mailing_id}",
                known[start : start + CHUNK],
                template["channel"],
                template["kind"],
                template_id,
                template["language"],
                mailing_id=mailing_id,
                not_before=HELD,
            )
    with db.transaction() as conn:
        q.set_mailing_state(conn, mailing_id, "running", only_from="queueing")
        q.release_mailing(conn, mailing_id, when or now, HELD)
    return mailing_id


#: ``not_before`` of a paused (or still queueing) mailing's rows: the sender's due-rows index never
#: reaches them, so a paused 100,000-row mailing costs the other messages nothing
HELD = "9999-12-31T00:00:00+00:00"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _mailing(db: Store, mailing_id: int) -> dict[str, Any]:
    mailing = db.mailing(mailing_id)
    if mailing is None:
        raise NotFound(f"mailing {mailing_id} not found")
    return mailing


def pause_mailing(db: Store, actor: Actor, mailing_id: int, *, paused: bool = True) -> None:
    """Pause (or resume) a running mailing: its queued messages wait."""
    actor.require("messages.send")
    mailing = _mailing(db, mailing_id)
    want, have = ("paused", "running") if paused else ("running", "paused")
    if mailing["state"] != have:
        raise FormError({"state": _("The mailing is %(state)s.", state=mailing["state"])})
    with db.transaction() as conn:
        q.set_mailing_state(conn, mailing_id, want)
        if paused:  # resuming re-checks quiet hours and the cap at the next attempt anyway
            q.hold_mailing(conn, mailing_id, HELD)
        else:
            q.release_mailing(conn, mailing_id, max(mailing["send_at"], _now()), HELD)
        audit.record(
            conn,
            actor,
            "mailing.pause" if paused else "mailing.resume",
            "mailing",
            mailing_id,
            {"state": have},
            {"state": want},
        )


def mailing_progress(db: Store, actor: Actor, mailing_id: int) -> dict[str, Any]:
    """The mailing with its counts per state (queued, sending, sent, delivered, failed, skipped) and why
    messages failed or were skipped (the reasons counted)."""
    actor.require("messages.send")
    mailing = _mailing(db, mailing_id)
    mailing["counts"] = db.mailing_counts(mailing_id)
    mailing["reasons"] = db.mailing_reasons(mailing_id)
    mailing["unsubscribed"] = db.mailing_unsubscribed(mailing_id)
    mailing["opened"], mailing["clicked"] = db.mailing_engagement(mailing_id)
    mailing["finished"] = mailing["state"] == "running" and not (
        mailing["counts"]["queued"] + mailing["counts"]["sending"]
    )
    return mailing


def mailings(db: Store, actor: Actor) -> list[dict[str, Any]]:
    """The newest mailings with their counts per state."""
    actor.require("messages.send")
    return db.mailings()


def customer_messages(db: Store, actor: Actor, customer_id: str) -> list[dict[str, Any]]:
    """The messages sent (or to be sent) to a customer, newest first."""
    check_customer(db, actor, customer_id)
    return db.messages_of(customer_id)


# -- consent ------------------------------------------------------------------------------------


def _consent(conn: Any, customer_id: str, key: str, granted: bool, source: str, actor: str | None) -> bool:
    """One consent set (storage/messages.py ``set_consent``); the dynamic segments reading consents follow."""
    changed = q.set_consent(conn, customer_id, key, granted, source, actor)
    if changed:
        segments.follow(conn, [customer_id], {"profile"}, "consent")
    return changed


def set_consent(
    db: Store, actor: Actor, customer_id: str, channel: str, granted: bool, source: str = "console"
) -> bool:
    """Give or withdraw a customer's consent to marketing on a channel; False if it was already so."""
    actor.require("customers.write")
    customer = check_customer(db, actor, customer_id, write=True)
    key = rules.CONSENT_KEY.get(channel)
    if key is None:
        raise FormError({"channel": _("This channel needs no consent.")})
    if source not in rules.SOURCES:
        raise FormError({"source": _("Choose a source from the list.")})
    with db.transaction() as conn:
        changed = _consent(conn, customer_id, key, bool(granted), source, actor.username)
        if changed:
            audit.record(
                conn,
                actor,
                "customer.consent",
                "customer",
                customer_id,
                None,
                {"channel": channel, "granted": bool(granted), "source": source},
                store=customer["home_store"],
            )
    return changed


def set_language(db: Store, actor: Actor, customer_id: str, language: str) -> bool:
    """The language the customer gets messages in (a template's variant in it is chosen when there is one);
    False if it was already so."""
    actor.require("customers.write")
    customer = check_customer(db, actor, customer_id, write=True)  # a store manager: their stores' customers only
    if language not in LANGUAGES:
        raise FormError({"language": _("Choose a language from the list.")})
    with db.transaction() as conn:
        before = db.message_customer(customer_id) or {}
        changed = db.set_message_language(customer_id, language)
        if changed:
            audit.record(
                conn,
                actor,
                "customer.language",
                "customer",
                customer_id,
                {"language": before.get("language")},
                {"language": language},
                store=customer["home_store"],
            )
    return changed


def consent_history(db: Store, actor: Actor, customer_id: str) -> list[dict[str, Any]]:
    check_customer(db, actor, customer_id)
    return db.consents_of(customer_id)


def unsubscribe(db: Store, key: str, token: str) -> tuple[str, str] | None:
    """The customer's own one-click unsubscribe (RFC 8058): (customer, channel), or None for a bad token.

    Used twice, it changes nothing the second time and still answers (customer, channel).
    """
    parts = tokens.verify(key, token)
    if not parts or len(parts) != 3 or parts[0] != "unsub" or parts[2] not in rules.CONSENT_KEY:
        return None
    customer_id, channel = parts[1], parts[2]
    consent = rules.CONSENT_KEY[channel]
    if consent is None:
        return None
    with db.transaction() as conn:
        try:
            _consent(conn, customer_id, consent, False, "customer", None)
        except KeyError:
            return None
    return customer_id, channel


def track_open(db: Store, token: str) -> bool:
    """The opening pixel of an email was loaded; False for a token that is not genuine."""
    row_id = tracking.read_open(link_key(db), token)
    if row_id is None:
        return False
    with db.transaction() as conn:
        q.mark_engaged(conn, row_id, clicked=False)
    return True


def track_click(db: Store, token: str) -> str | None:
    """A tracked link was followed: where it leads (signed in the token), or None when not genuine."""
    found = tracking.read_click(link_key(db), token)
    if found is None:
        return None
    with db.transaction() as conn:
        q.mark_engaged(conn, found[0], clicked=True)
    return found[1]


def link_key(db: Store) -> str:
    """The key signing unsubscribe links (made once, kept in the database)."""
    return sender.link_key(db)


# -- gateway webhooks ---------------------------------------------------------------------------

STOP_WORDS = frozenset({"stop", "стоп", "отписка", "unsubscribe"})


def _same_secret(secret: Any, given: Any) -> bool:
    """A webhook's secret compared in constant time, as UTF-8 bytes: ``hmac.compare_digest`` raises on text
    that is not ASCII, and a caller (anyone who posts to the public webhook) chooses that text."""
    return hmac.compare_digest(str(secret).encode("utf-8", "replace"), str(given).encode("utf-8", "replace"))


def gateway_report(db: Store, channel: str, token: str, payload: Mapping[str, Any]) -> dict[str, int]:
    """A delivery report (or an incoming reply) from an SMS or voice gateway, posted to the webhook.

    The channel's settings name the fields: ``report_id_field`` (default ``id``),
    ``report_status_field`` (``status``), ``delivered_values`` (``delivered``), ``failed_values``
    (``failed, undelivered, rejected, expired``), ``reply_phone_field`` (``from``) and
    ``reply_text_field`` (``text``): a reply saying STOP withdraws that phone's SMS consent.
    ``token`` must equal the channel's ``webhook_token`` secret. Returns what changed.
    """
    row = db.message_channel(channel) if channel in ("sms", "voice") else None
    if row is None or not row["secrets"].get("webhook_token"):
        raise NotFound(f"no webhook for {channel}")
    if not _same_secret(row["secrets"]["webhook_token"], token):
        raise LoyaltyError("wrong webhook token")
    s = row["settings"]
    out = {"delivered": 0, "failed": 0, "unsubscribed": 0}

    def values(name: str, default: str) -> set[str]:
        return {v.strip().lower() for v in str(s.get(name) or default).split(",") if v.strip()}

    ident = payload.get(s.get("report_id_field") or "id")
    status = str(payload.get(s.get("report_status_field") or "status") or "").strip().lower()
    text = str(payload.get(s.get("reply_text_field") or "text") or "").strip().lower()
    phone = str(payload.get(s.get("reply_phone_field") or "from") or "").strip()
    with db.transaction() as conn:
        if ident not in (None, "") and status:
            if status in values("delivered_values", "delivered"):
                out["delivered"] = q.delivery_report(conn, channel, str(ident), True)
            elif status in values("failed_values", "failed,undelivered,rejected,expired"):
                out["failed"] = q.delivery_report(conn, channel, str(ident), False, f"gateway: {status}")
        if text.strip(" .!") in STOP_WORDS and phone:
            from shared.identifiers import InvalidIdentifier, normalize_phone

            try:
                phone = normalize_phone(phone)
            except InvalidIdentifier:
                return out
            for cid in q.customers_by_phone(conn, phone):
                out["unsubscribed"] += int(_consent(conn, cid, "sms", False, "gateway", None))
    return out


# -- Telegram: start links and the bot's updates -------------------------------------------------


def _hash(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


def telegram_link(db: Store, actor: Actor, customer_id: str) -> dict[str, str]:
    """A one-time start link for the customer (``t.me/<bot>?start=<token>``, e.g. printed as a QR on the slip).

    Opening it and pressing Start links the chat to the customer and gives Telegram consent."""
    actor.require("customers.write")
    check_customer(db, actor, customer_id, write=True)  # the link gives consent: a change, not a look
    row = db.message_channel("telegram")
    if row is None:
        raise FormError({"channel": _("The %(channel)s channel is not set up.", channel="telegram")})
    import secrets as _secrets

    token = _secrets.token_urlsafe(24)
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=LINK_DAYS)).isoformat(timespec="seconds")
    with db.transaction() as conn:
        q.add_link_token(conn, _hash(token), customer_id, "telegram", expires)
        audit.record(conn, actor, "messages.link", "customer", customer_id, None, {"channel": "telegram"})
    return {"token": token, "url": f"https://t.me/{row['settings']['bot_name']}?start={token}", "expires_at": expires}


def telegram_update(db: Store, secret: str, update: Mapping[str, Any]) -> str:
    """One update from the bot's webhook (checked by Telegram's secret-token header against the channel's
    ``webhook_token`` secret). ``/start <token>`` links the chat once; ``/stop`` withdraws consent.
    Returns what happened: linked, stopped, expired, ignored."""
    row = db.message_channel("telegram")
    if row is None or not row["secrets"].get("webhook_token"):
        raise NotFound("no Telegram webhook")
    if not _same_secret(row["secrets"]["webhook_token"], secret or ""):
        raise LoyaltyError("wrong webhook token")
    message = update.get("message") or {}
    text = str(message.get("text") or "").strip()
    chat = (message.get("chat") or {}).get("id")
    if chat is None or not text.startswith("/"):
        return "ignored"
    command, _sep, arg = text.partition(" ")
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with db.transaction() as conn:
        if command == "/start" and arg:
            customer_id = q.use_link_token(conn, _hash(arg.strip()), "telegram", now)
            if customer_id is None:
                return "expired"
            q.link_address(conn, customer_id, "telegram", str(chat), now)
            _consent(conn, customer_id, "telegram", True, "customer", None)
            return "linked"
        if command == "/stop":
            for cid in q.customers_by_address(conn, "telegram", str(chat)):
                _consent(conn, cid, "telegram", False, "customer", None)
            return "stopped"
    return "ignored"


def outbox_row(db: Store, row_id: int) -> dict[str, Any]:
    rows = db.outbox("id = ?", (row_id,))
    if not rows:
        raise NotFound(f"message {row_id} not found")
    row = rows[0]
    row["extra"] = json.loads(row["extra"] or "{}")
    return row


# -- Web Push: subscriptions from the web card ----------------------------------------------------


def vapid_public_key(db: Store) -> str | None:
    """The application server key (base64url) a page passes to ``pushManager.subscribe``; None while the
    push channel is not set up. Public: the web card asks for it without signing in."""
    row = db.message_channel("push")
    if row is None or not row["enabled"]:
        return None
    return str(row["settings"].get("public_key") or "") or None


def subscribe_push(db: Store, customer_id: str, subscription: Mapping[str, Any], *, consent: bool = True) -> None:
    """Keep the customer's browser subscription (``PushSubscription.toJSON()``: endpoint, keys p256dh and
    auth), replacing an earlier one, and (by default) record push consent with source ``customer``:
    allowing notifications in the browser is the customer's own act. The caller (the web card) has
    already authenticated the customer. :class:`FormError` for a broken subscription; NotFound for an
    unknown customer."""
    channel = db.message_channel("push")
    local = bool(channel and channel["settings"].get("local_endpoints"))
    try:
        checked = push.check_subscription(dict(subscription))
        push.check_endpoint(checked["endpoint"], local)
    except (ValueError, TypeError) as exc:
        raise FormError({"subscription": str(exc)}) from None
    if not db.existing_customers([customer_id]):
        raise NotFound(f"customer {customer_id} not found")
    now = _now()
    with db.transaction() as conn:
        q.link_address(conn, customer_id, "push", json.dumps(checked, sort_keys=True), now)
        if consent:
            _consent(conn, customer_id, "push", True, "customer", None)


def unsubscribe_push(db: Store, customer_id: str) -> None:
    """Forget the customer's push subscription and withdraw push consent (source ``customer``)."""
    with db.transaction() as conn:
        q.unlink_address(conn, customer_id, "push")
        try:
            _consent(conn, customer_id, "push", False, "customer", None)
        except KeyError:
            raise NotFound(f"customer {customer_id} not found") from None


# -- service messages: switches per event, store and channel (central/messages/notices.py) ---------

INHERIT = "inherit"
OFF = "off"


def service_switches(db: Store, actor: Actor, store: str = "") -> dict[tuple[str, str], str]:
    """{(event, channel): template id as text, :data:`OFF` or (for a store) :data:`INHERIT`} at ``store``
    ('' = every store)."""
    actor.require("messages.write")
    if store:
        actor.require_store(store)
    out = {(e, c): (OFF if not store else INHERIT) for e in notices.EVENTS for c in notices.NOTICE_CHANNELS}
    for row in db.message_switches():
        if row["store"] == store and (row["event"], row["channel"]) in out:
            out[(row["event"], row["channel"])] = OFF if row["template_id"] is None else str(row["template_id"])
    return out


def set_service_switches(db: Store, actor: Actor, store: str, chosen: Mapping[tuple[str, str], str]) -> int:
    """Switch service messages at ``store`` ('' = every store): each (event, channel) gets a template id, OFF,
    or (for a store) INHERIT. A template must be a service template of that channel. Returns the changes."""
    actor.require("messages.write")
    if store:
        actor.require_store(store)
        if not db.store_exists(store):
            raise FormError({"store": _("Choose a store from the list.")})
    elif actor.scoped:
        raise FormError({"store": _("Choose a store from the list.")})
    before = service_switches(db, actor, store)
    errors: dict[str, str] = {}
    changes: dict[tuple[str, str], str] = {}
    for (event, channel), value in chosen.items():
        key = f"{event}-{channel}"
        if event not in notices.EVENTS or channel not in notices.NOTICE_CHANNELS:
            errors[key] = _("Choose a channel from the list.")
            continue
        value = (value or "").strip() or (INHERIT if store else OFF)
        if value == INHERIT and not store:
            value = OFF
        if value not in (OFF, INHERIT):
            template = db.message_template(int(value)) if is_whole(value) else None
            if template is None or template["channel"] != channel or template["kind"] != rules.SERVICE:
                errors[key] = _("Choose a service template of this channel.")
                continue
        if before.get((event, channel)) != value:
            changes[(event, channel)] = value
    if errors:
        raise FormError(errors)
    with db.transaction() as conn:
        for (event, channel), value in changes.items():
            if value == INHERIT or (value == OFF and not store):
                q.clear_switch(conn, event, store, channel)
            else:
                q.set_switch(conn, event, store, channel, None if value == OFF else int(value), actor.username)
        if any(event == notices.REDEEM_CODE for event, _ in changes):
            # the stores' agents learn it beside the rule set (docs/messages.md, "Redemption confirmation")
            db.bump_promotions_version()
        if changes:
            audit.record(
                conn,
                actor,
                "messages.switches",
                "store",
                store or "*",
                {f"{e}/{c}": before[(e, c)] for e, c in changes},
                {f"{e}/{c}": v for (e, c), v in changes.items()},
            )
    return len(changes)
