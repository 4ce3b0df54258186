"""EscposPrinter against the printer simulator: slips in Cyrillic, status queries, faults."""

from __future__ import annotations

import threading

import pytest
from PIL import Image

from agent.devices.errors import PrinterUnavailable
from agent.devices.printers import EscposPrinter, PrinterStatus, decode_status
from agent.devices.slip_layout import layout
from firmware_sim.control import send_command
from firmware_sim.usb_backend import SimUsbBackend, UsbReceiptPrinter
from tests.firmware_sim.procs import simulator, slip_texts
from tests.polling import wait_for


def printers(sim, status_timeout: float = 1.0) -> list[EscposPrinter]:  # type: ignore[no-untyped-def]
    pty_path, host, port, _, _ = sim
    return [
        EscposPrinter.serial(pty_path, status_timeout=status_timeout),
        EscposPrinter.network(host, port, status_timeout=status_timeout),
    ]


def test_slip_prints_in_cyrillic_over_pty_and_tcp(printer_sim, slip):
    out = printer_sim[4]
    for printer in printers(printer_sim):
        printer.print_ops(layout(slip, code="qr"))
    texts = wait_for(lambda: len(slip_texts(out)) == 2 and slip_texts(out))
    for text in texts:
        assert "Магазин на Лесной" in text
        assert "Начислено баллов                    101,25" in text
        assert "Баланс                            1 234,56" in text
        assert "**** **** **** 0017" in text and "7700000000000017" not in text.replace("[QR 7700000000000017]", "")
        assert "[QR 7700000000000017]" in text
    with Image.open(sorted(out.glob("slip-*.png"))[0]) as png:
        assert png.width == 504 and png.height > 600


def test_barcode_slip(printer_sim, slip):
    out = printer_sim[4]
    printers(printer_sim)[0].print_ops(layout(slip, code="barcode", language="en"))
    (text,) = wait_for(lambda: slip_texts(out))
    assert "[BARCODE CODE128 7700000000000017]" in text and "Points accrued" in text


@pytest.mark.parametrize(
    "command, reason",
    [
        ("paper out", "paper_out"),
        ("cover open", "cover_open"),
        ("offline", "offline"),
        ("delay 0.6", "no_status_answer"),
    ],
)
def test_status_queries_report_each_fault_and_nothing_prints(printer_sim, slip, command, reason):
    control, out = printer_sim[3], printer_sim[4]
    send_command(control, command)
    for printer in printers(printer_sim, status_timeout=0.3):
        assert printer.status().reason == reason
        with pytest.raises(PrinterUnavailable) as caught:
            printer.print_ops(layout(slip))
        assert caught.value.reason == reason
    assert slip_texts(out) == []


def test_near_end_paper_still_prints(printer_sim, slip):
    control = printer_sim[3]
    send_command(control, "paper near-end")
    printer = printers(printer_sim)[0]
    assert printer.status() == PrinterStatus(answered=True, online=True, paper="near_end")
    printer.print_ops(layout(slip))


def test_paper_running_out_mid_slip_fails_the_job(printer_sim, slip):
    control, out = printer_sim[3], printer_sim[4]
    send_command(control, "paper-out-after 4")
    with pytest.raises(PrinterUnavailable, match="while printing") as caught:
        printers(printer_sim)[0].print_ops(layout(slip))
    assert caught.value.reason == "paper_out"
    assert wait_for(lambda: slip_texts(out, partial=True)) and slip_texts(out) == []


@pytest.mark.parametrize("kill_after", [0.2, 1.8])  # status answers take 0.4 s: gone before the slip, then after it
def test_a_serial_printer_gone_mid_slip_is_unreachable_not_a_driver_error(tmp_path, slip, kill_after):
    # the pty closing under a status query raised serial.SerialException out of print_ops and status()
    control = tmp_path / "printer.ctl"
    with simulator("printer", "--pty", "--out", str(tmp_path / "slips"), "--control", str(control)) as (proc, (pty,)):
        send_command(control, "delay 0.4")
        printer = EscposPrinter.serial(pty, status_timeout=2)
        threading.Timer(kill_after, proc.kill).start()
        with pytest.raises(PrinterUnavailable) as caught:
            printer.print_ops(layout(slip))
        assert caught.value.reason == "printer_unreachable"
    assert printer.status().reason == "printer_unreachable"


def test_unreachable_printers():
    for printer in (EscposPrinter.serial("/nonexistent/tty"), EscposPrinter.network("127.0.0.1", 9)):
        status = printer.status()
        assert status.reason == "printer_unreachable" and status.detail
        with pytest.raises(PrinterUnavailable) as caught:
            printer.print_ops([])
        assert caught.value.reason == "printer_unreachable"


def test_usb_printer_round_trip_through_pyusb(slip):
    slips = []
    device = UsbReceiptPrinter(on_slip=slips.append)
    backend = SimUsbBackend([device])
    printer = EscposPrinter.usb(0x04B8, 0x0202, backend=backend)
    assert printer.status().ready
    printer.print_ops(layout(slip))
    assert any(getattr(b, "text", "").endswith("1 234,56") for b in slips[0].blocks)
    device.printer.set_fault(cover_open=True)
    assert printer.status().reason == "cover_open"
    backend.unplug(device)
    assert printer.status().reason == "printer_unreachable"


@pytest.mark.parametrize(
    "answers, expected",
    [
        ((0x12, 0x12, 0x12), PrinterStatus(answered=True, online=True, paper="ok")),
        ((0x1A, 0x32, 0x7E), PrinterStatus(answered=True, online=False, paper="out")),
        ((0x1A, 0x16, 0x12), PrinterStatus(answered=True, online=False, paper="ok", cover_open=True)),
        ((0x12, 0x12, 0x1E), PrinterStatus(answered=True, online=True, paper="near_end")),
        ((None, 0x12, 0x12), PrinterStatus(answered=False)),
        ((0xFF, 0x12, 0x12), PrinterStatus(answered=False)),  # not a status byte: a late answer or garbage
    ],
)
def test_decode_status(answers, expected):
    assert decode_status(*answers) == expected
