"""The customer's own web card: sign-up by a store's link with an SMS code, sign-in by phone and code, sessions,
the card page's data, the customer's own consents (docs/web-card.md).

No console actor here: the customer acts on their own data only. Every function that reads or changes a
customer takes the customer id of the *session* (central/web/card.py), never one from the request, so
nothing of another customer is reachable. Codes are six digits, kept as a salted HMAC, valid
:data:`CODE_MINUTES`, :data:`CODE_ATTEMPTS` wrong tries each; requests and wrong tries are limited per
phone and per address (:class:`Limits`). A wrong input changes nothing but the attempt counter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import LoyaltyError
from shared.identifiers import InvalidIdentifier, normalize_phone, qr_token

from ..marketing import engine as segments
from ..messages import rules
from ..points.versions import bump_versions
from ..storage import messages as mq
from ..storage.clock import now_utc
from ..storage.store import NotFound, Store
from . import audit
from . import fields as field_service
from .access import SYSTEM, Actor, FormError
from .cards import make_number
from .text import _

#: the audit's actor for what customers do themselves on the web card
CUSTOMER = Actor(None, "customer (web card)", "customer")
#: the SMS template (service kind) the codes go out with; head office may edit its text in the messages console
CODE_TEMPLATE = "web_card_code"
CODE_TEXT = {
    "ru": "Код для карты: {{ code }}. Никому его не сообщайте.",
    "en": "Your card code: {{ code }}. Do not share it.",
}
SIGNUP, LOGIN = "signup", "login"
#: a ``web_codes`` row with no code: a phone's answer given without a code (it counts against the address)
LOOKUP = "lookup"
#: the consents a customer gives or withdraws on the card page (marketing per channel)
CHANNELS = ("sms", "email", "push", "telegram")


class RateLimited(LoyaltyError):
    """Too many codes asked or wrong codes typed: wait (429)."""

    code = "rate_limited"
    status = 429


@dataclass(frozen=True)
class Limits:
    """Settings ``WEB_CODE_*`` (central/config.py)."""

    minutes: int = 10  # a code's life
    attempts: int = 5  # wrong tries per code, then it is void
    resend_seconds: int = 60  # a new code for the same phone no sooner
    per_phone_hour: int = 5  # codes per phone per hour
    per_address_hour: int = 20  # codes asked from one address per hour
    wrong_per_address_hour: int = 30  # wrong codes typed from one address per hour (every phone)
    per_hour: int = 500  # codes sent by the whole chain per hour (every phone, every address); 0: no cap
    regions: frozenset[str] = frozenset()  # the countries codes are sent to ("RU", ...); empty: any
    session_days: int = 30


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def _hash_code(code: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    return salt + "$" + hmac.new(salt.encode(), code.encode(), hashlib.sha256).hexdigest()


def _code_matches(stored: str, code: str) -> bool:
    salt, _sep, _digest = stored.partition("$")
    return hmac.compare_digest(_hash_code(code, salt), stored)


def parse_phone(text: str) -> str:
    """A mobile phone in E.164 (a landline cannot take the code): :class:`FormError` on ``phone`` otherwise."""
    try:
        phone = normalize_phone(text or "")
    except InvalidIdentifier as exc:
        raise FormError({"phone": _(exc.template, **exc.params)}) from None
    if not rules.is_mobile(phone):
        raise FormError({"phone": _("This is not a mobile number: the code comes by SMS.")})
    return phone


def _sms_ready(db: Store) -> None:
    row = db.message_channel("sms")
    if row is None or not row["enabled"]:
        raise FormError({"phone": _("Codes cannot be sent now (SMS is not set up): ask at the store.")})


def _template(db: Store, language: str) -> tuple[int, str]:
    """The code's SMS template in the customer's language (made on first use; outside any transaction)."""
    from . import messages

    language = language if language in CODE_TEXT else "ru"
    for row in db.message_templates():
        if row["name"] == CODE_TEMPLATE and row["channel"] == "sms" and row["language"] == language:
            return int(row["id"]), language
    return messages.save_template(
        db,
        SYSTEM,
        name=CODE_TEMPLATE,
        channel="sms",
        language=language,
        body=CODE_TEXT[language],
        kind=rules.SERVICE,
    ), language


def _sendable(phone: str, limits: Limits) -> None:
    """Codes go only to the countries the chain names (``WEB_CODE_REGIONS``): SMS abroad costs, and is the
    trade of SMS pumping fraud."""
    if limits.regions and rules.region_of(phone) not in limits.regions:
        raise FormError(
            {"phone": _("Codes are sent only to phones of: %(regions)s.", regions=", ".join(sorted(limits.regions)))}
        )


def _check_limits(db: Store, phone: str, address: str, limits: Limits, now: dt.datetime) -> None:
    hour_ago = _iso(now - dt.timedelta(hours=1))
    if db.web_codes_since(address=address, since=hour_ago) >= limits.per_address_hour:
        raise RateLimited(_("Too many codes were asked from your network: try again in an hour."))
    if db.web_codes_since(phone=phone, since=hour_ago) >= limits.per_phone_hour:
        raise RateLimited(_("Too many codes were sent to this phone: try again in an hour."))
    if db.web_wrong_attempts_since(address, hour_ago) >= limits.wrong_per_address_hour:
        raise RateLimited(_("Too many wrong codes were typed from your network: try again in an hour."))
    # the whole chain's codes: a cap on what requests spread over many addresses and phones can cost in SMS
    if limits.per_hour and db.web_codes_sent_since(hour_ago) >= limits.per_hour:
        raise RateLimited(_("Too many codes were asked in the last hour: try again later, or ask at the store."))
    last = db.latest_web_code(phone, SIGNUP) or {}
    last_login = db.latest_web_code(phone, LOGIN) or {}
    latest = max(last.get("created_at") or "", last_login.get("created_at") or "")
    if latest and latest > _iso(now - dt.timedelta(seconds=limits.resend_seconds)):
        raise RateLimited(_("A code was just sent: wait a minute before asking for another."))


def _count_lookup(db: Store, address: str, limits: Limits, now: dt.datetime) -> None:
    """Before saying, without sending a code, whether a phone has a card: the address's limit, then the answer
    counted like a code asked from there (a :data:`LOOKUP` row without phone or customer), so one address
    learns at most ``per_address_hour`` phones' answers an hour instead of running through phone numbers."""
    if db.web_codes_since(address=address, since=_iso(now - dt.timedelta(hours=1))) >= limits.per_address_hour:
        raise RateLimited(_("Too many codes were asked from your network: try again in an hour."))
    with db.transaction():
        db.add_web_code(LOOKUP, "", "", "", address, _iso(now), _iso(now))


def _send_code(
    db: Store,
    conn: Any,
    purpose: str,
    phone: str,
    customer_id: str,
    address: str,
    template: tuple[int, str],
    limits: Limits,
    now: dt.datetime,
) -> dict[str, Any]:
    """A new code (the older ones of the phone stop counting: only the latest is checked), queued as an SMS."""
    code = f"{secrets.randbelow(10**6):06d}"
    expires = now + dt.timedelta(minutes=limits.minutes)
    code_id = db.add_web_code(purpose, phone, customer_id, _hash_code(code), address, _iso(now), _iso(expires))
    template_id, language = template
    # a service message: no consent needed, never held by quiet hours (docs/messages.md)
    mq.enqueue(
        conn, f"webcode:{code_id}", [customer_id], "sms", rules.SERVICE, template_id, language, extra={"code": code}
    )
    return {"phone": phone, "expires_at": _iso(expires), "purpose": purpose}


# -- sign-up ------------------------------------------------------------------------------------


def signup_store(db: Store, store: str) -> dict[str, Any]:
    """The store a sign-up link names (:class:`NotFound` for an unknown one)."""
    for row in db.stores():
        if row["id"] == store:
            return row
    raise NotFound(f"no store {store}")


def _signup_fields(data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, bool], dict[str, str]]:
    errors: dict[str, str] = {}
    first = (data.get("first_name") or "").strip()
    last = (data.get("last_name") or "").strip()
    if not first or len(first) > 100:
        errors["first_name"] = _("Write your first name (up to 100 characters).")
    if len(last) > 100:
        errors["last_name"] = _("At most 100 characters.")
    birthday = (data.get("birthday") or "").strip() or None
    if birthday:
        try:
            day = dt.date.fromisoformat(birthday)
            if not dt.date(1900, 1, 1) <= day <= dt.date.today():
                raise ValueError
        except ValueError:
            errors["birthday"] = _("Write a past date as YYYY-MM-DD.")
    if not data.get("consent_personal_data"):
        errors["consent_personal_data"] = _("The card needs your consent to keep your data.")
    consents = {"personal_data": bool(data.get("consent_personal_data"))}
    for channel in ("sms", "email"):
        consents[channel] = bool(data.get(f"consent_{channel}"))
    fields = {
        "first_name": first or None,
        "last_name": last or None,
        "name": " ".join(p for p in (first, last) if p) or None,
        "birthday": birthday,
    }
    return fields, consents, errors


def request_signup_code(
    db: Store,
    store: str,
    data: Mapping[str, Any],
    address: str,
    language: str,
    limits: Limits = Limits(),
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Check the sign-up form and send the code by SMS. A phone already registered is refused (sign in instead)."""
    now = _now(now)
    signup_store(db, store)
    fields, consents, errors = _signup_fields(data)
    try:
        phone = parse_phone(data.get("phone") or "")
        _sendable(phone, limits)
    except FormError as exc:
        errors.update(exc.errors)
        phone = ""
    if errors:
        raise FormError(errors)
    _sms_ready(db)
    if db.web_card_category(store) is None:
        raise FormError({"phone": _("Sign-up is not open yet (no electronic card range): ask at the store.")})
    template = _template(db, language)
    with db.transaction() as conn:
        db.drop_expired_web_rows(_iso(now), _iso(now - dt.timedelta(days=2)))
        pending = db.pending_signup(phone)
        waiting = pending["customer_id"] if pending else None
        if not any(cid != waiting for cid in db.customers_with_phone(phone)):
            _check_limits(db, phone, address, limits, now)
            if pending is None:
                customer_id = uuid.uuid4().hex
                db.add_pending_customer(customer_id, store, phone, fields, consents, _iso(now))
            else:
                customer_id = pending["customer_id"]
                db.refresh_pending_customer(customer_id, store, fields, consents, _iso(now))
            return _send_code(db, conn, SIGNUP, phone, customer_id, address, template, limits, now)
    _count_lookup(db, address, limits, now)
    raise FormError({"phone": _("This phone already has a card: sign in instead.")})


def _check_code(
    db: Store, phone_text: str, code: str, purpose: str, address: str, limits: Limits, now: dt.datetime
) -> dict[str, Any]:
    """The code row if ``code`` is right; a wrong one is counted (in its own transaction) and refused."""
    phone = parse_phone(phone_text)
    code = (code or "").strip().replace(" ", "")
    hour_ago = _iso(now - dt.timedelta(hours=1))
    if db.web_wrong_attempts_since(address, hour_ago) >= limits.wrong_per_address_hour:
        raise RateLimited(_("Too many wrong codes were typed from your network: try again in an hour."))
    row = db.latest_web_code(phone, purpose)
    if row is None or row["used_at"] is not None:
        raise FormError({"code": _("Ask for a code first.")})
    if row["expires_at"] <= _iso(now):
        raise FormError({"code": _("This code has expired: ask for a new one.")})
    if row["attempts"] >= limits.attempts:
        raise FormError({"code": _("Too many wrong codes: ask for a new one.")})
    if not (code.isdigit() and len(code) == 6 and _code_matches(row["code_hash"], code)):
        with db.transaction():
            db.count_web_code_attempt(row["id"])
        left = limits.attempts - row["attempts"] - 1
        if left <= 0:
            raise FormError({"code": _("Too many wrong codes: ask for a new one.")})
        raise FormError({"code": _("Wrong code: %(n)d tries left.", n=left)})
    return row


def confirm_signup(
    db: Store, phone: str, code: str, address: str, limits: Limits = Limits(), now: dt.datetime | None = None
) -> str:
    """The right code: the customer gets an electronic card (the store's range) and the stores get the customer."""
    now = _now(now)
    row = _check_code(db, phone, code, SIGNUP, address, limits, now)
    customer_id = row["customer_id"]
    with db.transaction() as conn:
        pending = db.pending_signup(row["phone"])
        if pending is None or pending["customer_id"] != customer_id:
            raise FormError({"code": _("This sign-up is already finished: sign in.")})
        if any(cid != customer_id for cid in db.customers_with_phone(row["phone"])):
            # registered at a till meanwhile: one customer per phone
            raise FormError({"code": _("This phone already has a card: sign in instead.")})
        category = db.web_card_category(pending["store"])
        if category is None:
            raise FormError({"code": _("Sign-up is not open yet (no electronic card range): ask at the store.")})
        number = _next_number(db, category)
        at = _iso(now)
        db.use_web_code(row["id"], at)
        db.finish_signup(customer_id, at)
        db.add_card(number, customer_id, category["id"], True, at)
        customer = db.customer(customer_id)
        consents = json.loads(customer["consents"] or "{}")
        mq.record_consents(conn, customer_id, {k: bool(v) for k, v in consents.items()}, "customer", None)
        bump_versions(conn, [customer_id])
        segments.follow(conn, [customer_id], {"registration", "profile", "card"}, "registration")
        audit.record(
            conn,
            CUSTOMER,
            "customer.web_signup",
            "customer",
            customer_id,
            None,
            {"card": number, "store": pending["store"], "consents": consents, "channel": "web"},
            store=pending["store"],
        )
    return customer_id


def _next_number(db: Store, category: Mapping[str, Any]) -> str:
    offset = db.next_card_offset(category["id"])
    while offset < category["count"]:
        number = make_number(category, offset)
        offset += 1
        if not db.card_exists(number):
            db.set_next_card_offset(category["id"], offset)
            return number
    raise FormError({"code": _("Every electronic card number is used: ask at the store.")})


# -- sign-in and sessions -----------------------------------------------------------------------


def request_login_code(
    db: Store, phone_text: str, address: str, language: str, limits: Limits = Limits(), now: dt.datetime | None = None
) -> dict[str, Any]:
    now = _now(now)
    phone = parse_phone(phone_text)
    _sendable(phone, limits)
    _sms_ready(db)
    template = _template(db, language)
    with db.transaction() as conn:
        db.drop_expired_web_rows(_iso(now), _iso(now - dt.timedelta(days=2)))
        pending = db.pending_signup(phone)
        found = [cid for cid in db.customers_with_phone(phone) if not pending or cid != pending["customer_id"]]
        if found and not db.customer(found[0])["erased_at"]:
            _check_limits(db, phone, address, limits, now)
            return _send_code(db, conn, LOGIN, phone, found[0], address, template, limits, now)
    _count_lookup(db, address, limits, now)
    raise FormError({"phone": _("No card has this phone: sign up first.")})


def confirm_login(
    db: Store, phone: str, code: str, address: str, limits: Limits = Limits(), now: dt.datetime | None = None
) -> str:
    now = _now(now)
    row = _check_code(db, phone, code, LOGIN, address, limits, now)
    with db.transaction() as conn:
        db.use_web_code(row["id"], _iso(now))
        customer = db.customer(row["customer_id"])
        if not customer["phone_verified"]:
            db.finish_signup(customer["id"], _iso(now))  # the code proves the phone
            bump_versions(conn, [customer["id"]])
        audit.record(conn, CUSTOMER, "customer.web_login", "customer", customer["id"], None, None)
    return str(row["customer_id"])


def _session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(db: Store, customer_id: str, limits: Limits = Limits(), now: dt.datetime | None = None) -> str:
    """A new server-side session (a random id; the database keeps its SHA-256)."""
    now = _now(now)
    token = secrets.token_urlsafe(32)
    with db.transaction():
        db.drop_expired_web_rows(_iso(now), _iso(now - dt.timedelta(days=2)))
        db.add_web_session(
            _session_hash(token), customer_id, _iso(now), _iso(now + dt.timedelta(days=limits.session_days))
        )
    return token


def session_customer(db: Store, token: Any) -> str | None:
    """The session's customer; None without a live session, or once the customer was merged into another
    (they sign in again with their phone, which the merge kept on the other) or erased."""
    if not isinstance(token, str) or not token or len(token) > 100:
        return None
    customer_id = db.web_session_customer(_session_hash(token), now_utc())
    if customer_id is None:
        return None
    try:
        customer = db.customer(customer_id)
    except NotFound:
        return None
    return None if customer["merged_into"] or customer["erased_at"] else customer_id


def end_session(db: Store, token: Any) -> None:
    if isinstance(token, str) and token:
        with db.transaction():
            db.end_web_session(_session_hash(token))


# -- the card -----------------------------------------------------------------------------------


def qr(secret: str, customer_id: str, now: dt.datetime | None = None, step: int = 30) -> dict[str, Any]:
    """The rotating QR payload the tills verify (shared/identifiers.py ``verify_qr``) and when it turns."""
    moment = int(_now(now).timestamp())
    return {"token": qr_token(secret.encode(), customer_id, moment, step), "refresh_in": step - moment % step}


def card(db: Store, customer_id: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """What the card page shows: the session customer's own data only."""
    now = _now(now)
    customer = db.customer(customer_id)
    cards = db.customer_cards(customer_id)
    main = next((c for c in cards if c["status"] == "active"), None)
    at = _iso(now)
    expiring = [
        {"points": lot["points"], "expires_at": lot["expires_at"]}
        for lot in db.customer_lots(customer_id)
        if lot["expires_at"] and lot["points"] > 0 and lot["expires_at"] > at
    ]
    levels = db.level_thresholds()
    spend = int(customer["spend"] or 0)
    nxt = next((lv for lv in levels if lv["from_spend"] > spend), None)
    progress = None
    if nxt is not None:
        below = max((lv["from_spend"] for lv in levels if lv["from_spend"] <= spend), default=0)
        span = max(nxt["from_spend"] - below, 1)
        progress = {
            "next": nxt["name"],
            "missing": nxt["from_spend"] - spend,
            "percent": min(100, max(0, (spend - below) * 100 // span)),
        }
    consents = json.loads(customer["consents"] or "{}")
    return {
        "id": customer_id,
        "name": customer["first_name"] or customer["name"] or "",
        "phone": customer["phone"],
        "blocked": bool(customer["blocked"]),
        "card": main["number"] if main else None,
        "cards": [{"number": c["number"], "status": c["status"]} for c in cards],
        "balance": int(customer["balance"] or 0),
        "expiring": expiring,
        "level": customer["level"],
        "progress": progress,
        "purchases": db.transaction_points(customer_id, 10),
        "consents": {ch: bool(consents.get(rules.CONSENT_KEY.get(ch) or ch)) for ch in CHANNELS},
        "telegram_linked": bool((db.message_customer(customer_id) or {}).get("telegram_chat")),
    }


def own_data(db: Store, customer_id: str) -> dict[str, Any]:
    """The session customer's own questionnaire fields, as the profile form shows them (strings)."""
    customer = db.customer(customer_id)
    fields = ("last_name", "first_name", "middle_name", "email", "birthday", "gender")
    own: dict[str, Any] = {k: customer[k] or "" for k in fields}
    custom = json.loads(customer["custom"] or "{}")
    for f in field_service.customer_editable(db):  # the custom fields head office lets the customer edit
        value = custom.get(f["name"])
        own[f"custom_{f['name']}"] = value if f["type"] == "yes_no" else ("" if value is None else str(value))
    own["language"] = customer.get("language") or "ru"
    return own


def set_own_consent(db: Store, customer_id: str, channel: str, granted: bool) -> bool:
    """The customer gives or withdraws a channel's consent on their card (consent history source ``customer``)."""
    if channel not in CHANNELS:
        raise FormError({"channel": _("Choose a channel from the list.")})
    key = rules.CONSENT_KEY.get(channel) or channel
    with db.transaction() as conn:
        customer = db.customer(customer_id)
        changed = mq.set_consent(conn, customer_id, key, bool(granted), "customer", None)
        if changed:
            segments.follow(conn, [customer_id], {"profile"}, "consent")
            audit.record(
                conn,
                CUSTOMER,
                "customer.consent",
                "customer",
                customer_id,
                None,
                {"channel": channel, "granted": bool(granted), "source": "customer"},
                store=customer["home_store"],
            )
    return changed
