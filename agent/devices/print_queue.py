"""The durable print queue: slips wait here until a printer has printed them.

``PrintQueue`` is the interface the print worker and the agent's service
use; ``SqlitePrintQueue`` keeps it in the agent's SQLite database, table
``print_jobs`` (schema in ``SCHEMA`` and docs/devices.md). A job is keyed by
its ``slip_id`` (one slip per committed receipt, e.g. the receipt id), so
enqueueing the same slip twice (a retried commit) queues it once.

``enqueue`` may run inside the caller's open transaction (the receipt
commit): then the slip is written atomically with the receipt and the
caller commits both. Outside a transaction it commits by itself.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from .errors import SlipNotFound

TABLE = "print_jobs"
STATUSES = ("pending", "printed", "failed")  # failed: the job itself is unprintable (bad payload)

SCHEMA = {
    "id": int,  # primary key, queue order
    "slip_id": str,  # unique: one slip per receipt
    "printer": str,  # printer name ("default"); several printers per agent later
    "kind": str,  # "loyalty_slip" | "test"
    "payload": str,  # JSON of slip.SlipData (to_json)
    "status": str,  # pending | printed | failed
    "attempts": int,  # failed print attempts
    "prints": int,  # successful prints (> 1 after reprints)
    "last_reason": str,  # printers.REASONS value of the last failure
    "last_error": str,  # its message
    "created_at": str,  # ISO 8601 UTC
    "updated_at": str,
    "printed_at": str,
}


@dataclass(frozen=True, slots=True)
class PrintJob:
    """One queued slip."""

    id: int
    slip_id: str
    printer: str
    kind: str
    payload: dict[str, Any]
    status: str
    attempts: int
    prints: int
    last_reason: str | None
    last_error: str | None
    created_at: str
    updated_at: str
    printed_at: str | None


class PrintQueue(Protocol):
    """What the print worker and the agent's service need from a print queue."""

    def enqueue(self, slip_id: str, payload: dict[str, Any], kind: str = "loyalty_slip",
                printer: str = "default") -> PrintJob:
        """Queue a slip (idempotent on ``slip_id``); return its job."""

    def next(self, printer: str = "default") -> PrintJob | None:
        """The oldest pending job of ``printer``, or None."""

    def mark_printed(self, job_id: int) -> None:
        """The job's slip was printed whole."""

    def mark_failed(self, job_id: int, reason: str, error: str, final: bool = False) -> None:
        """An attempt failed; the job stays pending unless ``final`` (unprintable job)."""

    def get(self, slip_id: str) -> PrintJob | None:
        """The job of ``slip_id``, or None."""

    def reprint(self, slip_id: str) -> PrintJob:
        """Queue a printed slip again; raise ``SlipNotFound`` for an unknown id."""

    def pending_count(self, printer: str = "default") -> int:
        """How many slips wait for ``printer``."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class SqlitePrintQueue:
    """``PrintQueue`` on a ``sqlite_utils.Database`` (table ``print_jobs``).

    The worker thread and the agent's request threads share it, so the
    database's connection must allow use from several threads
    (``sqlite3.connect(path, check_same_thread=False)``); calls are serialised
    by a lock here.
    """

    def __init__(self, db: Any) -> None:
        self.db = db
        self._lock = threading.RLock()
        self.ensure_schema()

    def ensure_schema(self) -> None:
        """Create the table and its index when missing."""
        with self._lock:
            table = self.db[TABLE]
            if table.exists():
                return
            table.create(SCHEMA, pk="id", not_null={"slip_id", "printer", "kind", "payload", "status",
                                                    "attempts", "prints", "created_at", "updated_at"},
                         defaults={"printer": "default", "status": "pending", "attempts": 0, "prints": 0},
                         if_not_exists=True)
            table.create_index(["slip_id"], unique=True, if_not_exists=True)
            table.create_index(["printer", "status", "id"], if_not_exists=True)

    def enqueue(self, slip_id: str, payload: dict[str, Any], kind: str = "loyalty_slip",
                printer: str = "default") -> PrintJob:
        """Queue a slip (idempotent on ``slip_id``); joins the caller's transaction if one is open."""
        now = _now()
        with self._lock:
            conn = self.db.conn
            own_transaction = not conn.in_transaction
            conn.execute(
                f"INSERT OR IGNORE INTO {TABLE} (slip_id, printer, kind, payload, status, attempts, prints,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', 0, 0, ?, ?)",
                (slip_id, printer, kind, json.dumps(payload, ensure_ascii=False), now, now),
            )
            if own_transaction:
                conn.commit()
            job = self.get(slip_id)
            assert job is not None
            return job

    def next(self, printer: str = "default") -> PrintJob | None:
        """The oldest pending job of ``printer``."""
        with self._lock:
            rows = list(self.db[TABLE].rows_where("printer = ? AND status = 'pending'", [printer],
                                                  order_by="id", limit=1))
            return _job(rows[0]) if rows else None

    def mark_printed(self, job_id: int) -> None:
        """Record a successful print."""
        now = _now()
        with self._lock, self.db.conn:
            self.db.conn.execute(
                f"UPDATE {TABLE} SET status = 'printed', prints = prints + 1, printed_at = ?, updated_at = ?"
                " WHERE id = ?", (now, now, job_id))

    def mark_failed(self, job_id: int, reason: str, error: str, final: bool = False) -> None:
        """Record a failed attempt; ``final`` retires the job (its payload cannot be printed)."""
        with self._lock, self.db.conn:
            self.db.conn.execute(
                f"UPDATE {TABLE} SET attempts = attempts + 1, last_reason = ?, last_error = ?, updated_at = ?,"
                " status = CASE WHEN ? THEN 'failed' ELSE status END WHERE id = ?",
                (reason, error[:500], _now(), final, job_id))

    def get(self, slip_id: str) -> PrintJob | None:
        """The job of ``slip_id``."""
        with self._lock:
            rows = list(self.db[TABLE].rows_where("slip_id = ?", [slip_id], limit=1))
            return _job(rows[0]) if rows else None

    def reprint(self, slip_id: str) -> PrintJob:
        """Put a slip back in the queue (printed as a copy when it was printed before)."""
        with self._lock:
            if self.get(slip_id) is None:
                raise SlipNotFound(f"no slip {slip_id!r} in the print queue")
            with self.db.conn:
                self.db.conn.execute(f"UPDATE {TABLE} SET status = 'pending', updated_at = ? WHERE slip_id = ?",
                                     (_now(), slip_id))
            job = self.get(slip_id)
            assert job is not None
            return job

    def pending_count(self, printer: str = "default") -> int:
        """How many slips wait for ``printer``."""
        with self._lock:
            return int(self.db[TABLE].count_where("printer = ? AND status = 'pending'", [printer]))


def _job(row: dict[str, Any]) -> PrintJob:
    return PrintJob(
        id=row["id"], slip_id=row["slip_id"], printer=row["printer"], kind=row["kind"],
        payload=json.loads(row["payload"]), status=row["status"], attempts=row["attempts"], prints=row["prints"],
        last_reason=row["last_reason"], last_error=row["last_error"], created_at=row["created_at"],
        updated_at=row["updated_at"], printed_at=row["printed_at"],
    )
