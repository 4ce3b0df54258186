"""``loyalty-agent devices``: list, test-read and test-print against simulated devices."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from agent.cli import cli
from firmware_sim.control import send_command
from tests.firmware_sim.procs import simulator, slip_texts
from tests.polling import wait_for

REHEARSAL = "firmware_sim.usb_backend:rehearsal_backend"


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["devices", *args], catch_exceptions=False)


def test_list_shows_known_usb_devices(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("list", "--json", "--usb-backend", REHEARSAL)
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    usb = {row["usb_id"]: row for row in rows if row["bus"] == "usb"}
    assert usb["04b8:0202"]["known_as"] == "printer: Epson TM-T88 series receipt printer"
    assert usb["0c2e:0b8f"]["hint"] == "usb-hid, report hidpos"
    assert "[HID]" in usb["0801:0001"]["description"]


def test_list_says_why_no_usb_device_is_listed():
    """This machine has no USB devices; with libusb missing the note says how to get it."""
    result = invoke("list")
    assert result.exit_code == 0
    assert "no USB devices found" in result.output or "apt-get install libusb-1.0-0" in result.output


def test_test_read_shows_what_was_read_and_parsed(tmp_path):
    link = tmp_path / "ttyREADER"
    with simulator("reader", "--pty", "--link", str(link), "--card", "7700000000000017"):
        result = invoke("test-read", "--reader-url", str(link), "--timeout", "20")
    assert result.exit_code == 0, result.output
    assert "read 1: track (track 2)" in result.output
    assert "number:   7700000000000017" in result.output
    assert "raw:      ;7700000000000017=4912101000000?" in result.output
    assert 'identify: {"card": "7700000000000017"}' in result.output


def test_test_read_over_usb_hid(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(
        "test-read",
        "--reader-kind",
        "usb-hid",
        "--reader-usb-id",
        "0c2e:0b8f",
        "--usb-backend",
        REHEARSAL,
        "--timeout",
        "20",
    )
    assert result.exit_code == 0 and "read 1: barcode (code128)" in result.output


def test_test_read_times_out_with_exit_1(tmp_path):
    with simulator("reader", "--pty", "--link", str(tmp_path / "r")):
        result = invoke("test-read", "--reader-url", str(tmp_path / "r"), "--timeout", "0.5")
    assert result.exit_code == 1 and "no valid read within 0.5 s" in result.output


@pytest.mark.parametrize("timeout", ["inf", "1e300", "nan"])
def test_test_read_refuses_a_timeout_that_is_no_number_of_seconds(timeout):
    # inf and 1e300 were an OverflowError traceback once the reader was open; nan gave up at once
    result = invoke("test-read", "--reader-kind", "serial", "--reader-url", "loop://", "--timeout", timeout)
    assert result.exit_code == 2 and "Invalid value for '--timeout'" in result.output


def test_test_print_prints_a_cyrillic_test_slip(printer_sim):
    pty_path, host, port, control, out = printer_sim
    result = invoke(
        "test-print", "--printer-kind", "network", "--printer-url", f"{host}:{port}", "--store-name", "Магазин у дома"
    )
    assert result.exit_code == 0, result.output
    assert "ready (paper ok)" in result.output and "test slip printed" in result.output
    (text,) = wait_for(lambda: slip_texts(out))
    assert "Проверка принтера" in text and "Магазин у дома" in text and "Съешь же ещё" in text
    send_command(control, "paper out")
    result = invoke("test-print", "--printer-kind", "serial", "--printer-url", pty_path)
    assert result.exit_code == 1 and "not ready: paper out" in result.output


def test_bad_settings_are_named():
    result = invoke("test-print", "--printer-kind", "usb", "--printer-usb-id", "epson")
    assert result.exit_code == 2 and "--printer-usb-id: should be vendor:product in hex" in result.output
    result = invoke("test-read")
    assert result.exit_code == 2 and "no reader configured" in result.output


def test_the_devices_commands_use_the_agents_config_and_flags_override_it(printer_sim, tmp_path):
    from agent.config import write_config

    pty_path, _, _, control, out = printer_sim
    config = tmp_path / "agent.toml"
    write_config(
        {
            "store_id": "S001",
            "store_name": "Магазин на Лесной",
            "printer_kind": "serial",
            "printer_url": pty_path,
            "printer_columns": 32,
        },
        config,
    )
    result = invoke("test-print", "--config", str(config))
    assert result.exit_code == 0, result.output
    (text,) = wait_for(lambda: slip_texts(out))
    assert "Магазин на Лесной" in text
    result = invoke("test-print", "--config", str(config), "--printer-columns", "wide")
    assert result.exit_code == 2 and "--printer-columns: should be an integer" in result.output
    result = invoke("test-print", "--config", str(tmp_path / "missing.toml"))
    assert result.exit_code == 2 and "does not exist" in result.output
