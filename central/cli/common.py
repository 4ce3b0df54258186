"""What the command modules of ``loyalty-central`` share: the layered config and the database."""

from __future__ import annotations

from typing import Any

import click

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


def _config(db: str | None, mqtt_url: str | None = None) -> dict[str, Any]:
    """The app's layered config with command-line overrides on top."""
    from .. import create_app

    overrides: dict[str, Any] = {}
    if db:
        overrides["DATABASE"] = db  # a path or a postgresql:// URL; wins over DATABASE_URL
        overrides["DATABASE_URL"] = ""
    if mqtt_url is not None:
        overrides["MQTT_URL"] = mqtt_url
    try:
        app = create_app(overrides)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    return dict(app.config)


def _store(config: dict[str, Any]):  # type: ignore[no-untyped-def]
    from ..storage.store import Store

    return Store(config["DATABASE"])


db_option = click.option(
    "--db",
    "db",
    help="Central database: a SQLite path or a postgresql:// URL (default: the DATABASE_URL or DATABASE setting).",
)
