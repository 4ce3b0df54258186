"""The central server's settings: declared once, with defaults and help.

Load order (later wins): these defaults, the instance file
``instance/central.cfg`` (Python syntax, ``from_pyfile``), environment
variables ``LOYALTY_CENTRAL_<NAME>`` (JSON-parsed by Flask's
``from_prefixed_env``), then the ``config`` given to ``create_app``.
``loyalty-central serve --help-settings`` lists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS = (
    Setting("DATABASE", "instance/central.sqlite", "Path of the central SQLite database (WAL mode)."),
    Setting("MQTT_URL", "", "Broker the central server connects to (mqtt://host:port or mqtts://); "
            "empty: start the embedded broker on loopback."),
    Setting("MQTT_PUBLIC_URL", "", "Broker URL given to enrolling agents; empty: the same as MQTT_URL."),
    Setting("MQTT_PROTOCOL", 5, "MQTT protocol level: 5 (MQTT v5) or 4 (3.1.1); the embedded broker forces 4."),
    Setting("MQTT_USERNAME", "", "The central server's broker username; empty: 'central' with a generated "
            "password kept in the database (what broker-config writes)."),
    Setting("MQTT_PASSWORD", "", "The central server's broker password (with MQTT_USERNAME)."),
    Setting("EMBEDDED_BROKER_PORT", 1883, "Port of the embedded broker (127.0.0.1 only)."),
    Setting("INGEST", True, "Run the MQTT ingest inside 'serve' (false: run 'loyalty-central ingest' apart)."),
    Setting("ENROLL_TOKEN_HOURS", 72, "How long a new enrollment token can be used."),
    Setting("GAP_WAIT", 2.0, "Seconds the ingest waits for a missing seq before asking the agent to resend."),
    Setting("SECRET_KEY", "", "Signs the console's session cookies; empty: a random key generated once and kept "
            "in the database (set it when several web processes share one database)."),
    Setting("CONSOLE_TIMEZONE", "Europe/Moscow", "Time zone the console shows times and takes dates in (IANA name)."),
    Setting("SESSION_HOURS", 12, "How long a console sign-in lasts."),
    Setting("MESSAGES_SENDER", True, "Run the message sender inside 'serve' (false: run 'loyalty-central send' apart)."),
    Setting("MESSAGES_QUIET_HOURS", "21-9", "Local hours (customer's home store) when marketing messages wait: "
            "'start-end', e.g. 21-9; '0-0': none."),
    Setting("MESSAGES_CAP_PER_DAY", 0, "Marketing messages per customer in any 24 hours; 0: no cap."),
    Setting("PUBLIC_URL", "", "The central server's public address (https://crm.example.com), for unsubscribe "
            "links in messages; empty: no link (marketing email should not go out without one)."),
    Setting("NIGHTLY_HOUR", 3, "Hour (CONSOLE_TIMEZONE) at which 'serve' runs the nightly job (expiry, levels); "
            "-1: never (run 'loyalty-central nightly' from cron instead)."),
)
DEFAULTS = {s.name: s.default for s in SETTINGS}


def check_settings(config: Mapping[str, Any]) -> None:
    """Fail at startup, naming the setting, when a value has the wrong type."""
    for setting in SETTINGS:
        value = config.get(setting.name, setting.default)
        expected = type(setting.default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ValueError(f'"{setting.name}" should be {expected.__name__}, got {value!r}')
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(config.get("CONSOLE_TIMEZONE", "UTC"))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'"CONSOLE_TIMEZONE" should be an IANA time zone, got {config.get("CONSOLE_TIMEZONE")!r}') from None
    if config.get("MQTT_PROTOCOL", 5) not in (4, 5):
        raise ValueError('"MQTT_PROTOCOL" should be 5 or 4')
