"""Parsers of the POS API's request bodies other than receipts (those are shared.receipts).

Each collects every problem with its JSON path and raises
:class:`RequestError` (``validation_error``), like the shared parsers.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared._validate import Collector, index_path, key_path
from shared.errors import Problem, ValidationError
from shared.numbers import MAX_QUANTITY, QUANTITY_DECIMALS
from shared.receipts import parse_time

#: the ways a till can name a customer (POST /v1/identify, a receipt's "customer")
IDENTIFIER_KINDS = ("card", "phone", "barcode", "track", "qr", "id")
CONSENTS = ("personal_data", "sms", "email", "push")
_BIRTHDAY = re.compile(r"\A(?:[0-9]{4}|-)-([0-9]{2})-([0-9]{2})\Z")  # ASCII digits (\d takes any script's)
#: a UTF-16 surrogate code point: JSON's \ud800 escape that pairs with nothing decodes to one
_SURROGATE = re.compile("[\ud800-\udfff]")


class RequestError(ValidationError):
    """A request body is malformed."""

    what = "request"


@dataclass(frozen=True, slots=True)
class RefundRequest:
    lines: dict[int, int | None]  # line index -> quantity x1000 (None: all that is left)
    refund_id: str | None = None
    at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Registration:
    phone: str
    card: str | None = None
    name: str | None = None
    birthday: str | None = None
    consents: dict[str, bool] = field(default_factory=dict)
    language: str | None = None  # of the messages the customer gets: ru or en (None: not asked)


def _object(
    doc: Any, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()
) -> tuple[Collector, Mapping[str, Any]]:
    c = Collector()
    obj = c.object({} if doc is None else doc, "", required=required, optional=optional)
    if obj is None:
        raise RequestError(c.problems)
    return c, obj


def text_problems(doc: Any) -> list[Problem]:
    """A problem at the JSON path of every string (value or field name) that is not valid Unicode text.

    JSON may escape a lone UTF-16 surrogate (``"\\ud800"``); Python decodes it to
    a string that cannot be encoded as UTF-8, so it could be neither stored,
    hashed nor echoed back. Walked without recursion (documents may nest deep).
    """
    problems: list[Problem] = []
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                shown = _printable(value, 40)
                problems.append(Problem(path, f"contains a lone UTF-16 surrogate ({shown}): send valid Unicode text"))
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                if _SURROGATE.search(key):
                    key = _printable(key, 60)
                    problems.append(
                        Problem(
                            key_path(path, key),
                            "the field name contains a lone UTF-16 surrogate: send valid Unicode text",
                        )
                    )
                stack.append((key_path(path, key), item))
        elif isinstance(value, list):
            stack.extend((index_path(path, i), item) for i, item in reversed(list(enumerate(value))))
    return problems


def _printable(text: str, limit: int) -> str:
    """``text`` with its surrogates as \\udxxx escapes, cut to about ``limit`` characters."""
    cut = text if len(text) <= limit else text[:limit] + "..."
    return cut.encode("utf-8", "backslashreplace").decode("utf-8")


def check_receipt_id(receipt_id: str | None) -> None:
    """A receipt_id is one URL path segment (``/v1/receipts/{receipt_id}/refund``, ``/cancel``, ``/reprint``):
    no ``/`` (WSGI servers decode ``%2F`` before routing) and not ``.`` or ``..`` (URL parsers drop such
    segments, even percent-encoded). Any other character works, percent-encoded in the path."""
    if receipt_id is None:
        return
    if "/" in receipt_id:
        problem = 'must not contain "/": the receipt could not be named in the path of a refund, cancel or reprint'
    elif receipt_id in (".", ".."):
        problem = f"must not be {receipt_id!r}: URL paths cannot name it"
    else:
        return
    raise RequestError([Problem("receipt_id", problem)])


def parse_identifier(doc: Any, path: str = "") -> tuple[str, str]:
    """(kind, raw value) from ``{"card": "..."}`` and the like: exactly one identifier."""
    c = Collector()
    obj = c.object(doc, path, optional=IDENTIFIER_KINDS)
    if obj is not None:
        given = [k for k in IDENTIFIER_KINDS if obj.get(k) is not None]
        if len(given) != 1:
            c.add(
                path,
                "give exactly one of " + ", ".join(IDENTIFIER_KINDS) + (f" (got {', '.join(given)})" if given else ""),
            )
        else:
            kind = given[0]
            value = c.string(obj[kind], key_path(path, kind), max_length=300)
            if value is not None and not c.problems:
                return kind, value
    raise RequestError(c.problems)


def parse_refund(doc: Any) -> RefundRequest:
    c, obj = _object(doc, required=("lines",), optional=("refund_id", "at", "reason"))
    refund_id = c.string(obj["refund_id"], "refund_id", max_length=100) if obj.get("refund_id") is not None else None
    at = parse_time(c, obj["at"], "at") if obj.get("at") is not None else None
    lines: dict[int, int | None] = {}
    for i, raw in enumerate(c.list(obj.get("lines"), "lines", min_items=1) or []):
        path = index_path("lines", i)
        item = c.object(raw, path, required=("index",), optional=("quantity",))
        if item is None or "index" not in item:
            continue
        index = c.integer(item["index"], key_path(path, "index"), 0, 10**6)
        quantity = None
        if item.get("quantity") is not None:
            quantity = c.decimal(item["quantity"], key_path(path, "quantity"), QUANTITY_DECIMALS, 1, MAX_QUANTITY)
        if index is None:
            continue
        if index in lines:
            c.add(key_path(path, "index"), f"line {index} is named twice")
            continue
        lines[index] = quantity
    if obj.get("reason") is not None:
        c.string(obj["reason"], "reason", max_length=500)
    if c.problems:
        raise RequestError(c.problems)
    return RefundRequest(lines=lines, refund_id=refund_id, at=at)


@dataclass(frozen=True, slots=True)
class CardReplacement:
    new_card: str
    status: str = "replaced"
    reason: str | None = None


def parse_card_replacement(doc: Any) -> CardReplacement:
    """A replacement body: ``new_card`` (the number given to the customer), ``status`` of the old card
    (``replaced``, the default, or ``lost``) and an optional ``reason``."""
    c, obj = _object(doc, required=("new_card",), optional=("status", "reason"))
    new_card = c.string(obj["new_card"], "new_card", max_length=64) if "new_card" in obj else None
    status = "replaced"
    if obj.get("status") is not None:
        status = c.string(obj["status"], "status", max_length=20) or "replaced"
        if status not in ("replaced", "lost"):
            c.add("status", f'must be "replaced" or "lost", got {status!r}')
    reason = c.string(obj["reason"], "reason", max_length=200) if obj.get("reason") is not None else None
    if c.problems:
        raise RequestError(c.problems)
    assert new_card is not None
    return CardReplacement(new_card=new_card, status=status, reason=reason)


def parse_cancel(doc: Any) -> dt.datetime | None:
    """A cancel body: optional ``at`` (when it was cancelled at the till) and ``reason``."""
    c, obj = _object(doc, optional=("at", "reason"))
    at = parse_time(c, obj["at"], "at") if obj.get("at") is not None else None
    if obj.get("reason") is not None:
        c.string(obj["reason"], "reason", max_length=500)
    if c.problems:
        raise RequestError(c.problems)
    return at


#: the languages a customer gets messages in (customers.language at the central server)
LANGUAGES = ("ru", "en")


def parse_registration(doc: Any) -> Registration:
    c, obj = _object(doc, required=("phone",), optional=("card", "name", "birthday", "consents", "language"))
    phone = c.string(obj["phone"], "phone", max_length=40) if "phone" in obj else None
    card = c.string(obj["card"], "card", max_length=64) if obj.get("card") is not None else None
    name = c.string(obj["name"], "name", max_length=200) if obj.get("name") is not None else None
    birthday = None
    if obj.get("birthday") is not None:
        birthday = _birthday(c, obj["birthday"])
    consents: dict[str, bool] = {}
    raw = obj.get("consents", {})
    given = c.object(raw, "consents", optional=CONSENTS)
    for key in CONSENTS:
        if given is not None and key in given:
            value = c.boolean(given[key], key_path("consents", key))
            if value is not None:
                consents[key] = value
    if given is not None and not consents.get("personal_data"):
        c.add("consents.personal_data", "the customer must agree to the processing of personal data (152-FZ) to join")
    language = c.string(obj["language"], "language", max_length=20) if obj.get("language") is not None else None
    if language is not None and language not in LANGUAGES:
        c.add("language", f"must be ru or en (the language of the customer's messages), got {language!r}")
    if c.problems:
        raise RequestError(c.problems)
    assert phone is not None
    return Registration(
        phone=phone, card=card, name=name, birthday=birthday, consents=consents, language=language or None
    )


def _birthday(c: Collector, value: Any) -> str | None:
    text = c.string(value, "birthday", max_length=10)
    if text is None:
        return None
    match = _BIRTHDAY.match(text)
    if match:
        try:
            year = 2000 if text.startswith("--") else int(text[:4])  # 2000: a leap year, so --02-29 is valid
            dt.date(year, int(match.group(1)), int(match.group(2)))
            return text
        except ValueError:
            pass
    c.add("birthday", f'must be a date "YYYY-MM-DD" or "--MM-DD" (year unknown), got {text!r}')
    return None


def parse_confirmation(doc: Any) -> str:
    c, obj = _object(doc, required=("code",))
    code = c.string(obj["code"], "code", max_length=20) if "code" in obj else None
    if code is not None and not re.fullmatch(r"[0-9]{6}", code.strip()):
        c.add("code", "must be the 6 digits of the SMS code")
    if c.problems:
        raise RequestError(c.problems)
    assert code is not None
    return code.strip()


def parse_code_request(doc: Any) -> tuple[tuple[str, str], int]:
    """A redemption confirmation code request: (the customer's identifier, points to redeem)."""
    from shared.receipts import MAX_REDEEM

    c, obj = _object(doc, required=("customer", "redeem"))
    points = c.integer(obj["redeem"], "redeem", 1, MAX_REDEEM) if "redeem" in obj else None
    if c.problems or "customer" not in obj:
        raise RequestError(c.problems)
    who = parse_identifier(obj["customer"], "customer")
    assert points is not None
    return who, points
