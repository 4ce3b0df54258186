from agent.cli import cli

cli()
