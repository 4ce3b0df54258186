"""The technician's commands: setup, serve, status, doctor checks, terminals, rules.

Registered on the ``loyalty-agent`` group in agent/cli/__init__.py. Each
command loads the configuration (``--config``, else ``$LOYALTY_AGENT_CONFIG``,
else /etc/loyalty-agent/agent.toml) and turns every library error into a
readable ``click.ClickException``. The database, the calculator, Flask and
the devices are imported inside the commands that use them (fast ``--help``).
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from shared.errors import ValidationError

from ..config import (
    BY_NAME,
    SETTINGS,
    Config,
    ConfigError,
    config_path,
    defaults,
    from_text,
    load_config,
    read_toml,
    validate,
    write_config,
)
from .common import BadInput, config_option, configured_store, format_age, help_settings_option, load, open_store

if TYPE_CHECKING:
    from ..store import Store

#: settings `setup` asks for interactively (the others are flags only, with their defaults)
PROMPTED = (
    "store_id",
    "agent_id",
    "terminals",
    "listen_host",
    "listen_port",
    "database",
    "timezone",
    "broker_url",
    "offline_daily_limit",
    "card_ranges",
    "qr_secret",
)
MIN_FREE_BYTES = 500 * 1024 * 1024
#: settings `setup --enroll` takes from the central server's answer (not prompted)
ENROLLED = ("store_id", "agent_id", "broker_url", "timezone")


# -- setup


def _text(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return ",".join(f"{r['prefix']}:{r['length']}" + (":luhn" if r.get("luhn") else "") for r in value)
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def _setting_options(command: Callable) -> Callable:
    for setting in reversed([s for s in SETTINGS if s.type != "table"]):
        flag = "--" + setting.name.replace("_", "-")
        command = click.option(flag, setting.name, default=None, help=setting.help)(command)
    return command


@click.command()
@_setting_options
@config_option
@click.option("--no-input", is_flag=True, help="Do not prompt: take flags, then the existing file, then defaults.")
@click.option("--no-database", is_flag=True, help="Only write the config; do not create the database.")
@click.option(
    "--enroll",
    "enroll_token",
    default=None,
    metavar="TOKEN",
    help="Enroll with the central server using head office's one-time token (with --central).",
)
@click.option(
    "--central",
    "central",
    default=None,
    metavar="URL",
    help="The central server's web address, e.g. https://central.example.com (with --enroll).",
)
@help_settings_option
def setup(
    config_file: Path | None,
    no_input: bool,
    no_database: bool,
    enroll_token: str | None,
    central: str | None,
    **flags: str | None,
) -> None:
    """Write the agent's config file (TOML) and create its database.

    Prompts for each value with a sensible default (the existing file's value
    when re-run), then for the card reader and the receipt printer, offering
    what `devices list` finds; or takes every value from flags with
    --no-input. Everything is validated before anything is written.

    Example:

    \b
        loyalty-agent setup
        loyalty-agent setup --no-input --config /etc/loyalty-agent/agent.toml \\
            --store-id S001 --terminals P01,P02 --card-ranges 7700:16:luhn \\
            --reader-kind serial --reader-url /dev/ttyUSB0 --printer-kind network --printer-url 192.0.2.10
        loyalty-agent setup --enroll 4fJ0... --central https://central.example.com
    """
    path = config_path(config_file)
    # the existing file's values unvalidated: re-running setup is how a bad value gets fixed
    try:
        current: dict[str, Any] = {**defaults(), **(read_toml(path) if path.exists() else {})}
    except ConfigError as exc:
        raise click.ClickException(f"{exc}\nFix or move the file, then run setup again.") from None
    values = dict(current)
    problems = []
    for name, raw in flags.items():
        if raw is not None:
            try:
                values[name] = from_text(BY_NAME[name], raw)
            except ValueError as exc:
                problems.append(str(exc))
    if problems:
        raise click.ClickException("invalid setup values:\n" + "\n".join(f"  {p}" for p in problems))
    if (enroll_token is None) != (central is None):
        raise click.UsageError("--enroll TOKEN and --central URL go together")
    for name in PROMPTED:
        if enroll_token and name in ENROLLED:
            continue  # the central server's answer decides these
        if name == "agent_id" and not values["agent_id"] and values["store_id"]:
            values["agent_id"] = f"{values['store_id']}-1"
        if not no_input and flags.get(name) is None:
            values[name] = _prompt(name, values)
    if not no_input:  # the card reader and the printer, picked from what is plugged in (agent/cli/setup_devices.py)
        from .setup_devices import prompt_devices

        prompt_devices(values, {name for name, raw in flags.items() if raw is not None}, _prompt)
    problems = validate(values)
    if enroll_token and central and not problems:
        values, problems = _enroll(values, enroll_token, central, flags), validate(values)
    if not values["store_id"]:
        problems.append('"store_id" is required (the store id the central server knows, e.g. S001)')
    if problems:
        raise click.ClickException("the configuration was not written:\n" + "\n".join(f"  {p}" for p in problems))
    # the database before the file: one that cannot be created leaves the old file as it was; but not
    # after an enrollment, whose broker password the central server gives once: that file is written first
    database_first = not no_database and not enroll_token
    if database_first:
        _create_database(Config({**defaults(), **values}, path), "\nThe configuration was not written.")
    try:
        config = write_config(values, path)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    click.echo(f"wrote {path}")
    if not no_database:
        if not database_first:
            _create_database(config)
        click.echo(f"database ready: {config.database}")
    click.echo("next: loyalty-agent terminals add P01   (prints the till's API key once)")


def _create_database(config: Config, note: str = "") -> None:
    try:
        Path(config.database).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"cannot create the database folder: {exc}{note}") from None
    open_store(config).close()


def _enroll(values: dict[str, Any], token: str, central: str, flags: dict[str, str | None]) -> dict[str, Any]:
    """Settings from the central server's enrollment answer over ``values`` (agent/enrollment.py)."""
    from ..enrollment import EnrollmentError, enroll, settings_from_answer

    try:
        answer = enroll(central, token, flags.get("agent_id"))
    except EnrollmentError as exc:
        raise click.ClickException(f"{exc}\nThe configuration was not written.") from None
    given = settings_from_answer(answer, central)
    if flags.get("timezone") is not None:
        given.pop("timezone", None)  # the technician's choice wins
    click.echo(
        f"enrolled as agent {given['agent_id']} of store {given['store_id']} ({answer['store'].get('name')}); "
        f"broker {given['broker_url']} as {given['broker_username']}"
    )
    return {**values, **given}


def _prompt(name: str, values: dict[str, Any]) -> Any:
    setting = BY_NAME[name]

    def check(text: str) -> Any:
        value = from_text(setting, text) if isinstance(text, str) else text
        mine = [p for p in validate({**values, name: value}) if f'"{name}"' in p]
        if mine:
            raise click.BadParameter(mine[0])
        return value

    default = _text(values[name])
    return click.prompt(f"{name} ({setting.help})", default=default, show_default=True, value_proc=check)


# -- serve


@click.command()
@config_option
@click.option("--host", default=None, help="Listen address (default: the listen_host setting).")
@click.option("--port", type=int, default=None, help="Listen port (default: the listen_port setting).")
@help_settings_option
def serve(config_file: Path | None, host: str | None, port: int | None) -> None:
    """Serve the POS API with a production WSGI server (waitress, threads).

    Example:

    \b
        loyalty-agent serve --config /etc/loyalty-agent/agent.toml
    """
    import logging

    import waitress

    from .. import device_manager
    from ..app import create_app
    from ..store import StoreError
    from ..sync import start_sync

    config = load(config_file)
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(config)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    store = app.extensions["loyalty_agent"].store
    sync = start_sync(app)  # the central link, on its own threads (None: a standalone store)
    # systemd stops us with SIGTERM: leave through SystemExit so the database closes cleanly
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    host, port = host or config.listen_host, port or config.listen_port
    click.echo(
        f"loyalty-agent {config.store_id or '(no store id)'} serving http://{host}:{port} (database {config.database})"
    )
    try:
        with device_manager.running(app):  # the card reader and the print worker (agent/device_manager.py)
            waitress.serve(app, host=host, port=port, threads=config.threads, ident="loyalty-agent", _quiet=True)
    finally:
        if sync is not None:
            sync.stop()
        store.close()


# -- status and doctor


def status_data(config: Config, store: Store) -> dict[str, Any]:
    """What `status` shows, as data."""
    from ..service import Service
    from ..store.times import utcnow
    from .device_status import devices_status

    now = utcnow()
    with store.read() as tx:
        rules = tx.rules()
        state = tx.all_state()
        terminals = [dict(t) for t in tx.terminals()]
        depth, age = tx.outbox_depth(), tx.oldest_outbox_age(now)
        # what the till sees: online needs the broker link and a recent answer of the central server
        link = Service(store, config).link(tx, now)
    for t in terminals:
        t.pop("key_hash")
    keyed = {t["id"] for t in terminals if t["revoked_at"] is None}
    return {
        "store_id": config.store_id,
        "agent_id": config.effective_agent_id,
        "database": config.database,
        "rules_version": rules[0] if rules else None,
        "link": link,
        "customers_version": int(state.get("customers_version") or 0),
        "broker_url": config.broker_url or None,
        "last_sync_at": state.get("last_sync_at"),
        "outbox_depth": depth,
        "oldest_outbox_age_seconds": age,
        "terminals": terminals,
        "terminals_without_key": [t for t in config.terminals if t not in keyed],
        "devices": devices_status(config, store),
    }


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(config_file: Path | None, as_json: bool) -> None:
    """Rule-set version, outbox depth and age, last sync, terminals, devices.

    Example:

    \b
        loyalty-agent status
    """
    with configured_store(config_file) as (config, store):
        data = status_data(config, store)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(f"store {data['store_id'] or '-'}, agent {data['agent_id']}, database {data['database']}")
    click.echo(
        "rule set: " + (f"version {data['rules_version']}" if data["rules_version"] is not None else "none installed")
    )
    click.echo(
        f"central link: {data['link']} (broker {data['broker_url'] or 'none: standalone store'}), "
        f"last sync: {data['last_sync_at'] or 'never'}"
    )
    click.echo(
        f"outbox: {data['outbox_depth']} event(s) waiting, oldest {format_age(data['oldest_outbox_age_seconds'])}"
    )
    for t in data["terminals"]:
        state = f"revoked {t['revoked_at']}" if t["revoked_at"] else f"key since {t['created_at']}"
        click.echo(f"terminal {t['id']}{' (' + t['name'] + ')' if t['name'] else ''}: {state}")
    for missing in data["terminals_without_key"]:
        click.echo(f"terminal {missing}: configured, no key yet (loyalty-agent terminals add {missing})")
    from .device_status import describe_devices

    for line in describe_devices(data["devices"]):
        click.echo(line)


def doctor_checks(config_file: Path | None) -> list[tuple[str, str, str]]:
    """(level, check, message) for `doctor`: level is ok, warn or fail."""
    import shutil

    from shared import accrual

    from ..store import Store, StoreError
    from ..store.times import utcnow

    out = [("ok", "calculator engine", f"{accrual.ENGINE} ({accrual.ENGINE_REASON})")]
    path = config_path(config_file)
    if not path.exists() and config_file is None:
        out.append(("warn", "config", f"no config file at {path}: run `loyalty-agent setup` (database checks skipped)"))
        return out
    try:
        config = load_config(config_file)
    except ConfigError as exc:
        return [*out, ("fail", "config", str(exc))]
    out.append(("ok", "config", str(path)))
    db = Path(config.database)
    if not db.exists():
        return [*out, ("fail", "database", f"{db} does not exist: run `loyalty-agent setup` or check `database`")]
    try:
        store = Store(db, agent_id=config.effective_agent_id)
    except StoreError as exc:
        return [*out, ("fail", "database", str(exc))]
    try:
        result = store.integrity_check()
        if result != ["ok"]:
            return [
                *out,
                ("fail", "database integrity", "; ".join(result[:5]) + ": restore the database from a backup"),
            ]
        out.append(("ok", "database integrity", "ok"))
        last, age = store.last_commit_time(), store.oldest_outbox_age()
    except StoreError as exc:
        return [*out, ("fail", "database", str(exc))]
    finally:
        store.close()
    free = shutil.disk_usage(db.parent).free
    out.append(("ok" if free >= MIN_FREE_BYTES else "fail", "free disk", f"{free // 2**20} MiB free in {db.parent}"))
    now = utcnow()
    if now.year < 2024:
        out.append(("fail", "clock", f"the system clock says {now:%Y-%m-%d}: set the date and time (NTP)"))
    elif last and last > now + dt.timedelta(minutes=5):
        out.append(
            (
                "fail",
                "clock",
                f"the last receipt was committed at {last}, after now ({now:%Y-%m-%d %H:%M} UTC): the clock went back",
            )
        )
    else:
        out.append(("ok", "clock", f"{now.astimezone(config.zone):%Y-%m-%d %H:%M %Z} ({config.timezone})"))
    if age is not None and age > 86400:
        out.append(
            ("warn", "outbox", f"the oldest event waits for {format_age(age)}: check the link to the central server")
        )
    return out


def print_doctor(config_file: Path | None) -> None:
    """Print the checks; exit 1 if one failed."""
    checks = doctor_checks(config_file)
    for level, name, message in checks:
        click.echo(f"{'' if level == 'ok' else level.upper() + ' '}{name}: {message}")
    if any(level == "fail" for level, _, _ in checks):
        sys.exit(1)


@click.command()
@config_option
def doctor(config_file: Path | None) -> None:
    """Check the agent's health: calculator engine, config, database integrity, free disk, clock.

    Exits 1 if a check fails.

    Example:

    \b
        loyalty-agent doctor
    """
    print_doctor(config_file)


# -- terminals


@click.group()
def terminals() -> None:
    """Terminal API keys: add (prints the key once), list, revoke."""


@terminals.command("add")
@click.argument("terminal")
@click.option("--name", default=None, help="A human name, e.g. 'Till 1'.")
@click.option("--till", "till", is_flag=True, help="Also print the cashier page's link with the key (and its QR code).")
@click.option(
    "--till-url",
    default=None,
    metavar="URL",
    help="How the tablet reaches the agent, e.g. http://192.168.1.10:8765 (default: the listen address).",
)
@config_option
def terminals_add(terminal: str, name: str | None, till: bool, till_url: str | None, config_file: Path | None) -> None:
    """Give TERMINAL a new API key and print it (once: it is stored hashed).

    With --till, also print the link that opens the cashier page already
    connected as TERMINAL (open it once on the tablet, or scan the QR code).

    Example:

    \b
        loyalty-agent terminals add P01 --name "Till 1"
        loyalty-agent terminals add P03 --name "Tablet" --till --till-url http://192.168.1.10:8765
    """
    from ..auth import add_terminal

    with configured_store(config_file) as (config, store):
        try:
            key = add_terminal(store, terminal, name)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    if config.terminals and terminal not in config.terminals:
        click.echo(f"note: {terminal} is not in the `terminals` setting ({', '.join(config.terminals)})", err=True)
    click.echo(f"API key of terminal {terminal} (shown once; enter it in the till's settings):")
    click.echo(key)
    if till or till_url:
        _print_till_link(config, key, till_url)


def _print_till_link(config: Config, key: str, base_url: str | None) -> None:
    from ..till.link import listens_on_loopback, qr_text, till_base_url, till_link

    link = till_link(base_url or till_base_url(config), key)
    click.echo("cashier page, already connected (open it once on the device; it holds the key, keep it private):")
    click.echo(link)
    click.echo(qr_text(link))
    if base_url is None and listens_on_loopback(config):
        click.echo(
            f"note: the agent listens on {config.listen_host} only: another device reaches it once listen_host is "
            "this PC's LAN address (or 0.0.0.0); then give --till-url http://ADDRESS:PORT",
            err=True,
        )


@terminals.command("list")
@config_option
def terminals_list(config_file: Path | None) -> None:
    """List terminals and whether their key is active."""
    with configured_store(config_file) as (_, store), store.read() as tx:
        rows = tx.terminals()
    if not rows:
        click.echo("no terminals: loyalty-agent terminals add ID")
    for row in rows:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        click.echo(f"{row['id']}\t{row['name'] or ''}\t{state}\tkey since {row['created_at']}")


@terminals.command("revoke")
@click.argument("terminal")
@config_option
def terminals_revoke(terminal: str, config_file: Path | None) -> None:
    """Revoke TERMINAL's key at once (give it a new one with `terminals add`)."""
    from ..auth import revoke_terminal

    with configured_store(config_file) as (_, store):
        done = revoke_terminal(store, terminal)
    if not done:
        raise click.ClickException(f"terminal {terminal} has no active key")
    click.echo(f"revoked the key of terminal {terminal}")


# -- rules


@click.group()
def rules() -> None:
    """The store's rule set (for a store with no central server yet)."""


@rules.command("load")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Install even if older than the installed version.")
@config_option
def rules_load(file: Path, force: bool, config_file: Path | None) -> None:
    """Validate FILE (accrual.md) and install it as the store's rule set.

    Example:

    \b
        loyalty-agent rules load docs/examples/rules.json
    """
    from shared.rules import parse_rules

    from ..store import StoreError

    config = load(config_file)
    try:
        text = file.read_text(encoding="utf-8")
        ruleset = parse_rules(text)
    except OSError as exc:
        raise BadInput(f"cannot read rule set {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"rule set {file} is not UTF-8 text") from None
    except ValidationError as exc:
        raise BadInput(f"{file}: {exc}") from None
    if config.store_id and ruleset.store != config.store_id:
        raise BadInput(f"{file} is the rule set of store {ruleset.store}; this agent is store {config.store_id}")
    store = open_store(config)
    try:
        installed = store.set_rules(text, force=force)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(
        f"{'installed' if installed else 'already installed:'} rule set version {ruleset.version}"
        f" of store {ruleset.store}"
    )


COMMANDS = (setup, serve, status, doctor, terminals, rules)
