"""What a card reader's frame says: magnetic tracks, barcodes, QR codes (pure, no I/O).

``decode_payload(text)`` turns one frame's text into a ``Decoded`` value or
raises ``Rejected`` with the reason. It never guesses: a track must have its
sentinels, a valid character set, a card number that passes its check digit
(Luhn; EAN/UPC for 8/12/13-digit barcodes) and, when the reader sends one,
a matching LRC character; both tracks, when present, must carry the same
number. A barcode must be a card number (6-19 digits; the EAN/UPC check
digit when the scanner names that symbology); a QR code must carry an AIM
``]Q`` prefix or look like a URI (``scheme:...``). ``check="luhn"`` also
demands the Luhn digit, for chains whose cards carry one (the example card
of pos-api.md, 7700000000000017, does not, so it is not the default);
``check="none"`` accepts any 4-32 digit or alphanumeric code.

This is the strict reading of raw device frames, where line noise must never
become a card; ``shared/identifiers.py`` reads what a till sends (typed,
sentinels optional, Russian keyboard layout) and holds the check digits and
LRC both use.
"""

from __future__ import annotations

from dataclasses import dataclass

from .identifiers import ean_valid, luhn_valid, track_lrc

CHECKS = ("auto", "luhn", "none")
_AIM_2D = set("QdzLX")  # AIM code characters of 2-D symbologies: QR, DataMatrix, Aztec, ...
_AIM_NAMES = {
    "E0": "ean13",
    "E4": "ean8",
    "C0": "code128",
    "C1": "gs1-128",
    "A0": "code39",
    "I0": "itf",
    "Q1": "qr",
    "Q3": "qr",
    "Q5": "qr",
    "d1": "datamatrix",
    "z0": "aztec",
}


#: an empty track, or a reader's mark for a track it could not read (MagTek: "E", others "+" or "-")
_TRACK_ERRORS = ("", "E", "+", "-")


class Rejected(ValueError):
    """A frame that is not a card: the message says why (for the log)."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """The meaning of one valid frame."""

    kind: str  # "track" | "barcode" | "qr"
    number: str | None  # card number (PAN) when the frame carries one
    token: str | None = None  # QR payload
    symbology: str | None = None  # from an AIM identifier, when the scanner sends one
    track: int | None = None  # which track the number came from
    skipped: int = 0  # noise characters dropped before the first track


def check_number(digits: str, check: str = "auto", symbology: str | None = None) -> str:
    """Return ``digits`` when it is a plausible card number; raise ``Rejected`` otherwise.

    ``auto``: 6-19 digits, not one repeated digit; the EAN/UPC check digit when
    the scanner says the symbology is EAN/UPC. ``luhn``: also the Luhn check
    digit (for non-EAN codes). ``none``: 4-32 digits, nothing else.
    """
    if not digits.isascii() or not digits.isdigit():
        raise Rejected("card number is not all digits")
    if check == "none":
        if not 4 <= len(digits) <= 32:
            raise Rejected(f"card number of {len(digits)} digits")
        return digits
    if not 6 <= len(digits) <= 19:
        raise Rejected(f"card number of {len(digits)} digits (6-19 expected)")
    if len(set(digits)) == 1:  # 0000..., a stuck or blank stripe, is no card
        raise Rejected("card number of one repeated digit")
    if symbology in ("ean13", "ean8", "upca"):
        if not ean_valid(digits):
            raise Rejected("EAN/UPC check digit does not match")
    elif check == "luhn" and not luhn_valid(digits):
        raise Rejected("Luhn check digit does not match")
    return digits


def decode_payload(raw: bytes, check: str = "auto") -> Decoded:
    """Decode one frame's bytes: tracks when it has track sentinels, else a scan."""
    text = raw.decode("latin-1")
    if ("%" in text or ";" in text) and "?" in text:
        return decode_tracks(text, check)
    try:
        scanned = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected("frame is not text (line noise?)") from None
    return decode_scan(scanned, check)


# -- magnetic tracks -------------------------------------------------------


def decode_tracks(text: str, check: str = "auto") -> Decoded:
    """Decode one swipe (track 1 and/or 2, optional LRC characters) from ``text``.

    Noise before the first start sentinel is skipped (and counted); the swipe
    must parse whole from that sentinel on. Later sentinels are never tried as
    a fresh start: that would let a damaged track hide behind a shorter one.
    """
    starts = [i for i in (text.find("%"), text.find(";")) if i >= 0]
    if not starts:
        raise Rejected("no track start sentinel")
    start = min(starts)
    return _tracks_result(_parse_tracks(text, start), check, skipped=start)


def _parse_tracks(text: str, pos: int = 0, seen: tuple[int, ...] = ()) -> list[tuple[int, str]]:
    """Split ``text[pos:]`` into (track number, body) pairs; verify charset and LRCs."""
    sentinel = text[pos]
    if sentinel not in "%;":
        raise Rejected(f"unexpected {sentinel!r} after a track")
    end = text.find("?", pos + 1)
    if end < 0:
        raise Rejected("track without end sentinel (partial swipe)")
    whole = text[pos : end + 1]
    body = whole[1:-1]
    number = 1 if sentinel == "%" else (3 if 2 in seen else 2)
    low, high = (0x20, 0x5F) if number == 1 else (0x30, 0x3F)
    if body not in _TRACK_ERRORS and (any(not low <= ord(c) <= high for c in body) or (number == 1 and "%" in body)):
        raise Rejected(f"character outside the track {number} set")
    this = [(number, body)]
    after = end + 1
    if after == len(text):
        return this
    # the next character is this track's LRC, or the start of the next track;
    # an LRC may itself be ';' (track 2) so both readings are tried
    failure: Rejected | None = None
    if text[after] == track_lrc(whole, number):
        if after + 1 == len(text):
            return this
        try:
            return this + _parse_tracks(text, after + 1, (*seen, number))
        except Rejected as exc:
            failure = exc
    if text[after] in "%;":
        return this + _parse_tracks(text, after, (*seen, number))
    raise failure or Rejected(f"track {number} LRC does not match")


def _tracks_result(tracks: list[tuple[int, str]], check: str, skipped: int) -> Decoded:
    numbers: dict[int, str] = {}
    for number, body in tracks:
        if body in _TRACK_ERRORS:
            continue
        if number == 1:
            if len(body) < 3 or not body[0].isalpha() or "^" not in body:
                raise Rejected("track 1 is not %<format><number>^...")
            numbers[1] = check_number(body[1:].split("^", 1)[0], check)
        elif number == 2:
            pan = body.split("=", 1)[0]
            if "=" in body and not body.split("=", 1)[1].replace("=", "").isdigit() and body.split("=", 1)[1]:
                raise Rejected("track 2 has non-digits after the separator")
            numbers[2] = check_number(pan, check)
    if not numbers:
        raise Rejected("no readable track (bad swipe)")
    if len(set(numbers.values())) > 1:
        raise Rejected("track 1 and track 2 carry different numbers")
    track = 2 if 2 in numbers else 1
    return Decoded("track", numbers[track], track=track, skipped=skipped)


# -- barcodes and QR codes ----------------------------------------------


def decode_scan(text: str, check: str = "auto") -> Decoded:
    """Decode a scanner's line: optional AIM identifier, then the code's text."""
    symbology = None
    aim_2d = None
    if len(text) >= 3 and text[0] == "]":
        aim = text[1:3]
        symbology = _AIM_NAMES.get(aim, f"aim-{aim}")
        aim_2d = aim[0] in _AIM_2D
        text = text[3:]
    if not text or len(text) > 512:
        raise Rejected(f"scan of {len(text)} characters")
    if not text.isprintable():
        raise Rejected("scan contains control characters (line noise?)")
    if text.isascii() and text.isdigit() and not aim_2d:
        return Decoded("barcode", check_number(text, check, symbology), symbology=symbology)
    if aim_2d or (text.isascii() and _uri_like(text)):
        number = None
        if text.isascii() and text.isdigit():
            try:
                number = check_number(text, check, symbology)
            except Rejected:
                number = None
        return Decoded("qr", number, token=text, symbology=symbology or "qr")
    if check == "none" and text.isascii() and text.isalnum() and 4 <= len(text) <= 32:
        return Decoded("barcode", text, symbology=symbology)
    raise Rejected("scan is neither a card number nor a QR token")


def _uri_like(text: str) -> bool:
    scheme, sep, rest = text.partition(":")
    return bool(
        sep
        and rest
        and scheme
        and scheme[0].isalpha()
        and len(text) >= 6
        and all(c.isalnum() or c in "+.-" for c in scheme)
        and " " not in text
    )
