"""Receipt printers: ESC/POS over serial, USB and the network, through python-escpos.

``EscposPrinter`` opens the printer for each job (a network printer then stays
free for the till's own receipts between slips, and a printer that was
unplugged is simply opened again), asks its status with DLE EOT (printer,
offline cause, paper roll), prints the slip's operations and asks again: a
paper end or cover opened during the slip fails the job, so the print queue
keeps it. Everything device-specific is a small subclass of python-escpos's
transport (``escpos_transports.py``) that adds what the agent needs:
``serial_for_url``, read timeouts for status answers, and draining late
answers before a new query.

python-escpos 3.1 quirks handled here (see docs/devices.md): ``barcode()``
prints "Using hardware barcode renderer" to stdout, so the hardware renderer
``_hw_barcode`` is called directly; its status helpers treat "no answer" as
"paper fine", so the status bytes are decoded here (``decode_status``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.identifiers import N_

from ..i18n import translations
from .errors import PrinterUnavailable
from .slip_layout import Code, Cut, Feed, Line, SlipOp

log = logging.getLogger("loyalty.devices.printers")

DLE_EOT = b"\x10\x04"
REASONS = ("printer_unreachable", "no_status_answer", "paper_out", "cover_open", "offline", "printer_error")
_REASON_TEXT = {
    "printer_unreachable": N_("printer not reachable"),
    "no_status_answer": N_("printer does not answer"),
    "paper_out": N_("paper out"),
    "cover_open": N_("cover open"),
    "offline": N_("printer offline"),
    "printer_error": N_("printer error"),
}


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What the printer said about itself (DLE EOT 1, 2 and 4)."""

    answered: bool
    reachable: bool = True  # False: the port or host could not be opened at all
    detail: str = ""  # why not reachable
    online: bool = False
    paper: str = "unknown"  # ok | near_end | out | unknown
    cover_open: bool = False
    error: bool = False

    @property
    def ready(self) -> bool:
        """True when a slip can be printed now."""
        return self.reason is None

    @property
    def reason(self) -> str | None:
        """Why not ready (one of ``REASONS``), or None."""
        if not self.reachable:
            return "printer_unreachable"
        if not self.answered:
            return "no_status_answer"
        if self.paper == "out":
            return "paper_out"
        if self.cover_open:
            return "cover_open"
        if self.error:
            return "printer_error"
        if not self.online:
            return "offline"
        return None


def describe_reason(reason: str, language: str = "ru") -> str:
    """A cashier-readable text for a not-ready reason."""
    return translations(language).gettext(_REASON_TEXT.get(reason, _REASON_TEXT["printer_error"]))


def decode_status(printer: int | None, offline_cause: int | None, paper: int | None) -> PrinterStatus:
    """Decode the answers to DLE EOT 1, 2 and 4 (Epson bit layout); None = no answer."""
    if printer is None or offline_cause is None or paper is None:
        return PrinterStatus(answered=False)
    for byte in (printer, offline_cause, paper):
        if byte & 0x93 != 0x12:  # bits 1 and 4 are fixed to 1, bits 0 and 7 to 0 in every answer
            return PrinterStatus(answered=False)
    roll = "out" if paper & 0x60 else "near_end" if paper & 0x0C else "ok"
    if offline_cause & 0x20:
        roll = "out"
    return PrinterStatus(
        answered=True,
        online=not printer & 0x08,
        paper=roll,
        cover_open=bool(offline_cause & 0x04),
        error=bool(offline_cause & 0x40),
    )


class ReceiptPrinter(Protocol):
    """The role every receipt printer plays for the agent."""

    name: str

    def status(self) -> PrinterStatus:
        """Ask the printer how it is (never raises: unreachable is a status too)."""

    def print_ops(self, ops: Sequence[SlipOp]) -> None:
        """Print a slip; raise ``PrinterUnavailable`` (with its ``reason``) when it was not printed whole."""


class EscposPrinter:
    """A receipt printer driven through python-escpos.

    :param connect: returns a new, unopened python-escpos printer object per job
    :param codepage: code page of the text (``CP866`` for Russian)
    :param status_check: ask DLE EOT before and after each slip; turn off only
        for printers that do not answer it (their paper-out then goes unnoticed)
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        name: str = "default",
        codepage: str = "CP866",
        status_check: bool = True,
        describe: str = "",
    ) -> None:
        self.connect = connect
        self.name = name
        self.codepage = codepage
        self.status_check = status_check
        self.description = describe or name

    # -- factories ----------------------------------------------------------

    @classmethod
    def serial(
        cls, url: str, baudrate: int = 9600, status_timeout: float = 1.0, profile: str = "default", **kw: Any
    ) -> EscposPrinter:
        """A printer on a serial port or pyserial URL (``/dev/ttyS0``, a pty, ``rfc2217://...``)."""
        from .escpos_transports import SerialUrl

        return cls(lambda: SerialUrl(url, baudrate, status_timeout, profile), describe=f"serial {url}", **kw)

    @classmethod
    def network(
        cls, host: str, port: int = 9100, status_timeout: float = 1.0, profile: str = "default", **kw: Any
    ) -> EscposPrinter:
        """A printer on raw TCP (port 9100)."""
        from .escpos_transports import NetworkTimed

        return cls(lambda: NetworkTimed(host, port, status_timeout, profile), describe=f"tcp {host}:{port}", **kw)

    @classmethod
    def usb(
        cls,
        vendor_id: int,
        product_id: int,
        in_ep: int = 0x82,
        out_ep: int = 0x01,
        backend: Any = None,
        status_timeout: float = 1.0,
        profile: str = "default",
        **kw: Any,
    ) -> EscposPrinter:
        """A USB printer (bulk OUT for data, bulk IN for status) through pyusb."""
        from .escpos_transports import UsbTimed

        return cls(
            lambda: UsbTimed(vendor_id, product_id, in_ep, out_ep, backend, status_timeout, profile),
            describe=f"USB {vendor_id:04x}:{product_id:04x}",
            **kw,
        )

    # -- the role -------------------------------------------------------------

    def status(self) -> PrinterStatus:
        """Open, ask, close; an unreachable printer answers nothing."""
        try:
            with self._session() as device:
                return self._query(device)
        except PrinterUnavailable as exc:
            log.info("printer %s: %s", self.name, exc)
            return PrinterStatus(answered=False, reachable=False, detail=str(exc))

    def print_ops(self, ops: Sequence[SlipOp]) -> None:
        """Print a slip whole, or raise ``PrinterUnavailable``."""
        with self._session() as device:
            if self.status_check:
                self._require_ready(self._query(device), "before printing")
            try:
                self._render(device, ops)
            except Exception as exc:  # transport errors mid-slip: the slip is not known to be printed
                raise PrinterUnavailable(f"printer {self.description}: failed while printing: {exc}") from exc
            if self.status_check:
                self._require_ready(self._query(device), "while printing")

    def _require_ready(self, status: PrinterStatus, when: str) -> None:
        if not status.ready:
            reason = status.reason or "printer_error"
            raise PrinterUnavailable(f"printer {self.description}: {_REASON_TEXT[reason]} ({when})", reason)

    def _session(self) -> _Session:
        return _Session(self)

    def _query(self, device: Any) -> PrinterStatus:
        answers = []
        try:
            device.drain()
            for n in (1, 2, 4):
                device._raw(DLE_EOT + bytes([n]))
                answer = device.read_status()
                if not answer:
                    return PrinterStatus(answered=False)  # later queries would read this late answer
                answers.append(answer[-1])
        except Exception as exc:  # gone mid-query (pty closed, cable pulled): serial.SerialException, OSError, USBError
            raise PrinterUnavailable(f"printer {self.description}: lost while asking its status: {exc}") from exc
        return decode_status(*answers)

    def _render(self, p: Any, ops: Sequence[SlipOp]) -> None:
        p.hw("INIT")
        p.charcode(self.codepage)
        for op in ops:
            if isinstance(op, Line):
                p.set_with_default(align=op.align, bold=op.bold, double_height=op.double, double_width=op.double)
                p.textln(op.text)
            elif isinstance(op, Code):
                p.set_with_default(align="center")
                if op.kind == "qr":
                    p.qr(op.data, native=True, size=6)
                else:
                    # _hw_barcode: the public barcode() prints to stdout (python-escpos 3.1)
                    p._hw_barcode("{B" + op.data, "CODE128", 80, 2, "OFF", "A", True, "B", True)
            elif isinstance(op, Feed):
                p.set_with_default()
                p.ln(op.lines)
            elif isinstance(op, Cut):
                p.cut()
        p.flush_output()


class _Session:
    """Opens the python-escpos device for one job and always closes it."""

    def __init__(self, printer: EscposPrinter) -> None:
        self.printer = printer
        self.device: Any = None

    def __enter__(self) -> Any:
        from escpos.exceptions import DeviceNotFoundError

        device = self.printer.connect()
        try:
            device.open()
        except (DeviceNotFoundError, OSError, ValueError) as exc:
            raise PrinterUnavailable(f"printer {self.printer.description} not reachable: {exc}") from exc
        except Exception as exc:  # serial.SerialException, usb.core.USBError
            raise PrinterUnavailable(f"printer {self.printer.description} not reachable: {exc}") from exc
        self.device = device
        return device

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.device.close()
        except Exception as exc:  # a vanished device may not close cleanly
            log.debug("printer %s: close failed: %s", self.printer.name, exc)
