"""USB HID reports into scanner lines: HID POS reports and boot keyboard reports."""

from __future__ import annotations

from agent.devices.hid import HidPosDecoder, KeyboardDecoder
from firmware_sim.usb_backend import HidPosScanner, KeyboardCardReader


def reports(device) -> list[bytes]:  # type: ignore[no-untyped-def]
    q = device.queue_for(0x81)
    return [q.get_nowait() for _ in range(q.qsize())]


def test_hidpos_reports_of_a_long_scan_join_into_one_line():
    scanner = HidPosScanner()
    scanner.scan("Q" * 100, "]Q1")
    decoder = HidPosDecoder()
    assert [decoder.report(r) for r in reports(scanner)] == [b"", b"]Q1" + b"Q" * 100 + b"\r"]


def test_hidpos_ignores_other_report_ids_and_short_reports():
    decoder = HidPosDecoder()
    assert decoder.report(b"\x04\x01\x02\x03\x04\x05") == b"" and decoder.report(b"\x02") == b""


def test_keyboard_reports_type_the_swipe_with_shift():
    reader = KeyboardCardReader()
    reader.swipe("%B7700000000000017^A/B^49?;7700000000000017=49?")
    decoder = KeyboardDecoder()
    typed = b"".join(decoder.report(r) for r in reports(reader))
    assert typed == b"%B7700000000000017^A/B^49?;7700000000000017=49?\r"


def test_keyboard_held_key_types_once():
    decoder = KeyboardDecoder()
    down = bytes([0, 0, 0x1E, 0, 0, 0, 0, 0])
    assert decoder.report(down) == b"1" and decoder.report(down) == b"" and decoder.report(bytes(8)) == b""
