"""What card readers and scanners put on the wire for a card (pure, no I/O).

Magnetic stripe (ISO/IEC 7813 layout): track 1 ``%B<PAN>^<NAME>^<YYMM><SC><DD>?``
and track 2 ``;<PAN>=<YYMM><SC><DD>?``, optionally followed by the track's
LRC character (ISO/IEC 7811: XOR of the character codes, sentinels included).

Framings, as different serial readers send a swipe:

* ``line``: the track text then CR (or another suffix): MagTek/IDTech-style
  ASCII readers, and barcode scanners (suffix CR or CR LF);
* ``stx-etx``: STX, text, ETX;
* ``stx-etx-lrc``: STX, text, ETX, then one LRC byte = XOR of the text and ETX.

Barcode/QR scanners send the code's text and a suffix, optionally prefixed by
the AIM symbology identifier (``]E0`` EAN-13, ``]C0`` Code 128, ``]Q1`` QR).
"""

from __future__ import annotations

import random
from functools import reduce

STX, ETX = b"\x02", b"\x03"
FRAMINGS = ("line", "stx-etx", "stx-etx-lrc")
AIM_IDS = {"ean13": "]E0", "ean8": "]E4", "code128": "]C0", "qr": "]Q1", "upca": "]E0"}


def luhn_digit(digits: str) -> str:
    """The Luhn check digit to append to ``digits``."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str(-total % 10)


def ean_digit(digits: str) -> str:
    """The EAN/UPC check digit to append to ``digits`` (7, 11 or 12 digits)."""
    total = sum(int(ch) * (3 if i % 2 == 0 else 1) for i, ch in enumerate(reversed(digits)))
    return str(-total % 10)


def track_lrc(text: str, track: int) -> str:
    """ISO 7811 LRC character of a track (start to end sentinel): 6-bit (track 1) or 4-bit codes."""
    base = 0x20 if track == 1 else 0x30
    value = reduce(lambda acc, ch: acc ^ (ord(ch) - base), text, 0)
    return chr(base + value)


def track1(
    pan: str,
    name: str = "LOYALTY/CUSTOMER",
    expiry: str = "4912",
    service: str = "101",
    discretionary: str = "000000",
    lrc: bool = False,
) -> str:
    """Track 1 text of a card."""
    text = f"%B{pan}^{name[:26]}^{expiry}{service}{discretionary}?"
    return text + (track_lrc(text, 1) if lrc else "")


def track2(
    pan: str, expiry: str = "4912", service: str = "101", discretionary: str = "000000", lrc: bool = False
) -> str:
    """Track 2 text of a card."""
    text = f";{pan}={expiry}{service}{discretionary}?"
    return text + (track_lrc(text, 2) if lrc else "")


def swipe_text(pan: str, tracks: str = "2", lrc: bool = False) -> str:
    """The text a swipe produces: tracks "1", "2" or "12" (both, track 1 first)."""
    parts = []
    if "1" in tracks:
        parts.append(track1(pan, lrc=lrc))
    if "2" in tracks:
        parts.append(track2(pan, lrc=lrc))
    if not parts:
        raise ValueError(f"tracks must contain 1 and/or 2, not {tracks!r}")
    return "".join(parts)


def frame(payload: bytes, framing: str = "line", suffix: bytes = b"\r") -> bytes:
    """Wrap a payload the way a reader with ``framing`` sends it."""
    if framing == "line":
        return payload + suffix
    if framing == "stx-etx":
        return STX + payload + ETX
    if framing == "stx-etx-lrc":
        lrc = reduce(lambda acc, b: acc ^ b, payload + ETX, 0)
        return STX + payload + ETX + bytes([lrc])
    raise ValueError(f"unknown framing {framing!r}; one of {', '.join(FRAMINGS)}")


def swipe_bytes(pan: str, framing: str = "line", tracks: str = "2", lrc: bool = False, suffix: bytes = b"\r") -> bytes:
    """A whole swipe as the reader sends it."""
    return frame(swipe_text(pan, tracks, lrc).encode("ascii"), framing, suffix)


def scan_bytes(text: str, symbology: str | None = None, suffix: bytes = b"\r\n") -> bytes:
    """A barcode or QR scan as a serial scanner sends it (AIM prefix when ``symbology`` is given)."""
    prefix = AIM_IDS.get(symbology or "", "") if symbology else ""
    return (prefix + text).encode("utf-8") + suffix


def noise_bytes(count: int, rng: random.Random) -> bytes:
    """Line noise: ``count`` random bytes."""
    return bytes(rng.randrange(256) for _ in range(count))
