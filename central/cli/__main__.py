"""``python -m central.cli``: the same command line as ``loyalty-central``."""

from . import cli

cli()
