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
from typing import Any

from ..storage.clock import now_utc
from ..storage.store import NotFound, Store
from .access import Actor, Forbidden

log = logging.getLogger(__name__)
RUNNING = ("queued", "checking", "importing")
STALE_SECONDS = 300


def create(db: Store, actor: Actor, kind: str, detail: dict[str, Any]) -> str:
    ident = secrets.token_hex(8)
    now = now_utc()
    with db.transaction() as conn:
        conn.execute("INSERT INTO jobs (id, kind, state, detail, username, created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                     (ident, kind, "queued", json.dumps(detail, ensure_ascii=False), actor.username, now, now))
    return ident


def get(db: Store, actor: Actor, ident: str) -> dict[str, Any]:
    rows = db.rows("SELECT * FROM jobs WHERE id = ?", (ident,))
    if not rows:
        raise NotFound(f"no job {ident}")
    job = rows[0]
    if job["username"] != actor.username and not actor.can("users.manage"):
        raise Forbidden("another user's job")
    job["detail"] = json.loads(job["detail"])
    if job["state"] in RUNNING:
        beat = dt.datetime.fromisoformat(job["updated_at"])
        if (dt.datetime.now(dt.UTC) - beat).total_seconds() > STALE_SECONDS:
            job["state"] = "interrupted"
    return job


def recent(db: Store, actor: Actor, kind: str, limit: int = 20) -> list[dict[str, Any]]:
    rows = db.rows("SELECT * FROM jobs WHERE kind = ? AND (username = ? OR ?) ORDER BY created_at DESC LIMIT ?",
                    (kind, actor.username, int(actor.can("users.manage")), limit))
    for row in rows:
        row["detail"] = json.loads(row["detail"])
    return rows


def update(db: Store, ident: str, *, state: str | None = None, done: int | None = None, total: int | None = None,
           detail: dict[str, Any] | None = None) -> None:
    sets, params = ["updated_at = ?"], [now_utc()]
    for column, value in (("state", state), ("done", done), ("total", total)):
        if value is not None:
            sets.append(f"{column} = ?")
            params.append(value)
    if detail is not None:
        sets.append("detail = ?")
        params.append(json.dumps(detail, ensure_ascii=False))
    if state in ("checked", "done", "failed"):
        sets.append("finished_at = ?")
        params.append(now_utc())
    with db.transaction() as conn:
        conn.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", [*params, ident])


def start(db_path: str, ident: str, work: Callable[[Store, Callable[[int, int], None]], None]) -> threading.Thread:
    """Run ``work(db, progress)`` on a thread; a failure is recorded on the job, never lost in a log only."""

    def run() -> None:
        db = Store(db_path)
        try:
            work(db, lambda done, total: update(db, ident, done=done, total=total))
        except Exception as exc:
            log.exception("job %s failed", ident)
            job = db.rows("SELECT detail FROM jobs WHERE id = ?", (ident,))
            detail = json.loads(job[0]["detail"]) if job else {}
            detail["error"] = getattr(exc, "errors", None) or f"{type(exc).__name__}: {exc}"
            update(db, ident, state="failed", detail=detail)
        finally:
            db.close()

    thread = threading.Thread(target=run, name=f"job-{ident}", daemon=True)
    thread.start()
    return thread
