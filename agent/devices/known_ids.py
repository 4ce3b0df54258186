"""USB vendor/product ids of card readers, scanners, receipt printers and serial adapters.

Data only: ``devices list`` marks a device found on the USB bus or behind a
serial port with what it probably is. A product id of None matches any
product of that vendor. Sources: usb.ids, vendors' manuals, and the USB ids
seen in public driver code (python-escpos, HID POS libraries); add a row
when a store has a device that is not here.
"""

from __future__ import annotations

from typing import NamedTuple


class KnownDevice(NamedTuple):
    """One table row."""

    vendor_id: int
    product_id: int | None
    role: str  # reader | scanner | printer | serial-adapter
    name: str
    hint: str  # what to set up: kind and report format / interface


KNOWN_DEVICES: tuple[KnownDevice, ...] = (
    # magnetic-stripe readers
    KnownDevice(0x0801, 0x0001, "reader", "MagTek Mini Swipe Reader (keyboard emulation)", "usb-hid, report keyboard"),
    KnownDevice(0x0801, 0x0002, "reader", "MagTek Mini Swipe Reader (HID)", "usb-hid"),
    KnownDevice(0x0801, None, "reader", "MagTek card reader", "usb-hid"),
    KnownDevice(0x0ACD, None, "reader", "ID TECH card reader", "usb-hid, report keyboard"),
    # barcode / QR scanners
    KnownDevice(0x0C2E, 0x0B8F, "scanner", "Honeywell Voyager 1400g (HID POS)", "usb-hid, report hidpos"),
    KnownDevice(0x0C2E, None, "scanner", "Honeywell / Metrologic scanner", "usb-hid, report hidpos"),
    KnownDevice(0x05E0, 0x1200, "scanner", "Symbol / Zebra bar code scanner (keyboard)", "keyboard wedge: no driver"),
    KnownDevice(0x05E0, None, "scanner", "Symbol / Zebra scanner", "usb-hid, report hidpos"),
    KnownDevice(0x05F9, None, "scanner", "Datalogic scanner", "usb-hid, report hidpos"),
    KnownDevice(0x067E, 0x0809, "scanner", "Intermec SG20", "usb-hid, report hidpos"),
    # receipt printers
    KnownDevice(0x04B8, 0x0202, "printer", "Epson TM-T88 series receipt printer", "printer usb"),
    KnownDevice(0x04B8, 0x0E15, "printer", "Epson TM-T20II", "printer usb"),
    KnownDevice(0x04B8, None, "printer", "Epson printer", "printer usb"),
    KnownDevice(
        0x0416, 0x5011, "printer", "POS-58/80 receipt printer (Winbond-based, Xprinter and others)", "printer usb"
    ),
    KnownDevice(0x0FE6, 0x811E, "printer", "POS-80 receipt printer (ICS Advent-based)", "printer usb"),
    KnownDevice(0x0519, None, "printer", "Star Micronics receipt printer", "printer usb"),
    KnownDevice(0x1504, None, "printer", "Bixolon receipt printer", "printer usb"),
    KnownDevice(0x1D90, None, "printer", "Citizen receipt printer", "printer usb"),
    # USB-serial adapters (the reader or printer behind them is not known)
    KnownDevice(0x0403, 0x6001, "serial-adapter", "FTDI FT232 USB-serial adapter", "serial: see the device behind it"),
    KnownDevice(
        0x067B, 0x2303, "serial-adapter", "Prolific PL2303 USB-serial adapter", "serial: see the device behind it"
    ),
    KnownDevice(
        0x1A86, 0x7523, "serial-adapter", "QinHeng CH340 USB-serial adapter", "serial: see the device behind it"
    ),
    KnownDevice(
        0x10C4, 0xEA60, "serial-adapter", "Silicon Labs CP210x USB-serial adapter", "serial: see the device behind it"
    ),
)


def identify(vendor_id: int | None, product_id: int | None) -> KnownDevice | None:
    """The best row for an id pair: the exact product first, then the vendor."""
    if vendor_id is None:
        return None
    exact = [d for d in KNOWN_DEVICES if d.vendor_id == vendor_id and d.product_id == product_id]
    if exact:
        return exact[0]
    vendor = [d for d in KNOWN_DEVICES if d.vendor_id == vendor_id and d.product_id is None]
    return vendor[0] if vendor else None
