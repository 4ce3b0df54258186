"""``loyalty-central``: the central server's command line."""

from __future__ import annotations

import click

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


@click.group(context_settings=CONTEXT_SETTINGS)
def cli() -> None:
    """loyalty-edge central server (ledger, sync ingest, head-office console)."""
