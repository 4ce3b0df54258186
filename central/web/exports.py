"""Console pages: an XLSX export as a background job (progress, then a download link).

The file is written by :func:`central.services.exports.write_xlsx` on a job
thread into ``<database folder>/exports/<job id>.xlsx``; only the user who
started it (or an administrator) may see the job and download the file.
Files older than :data:`KEEP_HOURS` are deleted when another export starts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from flask import Response, current_app, jsonify, redirect, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import force_locale

from ..config import data_folder
from ..i18n import current_language
from ..services import exports, jobs
from ..services.formats import format_count
from ..services.text import _
from ..storage.db import get_db
from ..storage.store import NotFound, Store
from .common import JOB_STATES, actor, console_blueprint, render

bp = console_blueprint("exports", "/exports")
KEEP_HOURS = 24


def _folder() -> Path:
    folder = Path(data_folder(current_app.config, current_app.instance_path)) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def start_export(
    name: str, columns: Any, rows: Callable[[Store], Iterable[dict[str, Any]]], count: Callable[[Store], int] | None
) -> str:
    """Create the job, start writing the file on a thread; returns the job's id."""
    who = actor()
    folder = _folder()
    for old in folder.glob("*.xlsx"):  # yesterday's downloads
        if old.stat().st_mtime < time.time() - KEEP_HOURS * 3600:
            old.unlink(missing_ok=True)
    ident = jobs.create(get_db(), who, "export", {"file": f"{name}.xlsx", "list": name})
    path = folder / f"{ident}.xlsx"
    app, language = current_app._get_current_object(), current_language()  # type: ignore[attr-defined]

    def context() -> Any:
        from contextlib import ExitStack

        stack = ExitStack()
        stack.enter_context(app.app_context())
        stack.enter_context(force_locale(language))
        return stack

    def work(db: Store, progress: Any) -> None:
        total = count(db) if count is not None else 0
        jobs.update(db, ident, state="exporting", done=0, total=total)
        partial = path.with_suffix(".part")
        written = exports.write_xlsx(
            columns, rows(db), name, str(partial), progress=lambda done: progress(done, max(total, done))
        )
        partial.replace(path)
        jobs.update(
            db,
            ident,
            state="done",
            done=written,
            total=written,
            detail={"file": f"{name}.xlsx", "list": name, "rows": written},
        )

    jobs.start(current_app.config["DATABASE"], ident, work, context)
    return ident


def export_response(
    fmt: str,
    name: str,
    columns: Any,
    rows: Callable[[Store], Iterable[dict[str, Any]]],
    count: Callable[[Store], int] | None = None,
) -> ResponseReturnValue | None:
    """A filtered list as a CSV download (streamed) or an XLSX export job; None for an unknown format.

    ``rows(db)`` yields the rows from the database it is given: the CSV stream
    and the XLSX job open their own connection, since they outlive the request.
    An XLSX file is written by a background job (``count(db)``, when given, is
    its total for the progress bar); the user is sent to the job's page, which
    shows the progress and then a download link.
    """
    from ..services import audit

    if fmt not in ("csv", "xlsx"):
        return None
    # who took which list out of the console
    audit.record_export(get_db(), actor(), name, fmt, request.query_string.decode("utf-8", "replace"))
    if fmt == "csv":
        path = current_app.config["DATABASE"]

        def stream() -> Iterator[str]:
            own = Store(path)
            try:
                yield from exports.csv_stream(columns, rows(own))
            finally:
                own.close()

        return Response(
            stream(),
            mimetype="text/csv",
            headers={"Content-Disposition": f"attachment; filename={name}.csv"},
        )
    if fmt == "xlsx":
        return redirect(url_for("exports.job", ident=start_export(name, columns, rows, count)))
    return None


@bp.get("/<ident>")
def job(ident: str) -> ResponseReturnValue:
    row = jobs.get(get_db(), actor(), ident)
    if row["kind"] != "export":
        raise NotFound(f"no export {ident}")
    return render("console/exports/job.html", job=row)


@bp.get("/<ident>.json")
def job_status(ident: str) -> ResponseReturnValue:
    """What the progress bar polls."""
    row = jobs.get(get_db(), actor(), ident)
    lang = current_language()
    text = (
        _(
            "Exporting: %(done)s of %(total)s rows",
            done=format_count(row["done"], lang),
            total=format_count(row["total"], lang),
        )
        if row["state"] == "exporting"
        else str(JOB_STATES.get(row["state"], ""))
    )
    return jsonify({**jobs.status(row), "text": text})


@bp.get("/<ident>/download")
def download(ident: str) -> ResponseReturnValue:
    row = jobs.get(get_db(), actor(), ident)
    path = _folder() / f"{ident}.xlsx"
    if row["kind"] != "export" or row["state"] != "done" or not path.exists():
        raise NotFound(_("This export is not ready or was deleted; export the list again."))
    return send_file(
        path,
        download_name=row["detail"].get("file", "export.xlsx"),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
