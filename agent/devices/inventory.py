"""What is plugged in: serial ports (pyserial list_ports) and USB devices (pyusb)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .known_ids import identify

log = logging.getLogger("loyalty.devices.inventory")


@dataclass(frozen=True, slots=True)
class FoundDevice:
    """One row of ``loyalty-agent devices list``."""

    bus: str  # "serial" | "usb"
    address: str  # port path, or bus:address
    vendor_id: int | None
    product_id: int | None
    description: str
    known_as: str  # role and name from the known-ids table, or ""
    hint: str  # what to configure

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "bus": self.bus,
            "address": self.address,
            "usb_id": f"{self.vendor_id:04x}:{self.product_id:04x}" if self.vendor_id is not None else None,
            "description": self.description,
            "known_as": self.known_as,
            "hint": self.hint,
        }


def serial_ports() -> list[FoundDevice]:
    """Serial ports of this machine, with the USB id of USB-serial adapters."""
    from serial.tools import list_ports

    found = []
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        known = identify(port.vid, port.pid)
        found.append(
            FoundDevice(
                "serial",
                port.device,
                port.vid,
                port.pid,
                port.description or "",
                f"{known.role}: {known.name}" if known else "",
                known.hint if known else "reader_kind serial / printer_kind serial",
            )
        )
    return found


def usb_devices(backend: Any = None) -> tuple[list[FoundDevice], str]:
    """USB devices seen through pyusb, and a note when USB cannot be listed."""
    import usb.core

    try:
        devices = list(usb.core.find(find_all=True, backend=backend))
    except usb.core.NoBackendError:
        return [], "USB not listed: no libusb found (Debian: apt-get install libusb-1.0-0)"
    except usb.core.USBError as exc:
        return [], f"USB not listed: {exc}"
    if not devices:
        return [], "no USB devices found (a USB reader or printer not listed: check its cable and `lsusb`)"
    found = []
    for dev in devices:
        known = identify(dev.idVendor, dev.idProduct)
        found.append(
            FoundDevice(
                "usb",
                f"{dev.bus}:{dev.address}",
                dev.idVendor,
                dev.idProduct,
                _usb_description(dev),
                f"{known.role}: {known.name}" if known else "",
                known.hint if known else "",
            )
        )
    return found, ""


def _usb_description(dev: Any) -> str:
    names = []
    for attr in ("manufacturer", "product"):
        try:
            value = getattr(dev, attr)
        except (ValueError, NotImplementedError, OSError) as exc:  # no permission to read strings, no langid
            log.debug("USB %04x:%04x: %s unreadable: %s", dev.idVendor, dev.idProduct, attr, exc)
            value = None
        if value:
            names.append(str(value))
    classes = set()
    try:
        for intf in dev.get_active_configuration() if dev.bNumConfigurations else []:
            classes.add({3: "HID", 7: "printer"}.get(intf.bInterfaceClass, f"class {intf.bInterfaceClass}"))
    except Exception as exc:  # an unconfigured device or no access: leave the class out
        log.debug("USB %04x:%04x: interfaces unreadable: %s", dev.idVendor, dev.idProduct, exc)
    text = " ".join(names)
    return f"{text} [{', '.join(sorted(classes))}]" if classes else text
