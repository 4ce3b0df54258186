"""What the ``loyalty-agent`` commands share: ``--config``, loading the configuration and the database, errors.

Heavy modules (the database layer pulls sqlite-utils and numpy) are imported
inside the functions that use them, so ``loyalty-agent --help`` and
``loyalty-agent COMMAND --help`` start fast (docs/agent.md, Command line).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..config import Config, ConfigError, help_settings, load_config

if TYPE_CHECKING:
    from ..store import Store

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


class BadInput(click.ClickException):
    """A bad input file: readable message, exit status 2."""

    exit_code = 2


def _show_settings(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(help_settings())
        ctx.exit()


help_settings_option = click.option(
    "--help-settings",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_settings,
    help="List every setting with its default and exit.",
)
config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (default: $LOYALTY_AGENT_CONFIG or /etc/loyalty-agent/agent.toml).",
)


def load(config_file: Path | None) -> Config:
    """The configuration, or a readable error."""
    try:
        return load_config(config_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def open_store(config: Config) -> Store:
    from ..store import Store, StoreError  # sqlite-utils pulls numpy: not for --help

    try:
        return Store(config.database, agent_id=config.effective_agent_id)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


@contextlib.contextmanager
def configured_store(config_file: Path | None) -> Iterator[tuple[Config, Store]]:
    """The configuration and its database, closed on the way out."""
    config = load(config_file)
    store = open_store(config)
    try:
        yield config, store
    finally:
        store.close()


def format_age(seconds: float | None) -> str:
    """A duration for people: ``-``, ``12 s``, ``3.5 min``, ``2.0 h``, ``1.5 d``."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"
