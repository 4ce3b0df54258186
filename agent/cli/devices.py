"""``loyalty-agent devices``: find, test and rehearse card readers and receipt printers.

Device settings come from the agent's configuration (``--config``, else
``$LOYALTY_AGENT_CONFIG``, else /etc/loyalty-agent/agent.toml when it exists;
then ``LOYALTY_AGENT_<NAME>`` variables), and each can be overridden for the
test with an option (``--reader-url``, ``--printer-kind`` ...): a technician
tries a setting here before ``loyalty-agent setup`` writes it.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ..config import BY_NAME, DEVICE_SETTINGS, Config, ConfigError, from_text, load_config, load_device_settings
from ..devices.errors import DeviceSettingsError, PrinterUnavailable
from ..devices.settings import DeviceSettings
from .common import CONTEXT_SETTINGS


def device_options(prefixes: tuple[str, ...]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--config`` and one ``--name`` option per device setting whose name starts with one of ``prefixes``."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for setting in reversed(DEVICE_SETTINGS):
            if setting.name.startswith(prefixes):
                flag = "--" + setting.name.replace("_", "-")
                func = click.option(
                    flag,
                    setting.name,
                    default=None,
                    help=f"{setting.help} [setting {setting.name}, default: {setting.default}]",
                )(func)
        return click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Agent config file whose device settings to use (default: $LOYALTY_AGENT_CONFIG or "
            "/etc/loyalty-agent/agent.toml if it exists); options override it.",
        )(func)

    return decorate


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def load_with_flags(config_file: Path | None, options: dict[str, Any]) -> Config:
    """The agent's configuration with the given options (text, as typed) over it; problems name the option."""
    flags: dict[str, Any] = {}
    problems: list[str] = []
    for name, raw in options.items():
        if raw is not None:
            try:
                flags[name] = from_text(BY_NAME[name], raw)
            except ValueError as exc:
                problems.append(f"{_flag(name)}: {str(exc).split(' ', 1)[1]}")
    if not problems:
        try:
            return load_config(config_file, overrides=flags)
        except ConfigError as exc:
            for problem in exc.problems:
                name = problem.split('"')[1] if problem.startswith('"') else ""
                problems.append(f"{_flag(name)}: {problem.split(' ', 1)[1]}" if name in flags else problem)
    raise click.BadParameter("\n".join(problems))


def _settings(config_file: Path | None, options: dict[str, Any]) -> tuple[Config, DeviceSettings]:
    config = load_with_flags(config_file, options)
    try:
        return config, load_device_settings(config)
    except DeviceSettingsError as exc:
        raise click.BadParameter("\n".join(f"{_flag(p.path)}: {p.message}" for p in exc.problems)) from None


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


@click.group("devices", context_settings=CONTEXT_SETTINGS)
def devices() -> None:
    """Card readers and receipt printers: list what is plugged in, test a reader or a printer."""


@devices.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per device.")
@device_options(("usb_backend",))
def list_devices(as_json: bool, config_file: Path | None, **options: Any) -> None:
    """List serial ports and USB devices, marking known readers, scanners and printers.

    Example:

    \b
        loyalty-agent devices list
        loyalty-agent devices list --usb-backend firmware_sim.usb_backend:rehearsal_backend
    """
    from ..devices.inventory import serial_ports, usb_devices
    from ..devices.wiring import load_usb_backend

    _, settings = _settings(config_file, options)
    try:
        backend = load_usb_backend(settings.usb_backend)
    except DeviceSettingsError as exc:
        raise click.BadParameter(str(exc)) from None
    usb_found, note = usb_devices(backend)
    found = serial_ports() + usb_found
    if as_json:
        for device in found:
            click.echo(json.dumps(device.to_json(), ensure_ascii=False))
    else:
        if not found:
            click.echo("no serial ports or USB devices found")
        for d in found:
            usb_id = f"{d.vendor_id:04x}:{d.product_id:04x}" if d.vendor_id is not None else "-"
            click.echo(f"{d.bus:6} {d.address:20} {usb_id:9}  {d.description}")
            if d.known_as:
                click.echo(f"{'':38}{d.known_as} -> {d.hint}")
    if note:
        click.echo(note, err=True)


def _seconds(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    if math.isnan(value):  # FloatRange lets NaN through: it compares false with both ends
        raise click.BadParameter("must be a number of seconds")
    return value


@devices.command("test-read")
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 86400),  # inf overflowed the queue's wait (OverflowError)
    default=60.0,
    show_default=True,
    callback=_seconds,
    help="Seconds to wait for a read.",
)
@click.option("--count", type=click.IntRange(1), default=1, show_default=True, help="Reads to wait for.")
@click.option("-v", "--verbose", is_flag=True, help="Log connections and every discarded frame.")
@device_options(("reader_", "usb_backend"))
def test_read(timeout: float, count: int, verbose: bool, config_file: Path | None, **options: Any) -> None:
    """Wait for a swipe or scan and show what was read and how it was understood.

    Garbage and partial frames are reported on stderr and not counted. Exits 1
    when nothing valid was read in time.

    Example:

    \b
        loyalty-agent devices test-read --reader-kind serial --reader-url /dev/ttyUSB0
        loyalty-agent devices test-read --reader-kind serial --reader-url /dev/ttyS0 \\
            --reader-framing stx-etx-lrc --reader-baud 19200
        loyalty-agent devices test-read --reader-kind usb-hid --reader-usb-id 0c2e:0b8f
    """
    from ..devices.wiring import build_reader

    _logging(verbose)
    if options.get("reader_kind") is None and options.get("reader_url"):
        options["reader_kind"] = "serial"  # a port given on the command line is a serial reader
    _, settings = _settings(config_file, options)
    reads: queue.Queue[Any] = queue.Queue()
    try:
        reader = build_reader(settings, reads.put)
    except DeviceSettingsError as exc:
        raise click.BadParameter(str(exc)) from None
    if reader is None:
        raise click.UsageError(
            "no reader configured: give --reader-kind serial --reader-url PORT (or usb-hid --reader-usb-id)"
        )
    click.echo(f"waiting for a swipe or scan on {reader.describe()} ...", err=True)
    reader.start()
    got = 0
    deadline = time.monotonic() + timeout
    try:
        while got < count:
            try:
                read = reads.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            got += 1
            detail = f" (track {read.track})" if read.track else f" ({read.symbology})" if read.symbology else ""
            click.echo(f"read {got}: {read.kind}{detail}")
            click.echo(f"  raw:      {read.raw}")
            click.echo(f"  number:   {read.number or '-'}")
            if read.token:
                click.echo(f"  token:    {read.token}")
            click.echo(f"  identify: {json.dumps(read.identify_body(), ensure_ascii=False)}")
    finally:
        reader.stop()
    if got < count:
        stats = reader.stats
        why = f"; {stats.discarded} frame(s) discarded as invalid" if stats.discarded else ""
        why += f"; last error: {stats.last_error}" if stats.last_error and not stats.connects else ""
        raise click.ClickException(f"no valid read within {timeout:g} s{why}")


@devices.command("test-print")
@click.option(
    "--store-name", default=None, help="Store name on the test slip (default: the store_name setting, else store_id)."
)
@click.option("-v", "--verbose", is_flag=True, help="Log the printer connection.")
@device_options(("printer_", "slip_", "usb_backend"))
def test_print(store_name: str | None, verbose: bool, config_file: Path | None, **options: Any) -> None:
    """Ask the printer's status and print a test slip with a Cyrillic line, a barcode and a QR code.

    Exits 1 with the reason when the printer is not ready (paper out, cover
    open, offline, no answer) or not reachable.

    Example:

    \b
        loyalty-agent devices test-print --printer-kind serial --printer-url /dev/ttyS0
        loyalty-agent devices test-print --printer-kind network --printer-url 192.0.2.10:9100
        loyalty-agent devices test-print --printer-kind usb --printer-usb-id 04b8:0202
    """
    from ..devices.printers import describe_reason
    from ..devices.slip_layout import printer_test_layout
    from ..devices.wiring import build_printer

    _logging(verbose)
    config, settings = _settings(config_file, options)
    try:
        printer = build_printer(settings)
    except DeviceSettingsError as exc:
        raise click.BadParameter(str(exc)) from None
    if printer is None:
        raise click.UsageError(
            "no printer configured: give --printer-kind serial|network|usb and its --printer-url or --printer-usb-id"
        )
    p = settings.printer
    if p.status_check:
        status = printer.status()
        if status.ready:
            click.echo(f"printer {printer.description}: ready (paper {status.paper})")
        else:
            assert status.reason is not None
            detail = f" ({status.detail})" if status.detail else ""
            raise click.ClickException(
                f"printer {printer.description} not ready: {describe_reason(status.reason, 'en')}{detail}"
            )
    store_name = store_name or config.store_name or config.store_id or "loyalty-edge"
    ops = printer_test_layout(store_name, datetime.now().astimezone(), p.columns, p.slip_language, p.codepage.lower())
    try:
        printer.print_ops(ops)
    except PrinterUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("test slip printed")
