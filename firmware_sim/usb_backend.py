"""A pyusb backend with simulated USB devices: a HID POS scanner, a keyboard-emulation
card reader and an ESC/POS receipt printer.

There is no virtual USB bus here, so the simulation sits one layer below
pyusb: ``SimUsbBackend`` implements ``usb.backend.IBackend`` and pyusb's own
code above it (``usb.core.find``, descriptors, ``Device.read/write``,
``usb.util``, python-escpos's ``Usb`` printer) runs unchanged::

    backend = SimUsbBackend([HidPosScanner(), UsbReceiptPrinter()])
    dev = usb.core.find(idVendor=0x0C2E, idProduct=0x0B8F, backend=backend)

Devices present the descriptors of real ones (vendor/product ids, class,
interfaces, endpoints, HID and IEEE 1284 descriptors) and their endpoint
traffic: 64-byte interrupt IN reports for the scanner, 8-byte boot keyboard
reports for the reader, bulk OUT (ESC/POS) and bulk IN (status bytes) for the
printer. ``unplug()``/``plug()`` make a device vanish and come back with a new
address; transfers on a vanished device fail with ``ENODEV`` as libusb does.
"""

from __future__ import annotations

import errno
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import usb.backend
import usb.core

from .paper import Slip
from .printer import SimulatedPrinter

_HID, _PRINTER = 0x03, 0x07
_INTR, _BULK = 0x03, 0x02
LIBUSB_ERROR_TIMEOUT, LIBUSB_ERROR_NO_DEVICE, LIBUSB_ERROR_PIPE = -7, -4, -9


@dataclass
class _Desc:
    """A descriptor: attributes as pyusb expects them."""

    fields: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["fields"][name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class Endpoint:
    """One endpoint of an interface."""

    address: int
    kind: int  # _INTR or _BULK
    max_packet: int = 64
    interval: int = 1


@dataclass
class Interface:
    """One interface (alternate setting 0)."""

    number: int
    cls: int
    subclass: int
    protocol: int
    endpoints: list[Endpoint]
    extra: bytes = b""  # class descriptors (the HID descriptor)


class SimDevice:
    """Base of the simulated devices: descriptors, strings, plug state, IN queues."""

    vendor_id = 0
    product_id = 0
    manufacturer = ""
    product = ""
    serial = "SIM0001"
    bcd_device = 0x0100

    def __init__(self) -> None:
        self.plugged = True
        self.address = 0
        self.interfaces: list[Interface] = []
        self.in_queues: dict[int, queue.Queue[bytes]] = {}
        self.configured = 0

    def strings(self) -> list[str]:
        """String descriptors 1.. (manufacturer, product, serial)."""
        return [self.manufacturer, self.product, self.serial]

    def queue_for(self, address: int) -> queue.Queue[bytes]:
        """The IN queue of an endpoint."""
        return self.in_queues.setdefault(address, queue.Queue())

    def out(self, address: int, data: bytes) -> None:
        """Data the host sent to an OUT endpoint."""

    def control_in(self, request_type: int, request: int, value: int, index: int, length: int) -> bytes | None:
        """Class/vendor IN requests; None: not supported (the device stalls)."""
        return None


class HidPosScanner(SimDevice):
    """A barcode/QR scanner in HID POS mode (Honeywell Voyager 1400g ids)."""

    vendor_id, product_id = 0x0C2E, 0x0B8F
    manufacturer, product = "Honeywell Imaging & Mobility", "1400g (HID POS)"
    REPORT_DESCRIPTOR = bytes.fromhex(
        "068c00"  # usage page: bar code scanner (0x8C)
        "0902"  # usage: bar code scanner
        "a101"  # collection: application
        "8502"  # report id 2: scanned data report
        "0912a102"  # usage: scanned data report, collection: logical
        "150026ff00750895"  # logical 0..255, 8-bit fields
        "3f"  # report count 63: length, AIM id, 56 data bytes, symbology, reserved, more flag
        "0912"  # usage (scanned data)
        "8102"  # input (data, variable, absolute)
        "c0c0"
    )

    def __init__(self) -> None:
        super().__init__()
        hid = bytes([9, 0x21, 0x11, 0x01, 0, 1, 0x22, len(self.REPORT_DESCRIPTOR), 0])
        self.interfaces = [Interface(0, _HID, 0, 0, [Endpoint(0x81, _INTR, 64), Endpoint(0x02, _INTR, 64)], hid)]
        self.hidpos_enabled = False

    def scan(self, text: str, aim: str = "]E0") -> None:
        """Queue the reports of one scan (several when the text is longer than 56 bytes)."""
        data = text.encode("utf-8")
        chunks = [data[i : i + 56] for i in range(0, len(data), 56)] or [b""]
        for i, chunk in enumerate(chunks):
            report = bytearray(64)
            report[0], report[1] = 0x02, len(chunk)
            report[2:5] = aim.encode("ascii")[:3].ljust(3, b"\0")
            report[5 : 5 + len(chunk)] = chunk
            report[63] = 1 if i < len(chunks) - 1 else 0
            self.queue_for(0x81).put(bytes(report))

    def control_in(self, request_type: int, request: int, value: int, index: int, length: int) -> bytes | None:
        if request_type == 0x81 and request == 0x06 and value >> 8 == 0x22:  # GET_DESCRIPTOR (HID report)
            return self.REPORT_DESCRIPTOR[:length]
        return None


class KeyboardCardReader(SimDevice):
    """A magnetic-stripe reader in keyboard emulation (MagTek Mini Swipe, 0801:0001)."""

    vendor_id, product_id = 0x0801, 0x0001
    manufacturer, product = "Mag-Tek", "USB Swipe Reader"
    _LOWER = {
        **{chr(ord("a") + i): 0x04 + i for i in range(26)},
        **{d: 0x1E + i for i, d in enumerate("1234567890")},
        "\r": 0x28,
        " ": 0x2C,
        "-": 0x2D,
        "=": 0x2E,
        ";": 0x33,
        "/": 0x38,
        ",": 0x36,
        ".": 0x37,
    }
    _UPPER = {
        **{chr(ord("A") + i): 0x04 + i for i in range(26)},
        "%": 0x22,
        "^": 0x23,
        "?": 0x38,
        "_": 0x2D,
        ":": 0x33,
        "+": 0x2E,
    }

    def __init__(self) -> None:
        super().__init__()
        hid = bytes([9, 0x21, 0x11, 0x01, 0, 1, 0x22, 63, 0])
        self.interfaces = [Interface(0, _HID, 1, 1, [Endpoint(0x81, _INTR, 8, 10)], hid)]

    def type_text(self, text: str) -> None:
        """Queue key-down and key-up reports for each character (US layout)."""
        for ch in text:
            if ch in self._LOWER:
                mod, key = 0, self._LOWER[ch]
            elif ch in self._UPPER:
                mod, key = 0x02, self._UPPER[ch]
            else:
                raise ValueError(f"no key for {ch!r}")
            self.queue_for(0x81).put(bytes([mod, 0, key, 0, 0, 0, 0, 0]))
            self.queue_for(0x81).put(bytes(8))

    def swipe(self, track_text: str) -> None:
        """Type a swipe the way the reader does: the tracks, then Enter."""
        self.type_text(track_text + "\r")


class UsbReceiptPrinter(SimDevice):
    """An ESC/POS receipt printer on USB (Epson TM-T88 ids), backed by ``SimulatedPrinter``."""

    vendor_id, product_id = 0x04B8, 0x0202
    manufacturer, product = "EPSON", "TM-T88V (simulated)"
    DEVICE_ID = b"MFG:EPSON;CMD:ESC/POS;MDL:TM-T88V;CLS:PRINTER;DES:loyalty-sim;"

    def __init__(self, printer: SimulatedPrinter | None = None, on_slip: Any = None) -> None:
        super().__init__()
        self.printer = printer or SimulatedPrinter(on_slip=on_slip)
        self.interfaces = [Interface(0, _PRINTER, 1, 2, [Endpoint(0x01, _BULK, 64), Endpoint(0x82, _BULK, 64)])]

    def out(self, address: int, data: bytes) -> None:
        self.printer.data_received(data, self.queue_for(0x82).put)

    def control_in(self, request_type: int, request: int, value: int, index: int, length: int) -> bytes | None:
        if request_type == 0xA1 and request == 0:  # printer class GET_DEVICE_ID: 2-byte big-endian length first
            return (len(self.DEVICE_ID) + 2).to_bytes(2, "big") + self.DEVICE_ID
        if request_type == 0xA1 and request == 1:  # GET_PORT_STATUS: bit 5 paper empty, 4 selected, 3 no error
            s = self.printer.state
            return bytes([(0x20 if s.paper == "out" else 0) | (0 if s.printing_stopped else 0x10) | 0x08])
        return None


@dataclass
class _Handle:
    device: SimDevice
    claimed: set[int] = field(default_factory=set)


class SimUsbBackend(usb.backend.IBackend):
    """The pyusb backend over the simulated devices."""

    def __init__(self, devices: list[SimDevice] | None = None) -> None:
        self.devices: list[SimDevice] = []
        self._next_address = 1
        self._lock = threading.Lock()
        for device in devices or []:
            self.add(device)

    def add(self, device: SimDevice) -> SimDevice:
        """Plug a new device into the bus."""
        self.devices.append(device)
        self._address(device)
        return device

    def unplug(self, device: SimDevice) -> None:
        """Pull the device out: it disappears from enumeration; its transfers fail."""
        device.plugged = False
        for q in device.in_queues.values():
            q.put(b"")  # wakes a blocked reader, which then sees ENODEV

    def plug(self, device: SimDevice) -> None:
        """Plug it back (a new address, fresh endpoints, as after a real replug)."""
        device.in_queues.clear()
        device.configured = 0
        device.plugged = True
        self._address(device)

    def _address(self, device: SimDevice) -> None:
        with self._lock:
            device.address, self._next_address = self._next_address, self._next_address + 1

    # -- enumeration and descriptors ----------------------------------------

    def enumerate_devices(self):  # type: ignore[no-untyped-def]
        return [d for d in self.devices if d.plugged]

    def get_parent(self, dev):  # type: ignore[no-untyped-def]
        return None

    def get_device_descriptor(self, dev):  # type: ignore[no-untyped-def]
        return _Desc(
            {
                "bLength": 18,
                "bDescriptorType": 1,
                "bcdUSB": 0x0200,
                "bDeviceClass": 0,
                "bDeviceSubClass": 0,
                "bDeviceProtocol": 0,
                "bMaxPacketSize0": 64,
                "idVendor": dev.vendor_id,
                "idProduct": dev.product_id,
                "bcdDevice": dev.bcd_device,
                "iManufacturer": 1,
                "iProduct": 2,
                "iSerialNumber": 3,
                "bNumConfigurations": 1,
                "address": dev.address,
                "bus": 1,
                "port_number": dev.address,
                "port_numbers": (dev.address,),
                "speed": 2,
            }
        )

    def get_configuration_descriptor(self, dev, config):  # type: ignore[no-untyped-def]
        total = 9 + sum(9 + len(i.extra) + 7 * len(i.endpoints) for i in dev.interfaces)
        return _Desc(
            {
                "bLength": 9,
                "bDescriptorType": 2,
                "wTotalLength": total,
                "bNumInterfaces": len(dev.interfaces),
                "bConfigurationValue": 1,
                "iConfiguration": 0,
                "bmAttributes": 0x80,
                "bMaxPower": 50,
                "extra_descriptors": [],
            }
        )

    def get_interface_descriptor(self, dev, intf, alt, config):  # type: ignore[no-untyped-def]
        if alt != 0 or config != 0:
            raise IndexError("no such alternate setting")  # pyusb probes alternate settings until this
        i = dev.interfaces[intf]
        return _Desc(
            {
                "bLength": 9,
                "bDescriptorType": 4,
                "bInterfaceNumber": i.number,
                "bAlternateSetting": 0,
                "bNumEndpoints": len(i.endpoints),
                "bInterfaceClass": i.cls,
                "bInterfaceSubClass": i.subclass,
                "bInterfaceProtocol": i.protocol,
                "iInterface": 0,
                "extra_descriptors": list(i.extra),
            }
        )

    def get_endpoint_descriptor(self, dev, ep, intf, alt, config):  # type: ignore[no-untyped-def]
        e = dev.interfaces[intf].endpoints[ep]
        return _Desc(
            {
                "bLength": 7,
                "bDescriptorType": 5,
                "bEndpointAddress": e.address,
                "bmAttributes": e.kind,
                "wMaxPacketSize": e.max_packet,
                "bInterval": e.interval,
                "bRefresh": 0,
                "bSynchAddress": 0,
                "extra_descriptors": [],
            }
        )

    # -- handles -----------------------------------------------------------------

    def open_device(self, dev):  # type: ignore[no-untyped-def]
        self._alive(dev)
        return _Handle(dev)

    def close_device(self, dev_handle):  # type: ignore[no-untyped-def]
        dev_handle.claimed.clear()

    def set_configuration(self, dev_handle, config_value):  # type: ignore[no-untyped-def]
        self._alive(dev_handle.device)
        dev_handle.device.configured = config_value

    def get_configuration(self, dev_handle):  # type: ignore[no-untyped-def]
        self._alive(dev_handle.device)
        return dev_handle.device.configured or 1

    def set_interface_altsetting(self, dev_handle, intf, altsetting):  # type: ignore[no-untyped-def]
        self._alive(dev_handle.device)

    def claim_interface(self, dev_handle, intf):  # type: ignore[no-untyped-def]
        self._alive(dev_handle.device)
        dev_handle.claimed.add(intf)

    def release_interface(self, dev_handle, intf):  # type: ignore[no-untyped-def]
        dev_handle.claimed.discard(intf)

    def is_kernel_driver_active(self, dev_handle, intf):  # type: ignore[no-untyped-def]
        return False

    def detach_kernel_driver(self, dev_handle, intf):  # type: ignore[no-untyped-def]
        pass

    def attach_kernel_driver(self, dev_handle, intf):  # type: ignore[no-untyped-def]
        pass

    def clear_halt(self, dev_handle, ep):  # type: ignore[no-untyped-def]
        self._alive(dev_handle.device)

    def reset_device(self, dev_handle):  # type: ignore[no-untyped-def]
        self._alive(dev_handle.device)

    # -- transfers -------------------------------------------------------------------

    def bulk_write(self, dev_handle, ep, intf, data, timeout):  # type: ignore[no-untyped-def]
        self._alive(dev_handle.device)
        dev_handle.device.out(ep, bytes(data))
        return len(data)

    intr_write = bulk_write

    def bulk_read(self, dev_handle, ep, intf, buff, timeout):  # type: ignore[no-untyped-def]
        device = dev_handle.device
        self._alive(device)
        try:
            data = device.queue_for(ep).get(timeout=(timeout or 60000) / 1000)
        except queue.Empty:
            raise usb.core.USBTimeoutError("Operation timed out", LIBUSB_ERROR_TIMEOUT, errno.ETIMEDOUT) from None
        self._alive(device)
        n = min(len(data), len(buff))
        buff[:n] = type(buff)(buff.typecode, data[:n])
        return n

    intr_read = bulk_read

    def ctrl_transfer(self, dev_handle, bmRequestType, bRequest, wValue, wIndex, data, timeout):  # type: ignore[no-untyped-def]
        device = dev_handle.device
        self._alive(device)
        if bmRequestType & 0x80 == 0:  # OUT: SET_REPORT, SET_IDLE, SET_PROTOCOL, ... accepted
            return len(data)
        answer = self._standard_in(device, bmRequestType, bRequest, wValue, len(data))
        if answer is None:
            answer = device.control_in(bmRequestType, bRequest, wValue, wIndex, len(data))
        if answer is None:
            raise usb.core.USBError("Pipe error", LIBUSB_ERROR_PIPE, errno.EPIPE)
        answer = answer[: len(data)]
        data[: len(answer)] = type(data)(data.typecode, answer)
        return len(answer)

    def _standard_in(self, device: SimDevice, request_type: int, request: int, value: int, length: int) -> bytes | None:
        if request_type != 0x80:
            return None
        if request == 0x08:  # GET_CONFIGURATION
            return bytes([device.configured])
        if request == 0x06 and value >> 8 == 0x03:  # GET_DESCRIPTOR (string)
            index = value & 0xFF
            if index == 0:
                return bytes([4, 3, 0x09, 0x04])  # language ids: en-US
            strings = device.strings()
            if index > len(strings):
                return None
            encoded = strings[index - 1].encode("utf-16-le")
            return bytes([2 + len(encoded), 3]) + encoded
        return None

    def _alive(self, device: SimDevice) -> None:
        if not device.plugged:
            raise usb.core.USBError(
                "No such device (it may have been disconnected)", LIBUSB_ERROR_NO_DEVICE, errno.ENODEV
            )


def rehearsal_backend() -> SimUsbBackend:
    """A backend for technicians' rehearsals (setting ``usb_backend``): a scanner that scans a
    test card a second after the agent starts reading, a keyboard card reader and a printer
    that renders slips into ``./slips-usb``."""
    from pathlib import Path

    from .render import save_slip

    def save(slip: Slip) -> None:
        save_slip(slip, 42, Path("slips-usb"))

    scanner = HidPosScanner()
    timer = threading.Timer(1.0, scanner.scan, args=("7700000000000017", "]C0"))
    timer.daemon = True
    timer.start()
    return SimUsbBackend([scanner, KeyboardCardReader(), UsbReceiptPrinter(on_slip=save)])
