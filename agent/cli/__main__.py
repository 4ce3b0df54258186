"""``python -m agent.cli``: the same as ``loyalty-agent``."""

from agent.cli import cli

cli()
