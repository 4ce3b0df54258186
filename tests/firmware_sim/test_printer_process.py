"""The printer simulator as a process: pty and TCP at once, control socket, slips on disk."""

from __future__ import annotations

import json
import socket

import pytest
import serial
from click.testing import CliRunner

from firmware_sim.cli import cli
from firmware_sim.control import CommandError, send_command
from tests.polling import wait_for

from .procs import simulator, slip_texts

SLIP = b"\x1b@\x1bt\x11" + "Баланс 1 234,56".encode("cp866") + b"\n\x1dV\x00"


@pytest.fixture
def printer_proc(tmp_path):
    control = tmp_path / "printer.ctl"
    out = tmp_path / "slips"
    with simulator("printer", "--pty", "--tcp", "0", "--out", str(out), "--control", str(control), endpoints=2) as (
        proc,
        (pty_path, tcp),
    ):
        yield pty_path, tcp, control, out


def test_slips_arrive_over_pty_and_tcp(printer_proc):
    pty_path, tcp, _, out = printer_proc
    with serial.serial_for_url(pty_path, timeout=2) as port:
        port.write(SLIP + b"\x10\x04\x01")
        assert port.read(1) == b"\x12"
    host, port_number = tcp.split(":")
    with socket.create_connection((host, int(port_number)), timeout=5) as sock:
        sock.sendall(SLIP + b"\x10\x04\x04")
        assert sock.recv(1) == b"\x12"
    texts = wait_for(lambda: len(slip_texts(out)) == 2 and slip_texts(out))
    assert all("Баланс 1 234,56" in t for t in texts)
    assert len(list(out.glob("slip-*.png"))) == 2


def test_faults_through_the_control_socket(printer_proc):
    pty_path, _, control, out = printer_proc
    assert send_command(control, "paper out") == "paper out"
    with serial.serial_for_url(pty_path, timeout=2) as port:
        port.write(b"\x10\x04\x04" + SLIP + b"\x10\x04\x01")
        assert port.read(2) == b"\x7e\x1a"
    state = json.loads(send_command(control, "status"))
    assert state["paper"] == "out" and state["slips"] == 0 and state["discarded"] > 0
    send_command(control, "reset")
    send_command(control, "delay 0.3")
    with serial.serial_for_url(pty_path, timeout=0.1) as port:
        port.write(b"\x10\x04\x01")
        assert port.read(1) == b""  # not yet: the answer is slow
        port.timeout = 2
        assert port.read(1) == b"\x12"
    with pytest.raises(CommandError, match="unknown command"):
        send_command(control, "explode")
    with pytest.raises(CommandError, match="expected one of"):
        send_command(control, "paper purple")
    assert slip_texts(out) == []


def test_control_command_line(printer_proc):
    _, _, control, _ = printer_proc
    runner = CliRunner()
    result = runner.invoke(cli, ["control", str(control), "cover", "open"])
    assert result.exit_code == 0 and result.output.strip() == "cover open"
    result = runner.invoke(cli, ["control", str(control), "paper-out-after", "x"])
    assert result.exit_code == 1 and "not a number" in result.output
    result = runner.invoke(cli, ["control", str(control) + ".missing", "status"])
    assert result.exit_code == 1 and "no simulator listens" in result.output


def test_printer_needs_a_wire():
    result = CliRunner().invoke(cli, ["printer"])
    assert result.exit_code == 2 and "--pty and/or --tcp" in result.output
