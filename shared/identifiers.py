"""How a till names a customer: card numbers, magnetic tracks, barcodes, phones, QR tokens.

Pure functions, no I/O: each turns what a reader or a cashier typed into the
canonical form the agent looks up, or raises :class:`InvalidIdentifier` with a
stable ``code`` and a message a cashier can act on ("mistyped? check the
digits"). The current time is an argument (QR tokens), never read here.

Messages are gettext templates (``template`` with ``%(name)s`` params) so the
agent can translate them; ``str(error)`` is the English text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import LoyaltyError


def N_(text: str) -> str:
    """Marks a gettext message for extraction without translating it here (no I/O in shared/)."""
    return text


class InvalidIdentifier(LoyaltyError, ValueError):
    """What the till sent cannot name a customer: malformed, bad check digit, expired QR."""

    status = 422

    def __init__(self, code: str, template: str, /, **params: object) -> None:
        self.code = code
        self.template = template
        self.params = params
        super().__init__(template % params)


# -- card numbers -------------------------------------------------------------------------------

_CARD_SEPARATORS = re.compile(r"[\s\-\u00a0]+")
MIN_CARD_LENGTH = 4
MAX_CARD_LENGTH = 32


@dataclass(frozen=True, slots=True)
class CardRange:
    """A category of the program's cards: numbers starting with ``prefix``, ``length`` digits."""

    prefix: str
    length: int
    luhn: bool = False
    name: str = ""

    def matches(self, number: str) -> bool:
        return len(number) == self.length and number.startswith(self.prefix)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check over a string of digits, the last one being the check digit."""
    if not digits.isdigit():
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_check_digit(body: str) -> str:
    """The digit that makes ``body + digit`` pass the Luhn check."""
    for digit in "0123456789":
        if luhn_valid(body + digit):
            return digit
    raise AssertionError("unreachable")


def normalize_card(text: str, ranges: Sequence[CardRange] = ()) -> str:
    """A card number as digits only, checked against the program's card ranges.

    Spaces and dashes (as printed on cards, as typed) are dropped. With
    ``ranges`` the number must fit one of them (longest prefix wins) and pass
    the Luhn check if that range says so; without ranges any 4..32 digits pass.
    """
    if not isinstance(text, str):
        raise InvalidIdentifier("invalid_card", N_("The card number must be text."))
    number = _CARD_SEPARATORS.sub("", text)
    if not number:
        raise InvalidIdentifier("invalid_card", N_("The card number is empty."))
    if not number.isdigit() or not number.isascii():
        raise InvalidIdentifier(
            "invalid_card",
            N_("The card number %(number)s may contain only digits, spaces and dashes."),
            number=text.strip(),
        )
    if not MIN_CARD_LENGTH <= len(number) <= MAX_CARD_LENGTH:
        raise InvalidIdentifier(
            "invalid_card",
            N_("The card number %(number)s has %(length)d digits; a card number has %(min)d to %(max)d."),
            number=number,
            length=len(number),
            min=MIN_CARD_LENGTH,
            max=MAX_CARD_LENGTH,
        )
    if not ranges:
        return number
    fitting = sorted((r for r in ranges if r.matches(number)), key=lambda r: -len(r.prefix))
    if not fitting:
        expected = ", ".join(f"{r.length} digits starting with {r.prefix}" for r in ranges)
        raise InvalidIdentifier(
            "invalid_card",
            N_("The card number %(number)s is not a card of this program (expected %(expected)s)."),
            number=number,
            expected=expected,
        )
    if fitting[0].luhn and not luhn_valid(number):
        raise InvalidIdentifier(
            "invalid_card",
            N_("The card number %(number)s has a wrong check digit: it was probably mistyped, check the digits."),
            number=number,
        )
    return number


def card_in_ranges(number: str, ranges: Sequence[CardRange]) -> bool:
    """Whether ``number`` (digits) is a card of the program: it fits a range (longest prefix wins)
    and passes that range's Luhn check. Without ranges no number is (nothing says which exist)."""
    fitting = sorted((r for r in ranges if r.matches(number)), key=lambda r: -len(r.prefix))
    return bool(fitting) and (not fitting[0].luhn or luhn_valid(number))


#: the id prefix of a customer known only by a card of the chain's ranges (docs/sync.md, "Cards anywhere")
CARD_HOLDER_PREFIX = "card-"


def card_holder_id(number: str) -> str:
    """The customer id every agent and the central server give the holder of a card not (yet) registered.

    Derived from the number, so two stores that see the same unknown card, and the
    central server, name the same customer without talking to each other; a hash, so
    the id does not show the number.
    """
    return CARD_HOLDER_PREFIX + hashlib.sha256(f"loyalty-edge card {number}".encode()).hexdigest()[:32]


def is_card_holder(customer_id: str | None) -> bool:
    """Whether ``customer_id`` is a card holder's (see :func:`card_holder_id`): no redemption until registered."""
    return isinstance(customer_id, str) and customer_id.startswith(CARD_HOLDER_PREFIX)


# -- magnetic stripe (ISO 7811) -----------------------------------------------------------------

#: A keyboard-wedge reader types US keys; with the Russian layout active the
#: till receives these letters instead (";" -> "ж", "?" -> ",", "^" -> ":", "B" -> "И").
_RU_LAYOUT = str.maketrans({"ж": ";", "Ж": ":", ",": "?", "И": "B", "и": "B", "№": "#"})

_TRACK1 = re.compile(r"%?B(?P<pan>\d{1,19})\^(?P<name>[^^]{0,26})\^(?P<exp>\d{4})?[^?]*\??")
_TRACK2 = re.compile(r";?(?P<pan>\d{1,19})(?:[=D](?P<exp>\d{4})?(?P<rest>[0-9]*))?(?P<end>\?(?P<lrc>.)?)?")


@dataclass(frozen=True, slots=True)
class TrackData:
    """What a magnetic stripe says: the card number (PAN), expiry YYMM and holder name if any."""

    pan: str
    expiry: str | None = None
    name: str | None = None


def track_lrc(data: str, track: int = 2) -> str:
    """The LRC character of a track's data from start to end sentinel inclusive (ISO 7811).

    Track 1 is 7-bit (6 data bits, characters from 0x20), tracks 2 and 3 are
    5-bit (4 data bits, characters from 0x30); the LRC is the XOR of the data
    bits, written as a character of the same set.
    """
    base, mask = (0x20, 0x3F) if track == 1 else (0x30, 0x0F)
    lrc = 0
    for char in data:
        lrc ^= (ord(char) - base) & mask
    return chr(base + lrc)


def track2_lrc(data: str) -> str:
    """The LRC character of track 2 data from ';' to '?' inclusive (ISO 7811-2, 5-bit, odd parity)."""
    return track_lrc(data, 2)


def parse_track(raw: str) -> TrackData:
    """The card number from a raw magnetic stripe read: track 2 (``;PAN=YYMM...?``) or track 1
    (``%BPAN^NAME^YYMM...?``); both tracks in one read use track 2.

    Accepts reads without sentinels, with a trailing LRC (checked) and reads
    typed under the Russian keyboard layout.
    """
    if not isinstance(raw, str):
        raise InvalidIdentifier("invalid_track", N_("The magnetic track must be text."))
    text = raw.strip().translate(_RU_LAYOUT)
    if text.startswith("%"):
        text = text.replace(":", "^")  # track 1's field separator typed under the Russian layout
    if not text:
        raise InvalidIdentifier("invalid_track", N_("The magnetic track is empty: swipe the card again."))
    track1 = None
    if text.startswith("%"):
        end = text.find("?")
        track1, text = (text, "") if end < 0 else (text[: end + 1], text[end + 1 :].strip())
        if not text:
            return _parse_track1(track1)
    match = _TRACK2.fullmatch(text)
    if match is None:
        if track1 is not None:
            return _parse_track1(track1)
        raise InvalidIdentifier(
            "invalid_track",
            N_("The magnetic track could not be read (%(raw)s): swipe the card again."),
            raw=raw.strip()[:40],
        )
    lrc = match.group("lrc")
    if lrc is not None:
        body = text[: match.start("lrc")]
        if not body.startswith(";"):
            body = ";" + body
        if track2_lrc(body) != lrc:
            raise InvalidIdentifier(
                "invalid_track", N_("The magnetic track failed its check (LRC): swipe the card again.")
            )
    name = _parse_track1(track1).name if track1 is not None else None
    return TrackData(pan=match.group("pan"), expiry=match.group("exp"), name=name)


def _parse_track1(text: str) -> TrackData:
    match = _TRACK1.fullmatch(text)
    if match is None:
        raise InvalidIdentifier(
            "invalid_track", N_("The magnetic track could not be read (%(raw)s): swipe the card again."), raw=text[:40]
        )
    exp = match.group("exp")
    name = match.group("name").strip().replace("/", " ").strip() or None
    return TrackData(pan=match.group("pan"), expiry=exp if exp and exp.isdigit() else None, name=name)


# -- barcodes -----------------------------------------------------------------------------------


def ean_valid(digits: str) -> bool:
    """The EAN/UPC check of any length (EAN-8, UPC-A, EAN-13, ITF-14): from the right, the check
    digit weighs 1, then 3, 1, 3, ...; the weighted sum is a multiple of 10."""
    if not digits or not digits.isdigit() or not digits.isascii():
        return False
    return sum((ord(c) - 48) * (3 if i % 2 else 1) for i, c in enumerate(reversed(digits))) % 10 == 0


def ean13_valid(digits: str) -> bool:
    """The EAN-13 check: weights 1,3,1,3,... over 12 digits, the 13th makes the sum a multiple of 10."""
    return len(digits) == 13 and ean_valid(digits)


def ean13_check_digit(body: str) -> str:
    """The 13th digit of an EAN-13 code whose first 12 digits are ``body``."""
    total = sum((ord(c) - 48) * (3 if i % 2 else 1) for i, c in enumerate(body))
    return str((10 - total % 10) % 10)


def parse_barcode(text: str) -> str:
    """A card's barcode as digits: a 13-digit code must pass the EAN-13 check (a misread otherwise)."""
    if not isinstance(text, str):
        raise InvalidIdentifier("invalid_barcode", N_("The barcode must be text."))
    code = text.strip()
    if not code.isdigit() or not code.isascii() or not MIN_CARD_LENGTH <= len(code) <= MAX_CARD_LENGTH:
        raise InvalidIdentifier(
            "invalid_barcode",
            N_("The barcode %(code)s is not a card barcode (4 to 32 digits): scan again."),
            code=code[:40],
        )
    if len(code) == 13 and not ean13_valid(code):
        raise InvalidIdentifier(
            "invalid_barcode",
            N_("The barcode %(code)s failed its EAN-13 check digit: it was misread, scan again."),
            code=code,
        )
    return code


# -- phone numbers ------------------------------------------------------------------------------

_PHONE_DECORATION = re.compile(r"[\s\-().\u00a0]+")
#: first digit of a Russian national number: 3, 4, 8 (geographic, toll-free) and 9 (mobile);
#: +7 6xx and +7 7xx are Kazakhstan (accepted as international numbers when valid).
_RU_FIRST_DIGITS = "3489"


def normalize_phone(text: str) -> str:
    """A phone number in any usual form as E.164: Russian by default, others in international form.

    ``8 912 345-67-89``, ``+7 (912) 345-67-89``, ``912 345 67 89`` and
    ``79123456789`` all give ``+79123456789`` (a number without ``+`` is
    Russian). A number of another country is written with its country code,
    ``+44 20 7946 0958`` or ``00 44 20 7946 0958``, and must be a valid number
    of that country (the ``phonenumbers`` library's metadata): ``+442079460958``.
    """
    if not isinstance(text, str):
        raise InvalidIdentifier("invalid_phone", N_("The phone number must be text."))
    shown = text.strip()
    compact = _PHONE_DECORATION.sub("", shown)
    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not digits:
        raise InvalidIdentifier("invalid_phone", N_("The phone number is empty."))
    if not digits.isdigit() or not digits.isascii():
        raise InvalidIdentifier(
            "invalid_phone",
            N_("The phone number %(phone)s may contain only digits, spaces, dashes, brackets and a leading +."),
            phone=shown,
        )
    if not plus and digits.startswith("00"):  # the international prefix used outside Russia
        plus, digits = True, digits[2:]
    if plus:
        if digits.startswith("7") and digits[1:2] in tuple(_RU_FIRST_DIGITS):
            national = digits[1:]
        else:
            return _international(digits, shown)
    elif len(digits) == 11 and digits[0] in "78":
        national = digits[1:]
    elif len(digits) == 10:
        national = digits
    else:
        raise InvalidIdentifier(
            "invalid_phone",
            N_(
                "The phone number %(phone)s has %(count)d digits: a Russian number has 10 digits after +7 or 8; "
                "write a number of another country with + and its country code."
            ),
            phone=shown,
            count=len(digits),
        )
    if len(national) != 10:
        raise InvalidIdentifier(
            "invalid_phone",
            N_("The phone number %(phone)s has %(count)d digits after +7: a Russian number has 10."),
            phone=shown,
            count=len(national),
        )
    if national[0] not in _RU_FIRST_DIGITS:
        raise InvalidIdentifier(
            "invalid_phone",
            N_(
                "The phone number %(phone)s is not a Russian number (+7 %(code)s...): write a number of another "
                "country with + and its country code."
            ),
            phone=shown,
            code=national[:3],
        )
    return "+7" + national


def _international(digits: str, shown: str) -> str:
    """``digits`` after the ``+`` as E.164 if they are a valid number of some country."""
    import phonenumbers  # imported on first use: most phones are Russian

    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier(
            "invalid_phone",
            N_("The phone number %(phone)s is not a valid number: check the country code and the digits."),
            phone=shown,
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


#: the old name (Russian numbers were the only ones accepted): the same parser
normalize_phone_ru = normalize_phone


# -- QR tokens from the customer's phone ----------------------------------------------------------

QR_PREFIX = "LE1"
QR_MAC_BYTES = 10
_QR = re.compile(rf"{QR_PREFIX}\.(?P<id>[A-Za-z0-9_-]{{1,64}})\.(?P<mac>[A-Z2-7]{{16}})")


def _qr_mac(secret: bytes, customer_id: str, counter: int) -> str:
    digest = hmac.new(secret, f"{customer_id}.{counter}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:QR_MAC_BYTES]).decode("ascii")


def qr_token(secret: bytes, customer_id: str, now: int, step: int = 30) -> str:
    """The QR payload the customer's app shows at ``now`` (Unix seconds): valid for about one step."""
    return f"{QR_PREFIX}.{customer_id}.{_qr_mac(secret, customer_id, now // step)}"


def verify_qr(secret: bytes, token: str, now: int, step: int = 30, window: int = 1) -> str:
    """The customer id of a QR token signed for the current time step, or one step either side.

    A screenshot stops working after a minute or so: the token's time step is
    no longer within ``window`` of ``now``.
    """
    if not isinstance(token, str):
        raise InvalidIdentifier("invalid_qr", N_("The QR code must be text."))
    match = _QR.fullmatch(token.strip())
    if match is None:
        raise InvalidIdentifier(
            "invalid_qr", N_("This QR code is not a loyalty card code: ask the customer to open the card in the app.")
        )
    customer_id, mac = match.group("id"), match.group("mac")
    counter = now // step
    for c in _counters(counter, window):
        if hmac.compare_digest(_qr_mac(secret, customer_id, c), mac):
            return customer_id
    raise InvalidIdentifier(
        "qr_expired", N_("This QR code has expired or was copied: ask the customer to refresh the code in the app.")
    )


def _counters(counter: int, window: int) -> Iterable[int]:
    yield counter
    for d in range(1, window + 1):
        yield counter - d
        yield counter + d
