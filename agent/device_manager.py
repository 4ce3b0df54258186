"""The agent's devices at work: card reads become identifications, operations print slips.

The drivers are in ``agent/devices/``; this module runs the configured ones
inside the agent. ``init_app(app)`` (from ``create_app``) builds
:class:`Hardware` from the settings and hooks it into the service: every identification is offered to
its terminal (``IdentificationHub``), and every committed receipt, refund or
cancel with a customer queues its loyalty slip *in the operation's own
transaction* when a printer is configured. Nothing touches a device until
``start()``: ``loyalty-agent serve`` starts the reader (supervised: it
reconnects by itself) and the print worker, and stops them on the way out.

A card read goes through the same identification as the till's own
``POST /v1/identify``; an unknown or blocked card is an identification too
(the problem, or ``card_blocked``), so the cashier sees it at once.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

from flask import Flask

from shared.errors import LoyaltyError

from . import errors
from .config import Config, load_device_settings
from .devices.errors import DeviceSettingsError, Problem
from .devices.print_queue import StorePrintQueue
from .devices.print_worker import PrintWorker
from .devices.readers import CardRead, SupervisedReader
from .devices.settings import DeviceSettings
from .devices.wiring import build_print_worker, build_printer, build_reader
from .identifications import IdentificationHub
from .service import Service
from .slips import queue_slip, receipt_slip_id
from .store import Store, Tx
from .store.times import iso

log = logging.getLogger("loyalty.agent.hardware")

EXTENSION = "loyalty_devices"
PRINTED_EVENTS = ("committed", "refunded", "cancelled")


class Hardware:
    """The configured reader and printer of one agent, wired to its service."""

    def __init__(self, config: Config, store: Store, service: Service) -> None:
        self.config = config
        self.store = store
        self.service = service
        self.settings: DeviceSettings = load_device_settings(config)
        self.hub = IdentificationHub(lambda: iso(service.clock()))
        self.queue = StorePrintQueue(store)
        self.reader: SupervisedReader | None = None
        self.worker: PrintWorker | None = None
        self.reader_state = "stopped"
        self._source = threading.local()  # the reader behind the identify call on this thread
        service.subscribe("identified", self._identified)
        if self.printer_configured:
            for event in PRINTED_EVENTS:
                service.subscribe_in_transaction(event, self._queue_slip(event))
                service.subscribe(event, lambda *_: self.wake_printer())

    @property
    def printer_configured(self) -> bool:
        return self.settings.printer.kind != "none"

    @property
    def reader_terminal(self) -> str:
        """The terminal whose identifications the reader's reads are."""
        return self.config.effective_reader_terminal

    # -- lifecycle (loyalty-agent serve)

    def start(self) -> None:
        """Open the reader and start the print worker (both retry by themselves when a device is away).

        :raises DeviceSettingsError: a reader with no terminal to serve, an unloadable USB backend.
        """
        if self.settings.reader.kind != "none" and not self.reader_terminal:
            raise DeviceSettingsError(
                [
                    Problem(
                        "reader_terminal",
                        "is required when no `terminals` are configured: "
                        "name the terminal whose till the reader serves",
                    )
                ]
            )
        self.reader = build_reader(self.settings, self.on_read, self._reader_state)
        printer = build_printer(self.settings)
        if printer is not None:
            self.worker = build_print_worker(self.settings, self.queue, printer)
            self.worker.start()
            log.info(
                "printer %s: slips print from the queue (%d waiting)",
                printer.description,
                self.queue.pending_count(self.worker.printer_name),
            )
        if self.reader is not None:
            self.reader.start()
            log.info(
                "reader %s on %s serves terminal %s",
                self.settings.reader.reader_id,
                self.reader.describe(),
                self.reader_terminal,
            )

    def stop(self) -> None:
        """Stop the reader and the print worker (a slip being printed is finished first)."""
        if self.reader is not None:
            self.reader.stop()
        if self.worker is not None:
            self.worker.stop()

    def wake_printer(self, retry: bool = False) -> None:
        """Look at the print queue now (``retry``: even while the printer is failing)."""
        if self.worker is not None:
            self.worker.wake(retry)

    # -- reads -> identifications

    def on_read(self, read: CardRead) -> None:
        """A valid read from the reader: identify it for the reader's terminal (on the reader's thread)."""
        terminal = self.reader_terminal
        self._source.reader = read.reader_id
        try:
            self.service.identify(terminal, read.identify_body())
        except LoyaltyError as exc:  # unknown card, a number the program does not have: the cashier must see it
            log.info("reader %s: %s %s: %s", read.reader_id, read.kind, read.masked(), exc.code)
            self.hub.publish(terminal, read.reader_id, problem=exc)
        finally:
            self._source.reader = None

    def _identified(self, terminal: str, answer: dict[str, Any]) -> None:
        # a copy: the view renders the cashier messages of its own answer in the till's language afterwards
        self.hub.publish(terminal, getattr(self._source, "reader", None) or "api", answer=copy.deepcopy(answer))

    def _reader_state(self, reader_id: str, state: str) -> None:
        self.reader_state = state

    # -- slips

    def _queue_slip(self, event: str):  # type: ignore[no-untyped-def]
        def listener(tx: Tx, terminal: str, answer: dict[str, Any]) -> None:
            queue_slip(tx, self.config, event, answer, self.service.clock())

        return listener

    def reprint(self, receipt_id: str) -> dict[str, Any]:
        """Queue a receipt's loyalty slip again (a copy if it was printed; queued now if it never was)."""
        if not self.printer_configured:
            raise errors.NoPrinter()
        now = self.service.clock()
        slip_id = receipt_slip_id(receipt_id)
        with self.store.write() as tx:
            receipt = tx.receipt(receipt_id)
            if receipt is None:
                raise errors.ReceiptNotFound(receipt_id=receipt_id)
            if not tx.requeue_print_job(slip_id, now):  # committed before a printer was configured
                if queue_slip(tx, self.config, "committed", json.loads(receipt["response"]), now) is None:
                    raise errors.NoSlip(receipt_id=receipt_id)
            waiting = tx.pending_print_jobs()
        self.wake_printer(retry=True)  # the cashier put paper in and asks: try now
        return {
            "receipt_id": receipt_id,
            "slip_id": slip_id,
            "status": "queued",
            "slips_waiting": waiting,
            "printer_state": self.printer_state,
        }

    @property
    def printer_state(self) -> str:
        """``stopped`` (not started), ``unknown`` (nothing printed yet), ``ok``, or why slips wait."""
        return self.worker.state if self.worker is not None else "stopped"

    # -- health

    def health(self) -> dict[str, Any]:
        """The devices' state for GET /v1/health and ``loyalty-agent status``."""
        r, p = self.settings.reader, self.settings.printer
        reader = None
        if r.kind != "none":
            stats = self.reader.stats if self.reader is not None else None
            reader = {
                "id": r.reader_id,
                "kind": r.kind,
                "device": self.reader.describe() if self.reader else r.url or None,
                "terminal": self.reader_terminal or None,
                "state": self.reader_state,
                "reads": stats.reads if stats else 0,
                "discarded": stats.discarded if stats else 0,
            }
        printer = None
        if p.kind != "none":
            with self.store.read() as tx:
                waiting = tx.pending_print_jobs()
            printer = {
                "kind": p.kind,
                "device": self.worker.printer.description if self.worker else p.url or None,
                "state": self.printer_state,
                "slips_waiting": waiting,
            }
        return {"reader": reader, "printer": printer, "identification_streams": self.hub.streams}


def init_app(app: Flask) -> Hardware:
    """Build the agent's :class:`Hardware` and keep it in ``app.extensions["loyalty_devices"]``."""
    agent = app.extensions["loyalty_agent"]
    hardware = Hardware(agent.config, agent.store, agent.service)
    app.extensions[EXTENSION] = hardware
    return hardware


def hardware_of(app: Flask) -> Hardware:
    """The app's :class:`Hardware`."""
    return app.extensions[EXTENSION]  # type: ignore[no-any-return]


@contextlib.contextmanager
def running(app: Flask) -> Iterator[Hardware]:
    """The app's devices started for the block (``loyalty-agent serve``), stopped after it."""
    hardware = hardware_of(app)
    try:
        hardware.start()
    except DeviceSettingsError as exc:  # raised before anything was started
        raise SystemExit(f"loyalty-agent: cannot start the devices: {exc}") from None
    try:
        yield hardware
    finally:
        hardware.stop()
