"""Device settings: rows of the agent's one settings table, loaded in its order, every problem named."""

from __future__ import annotations

import pytest

from agent.config import BY_NAME, DEVICE_SETTINGS, ConfigError, load_config, load_device_settings
from agent.devices.errors import DeviceSettingsError
from agent.devices.printers import EscposPrinter
from agent.devices.readers import SerialCardReader, UsbHidCardReader
from agent.devices.wiring import build_printer, build_reader, load_usb_backend


def test_defaults_configure_no_devices():
    settings = load_device_settings({})
    assert settings.reader.kind == "none" and settings.printer.kind == "none"
    assert settings.printer.codepage == "CP866" and settings.printer.slip_language == "ru"
    assert build_reader(settings, print) is None and build_printer(settings) is None


def test_environment_strings_are_typed_by_the_agent_config():
    env = {
        "LOYALTY_AGENT_READER_KIND": "serial",
        "LOYALTY_AGENT_READER_URL": "/dev/ttyUSB0",
        "LOYALTY_AGENT_READER_BAUD": "19200",
        "LOYALTY_AGENT_READER_PARITY": "e",
        "LOYALTY_AGENT_PRINTER_KIND": "network",
        "LOYALTY_AGENT_PRINTER_URL": "192.0.2.7",
        "LOYALTY_AGENT_PRINTER_STATUS_CHECK": "off",
        "LOYALTY_AGENT_OTHER": "ignored",
    }
    settings = load_device_settings(load_config(use_file=False, env=env))
    assert (settings.reader.baud, settings.reader.parity) == (19200, "E")
    assert settings.printer.status_check is False
    reader = build_reader(settings, print)
    assert isinstance(reader, SerialCardReader) and reader.port_settings["baudrate"] == 19200
    printer = build_printer(settings)
    assert isinstance(printer, EscposPrinter) and printer.description == "tcp 192.0.2.7:9100"


def test_usb_devices_and_backend():
    settings = load_device_settings(
        {
            "reader_kind": "usb-hid",
            "reader_usb_id": "0C2E:0B8F",
            "printer_kind": "usb",
            "printer_usb_id": "04b8:0202",
            "usb_backend": "firmware_sim.usb_backend:SimUsbBackend",
        }
    )
    assert settings.reader.usb_id == (0x0C2E, 0x0B8F) and settings.printer.usb_endpoints == (0x82, 0x01)
    reader = build_reader(settings, print)
    assert isinstance(reader, UsbHidCardReader) and reader.backend is not None
    assert build_printer(settings).description == "USB 04b8:0202"


def test_every_problem_is_named():
    with pytest.raises(DeviceSettingsError) as caught:
        load_device_settings(
            {
                "reader_kind": "serial",
                "reader_baud": "fast",
                "reader_framing": "smoke",
                "printer_kind": "usb",
                "printer_usb_id": "epson",
                "printer_columns": 500,
                "printer_status_check": "maybe",
                "printer_codepage": "CP9999",
                "printer_usb_endpoints": "0x01,0x82",
                "printer_profile": "NOPE",
                "usb_backend": "x",
            }
        )
    paths = {p.path for p in caught.value.problems}
    assert paths == {
        "reader_url",
        "reader_baud",
        "reader_framing",
        "printer_usb_id",
        "printer_columns",
        "printer_status_check",
        "printer_codepage",
        "printer_usb_endpoints",
        "printer_profile",
        "usb_backend",
    }
    assert caught.value.to_dict()["code"] == "invalid_device_settings"
    with pytest.raises(DeviceSettingsError, match="host"):
        load_device_settings({"printer_kind": "network", "printer_url": "printer:port"})


@pytest.mark.parametrize(
    "values, path",
    [
        ({"printer_codepage": "CP866\x00"}, "printer_codepage"),  # was a ValueError out of validate
        ({"printer_kind": "network", "printer_url": "h", "printer_codepage": "UTF-8"}, "printer_codepage"),
        ({"printer_kind": "network", "printer_url": "h", "printer_codepage": "KOI8-R"}, "printer_codepage"),
        (
            {"printer_kind": "usb", "printer_usb_id": "04b8:0202", "printer_usb_endpoints": "999,1"},
            "printer_usb_endpoints",
        ),
        (
            {"printer_kind": "usb", "printer_usb_id": "04b8:0202", "printer_usb_endpoints": "-1,1"},
            "printer_usb_endpoints",
        ),
        ({"printer_kind": "network", "printer_url": ":9100"}, "printer_url"),
        ({"printer_kind": "network", "printer_url": "print er:9100"}, "printer_url"),
    ],
)
def test_settings_the_printer_would_fail_on_are_refused(values, path):
    # python-escpos raised KeyError at the first slip for a code page its profile cannot select
    with pytest.raises(DeviceSettingsError) as caught:
        load_device_settings(values)
    assert [p.path for p in caught.value.problems] == [path]
    load_device_settings({"printer_kind": "network", "printer_url": "h", "printer_codepage": "cp1251"})


def test_the_agent_refuses_to_start_with_bad_device_settings_naming_them(tmp_path):
    config = tmp_path / "agent.toml"
    config.write_text(
        'reader_kind = "serial"\nprinter_kind = "usb"\nprinter_usb_id = "epson"\nprinter_columns = "wide"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config, env={})
    assert caught.value.problems == [
        "\"printer_columns\" should be an integer, got 'wide'",
        "\"printer_usb_id\" should be vendor:product in hex (e.g. 04b8:0202), not 'epson'",
        '"reader_url" is required when reader_kind is serial',
    ]


def test_unloadable_usb_backend_is_a_settings_error():
    with pytest.raises(DeviceSettingsError, match="usb_backend"):
        load_usb_backend("no_such_module:thing")


def test_device_settings_are_rows_of_the_agent_settings_table():
    names = [s.name for s in DEVICE_SETTINGS]
    assert len(names) == len(set(names)) and all(BY_NAME[name] in DEVICE_SETTINGS for name in names)
    assert all(s.help and s.type in ("str", "int", "bool") for s in DEVICE_SETTINGS)
