"""The durable print queue: slips wait here until a printer has printed them.

``PrintQueue`` is what the print worker needs; ``StorePrintQueue`` keeps it
in the agent's own database (table ``print_jobs``, migration
``0004_print_jobs``, queries in ``agent/store/print_jobs.py``), so a slip can
be queued in the same transaction as the receipt it belongs to
(``tx.enqueue_print_job``): the receipt and its slip are committed together
or not at all. Each call here is its own transaction. A job is keyed by its
``slip_id``, so queueing the same slip twice (a retried commit) queues it once.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..store import Store
from ..store.print_jobs import PrintJob
from .errors import SlipNotFound

__all__ = ["PrintJob", "PrintQueue", "StorePrintQueue"]


class PrintQueue(Protocol):
    """What the print worker needs from a print queue."""

    def enqueue(
        self, slip_id: str, payload: dict[str, Any], kind: str = "loyalty_slip", printer: str = "default"
    ) -> PrintJob:
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


class StorePrintQueue:
    """``PrintQueue`` on the agent's :class:`~agent.store.Store` (safe from any thread)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def enqueue(
        self, slip_id: str, payload: dict[str, Any], kind: str = "loyalty_slip", printer: str = "default"
    ) -> PrintJob:
        """Queue a slip (idempotent on ``slip_id``)."""
        with self.store.write() as tx:
            tx.enqueue_print_job(slip_id, payload, kind, printer, self.store.clock())
            job = tx.print_job(slip_id)
        assert job is not None
        return job

    def next(self, printer: str = "default") -> PrintJob | None:
        """The oldest pending job of ``printer``."""
        with self.store.read() as tx:
            return tx.next_print_job(printer)

    def mark_printed(self, job_id: int) -> None:
        """Record a successful print."""
        with self.store.write() as tx:
            tx.mark_print_job_printed(job_id, self.store.clock())

    def mark_failed(self, job_id: int, reason: str, error: str, final: bool = False) -> None:
        """Record a failed attempt; ``final`` retires the job (its payload cannot be printed)."""
        with self.store.write() as tx:
            tx.mark_print_job_failed(job_id, reason, error, final, self.store.clock())

    def get(self, slip_id: str) -> PrintJob | None:
        """The job of ``slip_id``."""
        with self.store.read() as tx:
            return tx.print_job(slip_id)

    def reprint(self, slip_id: str) -> PrintJob:
        """Put a slip back in the queue (printed as a copy when it was printed before)."""
        with self.store.write() as tx:
            if not tx.requeue_print_job(slip_id, self.store.clock()):
                raise SlipNotFound(f"no slip {slip_id!r} in the print queue")
            job = tx.print_job(slip_id)
        assert job is not None
        return job

    def pending_count(self, printer: str = "default") -> int:
        """How many slips wait for ``printer``."""
        with self.store.read() as tx:
            return tx.pending_print_jobs(printer)
