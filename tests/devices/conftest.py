"""Fixtures of the device tests: a slip, a printer simulator process, a queue database."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
import sqlite_utils

from agent.devices.slip import SlipData
from tests.firmware_sim.procs import simulator

MSK = timezone(timedelta(hours=3))


@pytest.fixture
def slip() -> SlipData:
    """A loyalty slip: 101,25 points accrued, balance 1 234,56, card 7700000000000017."""
    return SlipData("S001-P01-000123", "Магазин на Лесной", datetime(2026, 11, 21, 17, 30, tzinfo=MSK),
                    "7700000000000017", accrued=10125, redeemed=0, balance=123456,
                    receipt_id="S001-P01-000123", level="Золото")


@pytest.fixture
def printer_sim(tmp_path):
    """The printer simulator as a process on a pty and TCP: (pty path, host, port, control socket, slips folder)."""
    control, out = tmp_path / "printer.ctl", tmp_path / "slips"
    with simulator("printer", "--pty", "--tcp", "0", "--out", str(out), "--control", str(control),
                   endpoints=2) as (_, (pty_path, tcp)):
        host, port = tcp.split(":")
        yield pty_path, host, int(port), control, out


@pytest.fixture
def queue_db(tmp_path):
    """A sqlite-utils database on a real file, usable from the worker thread."""
    conn = sqlite3.connect(tmp_path / "agent.db", check_same_thread=False)
    yield sqlite_utils.Database(conn)
    conn.close()
