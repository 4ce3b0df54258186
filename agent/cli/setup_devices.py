"""``loyalty-agent setup``, the devices part: pick the reader and the printer from what is plugged in.

The technician sees what ``devices list`` finds (serial ports, USB readers,
scanners and printers, marked from the known-ids table) as a numbered menu
and picks one, or types a port path, a pyserial URL, ``host:port`` of a
network printer or a USB ``vendor:product`` id; then the few settings that
kind needs. Settings given as flags are not asked. ``--no-input`` asks
nothing: scripted installs give ``--reader-kind``, ``--reader-url``,
``--printer-kind``, ... as flags.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import click

from ..devices.errors import DeviceSettingsError
from ..devices.inventory import FoundDevice, serial_ports, usb_devices

Ask = Callable[[str, dict[str, Any]], Any]  # commands._prompt: one validated setting
Choice = tuple[str, dict[str, Any]]

_USB_ID = re.compile(r"\A[0-9a-fA-F]{4}:[0-9a-fA-F]{4}\Z")


def found_devices(usb_backend: str) -> list[FoundDevice]:
    """Serial ports and USB devices of this machine (USB left out, with a note, when it cannot be listed)."""
    from ..devices.wiring import load_usb_backend

    try:
        usb, note = usb_devices(load_usb_backend(usb_backend))
    except DeviceSettingsError as exc:
        usb, note = [], str(exc)
    if note:
        click.echo(note, err=True)
    return serial_ports() + usb


def _usb_id(device: FoundDevice) -> str:
    return f"{device.vendor_id:04x}:{device.product_id:04x}"


def _label(device: FoundDevice) -> str:
    where = device.address if device.bus == "serial" else f"USB {_usb_id(device)}"
    return f"{where}  {device.known_as or device.description}".rstrip()


def reader_choices(found: list[FoundDevice]) -> list[Choice]:
    """The reader menu: none, serial ports, USB readers and scanners."""
    out: list[Choice] = [("none (no card reader; keyboard-wedge scanners need none)", {"reader_kind": "none"})]
    for d in found:
        if d.bus == "serial":
            out.append((_label(d), {"reader_kind": "serial", "reader_url": d.address}))
        elif d.known_as.startswith(("reader", "scanner")) or "[HID" in d.description:
            report = "keyboard" if "keyboard" in d.hint else "hidpos"
            out.append(
                (_label(d), {"reader_kind": "usb-hid", "reader_usb_id": _usb_id(d), "reader_usb_report": report})
            )
    return out


def printer_choices(found: list[FoundDevice]) -> list[Choice]:
    """The printer menu: none, serial ports, USB printers."""
    out: list[Choice] = [("none (no loyalty slips)", {"printer_kind": "none"})]
    for d in found:
        if d.bus == "serial":
            out.append((_label(d), {"printer_kind": "serial", "printer_url": d.address}))
        elif d.known_as.startswith("printer") or "printer" in d.description:
            out.append((_label(d), {"printer_kind": "usb", "printer_usb_id": _usb_id(d)}))
    return out


def typed_reader(text: str) -> dict[str, Any]:
    """A reader typed instead of picked: a USB id, else a serial port path or URL."""
    if _USB_ID.match(text):
        return {"reader_kind": "usb-hid", "reader_usb_id": text.lower()}
    return {"reader_kind": "serial", "reader_url": text}


def typed_printer(text: str) -> dict[str, Any]:
    """A printer typed instead of picked: a USB id, a serial port path or URL, else host[:port]."""
    if _USB_ID.match(text):
        return {"printer_kind": "usb", "printer_usb_id": text.lower()}
    if text.startswith(("/", "COM")) or "://" in text:
        return {"printer_kind": "serial", "printer_url": text}
    return {"printer_kind": "network", "printer_url": text}


def pick(title: str, choices: list[Choice], typed: Callable[[str], dict[str, Any]], values: dict[str, Any]) -> None:
    """Show ``choices`` numbered; set the settings of the one picked (or typed) in ``values``."""
    current = next((i for i, (_, s) in enumerate(choices) if all(values.get(k) == v for k, v in s.items())), None)
    click.echo(f"\n{title}:")
    for i, (label, _) in enumerate(choices):
        click.echo(f"  {i}) {label}")

    def parse(text: str) -> dict[str, Any]:
        text = text.strip()
        if text.isdigit():
            if int(text) >= len(choices):
                raise click.BadParameter(f"choose 0..{len(choices) - 1}, or type the device")
            return choices[int(text)][1]
        if not text:
            raise click.BadParameter("choose a number, or type the device")
        return typed(text)

    default = str(current) if current is not None else "0"
    values.update(
        click.prompt("number, or a port path / URL / host:port / USB vendor:product", default=default, value_proc=parse)
    )


def prompt_devices(values: dict[str, Any], given: set[str], ask: Ask) -> None:
    """Ask for the reader and printer settings not ``given`` as flags (``values`` is updated)."""
    found = found_devices(values.get("usb_backend", ""))
    if "reader_kind" not in given:
        pick("Card reader (magnetic stripe or barcode/QR scanner)", reader_choices(found), typed_reader, values)
    follow = {"serial": ("reader_framing", "reader_baud"), "usb-hid": ("reader_usb_report",), "none": ()}
    for name in follow[values["reader_kind"]] + (("reader_terminal",) if values["reader_kind"] != "none" else ()):
        if name not in given:
            if name == "reader_terminal" and not values["reader_terminal"] and values["terminals"]:
                values["reader_terminal"] = values["terminals"][0]
            values[name] = ask(name, values)
    if "printer_kind" not in given:
        pick("Receipt printer for loyalty slips", printer_choices(found), typed_printer, values)
    if values["printer_kind"] != "none":
        for name in ("printer_columns", "store_name"):
            if name not in given:
                if name == "store_name" and not values["store_name"]:
                    values["store_name"] = values["store_id"]
                values[name] = ask(name, values)
    if values["reader_kind"] != "none" or values["printer_kind"] != "none":
        click.echo("check them with: loyalty-agent devices test-read / test-print --config <this config file>")
