"""``loyalty-central migrate`` and ``copy-db``: the central database on SQLite or PostgreSQL (docs/scale.md)."""

from __future__ import annotations

from typing import Any

import click

from .common import _config, db_option


@click.command("migrate")
@db_option
def migrate(db: str | None) -> None:
    """Bring the central database (SQLite file or postgresql:// URL) up to the current schema."""
    from ..storage.connection import Database

    config = _config(db)
    database = Database(config["DATABASE"])  # opening it runs the migrations it lacks
    try:
        version = database.migrate()
    finally:
        database.close()
    click.echo(f"{database.dialect}: schema version {version}")


@click.command("copy-db")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.argument("target")
def copy_db(source: str, target: str) -> None:
    """Copy the SQLite ledger SOURCE into the PostgreSQL database TARGET (postgresql://...), in one transaction,
    checked by row counts and the sums of every integer column (money, points) of every table."""
    from ..storage.connection import Database, pg_url
    from ..storage.copy import CopyError, copy_database

    if not pg_url(target):
        raise click.ClickException("TARGET should be a postgresql:// URL")
    src, dst = Database(source), Database(target)
    try:
        result = copy_database(src, dst)
    except CopyError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        src.close()
        dst.close()
    rows = sum(t[0] for t in result.values())
    click.echo(f"copied {rows} rows of {len(result)} tables; every table's row count and integer totals match")
    for table in ("customers", "lots", "ledger", "transactions"):
        if table in result:
            click.echo(f"  {table}: {result[table][0]} rows, totals {list(result[table][1:])}")


def register(cli: Any) -> None:
    cli.add_command(migrate)
    cli.add_command(copy_db)
