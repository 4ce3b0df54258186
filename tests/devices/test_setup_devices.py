"""``loyalty-agent setup`` picks the card reader and the printer from what is plugged in."""

from __future__ import annotations

import tomllib

import pytest
from click.testing import CliRunner

from agent.cli import cli
from agent.cli.setup_devices import (
    printer_choices,
    reader_choices,
    typed_printer,
    typed_reader,
)
from agent.devices.inventory import FoundDevice

REHEARSAL = "firmware_sim.usb_backend:rehearsal_backend"
CORE = [
    "--store-id",
    "S001",
    "--agent-id",
    "S001-1",
    "--terminals",
    "P01,P02",
    "--listen-host",
    "127.0.0.1",
    "--listen-port",
    "8765",
    "--timezone",
    "Europe/Moscow",
    "--broker-url",
    "",
    "--offline-daily-limit",
    "100000",
    "--card-ranges",
    "7700:16",
    "--qr-secret",
    "",
]


def setup(tmp_path, *args: str, answers: list[str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(
        cli,
        ["setup", "--config", str(tmp_path / "agent.toml"), "--database", str(tmp_path / "agent.sqlite"), *CORE, *args],
        input="\n".join(answers) + "\n",
        catch_exceptions=False,
    )


def test_setup_offers_the_usb_devices_found_and_asks_what_each_kind_needs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the rehearsal printer writes its slips here
    result = setup(
        tmp_path,
        "--usb-backend",
        REHEARSAL,
        answers=[
            "0c2e:0b8f",  # the reader: typed as its USB id (it is in the menu too)
            "",  # reader_usb_report: hidpos, as the known-ids table says
            "P02",  # reader_terminal (default: the first terminal)
            "04b8:0202",  # the printer
            "32",  # printer_columns: 58 mm paper
            "Магазин у дома",  # store_name
        ],
    )
    assert result.exit_code == 0, result.output
    assert "USB 0c2e:0b8f  scanner: Honeywell Voyager 1400g (HID POS)" in result.output
    assert "USB 04b8:0202  printer: Epson TM-T88 series receipt printer" in result.output
    data = tomllib.loads((tmp_path / "agent.toml").read_text(encoding="utf-8"))
    assert (data["reader_kind"], data["reader_usb_id"], data["reader_usb_report"], data["reader_terminal"]) == (
        "usb-hid",
        "0c2e:0b8f",
        "hidpos",
        "P02",
    )
    assert (data["printer_kind"], data["printer_usb_id"], data["printer_columns"], data["store_name"]) == (
        "usb",
        "04b8:0202",
        32,
        "Магазин у дома",
    )


def test_setup_with_device_flags_asks_nothing_about_them(tmp_path):
    result = setup(
        tmp_path,
        "--no-input",
        "--reader-kind",
        "serial",
        "--reader-url",
        "/dev/ttyUSB0",
        "--reader-framing",
        "stx-etx-lrc",
        "--printer-kind",
        "network",
        "--printer-url",
        "192.0.2.10",
        answers=[],
    )
    assert result.exit_code == 0, result.output
    data = tomllib.loads((tmp_path / "agent.toml").read_text(encoding="utf-8"))
    assert (data["reader_url"], data["reader_framing"], data["printer_url"]) == (
        "/dev/ttyUSB0",
        "stx-etx-lrc",
        "192.0.2.10",
    )


def test_bad_device_flags_are_named_and_nothing_is_written(tmp_path):
    result = setup(tmp_path, "--no-input", "--printer-kind", "usb", "--printer-usb-id", "epson", answers=[])
    assert result.exit_code == 1 and '"printer_usb_id" should be vendor:product in hex' in result.output
    assert not (tmp_path / "agent.toml").exists()


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--printer-codepage", "CP866\x00"], "printer_codepage"),  # was a traceback
        (
            ["--printer-kind", "network", "--printer-url", "192.0.2.10", "--printer-codepage", "UTF-8"],
            "printer_codepage",
        ),
        (
            ["--printer-kind", "usb", "--printer-usb-id", "04b8:0202", "--printer-usb-endpoints", "999,1"],
            "printer_usb_endpoints",
        ),
    ],
)
def test_values_the_printer_would_fail_on_leave_the_existing_file_alone(tmp_path, flags, named):
    (tmp_path / "agent.toml").write_text('store_id = "S009"\n', encoding="utf-8")
    result = setup(tmp_path, "--no-input", "--no-database", *flags, answers=[])
    assert result.exit_code == 1 and f'"{named}"' in result.output
    assert (tmp_path / "agent.toml").read_text(encoding="utf-8") == 'store_id = "S009"\n'


def test_menus_and_typed_devices():
    found = [
        FoundDevice("serial", "/dev/ttyUSB0", 0x0403, 0x6001, "FT232R", "serial-adapter: FTDI", "serial"),
        FoundDevice(
            "usb", "1:4", 0x0801, 0x0001, "MagTek [HID]", "reader: MagTek Mini Swipe", "usb-hid, report keyboard"
        ),
        FoundDevice("usb", "1:5", 0x04B8, 0x0202, "EPSON [printer]", "printer: Epson TM-T88", "printer usb"),
    ]
    assert [s for _, s in reader_choices(found)] == [
        {"reader_kind": "none"},
        {"reader_kind": "serial", "reader_url": "/dev/ttyUSB0"},
        {"reader_kind": "usb-hid", "reader_usb_id": "0801:0001", "reader_usb_report": "keyboard"},
    ]
    assert [s for _, s in printer_choices(found)][1:] == [
        {"printer_kind": "serial", "printer_url": "/dev/ttyUSB0"},
        {"printer_kind": "usb", "printer_usb_id": "04b8:0202"},
    ]
    assert typed_reader("socket://127.0.0.1:7001") == {"reader_kind": "serial", "reader_url": "socket://127.0.0.1:7001"}
    assert typed_printer("192.0.2.10:9100") == {"printer_kind": "network", "printer_url": "192.0.2.10:9100"}
    assert (
        typed_printer("/dev/ttyS0")["printer_kind"] == "serial" and typed_printer("04B8:0202")["printer_kind"] == "usb"
    )
