"""Device settings: one table of ``DeviceSetting(name, default, help)`` rows, parsed and validated.

The rows are meant to join the agent's SETTINGS table unchanged (same names,
defaults and help); ``load_device_settings(values)`` picks these names from
any mapping (the agent's merged config, environment, CLI options), converts
strings by the type of the default, checks choices and ranges, and returns a
``DeviceSettings`` or raises ``DeviceSettingsError`` listing every problem by
setting name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from shared.cardreads import CHECKS
from .errors import DeviceSettingsError, Problem
from .framing import FRAMINGS
from .hid import REPORT_FORMATS
from .slip import CODES


class DeviceSetting(NamedTuple):
    """One setting: name, default (its type is the setting's type), help."""

    name: str
    default: Any
    help: str


DEVICE_SETTINGS: tuple[DeviceSetting, ...] = (
    DeviceSetting("reader_kind", "none", "Card reader: none, serial (magnetic stripe or scanner on a serial port), usb-hid"),
    DeviceSetting("reader_url", "", "Serial reader: device path (/dev/ttyUSB0, COM3) or pyserial URL (socket://host:port)"),
    DeviceSetting("reader_baud", 9600, "Serial reader: baud rate"),
    DeviceSetting("reader_bytesize", 8, "Serial reader: data bits (7 or 8)"),
    DeviceSetting("reader_parity", "N", "Serial reader: parity N, E or O"),
    DeviceSetting("reader_stopbits", 1, "Serial reader: stop bits (1 or 2)"),
    DeviceSetting("reader_framing", "line", "Serial reader: line (CR/LF-terminated), stx-etx, stx-etx-lrc"),
    DeviceSetting("reader_usb_id", "", "USB reader: vendor:product in hex, e.g. 0c2e:0b8f"),
    DeviceSetting("reader_usb_report", "hidpos", "USB reader: report format hidpos (HID POS scanners) or keyboard"),
    DeviceSetting("reader_check", "auto", "Card number check: auto (EAN when the scanner says so), luhn, none"),
    DeviceSetting("reader_id", "reader-1", "Name of the reader in reads and logs (e.g. the till it serves)"),
    DeviceSetting("printer_kind", "none", "Receipt printer: none, serial, network, usb"),
    DeviceSetting("printer_url", "", "Serial printer: device path or pyserial URL; network printer: host[:port] (9100)"),
    DeviceSetting("printer_baud", 9600, "Serial printer: baud rate"),
    DeviceSetting("printer_usb_id", "", "USB printer: vendor:product in hex, e.g. 04b8:0202"),
    DeviceSetting("printer_usb_endpoints", "0x82,0x01", "USB printer: bulk IN and OUT endpoint addresses"),
    DeviceSetting("printer_codepage", "CP866", "Code page of slip text (CP866 for Russian)"),
    DeviceSetting("printer_profile", "default", "python-escpos printer profile (maps the code page to ESC t n), e.g. TM-T88V"),
    DeviceSetting("printer_columns", 42, "Characters per line: 42 on 80 mm paper, 32 on 58 mm"),
    DeviceSetting("printer_status_check", True, "Ask the printer's status (DLE EOT) before and after each slip"),
    DeviceSetting("printer_status_timeout_ms", 1000, "How long to wait for a status answer"),
    DeviceSetting("slip_code", "barcode", "The card on the slip: barcode (CODE128), qr or none"),
    DeviceSetting("slip_language", "ru", "Slip language: ru or en"),
    DeviceSetting("usb_backend", "", "pyusb backend as module:callable; empty: libusb (firmware_sim.usb_backend:rehearsal_backend to rehearse)"),
)

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
_RANGES = {"reader_baud": (300, 921600), "printer_baud": (300, 921600), "printer_columns": (16, 80),
           "printer_status_timeout_ms": (50, 30000)}


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


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    """All device settings."""

    reader: ReaderSettings
    printer: PrinterSettings
    usb_backend: str


def load_device_settings(values: Mapping[str, Any]) -> DeviceSettings:
    """Parse and validate the device settings in ``values`` (missing ones take their defaults)."""
    problems: list[Problem] = []
    v: dict[str, Any] = {}
    for setting in DEVICE_SETTINGS:
        raw = values.get(setting.name, setting.default)
        value = _convert(setting, raw, problems)
        v[setting.name] = value
        if value is None:
            continue
        if setting.name in _CHOICES and value not in _CHOICES[setting.name]:
            choices = ", ".join(str(c) for c in _CHOICES[setting.name])
            problems.append(Problem(setting.name, f"must be one of {choices}, not {raw!r}"))
        if setting.name in _RANGES and not _RANGES[setting.name][0] <= value <= _RANGES[setting.name][1]:
            low, high = _RANGES[setting.name]
            problems.append(Problem(setting.name, f"must be between {low} and {high}"))
    reader_usb = _usb_id("reader_usb_id", v["reader_usb_id"], problems)
    printer_usb = _usb_id("printer_usb_id", v["printer_usb_id"], problems)
    endpoints = _endpoints(v["printer_usb_endpoints"], problems)
    _require(v, problems, reader_usb, printer_usb)
    if isinstance(v["printer_codepage"], str):
        try:
            "".encode(v["printer_codepage"])
        except LookupError:
            problems.append(Problem("printer_codepage", f"unknown code page {v['printer_codepage']!r}"))
    if isinstance(v["printer_profile"], str) and v["printer_profile"] != "default":
        from . import escpos_transports  # noqa: F401  (sets python-escpos up first)
        from escpos.capabilities import CAPABILITIES

        if v["printer_profile"] not in CAPABILITIES["profiles"]:
            problems.append(Problem("printer_profile", f"unknown python-escpos profile {v['printer_profile']!r}"))
    if v["usb_backend"] and ":" not in v["usb_backend"]:
        problems.append(Problem("usb_backend", "must be module:callable"))
    if problems:
        raise DeviceSettingsError(problems)
    reader = ReaderSettings(v["reader_kind"], v["reader_url"], v["reader_baud"], v["reader_bytesize"],
                            v["reader_parity"], v["reader_stopbits"], v["reader_framing"], reader_usb,
                            v["reader_usb_report"], v["reader_check"], v["reader_id"])
    printer = PrinterSettings(v["printer_kind"], v["printer_url"], v["printer_baud"], printer_usb, endpoints,
                              v["printer_codepage"].upper(), v["printer_profile"], v["printer_columns"],
                              v["printer_status_check"], v["printer_status_timeout_ms"] / 1000, v["slip_code"],
                              v["slip_language"])
    return DeviceSettings(reader, printer, v["usb_backend"])


def settings_from_env(environ: Mapping[str, str] | None = None, prefix: str = "LOYALTY_AGENT_") -> dict[str, str]:
    """Device settings given as environment variables (``LOYALTY_AGENT_PRINTER_KIND=network``)."""
    env = os.environ if environ is None else environ
    names = {s.name for s in DEVICE_SETTINGS}
    return {key[len(prefix):].lower(): value for key, value in env.items()
            if key.startswith(prefix) and key[len(prefix):].lower() in names}


def _convert(setting: DeviceSetting, raw: Any, problems: list[Problem]) -> Any:
    kind = type(setting.default)
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        problems.append(Problem(setting.name, f"should be true or false, not {raw!r}"))
        return None
    if kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        try:
            return int(str(raw).strip())
        except ValueError:
            problems.append(Problem(setting.name, f"should be an integer, not {raw!r}"))
            return None
    if not isinstance(raw, str):
        problems.append(Problem(setting.name, f"should be text, not {raw!r}"))
        return None
    raw = raw.strip()
    return raw.upper() if setting.name == "reader_parity" else raw


def _usb_id(name: str, text: Any, problems: list[Problem]) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        vendor, product = (int(part, 16) for part in str(text).split(":"))
        if not (0 <= vendor <= 0xFFFF and 0 <= product <= 0xFFFF):
            raise ValueError
    except ValueError:
        problems.append(Problem(name, f"should be vendor:product in hex (e.g. 04b8:0202), not {text!r}"))
        return None
    return vendor, product


def _endpoints(text: Any, problems: list[Problem]) -> tuple[int, int]:
    try:
        in_ep, out_ep = (int(part.strip(), 0) for part in str(text).split(","))
        if not (in_ep & 0x80 and not out_ep & 0x80):
            raise ValueError
    except ValueError:
        problems.append(Problem("printer_usb_endpoints", f"should be IN,OUT addresses like 0x82,0x01, not {text!r}"))
        return 0x82, 0x01
    return in_ep, out_ep


def _require(v: dict[str, Any], problems: list[Problem], reader_usb: object, printer_usb: object) -> None:
    if v["reader_kind"] == "serial" and not v["reader_url"]:
        problems.append(Problem("reader_url", "is required when reader_kind is serial"))
    if v["reader_kind"] == "usb-hid" and reader_usb is None and not any(p.path == "reader_usb_id" for p in problems):
        problems.append(Problem("reader_usb_id", "is required when reader_kind is usb-hid"))
    if v["printer_kind"] in ("serial", "network") and not v["printer_url"]:
        problems.append(Problem("printer_url", f"is required when printer_kind is {v['printer_kind']}"))
    if v["printer_kind"] == "network" and v["printer_url"]:
        port = v["printer_url"].rpartition(":")[2] if ":" in v["printer_url"] else "9100"
        if not port.isdigit() or not 0 < int(port) < 65536:
            problems.append(Problem("printer_url", f"network printer should be host[:port], not {v['printer_url']!r}"))
    if v["printer_kind"] == "usb" and printer_usb is None and not any(p.path == "printer_usb_id" for p in problems):
        problems.append(Problem("printer_usb_id", "is required when printer_kind is usb"))
