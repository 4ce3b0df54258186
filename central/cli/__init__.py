"""``loyalty-central``: the central server's command line.

A thin click layer over the library (central/storage/store.py, central/sync/ingest.py):
library errors become readable messages and exit codes.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import click

from shared.errors import LoyaltyError, ValidationError
from shared.rules import parse_rules

from .common import CONTEXT_SETTINGS, _config, _store, db_option
from .console import register as _register_console
from .database import register as _register_database
from .history import register as _register_history
from .triggers import register as _register_triggers
from .triggers import start_engine as _start_triggers


@click.group(context_settings=CONTEXT_SETTINGS)
def cli() -> None:
    """loyalty-edge central server (ledger, sync ingest, head-office console)."""


@cli.group()
def stores() -> None:
    """Create and list stores."""


def _audit(store: Any, action: str, entity: str, entity_id: Any, after: dict[str, Any], conn: Any = None) -> None:
    """An audit row for a change made on the command line (as "system", with the OS user who ran it).

    With ``conn`` (an open transaction) the row commits with the change it records.
    """
    import getpass

    from ..services import audit
    from ..services.access import SYSTEM

    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        os_user = "?"
    if conn is None:
        with store.transaction() as own:
            return _audit(store, action, entity, entity_id, after, own)
    audit.record(
        conn,
        SYSTEM,
        action,
        entity,
        entity_id,
        None,
        {**after, "via": "cli", "os_user": os_user},
        store=after.get("store"),
    )


@stores.command("add")
@click.argument("store_id")
@click.option("--name", help="Display name (default: the id).")
@click.option("--timezone", default="UTC", show_default=True, help="The store's IANA time zone.")
@click.option("--token-hours", type=int, help="Validity of the enrollment token (default: ENROLL_TOKEN_HOURS).")
@db_option
def stores_add(store_id: str, name: str | None, timezone: str, token_hours: int | None, db: str | None) -> None:
    """Create a store and print a one-time enrollment token for its agent.

    Example:

    \b
        loyalty-central stores add S001 --name "Tverskaya 7" --timezone Europe/Moscow
        loyalty-agent setup --enroll TOKEN --central http://central:8000
    """
    import datetime as dt

    config = _config(db)
    store = _store(config)
    try:
        store.add_store(store_id, name, timezone)
        hours = token_hours or config["ENROLL_TOKEN_HOURS"]
        token = store.new_enrollment_token(store_id, dt.timedelta(hours=hours))
    except LoyaltyError as exc:
        raise click.ClickException(str(exc)) from None
    _audit(
        store,
        "store.add",
        "store",
        store_id,
        {"store": store_id, "name": name or store_id, "timezone": timezone, "token_hours": hours},
    )
    click.echo(f"store {store_id} created; enrollment token (valid {hours} h, usable once):")
    click.echo(token)


@stores.command("token")
@click.argument("store_id")
@click.option("--token-hours", type=int, help="Validity of the token (default: ENROLL_TOKEN_HOURS).")
@db_option
def stores_token(store_id: str, token_hours: int | None, db: str | None) -> None:
    """Print a new one-time enrollment token for another agent of a store.

    Example:

    \b
        loyalty-central stores token S001
    """
    import datetime as dt

    config = _config(db)
    store = _store(config)
    hours = token_hours or config["ENROLL_TOKEN_HOURS"]
    try:
        token = store.new_enrollment_token(store_id, dt.timedelta(hours=hours))
    except LoyaltyError as exc:
        raise click.ClickException(str(exc)) from None
    _audit(store, "store.token", "store", store_id, {"store": store_id, "token_hours": hours})
    click.echo(token)


@stores.command("list")
@db_option
def stores_list(db: str | None) -> None:
    """Print every store with its agents' sync state as JSON.

    Example:

    \b
        loyalty-central stores list
    """
    from ..services.status import stores_status

    click.echo(json.dumps(stores_status(_store(_config(db))), ensure_ascii=False, indent=2))


@cli.command("broker-config")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write passwd and acl (or dynamic-security.json) and loyalty.conf into.",
)
@click.option(
    "--dynsec",
    is_flag=True,
    help="Mosquitto's dynamic security plugin instead of files: enrollment then grants logins at once "
    '(set BROKER_SECURITY = "dynsec").',
)
@click.option("--plugin", default=None, help="Path of mosquitto_dynamic_security.so (with --dynsec).")
@click.option(
    "--nats",
    is_flag=True,
    help="A NATS broker's authorization block instead (nats-auth.conf: bcrypt logins, each agent only its own "
    "subjects; docs/scale.md).",
)
@db_option
def broker_config(out_dir: Path, dynsec: bool, plugin: str | None, nats: bool, db: str | None) -> None:
    """Write a Mosquitto password file and ACL (each agent only under its own store's topics).

    Run again after enrolling agents, then reload Mosquitto (kill -HUP). With
    --dynsec, write the dynamic security plugin's first file instead (once:
    the plugin owns it afterwards) and enrollment needs no re-run.

    Example:

    \b
        loyalty-central broker-config --out /etc/mosquitto/loyalty
        kill -HUP $(pidof mosquitto)
        loyalty-central broker-config --dynsec --out /etc/mosquitto/loyalty
        loyalty-central broker-config --nats --out /etc/nats
    """
    from ..sync import broker_config as bc

    config = _config(db)
    store = _store(config)
    user, password = _central_credentials(config, store)
    agents = store.broker_users()
    out_dir.mkdir(parents=True, exist_ok=True)
    if dynsec:
        _write_dynsec(out_dir, store, user, password, agents, plugin)
        return
    if nats:
        _write_nats(out_dir, store, user, password)
        return
    passwd, acl, conf = out_dir / "passwd", out_dir / "acl", out_dir / "loyalty.conf"
    passwd.write_text(bc.password_file(agents, user, password))
    os.chmod(passwd, 0o600)
    acl.write_text(bc.acl_file(agents, user))
    conf.write_text(bc.broker_settings(str(passwd.resolve()), str(acl.resolve())))
    click.echo(f"wrote {passwd} ({len(agents) + 1} users), {acl} and {conf}")
    click.echo(
        "mosquitto.conf needs these lines after its listener line (as they are in loyalty.conf):\n"
        + bc.broker_settings(str(passwd.resolve()), str(acl.resolve()))
    )


def _write_nats(out_dir: Path, store: Any, user: str, password: str) -> None:
    from ..storage.enrollment import nats_hash
    from ..sync import broker_config as bc

    text, left_out = bc.nats_authorization(store.nats_users(), user, nats_hash(password))
    path = out_dir / "nats-auth.conf"
    path.write_text(text)
    os.chmod(path, 0o600)
    click.echo(f"wrote {path} ({text.count('{user:')} users); nats-server.conf: include ./nats-auth.conf")
    if left_out:
        click.echo(
            "left out (enrolled before bcrypt hashes were kept, or a dot in an id; enroll again): "
            + ", ".join(left_out),
            err=True,
        )


def _write_dynsec(out_dir: Path, store: Any, user: str, password: str, agents: list[Any], plugin: str | None) -> None:
    from ..storage.enrollment import mosquitto_hash
    from ..sync import broker_config as bc
    from ..sync import dynsec as ds

    path, conf = out_dir / "dynamic-security.json", out_dir / "loyalty.conf"
    admin_user, admin_password = store.dynsec_admin_credentials(user)
    if path.exists():
        click.echo(f"{path} exists: left as it is (the plugin owns it; enrollment adds agents to it)")
    else:
        doc = ds.initial_config(agents, user, mosquitto_hash(password), admin_user, mosquitto_hash(admin_password))
        path.write_text(json.dumps(doc, indent=1))
        os.chmod(path, 0o600)
        click.echo(f"wrote {path} ({len(agents)} agents, the central server and its admin login {admin_user})")
    settings = ds.broker_settings(str(path.resolve()), plugin or ds.PLUGIN_PATH)
    settings += (
        "# the ingest's queue must hold a backlog while it reconnects (the protocol never relies on it)\n"
        f"max_queued_messages {bc.MAX_QUEUED_MESSAGES}\nmax_queued_bytes {bc.MAX_QUEUED_BYTES}\n"
    )
    conf.write_text(settings)
    click.echo(
        f"wrote {conf}; mosquitto.conf needs these lines after its listener line:\n{settings}"
        'and the central server BROKER_SECURITY = "dynsec"'
    )


def _central_credentials(config: dict[str, Any], store: Any) -> tuple[str, str]:
    if config["MQTT_USERNAME"]:
        return config["MQTT_USERNAME"], config["MQTT_PASSWORD"]
    return store.central_credentials()  # type: ignore[no-any-return]


@cli.group()
def rules() -> None:
    """Rule sets (accrual.md)."""


@rules.command("publish")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--store", "store_id", required=True, help="The store the rule set is for.")
@db_option
def rules_publish(path: Path, store_id: str, db: str | None) -> None:
    """Validate a rule set and make it the store's next version (published retained to its agents).

    Example:

    \b
        loyalty-central rules publish docs/examples/rules.json --store S001
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read rule set {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise click.ClickException(f"{path}: a rule set must be a JSON object")
    store = _store(_config(db))
    try:
        version, note = _publish_rules(store, store_id, doc, str(path))
    except ValidationError as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    except LoyaltyError as exc:
        raise click.ClickException(str(exc)) from None
    if note:
        click.echo(note)
    click.echo(f"rule set version {version} for store {store_id}; the ingest publishes it to the store's agents")


def _publish_rules(store: Any, store_id: str, doc: dict[str, Any], source: str) -> tuple[int, str | None]:
    """Publish as the console does: the store's time zone and the chain's level program go in.

    Levels are chain-wide (docs/console.md): a file's levels become the program
    when there is none yet; otherwise the program's levels replace them.
    """
    from ..points import levels
    from ..services.rules import with_program

    record = store.get_store(store_id)
    note = None
    if doc.get("timezone") not in (None, record["timezone"]):
        note = (
            f"the store's time zone {record['timezone']} replaces the file's {doc['timezone']} "
            f"(change it with the store, in the console)"
        )
    file_levels = doc.get("levels") if isinstance(doc.get("levels"), list) else []
    if file_levels:
        parse_rules({**doc, "version": 1})  # the levels are checked before they become the program
        with store.transaction() as conn:
            wanted = [(lv["name"], lv["from_spend"], lv["percent"]) for lv in file_levels]
            if levels.adopt(conn, wanted):
                note = "\n".join(
                    filter(None, [note, f"the file's {len(wanted)} levels are now the chain's level program"])
                )
            elif store.level_rows() != sorted(wanted, key=lambda lv: lv[1]):
                note = "\n".join(
                    filter(
                        None,
                        [
                            note,
                            "levels are chain-wide: the level program's levels replace the file's"
                            " (edit them in the console)",
                        ],
                    )
                )
    published = with_program(store, doc, record)
    with store.transaction() as conn:  # the version and its audit row: all or nothing
        version = store.add_rules(store_id, published, conn)
        _audit(store, "rules.publish", "rules", store_id, {"store": store_id, "version": version, "file": source}, conn)
    return version, note


@cli.group()
def messages() -> None:
    """Cashier messages shown at a store's tills."""


@messages.command("add")
@click.argument("text")
@click.option("--store", "store_id", required=True, help="The store whose cashiers see it.")
@click.option("--until", help="ISO 8601 time after which it is no longer shown.")
@db_option
def messages_add(text: str, store_id: str, until: str | None, db: str | None) -> None:
    """Add a cashier message for a store (published retained with the store's other messages).

    Example:

    \b
        loyalty-central messages add "Double points on sushi today" --store S001 --until 2026-11-22T00:00:00+03:00
    """
    store = _store(_config(db))
    try:
        ident = store.add_store_message(store_id, text, until)
    except LoyaltyError as exc:
        raise click.ClickException(str(exc)) from None
    _audit(
        store, "store.message", "store", store_id, {"store": store_id, "message": ident, "text": text, "until": until}
    )
    click.echo(f"message {ident} for store {store_id}")


def _link_config(config: dict[str, Any], store: Any, url: str, protocol: int):  # type: ignore[no-untyped-def]
    from transport.mqtt import LinkConfig

    user, password = _central_credentials(config, store)
    # the client id is the username: broker-config makes Mosquitto enforce that (use_username_as_clientid)
    return LinkConfig(
        url=url,
        client_id=user,
        username=user,
        password=password,
        protocol=protocol,
        backoff_max=float(config["MQTT_RECONNECT_MAX"]),
    )


def _start_ingest(  # type: ignore[no-untyped-def]
    config: dict[str, Any], url: str, protocol: int, worker: str | None = None
):
    from ..sync.ingest import Ingest

    store = _store(config)
    link = _link_config(config, store, url, protocol)
    store.close()
    parts = int(config["INGEST_PARTITIONS"])
    if parts and worker:
        # several workers: each its own MQTT session (docs/scale.md: one broker login per worker, or an ACL
        # that lets the central login use these client ids)
        import dataclasses

        link = dataclasses.replace(link, client_id=f"{link.client_id}-{worker}")
    return Ingest(
        config["DATABASE"],
        link,
        gap_wait=float(config["GAP_WAIT"]),
        worker=worker,
        partitions=parts,
        lease_ttl=float(config["INGEST_LEASE_SECONDS"]),
    ).start()


def _start_sender(config: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The message sender (central/messages/sender.py); one at a time across processes (a lease)."""
    from ..messages.rules import Policy
    from ..messages.sender import Sender

    try:
        start, end = (int(part) for part in str(config["MESSAGES_QUIET_HOURS"]).split("-"))
        if not (0 <= start < 24 and 0 <= end < 24):
            raise ValueError
    except ValueError:
        raise click.ClickException(
            f"MESSAGES_QUIET_HOURS should be like 21-9, got {config['MESSAGES_QUIET_HOURS']!r}"
        ) from None
    policy = Policy(
        quiet_start=start,
        quiet_end=end,
        cap_per_day=int(config["MESSAGES_CAP_PER_DAY"]),
        zone=config["CONSOLE_TIMEZONE"],
    )
    return Sender(
        config["DATABASE"],
        policy=policy,
        public_url=config["PUBLIC_URL"],
        concurrency=max(1, int(config["MESSAGES_CONCURRENCY"])),
    ).start()


def _wait_for_signal() -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of the web server.")
@click.option("--port", default=8000, show_default=True, help="Port of the web server.")
@click.option("--mqtt-url", help="Broker URL (default: the MQTT_URL setting; empty: embedded broker).")
@click.option("--no-ingest", is_flag=True, help="Web server only (run 'loyalty-central ingest' apart).")
@click.option("--help-settings", is_flag=True, help="List the settings and exit.")
@db_option
def serve(host: str, port: int, mqtt_url: str | None, no_ingest: bool, help_settings: bool, db: str | None) -> None:
    """Run the web server (enrollment, status API) and the MQTT ingest together.

    With no broker configured, an embedded MQTT broker (amqtt, MQTT 3.1.1)
    is started on 127.0.0.1 so the demo needs nothing installed.

    Example:

    \b
        loyalty-central serve
        loyalty-central serve --mqtt-url mqtt://broker:1883 --host 0.0.0.0
    """
    if help_settings:
        from ..config import SETTINGS

        for setting in SETTINGS:
            click.echo(f"{setting.name} (default {setting.default!r})\n    {setting.help}")
        return
    from werkzeug.serving import make_server

    from .. import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = _config(db, mqtt_url)
    embedded = None
    url, protocol = config["MQTT_URL"], config["MQTT_PROTOCOL"]
    if not url:
        from ..sync.embedded_broker import PROTOCOL, EmbeddedBroker

        try:
            embedded = EmbeddedBroker(config["EMBEDDED_BROKER_PORT"]).start()
        except OSError as exc:
            raise click.ClickException(
                f"cannot start the embedded broker on port {config['EMBEDDED_BROKER_PORT']}: "
                f"{exc}; set EMBEDDED_BROKER_PORT or MQTT_URL"
            ) from None
        url, protocol = embedded.url, PROTOCOL
        click.echo(f"embedded MQTT broker (3.1.1, loopback only) on {url}")
    app = create_app({**{k: v for k, v in config.items() if k.isupper()}, "MQTT_URL": url, "MQTT_PROTOCOL": protocol})
    from ..storage.connection import Database

    mend = Database(config["DATABASE"])  # a receipt import cut off (kill -9) may have left two indexes dropped
    mend.mend_line_indexes()
    mend.close()
    ingest = None
    if not no_ingest and config["INGEST"]:
        ingest = _start_ingest(config, url, protocol)
        click.echo(f"ingest connected to {url}")
    scheduler = None
    if int(config["NIGHTLY_HOUR"]) >= 0:
        from ..points.nightly import NightlyScheduler

        scheduler = NightlyScheduler(
            config["DATABASE"], int(config["NIGHTLY_HOUR"]), config["CONSOLE_TIMEZONE"]
        ).start()
    sender = _start_sender(config) if config["MESSAGES_SENDER"] else None
    trigger_engine = _start_triggers(config) if config["TRIGGERS_ENGINE"] else None
    segment_clock = None
    if config["SEGMENTS_CLOCK"]:
        from ..marketing.segment_clock import SegmentClock

        segment_clock = SegmentClock(config["DATABASE"]).start()  # time-relative segments at the local midnight
    if config["REPORTS_WARM_UP"]:
        from ..services.analytics import warm_columns

        warm_columns(config["DATABASE"])  # the reports' columns, read before the first report request asks
    if config["SEGMENTS_WARM_UP"]:
        from ..services.segments import warm_snapshot

        warm_snapshot(config["DATABASE"])  # the segments' column snapshot, built before the first count asks
    server = make_server(host, port, app, threaded=True)
    click.echo(f"central server on http://{host}:{server.server_port}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _wait_for_signal()
    finally:
        server.shutdown()
        if sender is not None:
            sender.stop()
        if trigger_engine is not None:
            trigger_engine.stop()
        if segment_clock is not None:
            segment_clock.stop()
        if scheduler is not None:
            scheduler.stop()
        if ingest is not None:
            ingest.stop()
        if embedded is not None:
            embedded.stop()


@cli.command()
@click.option("--mqtt-url", help="Broker URL (default: the MQTT_URL setting).")
@click.option(
    "--worker",
    default=None,
    help="This worker's name, one of several ingest processes on one database (with INGEST_PARTITIONS > 0).",
)
@db_option
def ingest(mqtt_url: str | None, worker: str | None, db: str | None) -> None:
    """Run the MQTT ingest alone (no web server); several at once with INGEST_PARTITIONS (docs/scale.md).

    Example:

    \b
        loyalty-central ingest --mqtt-url mqtt://broker:1883
        LOYALTY_CENTRAL_INGEST_PARTITIONS=16 loyalty-central ingest --worker w1 --db postgresql://...
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = _config(db, mqtt_url)
    if not config["MQTT_URL"]:
        raise click.ClickException(
            "no broker: give --mqtt-url or set LOYALTY_CENTRAL_MQTT_URL (the embedded broker runs only inside 'serve')"
        )
    runner = _start_ingest(config, config["MQTT_URL"], config["MQTT_PROTOCOL"], worker)
    click.echo(f"ingest {runner.worker} connected to {config['MQTT_URL']}", err=True)
    try:
        _wait_for_signal()
    finally:
        runner.stop()


@cli.command()
@db_option
def send(db: str | None) -> None:
    """Run the message sender alone (when 'serve' runs with MESSAGES_SENDER false).

    Only one sender works at a time (a lease in the database); a second one waits.

    Example:

    \b
        loyalty-central send
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sender = _start_sender(_config(db, None))
    click.echo("message sender running")
    try:
        _wait_for_signal()
    finally:
        sender.stop()


_register_console(cli)  # users, import, nightly: central/cli/console.py
_register_database(cli)  # migrate, copy-db (SQLite or PostgreSQL): central/cli/database.py
_register_history(cli)  # import-receipts: central/cli/history.py
_register_triggers(cli)  # triggers run/once/list/start/stop: central/cli/triggers.py
