"""``loyalty-central users|import|nightly``: the console's commands (registered on central.cli's group).

They call the console's service layer as the :data:`~central.services.access.SYSTEM`
actor (the command line has every permission; its writes are audited as
"system").
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from shared.errors import LoyaltyError

from ..services.access import ROLES, SYSTEM, FormError
from .common import _config, _store, db_option


def _db(db: str | None):  # type: ignore[no-untyped-def]
    return _store(_config(db))


def _fail(exc: LoyaltyError) -> click.ClickException:
    if isinstance(exc, FormError):
        return click.ClickException("\n".join(f"{name}: {message}" for name, message in exc.errors.items()))
    return click.ClickException(str(exc))


def _password(value: str | None) -> str:
    if value:
        return value
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)  # type: ignore[no-any-return]


@click.group()
def users() -> None:
    """Console users (the first administrator is made here)."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="admin", show_default=True, help="The user's role.")
@click.option("--store", "stores", multiple=True, help="A store the user manages (store managers; repeat).")
@click.option("--name", "display_name", help="The user's full name.")
@click.option("--password", help="The password (default: asked twice, not echoed).")
@db_option
def users_add(
    username: str, role: str, stores: tuple[str, ...], display_name: str | None, password: str | None, db: str | None
) -> None:
    """Create a console user.

    Example:

    \b
        loyalty-central users add anna --role admin --name "Anna Smirnova"
        loyalty-central users add petr --role store_manager --store S001 --store S002
    """
    from ..services import users as service

    try:
        user_id = service.add_user(
            _db(db), SYSTEM, username, _password(password), role, display_name=display_name, stores=stores
        )
    except LoyaltyError as exc:
        raise _fail(exc) from None
    click.echo(f"user {username} ({role}) created with id {user_id}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def users_list(as_json: bool, db: str | None) -> None:
    """List console users.

    Example:

    \b
        loyalty-central users list
    """
    from ..services import users as service

    rows = service.list_users(_db(db), SYSTEM)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        state = "" if row["active"] else "  (deactivated)"
        stores = f"  stores: {', '.join(row['stores'])}" if row["stores"] else ""
        click.echo(f"{row['username']:<20} {row['role']:<14}{stores}{state}")


@users.command("passwd")
@click.argument("username")
@click.option("--password", help="The new password (default: asked twice, not echoed).")
@db_option
def users_passwd(username: str, password: str | None, db: str | None) -> None:
    """Set a console user's password (and sign them out everywhere).

    Example:

    \b
        loyalty-central users passwd anna
    """
    from ..services import users as service

    store = _db(db)
    try:
        service.set_password(store, SYSTEM, service.user_id_by_name(store, username), _password(password))
    except LoyaltyError as exc:
        raise _fail(exc) from None
    click.echo(f"password of {username} changed")


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check every row and list the problems; write nothing.")
@click.option("--good-rows", is_flag=True, help="Import the good rows even if some rows have problems.")
@click.option(
    "--update",
    is_flag=True,
    help="Update existing customers (found by id, card or phone; only filled cells change) instead of adding.",
)
@db_option
def import_(path: str, dry_run: bool, good_rows: bool, update: bool, db: str | None) -> None:
    """Import customers, cards and balances from a CSV or XLSX file.

    The file is checked first; every problem is printed as row, column and
    message. Without --good-rows nothing is imported while any row is bad.
    With --update the rows change existing customers: the check prints what
    would change.

    Example:

    \b
        loyalty-central import customers.xlsx --dry-run
        loyalty-central import customers.csv --good-rows
        loyalty-central import corrections.csv --update --dry-run
    """
    from pathlib import Path

    from ..services import imports

    store = _db(db)
    try:
        table = imports.read_table(Path(path).read_bytes(), Path(path).name)
        with click.progressbar(length=len(table.rows), label="checking", file=sys.stderr) as bar:
            seen = [0]

            def checked(done: int, total: int) -> None:
                bar.update(done - seen[0])
                seen[0] = done

            report = imports.check(store, SYSTEM, table, checked, mode="update" if update else "create")
    except LoyaltyError as exc:
        raise _fail(exc) from None
    for row, column, message in report.problems:
        click.echo(f"row {row}, {column}: {message}")
    if report.unknown_columns:
        click.echo(f"ignored columns: {', '.join(report.unknown_columns)}")
    if update:
        summary = report.summary(limit=10**9)
        for row, customer, column, before, after in summary["changes"]:
            click.echo(f"row {row}, customer {customer}, {column}: {before!r} -> {after!r}")
        if report.ignored_columns:
            click.echo(f"not changed by an update: {', '.join(report.ignored_columns)}")
        click.echo(f"{summary['changed']} customers to change, {summary['unchanged']} unchanged")
    click.echo(f"{report.total} rows: {len(report.good)} good, {report.bad_rows} with problems")
    if dry_run:
        return
    if report.problems and not good_rows:
        raise click.ClickException("nothing imported: fix the rows above, or add --good-rows to import the good ones")
    with click.progressbar(length=len(report.good), label="importing", file=sys.stderr) as bar:
        seen = [0]

        def imported(done: int, total: int) -> None:
            bar.update(done - seen[0])
            seen[0] = done

        created = imports.apply(
            store, SYSTEM, table, report, good_rows_only=good_rows, source=Path(path).name, progress=imported
        )
    click.echo(f"updated {created} customers" if update else f"imported {created} customers")


@click.command()
@db_option
def nightly(db: str | None) -> None:
    """Burn expired temporary points and recompute every customer's level (once).

    ``serve`` runs it every day at NIGHTLY_HOUR by itself; run this from cron
    when the web server is not where the job should run.

    Example:

    \b
        loyalty-central nightly
    """
    from ..points import nightly as job

    report = job.run(_db(db))
    click.echo(
        f"expired {report.lots_expired} lots ({report.points_burnt} points); checked "
        f"{report.customers_checked} customers: {report.promotions} promoted, {report.demotions} demoted"
    )


@click.group()
def tokens() -> None:
    """API tokens for monitoring and integrations (Authorization: Bearer ...)."""


@tokens.command("add")
@click.argument("name")
@db_option
def tokens_add(name: str, db: str | None) -> None:
    """Make a token that reads the JSON API; it is printed once (only its hash is kept).

    Example:

    \b
        loyalty-central tokens add zabbix
        curl -H "Authorization: Bearer lct_..." http://central:8000/api/v1/stores/status
    """
    from ..services import tokens as service

    try:
        ident, token = service.add_token(_db(db), SYSTEM, name)
    except LoyaltyError as exc:
        raise _fail(exc) from None
    click.echo(f"API token {ident} ({name}); it is shown only now:", err=True)
    click.echo(token)


@tokens.command("list")
@db_option
def tokens_list(db: str | None) -> None:
    """Print the tokens (never the tokens themselves) as JSON."""
    from ..services import tokens as service

    click.echo(json.dumps(service.list_tokens(_db(db), SYSTEM), ensure_ascii=False, indent=2))


@tokens.command("revoke")
@click.argument("token_id", type=int)
@db_option
def tokens_revoke(token_id: int, db: str | None) -> None:
    """Revoke a token by its id (it stops working at once)."""
    from ..services import tokens as service

    try:
        service.revoke_token(_db(db), SYSTEM, token_id)
    except LoyaltyError as exc:
        raise _fail(exc) from None
    click.echo(f"API token {token_id} revoked")


def register(cli: Any) -> None:
    """Add the console's commands to the ``loyalty-central`` group."""
    cli.add_command(users)
    cli.add_command(tokens)
    cli.add_command(import_)
    cli.add_command(nightly)
