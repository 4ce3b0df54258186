"""python-escpos transports with what the agent needs (imported only when a printer is used).

Each adds ``drain()`` (drop late status answers), ``read_status()`` (one
answer, with a timeout that ends) and ``flush_output()`` to python-escpos's
own Serial, Network and Usb classes; ``SerialUrl`` also opens the port with
pyserial's ``serial_for_url``.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

# python-escpos pickles its printer database into this folder at import; a
# stable folder saves re-pickling in every process (it makes a temp dir otherwise)
os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", str(Path.home() / ".cache" / "loyalty-edge"))
Path(os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"]).mkdir(parents=True, exist_ok=True)

from escpos.printer import Network, Serial, Usb  # noqa: E402


class SerialUrl(Serial):  # type: ignore[misc]
    """python-escpos Serial opened with ``serial_for_url``, with timeouts that end."""

    def __init__(self, url: str, baudrate: int, status_timeout: float, profile: str = "default") -> None:
        super().__init__(devfile=url, baudrate=baudrate, timeout=status_timeout, profile=profile)

    def open(self, raise_not_found: bool = True) -> None:
        import serial
        from escpos.exceptions import DeviceNotFoundError

        try:
            self.device = serial.serial_for_url(
                self.devfile, baudrate=self.baudrate, timeout=self.timeout, write_timeout=10, dsrdtr=False
            )
        except (ValueError, serial.SerialException) as exc:
            self.device = None
            raise DeviceNotFoundError(f"Unable to open serial printer on {self.devfile}: {exc}") from exc

    def drain(self) -> None:
        self.device.reset_input_buffer()

    def read_status(self) -> bytes:
        return bytes(self.device.read(1))  # status answers are one byte; read(16) would wait out the timeout

    def flush_output(self) -> None:
        self.device.flush()

    def close(self) -> None:
        if self._device:
            self._device.close()
        self._device = False


class NetworkTimed(Network):  # type: ignore[misc]
    """python-escpos Network with a short read timeout for status answers."""

    def __init__(self, host: str, port: int, status_timeout: float, profile: str = "default") -> None:
        super().__init__(host=host, port=port, timeout=10, profile=profile)
        self.status_timeout = status_timeout

    def open(self, raise_not_found: bool = True) -> None:
        # python-escpos 3.1 leaks the socket when connect() fails; create_connection closes it
        from escpos.exceptions import DeviceNotFoundError

        try:
            self.device = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            self.device = None
            raise DeviceNotFoundError(f"Could not open socket for {self.host}:{self.port}: {exc}") from exc

    def drain(self) -> None:
        self.device.setblocking(False)
        try:
            while self.device.recv(64):
                pass
        except (BlockingIOError, OSError):
            pass
        finally:
            self.device.setblocking(True)
            self.device.settimeout(self.timeout)

    def read_status(self) -> bytes:
        self.device.settimeout(self.status_timeout)
        try:
            return bytes(self.device.recv(16))
        except TimeoutError:
            return b""
        finally:
            self.device.settimeout(self.timeout)

    def flush_output(self) -> None:
        pass


class UsbTimed(Usb):  # type: ignore[misc]
    """python-escpos Usb with an explicit pyusb backend and read timeouts."""

    def __init__(
        self,
        vendor_id: int,
        product_id: int,
        in_ep: int,
        out_ep: int,
        backend: Any,
        status_timeout: float,
        profile: str = "default",
    ) -> None:
        args = {"backend": backend} if backend is not None else {}
        super().__init__(
            idVendor=vendor_id,
            idProduct=product_id,
            usb_args=args,
            timeout=10000,
            in_ep=in_ep,
            out_ep=out_ep,
            profile=profile,
        )
        self.status_timeout_ms = max(1, int(status_timeout * 1000))

    def drain(self) -> None:
        import usb.core

        for _ in range(16):
            try:
                self.device.read(self.in_ep, 64, 1)
            except usb.core.USBError:
                return

    def read_status(self) -> bytes:
        import usb.core

        try:
            return bytes(self.device.read(self.in_ep, 16, self.status_timeout_ms))
        except usb.core.USBTimeoutError:
            return b""

    def flush_output(self) -> None:
        pass
