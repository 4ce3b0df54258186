"""Who may get which message, and when: consent per channel, quiet hours, the frequency cap, addresses.

Pure functions: the sender and the services give them the customer's row and the clock.

* A message is ``marketing`` (mailings, promotions, triggers) or ``service`` (a phone check code,
  "points received", a level change). Service messages ignore marketing consent; marketing goes
  only to a customer who consented on that channel, whose cards are not blocked (CardsPro turns
  subscriptions off while a card is suspended: seed 004).
* Consent keys per channel are the ones ``customers.consents`` already holds: ``email``, ``sms``;
  voice, push and Telegram have their own keys. Cashier messages need no consent: the cashier
  reads them to the customer standing at the till.
* Quiet hours hold marketing (never service messages) until the morning in the customer's home
  store's time zone (the chain's zone when they have none).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from .templates import CHANNELS, LANGUAGES

MARKETING, SERVICE = "marketing", "service"
KINDS = (MARKETING, SERVICE)
#: channel -> the consent key in customers.consents (None: no consent needed)
CONSENT_KEY: dict[str, str | None] = {
    "email": "email",
    "sms": "sms",
    "voice": "voice",
    "push": "push",
    "telegram": "telegram",
    "cashier": None,
}
#: where a consent change came from
SOURCES = ("till", "console", "import", "customer", "gateway")

_EMAIL = re.compile(r"\A[^@\s]+@[^@\s]+\.[^@\s]+\Z")


@dataclasses.dataclass(frozen=True)
class Policy:
    """The chain's sending settings (central settings, see docs/messages.md)."""

    quiet_start: int = 21  # local hour quiet hours begin (inclusive)
    quiet_end: int = 9  # local hour they end (exclusive); equal to quiet_start: no quiet hours
    cap_per_day: int = 0  # marketing messages per customer in any 24 hours; 0: no cap
    zone: str = "Europe/Moscow"  # the chain's zone, for customers without a home store


def language_of(customer: Mapping[str, Any]) -> str:
    """The language a customer reads messages in: their own (``customers.language``), else Russian."""
    language = customer.get("language")
    return language if language in LANGUAGES else LANGUAGES[0]


def consent_needed(channel: str, kind: str) -> str | None:
    """The consent key a message needs, or None."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    return CONSENT_KEY[channel] if kind == MARKETING else None


def refusal(channel: str, kind: str, customer: Mapping[str, Any]) -> str | None:
    """Why this customer may not get this message now (None: they may).

    ``customer`` has ``consents`` (a dict), ``blocked`` (their cards, 0/1) and the address fields
    (``email``, ``phone``); a merged-away customer (``merged_into``) gets nothing.
    """
    if customer.get("merged_into"):
        return "customer merged into another"
    key = consent_needed(channel, kind)
    if key is not None:
        if customer.get("blocked"):
            return "card blocked: no marketing"
        if not (customer.get("consents") or {}).get(key):
            return f"no consent for {channel}"
    return address_problem(channel, customer)


def address_problem(channel: str, customer: Mapping[str, Any]) -> str | None:
    if channel == "email":
        email = customer.get("email") or ""
        return None if _EMAIL.match(email) else "no email address"
    if channel in ("sms", "voice"):
        phone = customer.get("phone") or ""
        if not phone:
            return "no phone number"
        if channel == "sms" and not is_mobile(phone):
            return "the phone is not mobile"
        return None
    if channel == "telegram":
        return None if customer.get("telegram_chat") else "no Telegram chat linked"
    if channel == "push":
        return None if customer.get("push_subscription") else "no push subscription"
    return None


_RU_MOBILE = re.compile(r"\+79\d{9}")


def is_mobile(phone: str) -> bool:
    """An E.164 number that can take SMS (phonenumbers: mobile, or fixed line or mobile)."""
    if _RU_MOBILE.fullmatch(phone):  # +7 9xx: Russia's mobile codes (the common case, without parsing)
        return True
    import phonenumbers

    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return False
    kind = phonenumbers.number_type(number)
    return kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def region_of(phone: str) -> str:
    """The ISO 3166 region of an E.164 number ("RU", "KZ", ...; "" when phonenumbers cannot tell)."""
    if _RU_MOBILE.fullmatch(phone):
        return "RU"
    import phonenumbers

    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone, None)) or ""
    except phonenumbers.NumberParseException:
        return ""


def quiet_until(now: dt.datetime, zone: str | None, policy: Policy) -> dt.datetime | None:
    """When quiet hours end if ``now`` falls in them in ``zone`` (UTC), else None."""
    if policy.quiet_start == policy.quiet_end:
        return None
    tz = zoneinfo.ZoneInfo(zone or policy.zone)
    local = now.astimezone(tz)
    start, end = policy.quiet_start, policy.quiet_end
    hour = local.hour
    quiet = (start <= hour or hour < end) if start > end else (start <= hour < end)
    if not quiet:
        return None
    day = local.date() if hour < end else local.date() + dt.timedelta(days=1)
    # wall-clock morning in the zone (fold=0: a DST gap or fold resolves to the earlier reading)
    morning = dt.datetime(day.year, day.month, day.day, end, tzinfo=tz)
    return morning.astimezone(dt.UTC)


def capped_until(sent_times: list[dt.datetime], now: dt.datetime, policy: Policy) -> dt.datetime | None:
    """When the frequency cap lets another marketing message go (UTC), or None if it may go now.

    ``sent_times``: the customer's marketing messages sent in the last 24 hours.
    """
    if policy.cap_per_day <= 0:
        return None
    window = now - dt.timedelta(days=1)
    recent = sorted(t for t in sent_times if t > window)
    if len(recent) < policy.cap_per_day:
        return None
    return recent[len(recent) - policy.cap_per_day] + dt.timedelta(days=1)


def backoff(attempts: int, *, base: float = 30.0, cap: float = 3600.0) -> float:
    """Seconds before the next try after ``attempts`` failed ones: 30 s, 1 min, 2 min, ... at most an hour."""
    return min(cap, base * 2 ** max(attempts - 1, 0))
