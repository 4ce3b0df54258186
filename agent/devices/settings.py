"""Device settings: the card reader's and the printer's settings, checked and typed for the drivers.

The settings themselves are rows of the agent's one ``SETTINGS`` table
(``agent/config.py``, ``DEVICE_SETTINGS``), loaded in the agent's order
(defaults -> TOML file -> ``LOYALTY_AGENT_<NAME>`` -> flags) and typed there.
Here are their checks beyond the type (choices, ranges, USB ids, what a
reader or printer kind requires), which the agent's ``validate`` runs at
startup, and ``device_settings(values)``, which turns checked values into
``DeviceSettings`` for ``wiring.py``. ``agent.config.load_device_settings``
does both for a configuration and raises ``DeviceSettingsError`` naming
every bad setting. This module imports nothing of the agent outside
``agent/devices`` (``agent.config`` imports it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.cardreads import CHECKS

from .errors import Problem
from .framing import FRAMINGS
from .hid import REPORT_FORMATS

#: how the card is printed on a slip (``slip_code``; ``slip_layout.py`` draws each)
CODES = ("barcode", "qr", "none")

_CHOICES: dict[str, tuple[Any, ...]] = {
    "reader_kind": ("none", "serial", "usb-hid"),
    "reader_bytesize": (7, 8),
    "reader_parity": ("N", "E", "O"),
    "reader_stopbits": (1, 2),
    "reader_framing": FRAMINGS,
    "reader_usb_report": REPORT_FORMATS,
    "reader_check": CHECKS,
    "printer_kind": ("none", "serial", "network", "usb"),
    "slip_code": CODES,
    "slip_language": ("ru", "en"),
}
_RANGES = {
    "reader_baud": (300, 921600),
    "printer_baud": (300, 921600),
    "printer_columns": (16, 80),
    "printer_status_timeout_ms": (50, 30000),
}


@dataclass(frozen=True, slots=True)
class ReaderSettings:
    """The card reader's settings."""

    kind: str
    url: str
    baud: int
    bytesize: int
    parity: str
    stopbits: int
    framing: str
    usb_id: tuple[int, int] | None
    usb_report: str
    check: str
    reader_id: str


@dataclass(frozen=True, slots=True)
class PrinterSettings:
    """The receipt printer's and slip's settings."""

    kind: str
    url: str
    baud: int
    usb_id: tuple[int, int] | None
    usb_endpoints: tuple[int, int]
    codepage: str
    profile: str
    columns: int
    status_check: bool
    status_timeout: float  # seconds
    slip_code: str
    slip_language: str
    slip_link: str = ""  # printed as a QR code at the end of each slip (the web card, docs/web-card.md)


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    """All device settings."""

    reader: ReaderSettings
    printer: PrinterSettings
    usb_backend: str


def device_settings(v: Mapping[str, Any]) -> DeviceSettings:
    """``DeviceSettings`` of checked values (every device setting present, typed, with no problem)."""
    reader_usb, printer_usb = _usb_id(v["reader_usb_id"]), _usb_id(v["printer_usb_id"])
    reader = ReaderSettings(
        v["reader_kind"],
        v["reader_url"],
        v["reader_baud"],
        v["reader_bytesize"],
        v["reader_parity"].upper(),
        v["reader_stopbits"],
        v["reader_framing"],
        reader_usb,
        v["reader_usb_report"],
        v["reader_check"],
        v["reader_id"],
    )
    printer = PrinterSettings(
        v["printer_kind"],
        v["printer_url"],
        v["printer_baud"],
        printer_usb,
        _endpoints(v["printer_usb_endpoints"]) or (0x82, 0x01),
        v["printer_codepage"].upper(),
        v["printer_profile"],
        v["printer_columns"],
        v["printer_status_check"],
        v["printer_status_timeout_ms"] / 1000,
        v["slip_code"],
        v["slip_language"],
        v["slip_link"].strip(),
    )
    return DeviceSettings(reader, printer, v["usb_backend"])


def device_problems(values: Mapping[str, Any]) -> list[Problem]:
    """Every problem of the device settings in ``values`` beyond their types (a value of the wrong
    type is skipped: the type check names it)."""
    problems: list[Problem] = []

    def typed(name: str, kind: type) -> Any:
        value = values.get(name)
        return value if isinstance(value, kind) and not (kind is int and isinstance(value, bool)) else None

    for name, choices in _CHOICES.items():
        value = values.get(name)
        if isinstance(value, str) and name == "reader_parity":
            value = value.upper()
        if value is not None and value not in choices:
            problems.append(Problem(name, f"must be one of {', '.join(str(c) for c in choices)}, not {value!r}"))
    for name, (low, high) in _RANGES.items():
        value = typed(name, int)
        if value is not None and not low <= value <= high:
            problems.append(Problem(name, f"must be between {low} and {high}"))
    for name in ("reader_usb_id", "printer_usb_id"):
        text = typed(name, str)
        if text and _usb_id(text) is None:
            problems.append(Problem(name, f"should be vendor:product in hex (e.g. 04b8:0202), not {text!r}"))
    endpoints = typed("printer_usb_endpoints", str)
    if endpoints is not None and _endpoints(endpoints) is None:
        problems.append(
            Problem("printer_usb_endpoints", f"should be IN,OUT addresses like 0x82,0x01, not {endpoints!r}")
        )
    profile = typed("printer_profile", str)
    if profile is not None and profile != "default":
        from . import escpos_transports  # noqa: F401, I001  (sets python-escpos up first)
        from escpos.capabilities import CAPABILITIES

        if profile not in CAPABILITIES["profiles"]:
            problems.append(Problem("printer_profile", f"unknown python-escpos profile {profile!r}"))
            profile = None
    codepage = typed("printer_codepage", str)
    printing = values.get("printer_kind", "none") != "none"
    if codepage is not None and not _printable_codepage(codepage, profile or "default", printing):
        problems.append(
            Problem("printer_codepage", f"unknown code page {codepage!r} (printers take one such as CP866)")
        )
    backend = typed("usb_backend", str)
    if backend and ":" not in backend:
        problems.append(Problem("usb_backend", "must be module:callable"))
    _require(values, problems)
    return problems


def _printable_codepage(codepage: str, profile: str, printing: bool) -> bool:
    """Whether slips can be encoded in ``codepage`` (a Python codec) and, with a printer, its
    profile can select it (``ESC t n``): python-escpos raises KeyError at the first slip otherwise."""
    try:
        "".encode(codepage)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return False
    if not printing:
        return True
    from . import escpos_transports  # noqa: F401, I001  (sets python-escpos up first)
    from escpos.capabilities import get_profile

    return codepage.upper() in get_profile(profile).get_code_pages()


def _usb_id(text: str) -> tuple[int, int] | None:
    """``vvvv:pppp`` in hex, or None (empty or malformed)."""
    try:
        vendor, product = (int(part, 16) for part in text.split(":"))
    except ValueError:
        return None
    return (vendor, product) if 0 <= vendor <= 0xFFFF and 0 <= product <= 0xFFFF else None


def _endpoints(text: str) -> tuple[int, int] | None:
    """``IN,OUT`` endpoint addresses, or None when malformed."""
    try:
        in_ep, out_ep = (int(part.strip(), 0) for part in text.split(","))
    except ValueError:
        return None
    if not (0 <= in_ep <= 0xFF and 0 <= out_ep <= 0xFF):
        return None
    return (in_ep, out_ep) if in_ep & 0x80 and not out_ep & 0x80 else None


def _require(v: Mapping[str, Any], problems: list[Problem]) -> None:
    """What each reader and printer kind needs besides itself."""
    named = {p.path for p in problems}
    reader_kind, printer_kind, printer_url = v.get("reader_kind"), v.get("printer_kind"), v.get("printer_url")
    if reader_kind == "serial" and not v.get("reader_url"):
        problems.append(Problem("reader_url", "is required when reader_kind is serial"))
    if reader_kind == "usb-hid" and not v.get("reader_usb_id") and "reader_usb_id" not in named:
        problems.append(Problem("reader_usb_id", "is required when reader_kind is usb-hid"))
    if printer_kind in ("serial", "network") and not printer_url:
        problems.append(Problem("printer_url", f"is required when printer_kind is {printer_kind}"))
    if printer_kind == "network" and isinstance(printer_url, str) and printer_url:
        host, _, port = printer_url.rpartition(":") if ":" in printer_url else (printer_url, "", "9100")
        if not host or any(c.isspace() for c in host) or not port.isdigit() or not 0 < int(port) < 65536:
            problems.append(Problem("printer_url", f"network printer should be host[:port], not {printer_url!r}"))
    if printer_kind == "usb" and not v.get("printer_usb_id") and "printer_usb_id" not in named:
        problems.append(Problem("printer_usb_id", "is required when printer_kind is usb"))
