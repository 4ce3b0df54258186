"""The pyusb backend: pyusb's own code sees real-looking devices and traffic."""

from __future__ import annotations

import errno

import pytest
import usb.core
import usb.util

from firmware_sim.usb_backend import (
    HidPosScanner,
    KeyboardCardReader,
    SimUsbBackend,
    UsbReceiptPrinter,
)


@pytest.fixture
def bus():
    scanner, reader, printer = HidPosScanner(), KeyboardCardReader(), UsbReceiptPrinter()
    return SimUsbBackend([scanner, reader, printer]), scanner, reader, printer


def test_descriptors_through_pyusb(bus):
    backend, *_ = bus
    found = {(d.idVendor, d.idProduct): d for d in usb.core.find(find_all=True, backend=backend)}
    assert set(found) == {(0x0C2E, 0x0B8F), (0x0801, 0x0001), (0x04B8, 0x0202)}
    printer = found[(0x04B8, 0x0202)]
    assert printer.manufacturer == "EPSON" and printer.serial_number == "SIM0001"
    intf = printer.get_active_configuration()[(0, 0)]
    assert (intf.bInterfaceClass, intf.bInterfaceSubClass, intf.bInterfaceProtocol) == (7, 1, 2)
    assert [(e.bEndpointAddress, usb.util.endpoint_type(e.bmAttributes)) for e in intf] == [
        (0x01, usb.util.ENDPOINT_TYPE_BULK),
        (0x82, usb.util.ENDPOINT_TYPE_BULK),
    ]
    scanner = found[(0x0C2E, 0x0B8F)]
    hid = scanner.get_active_configuration()[(0, 0)]
    assert hid.bInterfaceClass == 3 and bytes(hid.extra_descriptors)[1] == 0x21  # HID descriptor
    report_descriptor = scanner.ctrl_transfer(0x81, 0x06, 0x2200, 0, 128)
    assert bytes(report_descriptor[:3]) == b"\x06\x8c\x00"  # usage page 0x8C: bar code scanner
    assert "1400g" in str(scanner)  # pyusb's full descriptor dump works


def test_scanner_interrupt_reports(bus):
    backend, scanner, *_ = bus
    dev = usb.core.find(idVendor=0x0C2E, backend=backend)
    dev.set_configuration()
    scanner.scan("x" * 60, "]Q1")
    first, second = (bytes(dev.read(0x81, 64, 100)) for _ in range(2))
    assert first[:5] == b"\x02\x38]Q1" and first[5:61] == b"x" * 56 and first[63] == 1
    assert second[:5] == b"\x02\x04]Q1" and second[5:9] == b"xxxx" and second[63] == 0
    with pytest.raises(usb.core.USBTimeoutError):
        dev.read(0x81, 64, 20)


def test_keyboard_reader_reports(bus):
    backend, _, reader, _ = bus
    dev = usb.core.find(idVendor=0x0801, backend=backend)
    reader.swipe(";1?")
    reports = [bytes(dev.read(0x81, 8, 100)) for _ in range(8)]
    assert reports[0] == bytes([0, 0, 0x33, 0, 0, 0, 0, 0]) and reports[1] == bytes(8)
    assert reports[4] == bytes([0x02, 0, 0x38, 0, 0, 0, 0, 0]) and reports[6][2] == 0x28


def test_printer_bulk_traffic_and_status(bus):
    backend, *_, printer = bus
    dev = usb.core.find(idVendor=0x04B8, backend=backend)
    dev.write(0x01, b"\x1b@hello\n\x1dV\x00\x10\x04\x04")
    assert bytes(dev.read(0x82, 16, 100)) == b"\x12"
    assert printer.printer.slips_done == 1
    printer.printer.set_fault(paper="out")
    assert bytes(dev.ctrl_transfer(0xA1, 1, 0, 0, 1)) == b"\x28"  # GET_PORT_STATUS: paper empty
    device_id = bytes(dev.ctrl_transfer(0xA1, 0, 0, 0, 255))
    assert device_id[2:].startswith(b"MFG:EPSON;CMD:ESC/POS")


def test_unplug_and_plug_back(bus):
    backend, scanner, *_ = bus
    dev = usb.core.find(idVendor=0x0C2E, backend=backend)
    address = dev.address
    backend.unplug(scanner)
    assert usb.core.find(idVendor=0x0C2E, backend=backend) is None
    with pytest.raises(usb.core.USBError) as caught:
        dev.read(0x81, 64, 100)
    assert caught.value.errno == errno.ENODEV
    backend.plug(scanner)
    again = usb.core.find(idVendor=0x0C2E, backend=backend)
    assert again is not None and again.address != address
