"""Console pages: importing customers from CSV/XLSX (a checked dry run, then the import) with live progress."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from flask import current_app, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import force_locale

from ..config import data_folder
from ..i18n import current_language
from ..services import imports, jobs
from ..services.access import Actor, FormError
from ..services.formats import format_count
from ..services.text import _
from ..storage.db import get_db
from ..storage.store import Store
from .common import JOB_STATES, actor, console_blueprint, render

bp = console_blueprint("imports", "/imports")
MAX_UPLOAD = 64 * 1024 * 1024


def _folder() -> Path:
    folder = Path(data_folder(current_app.config, current_app.instance_path)) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sweep_uploads() -> None:
    """Delete uploaded files nobody will import (central/services/jobs.py, ``sweep_uploads``)."""
    jobs.sweep_uploads(get_db(), _folder(), current_app.config["IMPORT_KEEP_HOURS"])


@bp.get("/")
def index() -> ResponseReturnValue:
    who = actor()
    who.require("import")
    sweep_uploads()
    return render(
        "console/imports/index.html",
        recent=jobs.recent(get_db(), who, "import"),
        receipt_jobs=jobs.recent(get_db(), who, "receipt_import"),
    )


@bp.post("/")
def upload() -> ResponseReturnValue:
    """Keep the file and start checking it (a dry run: nothing is written)."""
    who = actor()
    who.require("import")
    upload_ = request.files.get("file")
    errors = {}
    mode = request.form.get("mode") or "create"
    if mode not in imports.MODES:
        errors["mode"] = _("Choose whether to add new customers or update existing ones.")
    if upload_ is None or not upload_.filename:
        errors["file"] = _("Choose a file.")
    elif not upload_.filename.lower().endswith((".csv", ".xlsx", ".txt")):
        errors["file"] = _("Upload a .csv or .xlsx file.")
    if errors:
        return render(
            "console/imports/index.html",
            422,
            errors=errors,
            form={"mode": mode},
            recent=jobs.recent(get_db(), who, "import"),
        )
    assert upload_ is not None
    sweep_uploads()
    name = Path(upload_.filename or "file").name
    ident = jobs.create(get_db(), who, "import", {"file": name, "mode": mode})
    path = _folder() / f"{ident}{Path(name).suffix.lower()}"
    upload_.save(path)
    _run(ident, who, path, name, mode, apply_mode=None)
    return redirect(url_for("imports.job", ident=ident))


def _run(ident: str, who: Actor, path: Path, name: str, mode: str, apply_mode: str | None) -> None:
    app, language = current_app._get_current_object(), current_language()  # type: ignore[attr-defined]

    def context() -> Any:
        # the job's messages (each bad row's problem, a failure) in the language of the user who started it
        stack = ExitStack()
        stack.enter_context(app.app_context())
        stack.enter_context(force_locale(language))
        return stack

    def work(db: Store, progress: Any) -> None:
        try:
            _steps(db, progress)
        except BaseException:
            path.unlink(missing_ok=True)  # a failed job's file is not kept (upload it again)
            raise

    def _steps(db: Store, progress: Any) -> None:
        detail: dict[str, Any] = {"file": name, "mode": mode}
        # an import checks the file again first (the database may have changed since): that has its own progress
        jobs.update(db, ident, state="checking" if apply_mode is None else "rechecking", done=0)
        table = imports.read_table(path.read_bytes(), name)
        report = imports.check(db, who, table, progress, mode=mode)
        detail["report"] = report.summary()
        if apply_mode is None:
            if not report.good:
                path.unlink(missing_ok=True)  # not one row can be imported: nothing to keep it for
            jobs.update(db, ident, state="checked", detail=detail)
            return
        jobs.update(db, ident, state="importing", done=0, total=len(report.good))
        written = imports.apply(
            db, who, table, report, good_rows_only=apply_mode == "good", source=name, progress=progress
        )
        detail["updated" if mode == "update" else "imported"] = written
        path.unlink(missing_ok=True)
        jobs.update(db, ident, state="done", detail=detail)

    jobs.start(current_app.config["DATABASE"], ident, work, context)


@bp.get("/<ident>")
def job(ident: str) -> ResponseReturnValue:
    return render("console/imports/job.html", job=jobs.get(get_db(), actor(), ident))


@bp.get("/<ident>.json")
def job_status(ident: str) -> ResponseReturnValue:
    """What the progress bar polls."""
    row = jobs.get(get_db(), actor(), ident)
    done = format_count(row["done"], current_language())
    total = format_count(row["total"], current_language()) if row["total"] else "…"
    text = {
        "queued": _("Waiting…"),
        "checking": _("Checking rows: %(done)s of %(total)s", done=done, total=total),
        "rechecking": _("Checking the rows again: %(done)s of %(total)s", done=done, total=total),
        "importing": _("Importing: %(done)s of %(total)s", done=done, total=total),
    }
    return jsonify({**jobs.status(row), "text": text.get(row["state"]) or str(JOB_STATES.get(row["state"], ""))})


@bp.post("/<ident>/apply")
def apply(ident: str) -> ResponseReturnValue:
    """Import after the check: every row (only when all are good) or the good rows only."""
    who = actor()
    who.require("import")
    row = jobs.get(get_db(), who, ident)
    mode = request.form.get("mode")
    report = row["detail"].get("report") or {}
    errors = {}
    if row["state"] != "checked":
        errors["file"] = _("This file is not waiting to be imported.")
    elif mode not in ("all", "good"):
        errors["file"] = _("Choose what to import.")
    elif mode == "all" and report.get("bad"):
        errors["file"] = _("%(n)d rows have problems: fix them, or import only the good rows.", n=report["bad"])
    path = next(_folder().glob(f"{ident}.*"), None)
    if path is None and not errors:
        errors["file"] = _("The uploaded file is gone; upload it again.")
    if errors:
        return render("console/imports/job.html", 422, job=row, errors=errors)
    assert path is not None
    jobs.update(get_db(), ident, state="queued", done=0)
    _run(ident, who, path, row["detail"].get("file", path.name), row["detail"].get("mode", "create"), apply_mode=mode)
    return redirect(url_for("imports.job", ident=ident))


@bp.errorhandler(FormError)
def form_error(exc: FormError) -> ResponseReturnValue:
    return render("console/imports/index.html", 422, errors=exc.errors, recent=jobs.recent(get_db(), actor(), "import"))
