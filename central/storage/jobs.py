"""Background jobs (``jobs``): a status row the console polls (state, progress, detail, heartbeat)."""

from __future__ import annotations

from typing import Any

from .connection import Database

#: the columns :meth:`Jobs.update_job` may set (besides the heartbeat ``updated_at``)
JOB_COLUMNS = ("state", "done", "total", "detail", "finished_at")


class Jobs(Database):
    """The ``jobs`` table; ``detail`` is kept as the JSON text the caller gives."""

    def add_job(self, job_id: str, kind: str, state: str, detail: str, username: str, at: str) -> None:
        """A new job (in the caller's transaction)."""
        self.conn.execute(
            "INSERT INTO jobs (id, kind, state, detail, username, created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
            (job_id, kind, state, detail, username, at, at),
        )

    def job(self, job_id: str) -> dict[str, Any] | None:
        rows = self.rows("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return rows[0] if rows else None

    def recent_jobs(self, kind: str, username: str, everyone: bool, limit: int) -> list[dict[str, Any]]:
        """The newest jobs of a kind: the user's own, or everyone's."""
        return self.rows(
            "SELECT * FROM jobs WHERE kind = ? AND (username = ? OR ? = 1) ORDER BY created_at DESC LIMIT ?",
            (kind, username, int(everyone), limit),
        )

    def update_job(self, job_id: str, at: str, changes: dict[str, Any]) -> None:
        """The heartbeat ``updated_at`` and the given columns (of :data:`JOB_COLUMNS`), in the caller's
        transaction."""
        unknown = set(changes) - set(JOB_COLUMNS)
        if unknown:
            raise ValueError(f"not a job column: {sorted(unknown)}")
        sets = ["updated_at = ?", *(f"{column} = ?" for column in changes)]
        self.conn.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", [at, *changes.values(), job_id])

    def job_state(self, job_id: str) -> tuple[str, str] | None:
        """(state, updated_at) of a job, None when there is no such job."""
        row = self.conn.execute("SELECT state, updated_at FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else (row[0], row[1])
