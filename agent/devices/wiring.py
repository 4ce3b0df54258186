"""Build readers, printers and the print worker from ``DeviceSettings``.

These are the constructors the agent's service (and ``loyalty-agent devices``)
use; they return None for a device of kind ``none``.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import DeviceSettingsError, Problem
from .print_queue import PrintQueue
from .print_worker import PrintWorker, StatusCallback
from .printers import EscposPrinter
from .readers import ReadCallback, SerialCardReader, StateCallback, SupervisedReader, UsbHidCardReader
from .settings import DeviceSettings


def load_usb_backend(spec: str) -> Any:
    """The pyusb backend named ``module:callable`` (None for an empty spec: pyusb picks libusb)."""
    if not spec:
        return None
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise DeviceSettingsError([Problem("usb_backend", f"cannot load {spec!r}: {exc}")]) from None
    return factory()


def build_reader(
    settings: DeviceSettings, on_read: ReadCallback, on_state: StateCallback | None = None, usb_backend: Any = None
) -> SupervisedReader | None:
    """The configured card reader (not started), or None."""
    r = settings.reader
    if r.kind == "serial":
        return SerialCardReader(
            r.url, on_read, r.reader_id, r.baud, r.bytesize, r.parity, r.stopbits, r.framing, r.check, on_state
        )
    if r.kind == "usb-hid":
        assert r.usb_id is not None
        backend = usb_backend if usb_backend is not None else load_usb_backend(settings.usb_backend)
        return UsbHidCardReader(
            r.usb_id[0], r.usb_id[1], on_read, r.reader_id, r.usb_report, backend, check=r.check, on_state=on_state
        )
    return None


def build_printer(settings: DeviceSettings, usb_backend: Any = None) -> EscposPrinter | None:
    """The configured receipt printer, or None."""
    p = settings.printer
    common = {
        "codepage": p.codepage,
        "status_check": p.status_check,
        "status_timeout": p.status_timeout,
        "profile": p.profile,
    }
    if p.kind == "serial":
        return EscposPrinter.serial(p.url, p.baud, **common)
    if p.kind == "network":
        host, _, port = p.url.rpartition(":") if ":" in p.url else (p.url, "", "9100")
        return EscposPrinter.network(host, int(port or 9100), **common)
    if p.kind == "usb":
        assert p.usb_id is not None
        backend = usb_backend if usb_backend is not None else load_usb_backend(settings.usb_backend)
        return EscposPrinter.usb(p.usb_id[0], p.usb_id[1], p.usb_endpoints[0], p.usb_endpoints[1], backend, **common)
    return None


def build_print_worker(
    settings: DeviceSettings, queue: PrintQueue, printer: EscposPrinter, on_status: StatusCallback | None = None
) -> PrintWorker:
    """The print worker for ``printer`` with the slip settings (not started)."""
    p = settings.printer
    return PrintWorker(
        queue, printer, printer.name, p.columns, p.slip_language, p.slip_code, p.codepage, on_status, link=p.slip_link
    )
