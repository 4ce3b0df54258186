"""``loyalty-agent``: the technician's and integrator's command line.

A thin click layer: it parses arguments, calls the library and turns library
errors into readable messages and exit codes (2 for bad input files). The
commands live in the modules of this package and import the heavy parts of
the agent (Flask, the database, the devices, the calculator) only when they
run, so ``--help`` starts in a fraction of a second (tests/agent/test_cli_startup.py):

* ``quote.py``: ``quote`` (the calculator over JSON files);
* ``commands.py``: ``setup``, ``serve``, ``status``, ``doctor``, ``terminals``, ``rules``;
* ``setup_devices.py``, ``device_status.py``: the devices part of ``setup`` and ``status``;
* ``devices.py``: ``devices list / test-read / test-print``;
* ``outbox.py``: ``outbox depth / list``;
* ``common.py``: ``--config``, loading the configuration and the database, ``BadInput``.
"""

from __future__ import annotations

import click

from . import commands, devices, outbox, quote
from .common import CONTEXT_SETTINGS


@click.group(context_settings=CONTEXT_SETTINGS)
def cli() -> None:
    """loyalty-edge store agent."""


for _command in (quote.quote, *commands.COMMANDS, devices.devices, outbox.outbox):
    cli.add_command(_command)
