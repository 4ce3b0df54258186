"""Money and points for people: integer minor units shown and typed with integer arithmetic only.

``format_minor(123456, "ru") == "1 234,56"``, ``"1,234.56"`` in English;
``parse_minor("1 234,5") == 123450``. Points are minor units of points
(100 = 1 point), shown the same way. Nothing here ever touches a float.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

#: ru: a no-break space between thousands and a decimal comma; en: comma and point
_SEPARATORS = {"ru": ("\u00a0", ","), "en": (",", ".")}
_AMOUNT = re.compile(r"\A([+-]?)(\d+)(?:[.,](\d{1,2}))?\Z")


def format_minor(value: int | None, language: str = "ru", *, decimals: bool = True) -> str:
    """A signed integer of minor units as "1 234,56" (ru) or "1,234.56" (en)."""
    if value is None:
        return ""
    group, point = _SEPARATORS.get(language, _SEPARATORS["en"])
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(int(value)), 100)
    digits = str(whole)
    groups = []
    while len(digits) > 3:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    groups.insert(0, digits)
    text = sign + group.join(groups)
    return f"{text}{point}{frac:02d}" if decimals else text


def parse_minor(text: str) -> int:
    """A typed amount ("1 234,5", "-10", "15.25") as minor units; ValueError for anything else.

    Spaces (as thousands separators) are dropped; one decimal point or comma
    with at most two digits after it.
    """
    compact = re.sub(r"[\s\u00a0\u202f]", "", text or "")
    match = _AMOUNT.match(compact)
    if match is None:
        raise ValueError(text)
    sign, whole, frac = match.groups()
    value = int(whole) * 100 + int((frac or "").ljust(2, "0") or "0")
    return -value if sign == "-" else value


def format_count(value: int | None, language: str = "ru") -> str:
    """A whole number with thousands separators."""
    return "" if value is None else format_minor(int(value) * 100, language, decimals=False)


def format_phone(phone: str | None) -> str:
    """+79121234567 as "+7 912 123-45-67", other countries' E.164 numbers in their international
    form ("+44 20 7946 0958"), anything else as it is."""
    if phone and len(phone) == 12 and phone.startswith("+7") and phone[1:].isdigit():
        return f"+7 {phone[2:5]} {phone[5:8]}-{phone[8:10]}-{phone[10:]}"
    if phone and phone.startswith("+") and phone[1:].isdigit():
        import phonenumbers

        try:
            number = phonenumbers.parse(phone, None)
        except phonenumbers.NumberParseException:
            return phone
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phone or ""


def local_time(utc_text: str | None, zone: str, *, seconds: bool = False) -> str:
    """A stored UTC ISO time as "2026-11-21 17:30" in ``zone``."""
    if not utc_text:
        return ""
    try:
        moment = dt.datetime.fromisoformat(utc_text)
    except ValueError:
        return utc_text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone(zoneinfo.ZoneInfo(zone))
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def parse_local(text: str, zone: str, *, end_of_day: bool = False) -> dt.datetime:
    """A typed date ("2026-11-21") or date and time ("2026-11-21 17:30", "2026-11-21T17:30") in ``zone``.

    A bare date means its start, or with ``end_of_day`` the start of the next day.
    """
    text = (text or "").strip().replace("T", " ")
    tz = zoneinfo.ZoneInfo(zone)
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=tz)
            return start + dt.timedelta(days=1) if end_of_day else start
        return dt.datetime.fromisoformat(text).replace(tzinfo=tz)
    except ValueError:
        raise ValueError(text) from None
