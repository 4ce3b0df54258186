"""The print worker: one thread that drains the print queue into the printer.

``submit(slip)`` is what the agent calls after committing a receipt: it
queues the slip (durably) and wakes the worker; it never talks to the
printer, so a printer fault can neither block nor fail the commit. The
worker prints the oldest pending slip; when the printer is not ready (paper
out, cover open, offline, unreachable, silent) the slip stays queued and the
worker retries with backoff (0.5 s doubling to 30 s; at once after a
reprint, but a new slip waits for the next retry, so commits never hammer a
failing printer). ``reprint(slip_id)`` queues a printed slip again; it
prints marked as a copy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .errors import PrinterUnavailable
from .print_queue import PrintJob, PrintQueue
from .printers import ReceiptPrinter
from .slip_layout import SlipData, layout, printer_test_layout

log = logging.getLogger("loyalty.devices.print_worker")

StatusCallback = Callable[[str | None], None]  # a printers.REASONS value, or None when printing works again


class PrintWorker:
    """Drain a ``PrintQueue`` into a ``ReceiptPrinter`` on a background thread.

    :param on_status: called with the reason the printer is not ready (or None
        when it prints again), on changes only: the seam for health and the
        cashier page
    """

    backoff_min, backoff_max = 0.5, 30.0
    idle_poll = 5.0  # re-check the queue this often even without a wake-up

    def __init__(
        self,
        queue: PrintQueue,
        printer: ReceiptPrinter,
        printer_name: str = "default",
        columns: int = 42,
        language: str = "ru",
        code: str = "barcode",
        codepage: str = "CP866",
        on_status: StatusCallback | None = None,
        link: str = "",
    ) -> None:
        self.queue = queue
        self.printer = printer
        self.printer_name = printer_name
        self.layout_options = {"columns": columns, "language": language, "code": code, "codepage": codepage.lower()}
        if link:
            self.layout_options["link"] = link
        self.on_status = on_status
        self.problem: str | None = None
        self.attempted = False  # a slip was tried since the start
        self._wake = threading.Event()  # a new slip: look at the queue now (unless the printer is failing)
        self._retry = threading.Event()  # try now even while the printer is failing: a reprint, a stop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the agent calls -----------------------------------------------

    def submit(self, slip: SlipData) -> PrintJob:
        """Queue a loyalty slip and wake the worker; never raises for printer faults."""
        job = self.queue.enqueue(slip.slip_id, slip.to_json(), "loyalty_slip", self.printer_name)
        self._wake.set()
        return job

    def submit_test(self, slip_id: str, store_name: str, at: datetime) -> PrintJob:
        """Queue a printer test slip."""
        job = self.queue.enqueue(slip_id, {"store_name": store_name, "at": at.isoformat()}, "test", self.printer_name)
        self._wake.set()
        return job

    def reprint(self, slip_id: str) -> PrintJob:
        """Queue a slip again (raises ``SlipNotFound``); it prints as a copy if printed before."""
        job = self.queue.reprint(slip_id)
        self.wake(retry=True)
        return job

    @property
    def state(self) -> str:
        """``unknown`` before the first slip, then ``ok`` or why the last slip could not be printed."""
        return self.problem or ("ok" if self.attempted else "unknown")

    def wake(self, retry: bool = False) -> None:
        """Look at the queue now (after ``enqueue`` inside the caller's own transaction).

        While the printer is failing, a new slip waits for the next retry of the backoff (commits
        must not hammer a printer that is out of paper); ``retry`` (the cashier asked for a
        reprint) tries at once.
        """
        self._wake.set()
        if retry:
            self._retry.set()

    # -- the thread ----------------------------------------------------------

    def start(self) -> None:
        """Start draining in the background."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"print-{self.printer_name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the slip being printed, if any."""
        self._stop.set()
        self._wake.set()
        self._retry.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = self.backoff_min
        while not self._stop.is_set():
            self._wake.clear()
            try:
                printed = self.drain_once()
            except Exception:  # the queue's database failed; keep the thread alive
                log.exception("print worker %s: queue error", self.printer_name)
                printed = False
            if printed is None:
                self._wake.wait(self.idle_poll)
            elif printed:
                delay = self.backoff_min
            else:
                self._retry.wait(delay)
                self._retry.clear()
                delay = min(delay * 2, self.backoff_max)

    def drain_once(self) -> bool | None:
        """Try the oldest pending slip: True printed, False not printed, None nothing queued."""
        job = self.queue.next(self.printer_name)
        if job is None:
            return None
        self.attempted = True
        try:
            ops = self._ops(job)
        except (KeyError, TypeError, ValueError) as exc:  # a payload no printer can print: retire it
            log.error("print worker %s: slip %s cannot be laid out: %s", self.printer_name, job.slip_id, exc)
            self.queue.mark_failed(job.id, "bad_slip", str(exc), final=True)
            return True
        try:
            self.printer.print_ops(ops)
        except PrinterUnavailable as exc:
            self.queue.mark_failed(job.id, exc.reason, str(exc))
            self._set_problem(exc.reason, f"slip {job.slip_id} waits: {exc}")
            return False
        except Exception as exc:  # a driver bug must not lose the slip or kill the worker
            log.exception("print worker %s: slip %s failed", self.printer_name, job.slip_id)
            self.queue.mark_failed(job.id, "printer_error", repr(exc))
            self._set_problem("printer_error", f"slip {job.slip_id} waits")
            return False
        self.queue.mark_printed(job.id)
        self._set_problem(None, f"slip {job.slip_id} printed")
        return True

    def _ops(self, job: PrintJob) -> list[Any]:
        options = self.layout_options
        if job.kind == "test":
            at = datetime.fromisoformat(job.payload["at"])
            return printer_test_layout(
                job.payload["store_name"], at, options["columns"], options["language"], options["codepage"]
            )
        return layout(SlipData.from_json(job.payload), copy=job.prints > 0, **options)

    def _set_problem(self, reason: str | None, message: str) -> None:
        if reason == self.problem:
            log.debug("print worker %s: %s", self.printer_name, message)
            return
        (log.warning if reason else log.info)("print worker %s: %s", self.printer_name, message)
        self.problem = reason
        if self.on_status is not None:
            try:
                self.on_status(reason)
            except Exception:
                log.exception("print worker %s: status callback failed", self.printer_name)
