"""Background jobs with a status row the console polls (imports): state, progress, result.

A job runs on a daemon thread of the web process with its own database
connection and writes its progress into ``jobs`` (``done`` of ``total``,
``updated_at`` as a heartbeat). A job whose heartbeat is older than
:data:`STALE_SECONDS` while it says it is running was cut off (the process
stopped): the page says so, and the user starts it again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from ..storage.clock import now_utc
from ..storage.store import NotFound, Store
from .access import Actor, Forbidden
from .text import _

log = logging.getLogger(__name__)
RUNNING = ("queued", "checking", "rechecking", "importing", "exporting", "working")
STALE_SECONDS = 300


def create(db: Store, actor: Actor, kind: str, detail: dict[str, Any]) -> str:
    ident = secrets.token_hex(8)
    now = now_utc()
    with db.transaction():
        db.add_job(ident, kind, "queued", json.dumps(detail, ensure_ascii=False), actor.username, now)
    return ident


def get(db: Store, actor: Actor, ident: str) -> dict[str, Any]:
    job = db.job(ident)
    if job is None:
        raise NotFound(f"no job {ident}")
    if job["username"] != actor.username and not actor.can("users.manage"):
        raise Forbidden("another user's job")
    job["detail"] = json.loads(job["detail"])
    if job["state"] in RUNNING:
        beat = dt.datetime.fromisoformat(job["updated_at"])
        if (dt.datetime.now(dt.UTC) - beat).total_seconds() > STALE_SECONDS:
            job["state"] = "interrupted"
    return job


def recent(db: Store, actor: Actor, kind: str, limit: int = 20) -> list[dict[str, Any]]:
    rows = db.recent_jobs(kind, actor.username, actor.can("users.manage"), limit)
    for row in rows:
        row["detail"] = json.loads(row["detail"])
    return rows


def update(
    db: Store,
    ident: str,
    *,
    state: str | None = None,
    done: int | None = None,
    total: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    at = now_utc()
    changes: dict[str, Any] = {
        column: value for column, value in (("state", state), ("done", done), ("total", total)) if value is not None
    }
    if detail is not None:
        changes["detail"] = json.dumps(detail, ensure_ascii=False)
    if state is not None and state not in RUNNING:
        changes["finished_at"] = now_utc()
    with db.transaction():
        db.update_job(ident, at, changes)


def error_text(exc: BaseException) -> str:
    """What a failed job tells its user: a form error's own messages, else a plain sentence (the trace is logged)."""
    errors = getattr(exc, "errors", None)
    if isinstance(errors, dict) and errors:
        return " ".join(str(message) for message in errors.values())
    return str(
        _(
            "Something went wrong on the server (%(error)s); the details are in its log. Try again, and tell"
            " the administrator if it happens again.",
            error=type(exc).__name__,
        )
    )


def status(job: dict[str, Any]) -> dict[str, Any]:
    """What a progress bar polls: the state, done of total, and whether it is still running."""
    return {"state": job["state"], "running": job["state"] in RUNNING, "done": job["done"], "total": job["total"]}


def start(
    db_path: str,
    ident: str,
    work: Callable[[Store, Callable[[int, int], None]], None],
    context: Callable[[], AbstractContextManager[Any]] | None = None,
) -> threading.Thread:
    """Run ``work(db, progress)`` on a thread; a failure is recorded on the job, never lost in a log only.

    ``context()`` wraps the whole run, failures included (the console passes the
    app context in the user's language, so a failure is told in it too).
    """

    def run() -> None:
        db = Store(db_path)
        try:
            with context() if context is not None else nullcontext():
                try:
                    work(db, lambda done, total: update(db, ident, done=done, total=total))
                except Exception as exc:
                    if isinstance(getattr(exc, "errors", None), dict):  # the user's input: no trace to log
                        log.info("job %s refused: %s", ident, exc)
                    else:
                        log.exception("job %s failed", ident)
                    job = db.job(ident)
                    detail = json.loads(job["detail"]) if job else {}
                    detail["error"] = error_text(exc)
                    update(db, ident, state="failed", detail=detail)
        finally:
            db.close()

    thread = threading.Thread(target=run, name=f"job-{ident}", daemon=True)
    thread.start()
    return thread


def sweep_uploads(db: Store, folder: Path, keep_hours: int) -> None:
    """Delete uploaded files nobody will import: those of done, failed or interrupted jobs, of no job,
    and checked ones left longer than ``keep_hours`` (customer data does not lie around on the server)."""
    keep = dt.timedelta(hours=keep_hours)
    now = dt.datetime.now(dt.UTC)
    for path in folder.iterdir():
        row = db.job_state(path.stem)
        age = now - dt.datetime.fromisoformat(row[1]) if row else keep
        if (
            row is None
            or row[0] in ("done", "failed")
            or (row[0] == "checked" and age >= keep)
            or (row[0] in RUNNING and age.total_seconds() > STALE_SECONDS)
        ):
            path.unlink(missing_ok=True)
