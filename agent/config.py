"""The agent's settings: declared once in :data:`SETTINGS`, loaded in one order.

Load order (later wins): the defaults below -> the TOML file
(``--config``, else ``$LOYALTY_AGENT_CONFIG``, else
``/etc/loyalty-agent/agent.toml`` if it exists) -> environment variables
``LOYALTY_AGENT_<NAME>`` -> overrides passed by code (tests). Every value is
validated against its setting's type; all problems are reported together,
each naming the setting (``"offline_daily_limit" should be an integer``).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
import urllib.parse
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from shared.identifiers import CardRange

from .devices.errors import DeviceSettingsError, Problem
from .devices.settings import DeviceSettings, device_problems, device_settings

DEFAULT_CONFIG_PATH = Path("/etc/loyalty-agent/agent.toml")
ENV_PREFIX = "LOYALTY_AGENT_"
ENV_CONFIG = "LOYALTY_AGENT_CONFIG"


@dataclass(frozen=True, slots=True)
class Setting:
    """One configuration setting: its name, default, type and a line of help."""

    name: str
    default: Any
    type: str  # str, int, bool, list, card_ranges, table
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("store_id", "", "str", "Store id as the central server knows it, e.g. S001."),
    Setting("agent_id", "", "str", "This agent's id (a store may run several agents); default: <store_id>-1."),
    Setting(
        "terminals",
        [],
        "list",
        'POS terminal ids of this store, e.g. ["P01", "P02"]; give each a key with `terminals add`.',
    ),
    Setting(
        "listen_host", "127.0.0.1", "str", "Address the POS API listens on; loopback unless tills on other PCs call it."
    ),
    Setting("listen_port", 8765, "int", "TCP port of the POS API."),
    Setting("threads", 8, "int", "Worker threads of the HTTP server."),
    Setting("database", "/var/lib/loyalty-agent/agent.sqlite", "str", "Path of the agent's SQLite database."),
    Setting("timezone", "Europe/Moscow", "str", "The store's IANA time zone: business day, shift, birthdays."),
    Setting(
        "broker_url", "", "str", "MQTT broker of the central server (mqtts://host:8883); empty: a standalone store."
    ),
    Setting("broker_username", "", "str", "This agent's broker login (written by `setup --enroll`)."),
    Setting(
        "broker_password",
        "",
        "str",
        "This agent's broker password (written by `setup --enroll`; the file is readable by its owner only).",
    ),
    Setting(
        "broker_protocol",
        5,
        "int",
        "MQTT protocol level: 5 (MQTT v5) or 4 (3.1.1, e.g. the central's embedded demo broker).",
    ),
    Setting("broker_client_id", "", "str", "MQTT client id; default: agent-<store_id>-<agent_id>."),
    Setting(
        "broker_ca_file",
        "",
        "str",
        "CA certificate file for an mqtts:// broker with a private CA; empty: the system's CAs.",
    ),
    Setting(
        "broker_reconnect_max",
        2,
        "int",
        "Longest wait in seconds between two attempts to reach the broker (backoff with jitter; short, "
        "so the store is back within it after a broker restart).",
    ),
    Setting(
        "central_url",
        "",
        "str",
        "The central server's web address this agent enrolled with (for reference and re-enrollment).",
    ),
    Setting(
        "offline_after_seconds",
        300,
        "int",
        "With a broker set, the agent counts as offline when no sync succeeded for this long.",
    ),
    Setting(
        "offline_daily_limit",
        100000,
        "int",
        "Points (minor units) one customer may redeem per day at this store while offline.",
    ),
    Setting(
        "qr_secret", "", "str", "The chain's secret for customers' QR codes (same on every agent); empty: QR disabled."
    ),
    Setting(
        "qr_step_seconds", 30, "int", "Time step of QR codes; a code is accepted for its step and one step either side."
    ),
    Setting(
        "card_ranges",
        [],
        "card_ranges",
        "Card categories: [[card_ranges]] prefix, length, luhn; empty: any 4..32 digits.",
    ),
    Setting("confirmation_ttl_seconds", 600, "int", "How long a phone confirmation code stays valid."),
    Setting("confirmation_attempts", 5, "int", "Wrong confirmation codes allowed before the code is locked."),
    Setting(
        "central_answer_timeout_seconds",
        5,
        "int",
        "How long a till waits for the central server to send or check a redemption confirmation code.",
    ),
    Setting(
        "quote_code_check_ms",
        300,
        "int",
        "Online, how long a quote with a promo code waits for the central server to say the code is still"
        " available (nothing reserved); 0: the quote checks codes locally only.",
    ),
    Setting(
        "receipt_clock_skew_seconds",
        300,
        "int",
        "How far in the future a receipt's time may be (till and agent clocks differ).",
    ),
    Setting("log_level", "INFO", "str", "Logging level: DEBUG, INFO, WARNING, ERROR."),
)
#: card readers and receipt printers (docs/devices.md); their own checks are in agent/devices/settings.py
DEVICE_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "reader_kind",
        "none",
        "str",
        "Card reader: none, serial (magnetic stripe or scanner on a serial port), usb-hid.",
    ),
    Setting(
        "reader_url", "", "str", "Serial reader: device path (/dev/ttyUSB0, COM3) or pyserial URL (socket://host:port)."
    ),
    Setting("reader_baud", 9600, "int", "Serial reader: baud rate."),
    Setting("reader_bytesize", 8, "int", "Serial reader: data bits (7 or 8)."),
    Setting("reader_parity", "N", "str", "Serial reader: parity N, E or O."),
    Setting("reader_stopbits", 1, "int", "Serial reader: stop bits (1 or 2)."),
    Setting("reader_framing", "line", "str", "Serial reader: line (CR/LF-terminated), stx-etx, stx-etx-lrc."),
    Setting("reader_usb_id", "", "str", "USB reader: vendor:product in hex, e.g. 0c2e:0b8f."),
    Setting("reader_usb_report", "hidpos", "str", "USB reader: report format hidpos (HID POS scanners) or keyboard."),
    Setting(
        "reader_check", "auto", "str", "Card number check of reads: auto (EAN when the scanner says so), luhn, none."
    ),
    Setting("reader_id", "reader-1", "str", "Name of the reader in reads, logs and identification events."),
    Setting(
        "reader_terminal",
        "",
        "str",
        "Terminal whose till the reader serves (its reads are that terminal's "
        "identifications); empty: the first of `terminals`.",
    ),
    Setting("printer_kind", "none", "str", "Receipt printer for loyalty slips: none, serial, network, usb."),
    Setting(
        "printer_url", "", "str", "Serial printer: device path or pyserial URL; network printer: host[:port] (9100)."
    ),
    Setting("printer_baud", 9600, "int", "Serial printer: baud rate."),
    Setting("printer_usb_id", "", "str", "USB printer: vendor:product in hex, e.g. 04b8:0202."),
    Setting("printer_usb_endpoints", "0x82,0x01", "str", "USB printer: bulk IN and OUT endpoint addresses."),
    Setting("printer_codepage", "CP866", "str", "Code page of slip text (CP866 for Russian)."),
    Setting(
        "printer_profile",
        "default",
        "str",
        "python-escpos printer profile (maps the code page to ESC t n), e.g. TM-T88V.",
    ),
    Setting("printer_columns", 42, "int", "Characters per slip line: 42 on 80 mm paper, 32 on 58 mm."),
    Setting("printer_status_check", True, "bool", "Ask the printer's status (DLE EOT) before and after each slip."),
    Setting("printer_status_timeout_ms", 1000, "int", "How long to wait for the printer's status answer."),
    Setting("slip_code", "barcode", "str", "The card on the slip: barcode (CODE128), qr or none."),
    Setting("slip_language", "ru", "str", "Slip language: ru or en."),
    Setting(
        "slip_link",
        "",
        "str",
        "A link printed as a QR code at the end of each slip: the customer's web card (PUBLIC_URL/card/) or the "
        "store's sign-up link (PUBLIC_URL/card/join/<store>); empty: none.",
    ),
    Setting("store_name", "", "str", "Store name printed on loyalty slips; empty: the store_id."),
    Setting(
        "usb_backend",
        "",
        "str",
        "pyusb backend as module:callable; empty: libusb (firmware_sim.usb_backend:rehearsal_backend to rehearse).",
    ),
)
SETTINGS += DEVICE_SETTINGS + (
    # the identification stream (GET /v1/identifications/stream) served to tills and the cashier page
    Setting(
        "stream_max_clients",
        4,
        "int",
        "Identification streams (SSE) served at once; each holds a server thread, so keep it below `threads`.",
    ),
    Setting(
        "stream_keepalive_seconds",
        15,
        "int",
        "Keep-alive comment interval of an identification stream (finds gone clients).",
    ),
    Setting(
        "stream_max_seconds",
        300,
        "int",
        "An identification stream ends after this long; the browser reconnects and misses nothing (Last-Event-ID).",
    ),
)

BY_NAME = {s.name: s for s in SETTINGS}

_ID = re.compile(r"\A[A-Za-z0-9_.-]{1,64}\Z")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "bool": "true or false",
    "list": "a list of strings",
    "card_ranges": "a list of {prefix, length, luhn} tables",
    "table": "a table",
}


class ConfigError(ValueError):
    """The configuration has problems; each names its setting."""

    def __init__(self, problems: list[str], source: str = "") -> None:
        self.problems = problems
        where = f" in {source}" if source else ""
        super().__init__(f"invalid configuration{where}:\n" + "\n".join(f"  {p}" for p in problems))


class Config(Mapping[str, Any]):
    """Validated settings, read as ``config.offline_daily_limit`` or ``config["..."]``."""

    def __init__(self, values: Mapping[str, Any], path: Path | None = None) -> None:
        self._values = dict(values)
        self.path = path

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def effective_agent_id(self) -> str:
        return self.agent_id or (f"{self.store_id}-1" if self.store_id else "agent-1")

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def effective_reader_terminal(self) -> str:
        """The terminal the card reader serves: ``reader_terminal``, else the first configured terminal."""
        return self.reader_terminal or (self.terminals[0] if self.terminals else "")

    @property
    def ranges(self) -> tuple[CardRange, ...]:
        return tuple(
            CardRange(r["prefix"], r["length"], r.get("luhn", False), r.get("name", "")) for r in self.card_ranges
        )

    def to_toml(self) -> str:
        """The settings as a TOML document (what ``setup`` writes)."""
        return (
            "# loyalty-agent configuration (loyalty-agent setup --help-settings lists every setting)\n"
            + tomli_w.dumps(dict(self._values))
        )


def defaults() -> dict[str, Any]:
    return {s.name: json.loads(json.dumps(s.default)) for s in SETTINGS}


def config_path(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The file to read: the given path, else $LOYALTY_AGENT_CONFIG, else the default."""
    env = os.environ if env is None else env
    if path:
        return Path(path)
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    return DEFAULT_CONFIG_PATH


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    require_file: bool = False,
    use_file: bool = True,
) -> Config:
    """Defaults -> TOML file -> LOYALTY_AGENT_* environment -> overrides, validated.

    :param require_file: refuse a missing file (a path was given explicitly).
    :param use_file: False: no file at all (tests give every setting as overrides).
    :raises ConfigError: naming every bad setting.
    """
    env = os.environ if env is None else env
    values = defaults()
    file = config_path(path, env)
    if not use_file:
        file = Path("/nonexistent/loyalty-agent.toml")
    elif file.exists():
        values.update(read_toml(file))
    elif require_file or path:
        raise ConfigError([f"config file {file} does not exist (create it with `loyalty-agent setup`)"])
    problems: list[str] = []
    for setting in SETTINGS:
        raw = env.get(ENV_PREFIX + setting.name.upper())
        if raw is not None:
            try:
                values[setting.name] = from_text(setting, raw)
            except ValueError as exc:
                problems.append(f"{ENV_PREFIX}{setting.name.upper()}: {exc}")
    if overrides:
        values.update(overrides)
    problems += validate(values)
    if problems:
        raise ConfigError(problems, str(file) if file.exists() else "")
    return Config(values, file if file.exists() else None)


def read_toml(file: Path) -> dict[str, Any]:
    """A TOML file's settings; unknown names are refused (a typo would be silently ignored)."""
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"cannot read {file}: {exc.strerror}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{file} is not valid TOML: {exc}"]) from None
    unknown = sorted(set(data) - set(BY_NAME))
    if unknown:
        raise ConfigError([f'unknown setting "{name}"' for name in unknown], str(file))
    return data


def from_text(setting: Setting, raw: str) -> Any:
    """A setting's value from text (environment variables, CLI flags)."""
    text = raw.strip()
    if setting.type == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f'"{setting.name}" should be an integer, got {raw!r}') from None
    if setting.type == "bool":
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f'"{setting.name}" should be true or false, got {raw!r}')
    if setting.type == "list":
        return [item.strip() for item in text.split(",") if item.strip()]
    if setting.type == "card_ranges":
        return parse_card_ranges(text)
    if setting.type == "table":
        try:
            value = json.loads(text or "{}")
        except ValueError:
            raise ValueError(f'"{setting.name}" should be a JSON object') from None
        return value
    return raw


def parse_card_ranges(text: str) -> list[dict[str, Any]]:
    """``7700:16:luhn,2000:13`` (or a JSON list) as card range tables."""
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError('"card_ranges" should be a JSON list or PREFIX:LENGTH[:luhn],...') from None
    out = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        parts = item.split(":")
        if (
            len(parts) not in (2, 3)
            or not parts[1].isdigit()
            or (len(parts) == 3 and parts[2] not in ("luhn", "noluhn"))
        ):
            raise ValueError(f'"card_ranges" item {item!r} should be PREFIX:LENGTH or PREFIX:LENGTH:luhn')
        out.append({"prefix": parts[0], "length": int(parts[1]), "luhn": len(parts) == 3 and parts[2] == "luhn"})
    return out


def validate(values: Mapping[str, Any]) -> list[str]:
    """Every problem of a settings mapping, naming the setting."""
    problems = [f'unknown setting "{name}"' for name in sorted(set(values) - set(BY_NAME))]
    typed = {}
    for setting in SETTINGS:
        value = values.get(setting.name, setting.default)
        wrong = type_problem(setting, value)
        if wrong:
            problems.append(wrong)
            continue
        typed[setting.name] = value
        problem = _check_value(setting.name, value)
        if problem:
            problems.append(f'"{setting.name}" {problem}')
    problems += [f'"{p.path}" {p.message}' for p in device_problems(typed)]
    if typed.get("stream_max_clients", 0) >= typed.get("threads", 8):
        problems.append(
            f'"stream_max_clients" should be less than "threads" ({typed.get("threads")}): '
            "each stream holds a thread and the POS API needs one"
        )
    return problems


def load_device_settings(values: Mapping[str, Any]) -> DeviceSettings:
    """The device settings of ``values`` (an agent ``Config``; missing names take their defaults).

    :raises DeviceSettingsError: naming every bad setting.
    """
    v = {s.name: values.get(s.name, s.default) for s in DEVICE_SETTINGS}
    problems = []
    for name, value in v.items():
        wrong = type_problem(BY_NAME[name], value)
        if wrong:
            problems.append(Problem(name, wrong.split(" ", 1)[1]))
    problems += device_problems({**values, **v})
    if problems:
        raise DeviceSettingsError(problems)
    return device_settings(v)


def type_problem(setting: Setting, value: Any) -> str | None:
    """The problem of a value of the wrong type for ``setting``, or None."""
    if _has_type(setting.type, value):
        return None
    return f'"{setting.name}" should be {_TYPE_WORDS[setting.type]}, got {value!r}'


def _has_type(kind: str, value: Any) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "card_ranges":
        return isinstance(value, list) and all(isinstance(v, Mapping) for v in value)
    return isinstance(value, Mapping)


_RANGES = {
    "listen_port": (1, 65535),
    "threads": (1, 256),
    "offline_after_seconds": (1, 10**7),
    "offline_daily_limit": (0, 10**12),
    "qr_step_seconds": (5, 3600),
    "confirmation_ttl_seconds": (30, 7 * 86400),
    "confirmation_attempts": (1, 100),
    "central_answer_timeout_seconds": (1, 60),
    "quote_code_check_ms": (0, 5000),
    "receipt_clock_skew_seconds": (0, 86400),
    "stream_max_clients": (0, 255),
    "stream_keepalive_seconds": (1, 300),
    "stream_max_seconds": (1, 86400),
    "broker_protocol": (4, 5),
    "broker_reconnect_max": (1, 3600),
}


def _check_value(name: str, value: Any) -> str | None:
    if name in _RANGES:
        lo, hi = _RANGES[name]
        return None if lo <= value <= hi else f"should be {lo}..{hi}, got {value}"
    if name in ("store_id", "agent_id") and value and not _ID.match(value):
        return "should be 1..64 letters, digits, '_', '-' or '.'"
    if name == "terminals":
        bad = [t for t in value if not _ID.match(t)]
        if bad:
            return f"has bad terminal ids {bad} (letters, digits, '_', '-', '.')"
        if len(set(value)) != len(value):
            return "lists a terminal twice"
    if name == "timezone":
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return f'is not a known time zone: {value!r} (use an IANA name like "Europe/Moscow")'
    if name == "broker_url" and value and not _broker_url_ok(value):
        return f"should look like mqtt://host:1883 or mqtts://host:8883, got {value!r}"
    if name == "broker_client_id" and value and not _ID.match(value):
        return "should be 1..64 letters, digits, '_', '-' or '.'"
    if name == "central_url" and value and not re.match(r"\Ahttps?://[^\s/]+", value):
        return f"should look like https://central.example.com, got {value!r}"
    if name == "qr_secret" and value and len(value) < 16:
        return "should be at least 16 characters (generate one with `loyalty-agent setup`)"
    if name == "log_level" and value.upper() not in _LOG_LEVELS:
        return f"should be one of {', '.join(_LOG_LEVELS)}"
    if name == "database" and not value:
        return "should be a file path"
    if name == "card_ranges":
        return _check_ranges(value)
    if name == "reader_terminal" and value and not _ID.match(value):
        return "should be a terminal id: 1..64 letters, digits, '_', '-' or '.'"
    return None


def _broker_url_ok(value: str) -> bool:
    """``mqtt(s)://host[:port]``: a host, and a port the MQTT client can connect to."""
    if not re.match(r"\Amqtts?://[^\s/]+", value):
        return False
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port  # ValueError: not a number or out of 0..65535
    except ValueError:
        return False
    return bool(parts.hostname) and port != 0


def _check_ranges(ranges: list[Mapping[str, Any]]) -> str | None:
    for i, r in enumerate(ranges):
        unknown = set(r) - {"prefix", "length", "luhn", "name"}
        prefix, length = r.get("prefix"), r.get("length")
        if unknown:
            return f"[{i}] has unknown keys {sorted(unknown)} (allowed: prefix, length, luhn, name)"
        if not isinstance(prefix, str) or not prefix.isdigit():
            return f"[{i}].prefix should be a string of digits, got {prefix!r}"
        if isinstance(length, bool) or not isinstance(length, int) or not len(prefix) < length <= 32:
            return f"[{i}].length should be an integer longer than the prefix and at most 32, got {length!r}"
        if not isinstance(r.get("luhn", False), bool):
            return f"[{i}].luhn should be true or false"
    return None


def write_config(values: Mapping[str, Any], path: Path) -> Config:
    """Validate and write a config file atomically, readable by its owner only (it holds secrets)."""
    problems = validate(values)
    if problems:
        raise ConfigError(problems)
    config = Config({**defaults(), **values}, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(config.to_toml())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return config


def help_settings() -> str:
    """Every setting with its default and help, for ``--help-settings``."""
    lines = []
    for s in SETTINGS:
        lines.append(
            f"{s.name} (default: {json.dumps(s.default)})\n    {s.help}\n    env: {ENV_PREFIX}{s.name.upper()}"
        )
    return "\n".join(lines)
