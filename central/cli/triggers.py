"""``loyalty-central triggers``: run the triggers' engine alone, one pass, list, start and stop (docs/triggers.md)."""

from __future__ import annotations

import json
import logging
import signal
import threading
from typing import Any

import click

from .common import _config, _store, db_option


def _wait_for_signal() -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()


def start_engine(config: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The triggers' engine on a thread (central/marketing/trigger_engine.py); one at a time across processes."""
    from ..marketing.trigger_engine import TriggerEngine

    return TriggerEngine(config["DATABASE"], interval=float(config["TRIGGERS_INTERVAL"])).start()


@click.group()
def triggers() -> None:
    """Multi-step triggers: the engine and its controls."""


@triggers.command("run")
@db_option
def triggers_run(db: str | None) -> None:
    """Run the triggers' engine alone (when 'serve' runs with TRIGGERS_ENGINE false).

    Example:

    \b
        loyalty-central triggers run
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    engine = start_engine(_config(db, None))
    click.echo("trigger engine running")
    try:
        _wait_for_signal()
    finally:
        engine.stop()


@triggers.command("once")
@db_option
def triggers_once(db: str | None) -> None:
    """One pass of the engine: the new events, then every due customer."""
    from ..marketing.trigger_engine import run_once

    store = _store(_config(db, None))
    events, runs, actions = run_once(store)
    click.echo(f"events {events}, runs {runs}, actions {actions}")
    store.close()


@triggers.command("list")
@db_option
def triggers_list(db: str | None) -> None:
    """The triggers with their state and per-step statistics (JSON lines)."""
    from ..services import triggers as service
    from ..services.access import SYSTEM

    store = _store(_config(db, None))
    for row in service.listing(store, SYSTEM):
        click.echo(
            json.dumps({k: row[k] for k in ("id", "name", "grp", "owner_store", "state", "version", "hours", "steps")})
        )
    store.close()


@triggers.command("start")
@click.argument("trigger_id", type=int)
@db_option
def triggers_start(trigger_id: int, db: str | None) -> None:
    """Start (or resume) a trigger: every customer not yet in enters step 1."""
    from ..services import triggers as service
    from ..services.access import SYSTEM

    store = _store(_config(db, None))
    click.echo(f"{service.start(store, SYSTEM, trigger_id)} customers entered")
    store.close()


@triggers.command("stop")
@click.argument("trigger_id", type=int)
@db_option
def triggers_stop(trigger_id: int, db: str | None) -> None:
    """Stop a trigger (progress is kept)."""
    from ..services import triggers as service
    from ..services.access import SYSTEM

    store = _store(_config(db, None))
    service.stop(store, SYSTEM, trigger_id)
    store.close()


def register(cli: click.Group) -> None:
    cli.add_command(triggers)
