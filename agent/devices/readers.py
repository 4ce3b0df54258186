"""Card readers: serial (pyserial) and USB HID (pyusb), supervised and self-healing.

Every reader runs one thread that opens the device, pumps bytes through a
framing protocol (``framing.py``) and the card decoder (``shared/cardreads.py``), and
calls ``on_read(CardRead)`` for each valid read: that callback is the seam to
the agent's identification. When the device goes away (unplugged, port
closed) the thread closes it and reopens it with backoff (0.2 s doubling to
5 s), so a reader plugged back is picked up without restarting the agent.
Garbage, partial frames and line noise are discarded with a log line and
never reach the callback; an exception in the callback is logged and the
reader carries on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.cardreads import Rejected, decode_payload

from .errors import ReaderUnavailable
from .framing import Framing, make_framing
from .hid import make_decoder

log = logging.getLogger("loyalty.devices.readers")

STATES = ("stopped", "connecting", "connected", "disconnected")


@dataclass(frozen=True, slots=True)
class CardRead:
    """One valid read from a reader: what was read and what it means."""

    kind: str  # "track" | "barcode" | "qr"
    raw: str  # the frame's text (track data with sentinels, the scanned text)
    number: str | None  # card number, when the read carries one
    token: str | None  # QR payload
    reader_id: str
    at: datetime  # UTC
    symbology: str | None = None
    track: int | None = None

    def identify_body(self) -> dict[str, str]:
        """The ``POST /v1/identify`` body for this read (pos-api.md: card, barcode or qr).

        A swipe is identified by the card number its tracks carry: the whole frame was already
        checked here (sentinels, character set, LRC, both tracks agreeing), so it is not parsed a
        second time by the parser of typed track text.
        """
        if self.kind == "track" and self.number:
            return {"card": self.number}
        if self.kind == "qr":
            return {"qr": self.token or self.raw}
        return {"barcode": self.number or self.raw}

    def masked(self) -> str:
        """The card number for logs: all but the last four digits hidden."""
        number = self.number or ""
        return "*" * max(0, len(number) - 4) + number[-4:] if number else f"<{self.kind}>"


ReadCallback = Callable[[CardRead], None]
StateCallback = Callable[[str, str], None]  # (reader_id, state)


class CardReader(Protocol):
    """The role every card reader plays for the agent."""

    reader_id: str

    def start(self) -> None:
        """Start reading in the background (returns at once)."""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading and release the device."""

    @property
    def state(self) -> str:
        """One of ``STATES``."""


@dataclass
class ReaderStats:
    """Counters for health pages and tests."""

    reads: int = 0
    discarded: int = 0
    connects: int = 0
    last_error: str = ""
    last_read: CardRead | None = field(default=None, repr=False)


class SupervisedReader:
    """Base of the readers: the supervising thread, decoding and callbacks.

    Subclasses implement ``_open()``, ``_read_chunk(timeout) -> bytes`` (b"" on
    timeout, an exception when the device is gone) and ``_close()``.
    """

    poll = 0.1  # seconds per read call: the granularity of stop() and idle detection
    #: a frame with no new byte for this long is a partial frame
    frame_timeout = 0.5
    backoff_min, backoff_max = 0.2, 5.0

    def __init__(
        self,
        reader_id: str,
        on_read: ReadCallback,
        framing: str = "line",
        check: str = "auto",
        on_state: StateCallback | None = None,
    ) -> None:
        self.reader_id = reader_id
        self.on_read = on_read
        self.on_state = on_state
        self.check = check
        self.stats = ReaderStats()
        self._framing: Framing = make_framing(framing, self._frame, self._discard)
        self._state = "stopped"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> str:
        """One of ``STATES``."""
        return self._state

    def describe(self) -> str:
        """The device, for log lines."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the supervising thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"reader-{self.reader_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and close the device."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._set_state("stopped")

    def wait_state(self, state: str, timeout: float) -> bool:
        """Wait until the reader reaches ``state`` (for tests and the CLI)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._state == state:
                return True
            time.sleep(0.01)
        return self._state == state

    # -- the supervising loop ---------------------------------------------

    def _run(self) -> None:
        delay = self.backoff_min
        announced_failure = False
        while not self._stop.is_set():
            self._set_state("connecting")
            try:
                self._open()
            except Exception as exc:  # any failure to open is "not there yet"
                self.stats.last_error = str(exc)
                if not announced_failure:
                    log.warning("reader %s: cannot open %s: %s; retrying", self.reader_id, self.describe(), exc)
                    announced_failure = True
                self._set_state("disconnected")
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            delay, announced_failure = self.backoff_min, False
            self.stats.connects += 1
            self._framing.connection_made(self)
            self._set_state("connected")
            log.info("reader %s: connected to %s", self.reader_id, self.describe())
            error: BaseException | None = None
            try:
                self._pump()
            except Exception as exc:  # the device went away mid-read
                error = exc
                self.stats.last_error = str(exc)
                log.warning("reader %s: lost %s: %s; reopening", self.reader_id, self.describe(), exc)
            finally:
                self._framing.connection_lost(error)
                self._safe_close()
            if error is not None:
                self._set_state("disconnected")
                self._stop.wait(delay)

    def _pump(self) -> None:
        last_byte = time.monotonic()
        while not self._stop.is_set():
            data = self._read_chunk(self.poll)
            now = time.monotonic()
            if data:
                last_byte = now
                self._framing.data_received(data)
            elif self._framing.buffer and now - last_byte > self.frame_timeout:
                self._framing.idle()
            elif not data and now - last_byte > self.frame_timeout:
                self._framing.idle()  # flushes noise counters of STX framings
                last_byte = now

    def _safe_close(self) -> None:
        try:
            self._close()
        except Exception as exc:  # closing a vanished device may fail; it is gone anyway
            log.debug("reader %s: close failed: %s", self.reader_id, exc)

    def _set_state(self, state: str) -> None:
        if state == self._state:
            return
        self._state = state
        if self.on_state is not None:
            try:
                self.on_state(self.reader_id, state)
            except Exception:
                log.exception("reader %s: state callback failed", self.reader_id)

    # -- frames ------------------------------------------------------------

    def _frame(self, payload: bytes) -> None:
        try:
            decoded = decode_payload(payload, self.check)
        except Rejected as exc:
            self._discard(str(exc), payload)
            return
        if decoded.skipped:
            log.warning("reader %s: skipped %d noise byte(s) before the track", self.reader_id, decoded.skipped)
        raw = payload.decode("latin-1")[decoded.skipped :] if decoded.kind == "track" else payload.decode("utf-8")
        read = CardRead(
            decoded.kind,
            raw,
            decoded.number,
            decoded.token,
            self.reader_id,
            datetime.now(UTC),
            decoded.symbology,
            decoded.track,
        )
        self.stats.reads += 1
        self.stats.last_read = read
        log.info("reader %s: %s %s", self.reader_id, read.kind, read.masked())
        try:
            self.on_read(read)
        except Exception:  # the identification must not kill the reader
            log.exception("reader %s: read callback failed", self.reader_id)

    def _discard(self, reason: str, data: bytes) -> None:
        self.stats.discarded += 1
        # never log a whole frame: it may be a real card's track data
        log.warning("reader %s: discarded %d byte(s): %s", self.reader_id, len(data), reason)

    # -- the device (subclasses) ---------------------------------------------

    def _open(self) -> None:
        raise NotImplementedError

    def _read_chunk(self, timeout: float) -> bytes:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


class SerialCardReader(SupervisedReader):
    """A magnetic-stripe reader or scanner on a serial port, opened with ``serial_for_url``.

    :param url: a device path (``/dev/ttyUSB0``, ``COM3``, a pty) or a pyserial URL
        (``socket://host:port``, ``rfc2217://...``, ``loop://``)
    :param framing: ``line``, ``stx-etx`` or ``stx-etx-lrc``
    """

    def __init__(
        self,
        url: str,
        on_read: ReadCallback,
        reader_id: str = "reader-1",
        baudrate: int = 9600,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1,
        framing: str = "line",
        check: str = "auto",
        on_state: StateCallback | None = None,
    ) -> None:
        super().__init__(reader_id, on_read, framing, check, on_state)
        self.url = url
        self.port_settings = {"baudrate": baudrate, "bytesize": bytesize, "parity": parity, "stopbits": stopbits}
        self._serial: Any = None

    def describe(self) -> str:
        """The port, for log lines."""
        s = self.port_settings
        return f"{self.url} ({s['baudrate']} {s['bytesize']}{s['parity']}{s['stopbits']:g})"

    def _open(self) -> None:
        import serial

        try:
            self._serial = serial.serial_for_url(self.url, timeout=self.poll, **self.port_settings)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ReaderUnavailable(f"card reader not available on {self.url}: {exc}") from exc

    def _read_chunk(self, timeout: float) -> bytes:
        ser = self._serial
        data: bytes = ser.read(ser.in_waiting or 1)
        return data

    def _close(self) -> None:
        if self._serial is not None:
            ser, self._serial = self._serial, None
            ser.close()


class UsbHidCardReader(SupervisedReader):
    """A USB HID scanner (HID POS) or keyboard-emulation reader, read through pyusb.

    :param backend: a pyusb backend; None picks libusb as pyusb does (tests and
        rehearsals pass ``firmware_sim.usb_backend.SimUsbBackend``)
    :param report_format: ``hidpos`` or ``keyboard`` (see ``hid.py``)
    """

    def __init__(
        self,
        vendor_id: int,
        product_id: int,
        on_read: ReadCallback,
        reader_id: str = "reader-1",
        report_format: str = "hidpos",
        backend: Any = None,
        interface: int = 0,
        check: str = "auto",
        on_state: StateCallback | None = None,
    ) -> None:
        super().__init__(reader_id, on_read, "line", check, on_state)
        self.vendor_id, self.product_id = vendor_id, product_id
        self.report_format = report_format
        self.backend = backend
        self.interface = interface
        self._decoder = make_decoder(report_format)
        self._device: Any = None
        self._endpoint: Any = None

    def describe(self) -> str:
        """The USB id, for log lines."""
        return f"USB {self.vendor_id:04x}:{self.product_id:04x} ({self.report_format})"

    def _open(self) -> None:
        import usb.core
        import usb.util

        try:
            dev = usb.core.find(idVendor=self.vendor_id, idProduct=self.product_id, backend=self.backend)
        except usb.core.NoBackendError as exc:
            raise ReaderUnavailable("no USB backend: install libusb (Debian: apt-get install libusb-1.0-0)") from exc
        if dev is None:
            raise ReaderUnavailable(f"USB reader {self.vendor_id:04x}:{self.product_id:04x} not plugged in")
        try:
            if dev.is_kernel_driver_active(self.interface):
                dev.detach_kernel_driver(self.interface)  # the kernel's HID driver would eat the reports
        except (NotImplementedError, usb.core.USBError):
            pass
        try:
            dev.set_configuration()
        except usb.core.USBError as exc:  # already configured by the OS: fine
            log.debug("reader %s: set_configuration: %s", self.reader_id, exc)
        intf = dev.get_active_configuration()[(self.interface, 0)]
        endpoint = usb.util.find_descriptor(
            intf,
            custom_match=lambda e: (
                usb.util.endpoint_direction(e.bEndpointAddress) == usb.util.ENDPOINT_IN
                and usb.util.endpoint_type(e.bmAttributes) == usb.util.ENDPOINT_TYPE_INTR
            ),
        )
        if endpoint is None:
            raise ReaderUnavailable(f"{self.describe()} has no interrupt IN endpoint on interface {self.interface}")
        usb.util.claim_interface(dev, self.interface)
        if self.report_format == "hidpos" and self.vendor_id == 0x0C2E:
            # Honeywell scanners start sending HID POS reports after feature report 0xFE = 1
            try:
                dev.ctrl_transfer(0x21, 0x09, 0x03FE, self.interface, bytes([0xFE, 0x01]))
            except usb.core.USBError as exc:
                log.debug("reader %s: Honeywell enable report refused: %s", self.reader_id, exc)
        self._device, self._endpoint = dev, endpoint
        self._decoder = make_decoder(self.report_format)

    def _read_chunk(self, timeout: float) -> bytes:
        import usb.core

        try:
            report = self._endpoint.read(self._endpoint.wMaxPacketSize, int(timeout * 1000))
        except usb.core.USBTimeoutError:
            return b""
        return self._decoder.report(bytes(report))

    def _close(self) -> None:
        import usb.util

        if self._device is not None:
            dev, self._device = self._device, None
            try:
                usb.util.release_interface(dev, self.interface)
            finally:
                usb.util.dispose_resources(dev)
