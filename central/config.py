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
    Setting(
        "DATABASE",
        "instance/central.sqlite",
        "Path of the central SQLite database (WAL mode), or a postgresql:// URL (as DATABASE_URL).",
    ),
    Setting(
        "DATABASE_URL",
        "",
        "The central database on PostgreSQL: postgresql://user:password@host:port/name (psycopg 3; "
        "docs/scale.md); wins over DATABASE. Empty: the SQLite file DATABASE.",
    ),
    Setting(
        "MQTT_URL",
        "",
        "Broker the central server connects to (mqtt://host:port or mqtts://); "
        "empty: start the embedded broker on loopback.",
    ),
    Setting("MQTT_PUBLIC_URL", "", "Broker URL given to enrolling agents; empty: the same as MQTT_URL."),
    Setting("MQTT_PROTOCOL", 5, "MQTT protocol level: 5 (MQTT v5) or 4 (3.1.1); the embedded broker forces 4."),
    Setting(
        "MQTT_USERNAME",
        "",
        "The central server's broker username; empty: 'central' with a generated "
        "password kept in the database (what broker-config writes).",
    ),
    Setting("MQTT_PASSWORD", "", "The central server's broker password (with MQTT_USERNAME)."),
    Setting(
        "BROKER_SECURITY",
        "files",
        "How agents get their broker login and ACL: 'dynsec' (Mosquitto's dynamic "
        "security plugin: enrollment grants them at once, over MQTT) or 'files' (a password file and ACL that "
        "'broker-config' writes; re-run it and SIGHUP Mosquitto after each enrollment).",
    ),
    Setting(
        "MQTT_RECONNECT_MAX",
        2.0,
        "Longest wait in seconds between two attempts to reach the broker "
        "(exponential backoff with full jitter from 0.2 s; one client, so a short cap costs the broker "
        "nothing and the ingest is back within it after an outage).",
    ),
    Setting("EMBEDDED_BROKER_PORT", 1883, "Port of the embedded broker (127.0.0.1 only)."),
    Setting("INGEST", True, "Run the MQTT ingest inside 'serve' (false: run 'loyalty-central ingest' apart)."),
    Setting(
        "INGEST_PARTITIONS",
        0,
        "Several ingest workers on one database: agents' streams in this many partitions, each applied by "
        "one worker at a time under a lease (e.g. 16; docs/scale.md). 0: one ingest applies everything.",
    ),
    Setting("INGEST_LEASE_SECONDS", 5.0, "How long a killed ingest worker's partitions wait before others take them."),
    Setting("ENROLL_TOKEN_HOURS", 72, "How long a new enrollment token can be used."),
    Setting("GAP_WAIT", 2.0, "Seconds the ingest waits for a missing seq before asking the agent to resend."),
    Setting(
        "SECRET_KEY",
        "",
        "Signs the console's session cookies; empty: a random key generated once and kept "
        "in the database (set it when several web processes share one database).",
    ),
    Setting("CONSOLE_TIMEZONE", "Europe/Moscow", "Time zone the console shows times and takes dates in (IANA name)."),
    Setting("SESSION_HOURS", 12, "How long a console sign-in lasts."),
    Setting(
        "MESSAGES_SENDER", True, "Run the message sender inside 'serve' (false: run 'loyalty-central send' apart)."
    ),
    Setting(
        "TRIGGERS_ENGINE", True, "Run the triggers' engine inside 'serve' (false: run 'loyalty-central triggers run')."
    ),
    Setting(
        "REPORTS_WARM_UP",
        True,
        "Read the reports' columns in the background when 'serve' starts (false: on the first report request).",
    ),
    Setting(
        "SEGMENTS_WARM_UP",
        True,
        "Build the segments' column snapshot in the background when 'serve' starts (false: on the first count).",
    ),
    Setting(
        "SEGMENTS_CLOCK",
        True,
        "Refresh the time-relative dynamic segments inside 'serve' when the chain's local date changes (a look a"
        " minute; false: only the nightly job refreshes them).",
    ),
    Setting("TRIGGERS_INTERVAL", 1.0, "Seconds between the triggers' engine passes when idle."),
    Setting(
        "MESSAGES_QUIET_HOURS",
        "21-9",
        "Local hours (customer's home store) when marketing messages wait: 'start-end', e.g. 21-9; '0-0': none.",
    ),
    Setting("MESSAGES_CAP_PER_DAY", 0, "Marketing messages per customer in any 24 hours; 0: no cap."),
    Setting(
        "MESSAGES_CONCURRENCY",
        4,
        "Messages the sender has in flight at once (one connection each to the SMTP server or gateway).",
    ),
    Setting(
        "PUBLIC_URL",
        "",
        "The central server's public address (https://crm.example.com), for unsubscribe "
        "links in messages; empty: no link (marketing email should not go out without one).",
    ),
    Setting(
        "SESSION_COOKIE_SECURE",
        False,
        "Send the console's session cookie over HTTPS only: set it to true "
        "whenever the console is served over HTTPS (directly or behind a TLS proxy).",
    ),
    Setting("SESSION_COOKIE_SAMESITE", "Lax", "SameSite of the session cookie: Lax or Strict."),
    Setting(
        "MAX_CONTENT_LENGTH",
        64 * 1024 * 1024,
        "Largest request body in bytes (imports of customer files); larger requests get 413.",
    ),
    Setting(
        "IMPORT_KEEP_HOURS",
        24,
        "Hours an uploaded file whose check nobody imported is kept before it is "
        "deleted (imported and failed files are deleted at once).",
    ),
    Setting(
        "LOGIN_MAX_FAILURES",
        10,
        "Wrong passwords in a row for one user from one address before that "
        "user is locked out from that address (LOGIN_LOCK_MINUTES).",
    ),
    Setting(
        "LOGIN_LOCK_MINUTES", 15, "How long such a lockout lasts (the same user from another address is not locked)."
    ),
    Setting(
        "LOGIN_ADDRESS_LIMIT",
        30,
        "Failed sign-ins from one address within LOGIN_LOCK_MINUTES after which "
        "that address may not try any username until the window passes.",
    ),
    Setting(
        "TRUSTED_PROXIES",
        0,
        "Reverse proxies in front of the server whose X-Forwarded-For is trusted "
        "for the client's address (sign-in throttling, audit); 0: use the connection's address.",
    ),
    Setting(
        "STORE_MANAGER_SCOPE",
        "shopped",
        "Which customers a store manager sees: 'home' (registered at "
        "their stores) or 'shopped' (also those who bought there, read-only unless registered there).",
    ),
    Setting(
        "NIGHTLY_HOUR",
        3,
        "Hour (CONSOLE_TIMEZONE) at which 'serve' runs the nightly job (expiry, levels); "
        "-1: never (run 'loyalty-central nightly' from cron instead).",
    ),
    # the customer's web card (docs/web-card.md)
    Setting(
        "QR_SECRET",
        "",
        "The chain's secret for customers' rotating QR codes: the agents' qr_secret (at least 16 characters); "
        "empty: the web card shows the barcode only.",
    ),
    Setting("QR_STEP", 30, "Seconds a web card QR code lasts (the agents' qr_step)."),
    Setting("WEB_CODE_MINUTES", 10, "How long an SMS code of the web card can be used."),
    Setting("WEB_CODE_ATTEMPTS", 5, "Wrong tries of one SMS code before it is void."),
    Setting("WEB_CODE_RESEND_SECONDS", 60, "Wait before another code to the same phone."),
    Setting("WEB_CODES_PER_PHONE", 5, "Codes sent to one phone per hour."),
    Setting("WEB_CODES_PER_ADDRESS", 20, "Codes asked from one address per hour."),
    Setting("WEB_WRONG_CODES_PER_ADDRESS", 30, "Wrong codes typed from one address per hour (any phones)."),
    Setting(
        "WEB_CODES_PER_HOUR",
        500,
        "Codes the whole chain sends by SMS per hour (every phone, every address): "
        "the most an attack spread over many addresses can cost; 0: no cap.",
    ),
    Setting(
        "WEB_CODE_REGIONS",
        "",
        "Countries the web card sends codes to, comma-separated ISO codes (RU,KZ,BY); empty: any country.",
    ),
    Setting("WEB_SESSION_DAYS", 30, "How long a customer stays signed in to the web card."),
    Setting(
        "WEB_CARD_COOKIE_SECURE",
        False,
        "Send the web card's session cookie over HTTPS only (set it whenever the card is served over HTTPS).",
    ),
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
        raise ValueError(
            f'"CONSOLE_TIMEZONE" should be an IANA time zone, got {config.get("CONSOLE_TIMEZONE")!r}'
        ) from None
    if config.get("BROKER_SECURITY", "files") not in ("files", "dynsec"):
        raise ValueError('"BROKER_SECURITY" should be "dynsec" or "files"')
    if not 0.2 <= config.get("MQTT_RECONNECT_MAX", 2.0) <= 3600:
        raise ValueError('"MQTT_RECONNECT_MAX" should be between 0.2 and 3600 seconds')
    if config.get("SESSION_COOKIE_SAMESITE", "Lax") not in ("Lax", "Strict"):
        raise ValueError('"SESSION_COOKIE_SAMESITE" should be "Lax" or "Strict"')
    for name in ("LOGIN_MAX_FAILURES", "LOGIN_LOCK_MINUTES", "LOGIN_ADDRESS_LIMIT", "MAX_CONTENT_LENGTH"):
        if config.get(name, 1) < 1:
            raise ValueError(f'"{name}" should be at least 1')
    for name in ("IMPORT_KEEP_HOURS", "TRUSTED_PROXIES"):
        if config.get(name, 0) < 0:
            raise ValueError(f'"{name}" should not be negative')
    if config.get("STORE_MANAGER_SCOPE", "shopped") not in ("home", "shopped"):
        raise ValueError('"STORE_MANAGER_SCOPE" should be "home" or "shopped"')
    if config.get("QR_SECRET") and len(config["QR_SECRET"]) < 16:
        raise ValueError('"QR_SECRET" should be at least 16 characters (the agents\' qr_secret)')
    for name in ("QR_STEP", "WEB_CODE_MINUTES", "WEB_CODE_ATTEMPTS", "WEB_SESSION_DAYS"):
        if config.get(name, 1) < 1:
            raise ValueError(f'"{name}" should be at least 1')
    url = config.get("DATABASE_URL", "")
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise ValueError('"DATABASE_URL" should be a postgresql:// URL (or empty: the SQLite file DATABASE)')
    if config.get("MQTT_PROTOCOL", 5) not in (4, 5):
        raise ValueError('"MQTT_PROTOCOL" should be 5 or 4')


def data_folder(config: Mapping[str, Any], instance_path: str) -> str:
    """Where uploads and exports go: beside the SQLite file, or the instance folder when the database is
    PostgreSQL."""
    import os

    database = str(config.get("DATABASE", ""))
    if database.startswith(("postgresql://", "postgres://")):
        return instance_path
    return os.path.dirname(os.path.abspath(database))
