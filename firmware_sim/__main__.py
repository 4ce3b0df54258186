"""``python -m firmware_sim``: the same as ``loyalty-sim``."""

from firmware_sim.cli import cli

cli()
