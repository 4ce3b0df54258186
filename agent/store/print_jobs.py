"""The print queue's rows (table ``print_jobs``): loyalty slips waiting for a printer.

A job is keyed by its ``slip_id`` (the receipt id, ``refund:<id>``,
``cancel:<receipt id>``), so queueing the same slip twice queues it once. The
service queues a slip in the transaction of its receipt; the print worker
takes the oldest pending job of its printer and marks it printed or failed.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from typing import Any, NamedTuple

from .times import iso


class PrintJob(NamedTuple):
    """One queued slip."""

    id: int
    slip_id: str
    printer: str
    kind: str
    payload: dict[str, Any]
    status: str  # pending | printed | failed (the payload cannot be printed)
    attempts: int
    prints: int
    last_reason: str | None
    last_error: str | None
    created_at: str
    updated_at: str
    printed_at: str | None


def _job(row: sqlite3.Row | None) -> PrintJob | None:
    if row is None:
        return None
    return PrintJob(**{**dict(row), "payload": json.loads(row["payload"])})


class PrintJobQueries:
    """Mixin of :class:`~agent.store.tx.Tx`."""

    c: sqlite3.Connection

    def enqueue_print_job(
        self, slip_id: str, payload: dict[str, Any], kind: str, printer: str, now: dt.datetime
    ) -> bool:
        """Queue a slip unless one with ``slip_id`` exists; True if queued now."""
        cursor = self.c.execute(
            "INSERT OR IGNORE INTO print_jobs (slip_id, printer, kind, payload, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (slip_id, printer, kind, json.dumps(payload, ensure_ascii=False), iso(now), iso(now)),
        )
        return cursor.rowcount == 1

    def print_job(self, slip_id: str) -> PrintJob | None:
        return _job(self.c.execute("SELECT * FROM print_jobs WHERE slip_id = ?", (slip_id,)).fetchone())

    def next_print_job(self, printer: str) -> PrintJob | None:
        """The oldest pending job of ``printer``."""
        return _job(
            self.c.execute(
                "SELECT * FROM print_jobs WHERE printer = ? AND status = 'pending' ORDER BY id LIMIT 1", (printer,)
            ).fetchone()
        )

    def mark_print_job_printed(self, job_id: int, now: dt.datetime) -> None:
        self.c.execute(
            "UPDATE print_jobs SET status = 'printed', prints = prints + 1, "
            "printed_at = ?, updated_at = ? WHERE id = ?",
            (iso(now), iso(now), job_id),
        )

    def mark_print_job_failed(self, job_id: int, reason: str, error: str, final: bool, now: dt.datetime) -> None:
        """An attempt failed; ``final`` retires the job (its payload cannot be printed)."""
        self.c.execute(
            "UPDATE print_jobs SET attempts = attempts + 1, last_reason = ?, last_error = ?, updated_at = ?,"
            " status = CASE WHEN ? THEN 'failed' ELSE status END WHERE id = ?",
            (reason, error[:500], iso(now), final, job_id),
        )

    def requeue_print_job(self, slip_id: str, now: dt.datetime) -> bool:
        """Put a slip back in the queue (a reprint); False for an unknown slip."""
        cursor = self.c.execute(
            "UPDATE print_jobs SET status = 'pending', updated_at = ? WHERE slip_id = ?", (iso(now), slip_id)
        )
        return cursor.rowcount == 1

    def pending_print_jobs(self, printer: str | None = None) -> int:
        """How many slips wait (for ``printer``, or for any)."""
        if printer is None:
            return int(self.c.execute("SELECT COUNT(*) FROM print_jobs WHERE status = 'pending'").fetchone()[0])
        return int(
            self.c.execute(
                "SELECT COUNT(*) FROM print_jobs WHERE printer = ? AND status = 'pending'", (printer,)
            ).fetchone()[0]
        )

    def last_print_failure(self) -> tuple[str, str] | None:
        """(reason, updated_at) of the most recent failure of a job still waiting, or None."""
        row = self.c.execute(
            "SELECT last_reason, updated_at FROM print_jobs WHERE status = 'pending' AND last_reason IS NOT NULL"
            " ORDER BY updated_at DESC LIMIT 1"
        ).fetchone()
        return (row[0], row[1]) if row else None
