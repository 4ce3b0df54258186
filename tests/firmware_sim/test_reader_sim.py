"""The simulated reader: what it puts on the wire, scenarios, the pty, unplugging."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import serial

from firmware_sim import cards
from firmware_sim.control import CommandError
from firmware_sim.reader_app import ReaderApp, load_scenario
from tests.polling import wait_for

from .procs import simulator

SCENARIOS = Path(__file__).resolve().parents[2] / "firmware_sim" / "scenarios"


def test_track_texts_and_lrc():
    assert cards.track2("7700000000000017") == ";7700000000000017=4912101000000?"
    assert cards.track1("7700000000000017").startswith("%B7700000000000017^LOYALTY/CUSTOMER^4912")
    # ISO 7811 LRC: XOR of the 4-bit codes of ";1?" is 0xB ^ 0x1 ^ 0xF = 0x5 -> "5"
    assert cards.track_lrc(";1?", 2) == "5"
    assert cards.luhn_digit("770000000000001") == "6"
    assert cards.ean_digit("460123456789") == "3"


@pytest.mark.parametrize(
    "framing, expected",
    [
        ("line", b";1234567=?\r"),
        ("stx-etx", b"\x02;1234567=?\x03"),
        (
            "stx-etx-lrc",
            b"\x02;1234567=?\x03" + bytes([0x03 ^ 0x3B ^ 0x31 ^ 0x32 ^ 0x33 ^ 0x34 ^ 0x35 ^ 0x36 ^ 0x37 ^ 0x3D ^ 0x3F]),
        ),
    ],
)
def test_framings(framing, expected):
    assert cards.frame(b";1234567=?", framing) == expected


def test_scenarios_load_as_command_lines():
    assert load_scenario(SCENARIOS / "noisy_line.yaml") == [
        "noise 40",
        "sleep 0.8",
        "partial 7700000000000017",
        "sleep 0.8",
        "swipe 7700000000000017",
    ]
    for path in SCENARIOS.glob("*.yaml"):
        assert load_scenario(path)


def test_bad_scenario_is_refused_with_its_reason(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("steps: {swipe: 1}", encoding="utf-8")
    with pytest.raises(CommandError, match="list of steps"):
        load_scenario(path)


def test_commands_reach_the_pty_byte_for_byte_and_bad_commands_are_refused(tmp_path):
    app = ReaderApp(link=str(tmp_path / "reader"), framing="stx-etx")
    try:
        with serial.serial_for_url(str(tmp_path / "reader"), baudrate=9600, timeout=2) as port:
            assert app.wait_open(2)
            app.handle("swipe 7700000000000017")
            assert port.read(35) == b"\x02;7700000000000017=4912101000000?\x03"
            app.handle("raw 0d0a")
            assert port.read(2) == b"\r\n"
        for bad in ["swipe 12ab", "noise -1", "teleport", "framing smoke", ""]:
            with pytest.raises(CommandError):
                app.handle(bad)
        assert json.loads(app.handle("status"))["framing"] == "stx-etx"
    finally:
        app.close()


def test_a_port_opened_at_the_wrong_speed_receives_garbage(tmp_path):
    app = ReaderApp(link=str(tmp_path / "reader"), baud=19200)
    try:
        with serial.serial_for_url(str(tmp_path / "reader"), baudrate=9600, timeout=1) as port:
            app.wait_open(2)
            app.handle("swipe 7700000000000017")
            data = port.read(33)
            assert len(data) == 33 and b"7700000000000017" not in data
    finally:
        app.close()


def test_reader_process_swipes_after_the_port_is_opened_and_unplugs(tmp_path):
    link = tmp_path / "ttyREADER"
    with simulator("reader", "--pty", "--link", str(link), "--stdin", stdin=True) as (proc, (path,)):
        assert path == str(link) and os.path.islink(link)
        with serial.serial_for_url(path, timeout=2) as port:
            proc.stdin.write("swipe 7700000000000017\nscan 4601234567893\n")
            proc.stdin.flush()
            assert port.read(33) == b";7700000000000017=4912101000000?\r"
            assert port.read(15) == b"4601234567893\r\n"
            proc.stdin.write("unplug\n")
            proc.stdin.flush()
            assert wait_for(lambda: not link.exists())
            with pytest.raises(serial.SerialException):
                port.read(1)
        proc.stdin.write("plug\n")
        proc.stdin.flush()
        assert wait_for(link.exists)
