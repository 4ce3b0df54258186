"""``loyalty-sim``: simulated card readers and receipt printers."""

from __future__ import annotations

import click

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


@click.group(context_settings=CONTEXT_SETTINGS)
def cli() -> None:
    """Simulated card readers and ESC/POS receipt printers for loyalty-edge."""
