"""USB HID input reports of card readers and scanners (pure, no I/O).

Two report formats, each turned into the bytes a serial reader would send,
so the same framing and decoding follow:

* ``hidpos``: the HID Point of Sale "Scanned Data Report" (usage page 0x8C)
  as Honeywell, Zebra and Datalogic scanners send it in HID POS mode: 64-byte
  interrupt reports ``[0x02 report id, n, AIM id (3 bytes), n data bytes
  (up to 56), ..., byte 63: 1 when more reports of the same scan follow]``.
  A complete scan becomes ``AIM + data + CR``.
* ``keyboard``: the 8-byte boot-keyboard report (modifiers, reserved, six key
  codes) of keyboard-emulation readers such as the MagTek Mini Swipe (USB ID
  0801:0001) read through pyusb. Newly pressed keys become ASCII (US
  layout); Enter becomes CR.
"""

from __future__ import annotations

REPORT_FORMATS = ("hidpos", "keyboard")
HIDPOS_REPORT_ID = 0x02
HIDPOS_REPORT_SIZE = 64
HIDPOS_DATA_MAX = 56

_SHIFT = 0x22  # left or right shift in the modifier byte
_KEYS = {  # HID usage id -> (unshifted, shifted)
    **{0x04 + i: (chr(ord("a") + i), chr(ord("A") + i)) for i in range(26)},
    **{0x1E + i: (d, s) for i, (d, s) in enumerate(zip("1234567890", "!@#$%^&*()", strict=True))},
    0x28: ("\r", "\r"),
    0x2C: (" ", " "),
    0x2D: ("-", "_"),
    0x2E: ("=", "+"),
    0x2F: ("[", "{"),
    0x30: ("]", "}"),
    0x31: ("\\", "|"),
    0x33: (";", ":"),
    0x34: ("'", '"'),
    0x35: ("`", "~"),
    0x36: (",", "<"),
    0x37: (".", ">"),
    0x38: ("/", "?"),
    0x2B: ("\t", "\t"),
    0x58: ("\r", "\r"),  # keypad Enter
    **{0x59 + i: (d, d) for i, d in enumerate("1234567890")},  # keypad digits
}


class HidPosDecoder:
    """Assemble HID POS scanned-data reports into scanner lines."""

    def __init__(self) -> None:
        self._aim = b""
        self._data = bytearray()

    def report(self, report: bytes) -> bytes:
        """Feed one report; return ``AIM + data + CR`` when a scan is complete, else b""."""
        if len(report) < 5 or report[0] != HIDPOS_REPORT_ID:
            return b""  # other reports (status, attributes) carry no scan
        length = min(report[1], HIDPOS_DATA_MAX, len(report) - 5)
        if not self._data:
            self._aim = bytes(report[2:5])
        self._data += report[5 : 5 + length]
        more = len(report) >= HIDPOS_REPORT_SIZE and report[HIDPOS_REPORT_SIZE - 1] == 1
        if more:
            return b""
        line = (self._aim if self._aim.startswith(b"]") else b"") + bytes(self._data) + b"\r"
        self._aim, self._data = b"", bytearray()
        return line


class KeyboardDecoder:
    """Turn boot-keyboard reports into the characters being typed."""

    def __init__(self) -> None:
        self._down: set[int] = set()

    def report(self, report: bytes) -> bytes:
        """Feed one 8-byte report; return the characters of newly pressed keys."""
        if len(report) < 3:
            return b""
        shift = bool(report[0] & _SHIFT)
        keys = {k for k in report[2:8] if k > 3}  # 1-3 are rollover/error codes
        typed = []
        for key in report[2:8]:
            if key in keys and key not in self._down and key in _KEYS:
                typed.append(_KEYS[key][1 if shift else 0])
        self._down = keys
        return "".join(typed).encode("ascii")


def make_decoder(report_format: str) -> HidPosDecoder | KeyboardDecoder:
    """The decoder of ``report_format`` (one of ``REPORT_FORMATS``)."""
    if report_format == "hidpos":
        return HidPosDecoder()
    if report_format == "keyboard":
        return KeyboardDecoder()
    raise ValueError(f"unknown USB report format {report_format!r}; one of {', '.join(REPORT_FORMATS)}")
