"""Fixtures of the device tests: a slip, a printer simulator process, the agent's database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from agent.devices.slip_layout import SlipData
from agent.store import Store
from tests.firmware_sim.procs import simulator

MSK = timezone(timedelta(hours=3))


@pytest.fixture
def slip() -> SlipData:
    """A loyalty slip: 101,25 points accrued, balance 1 234,56, card 7700000000000017."""
    return SlipData(
        "S001-P01-000123",
        "Магазин на Лесной",
        datetime(2026, 11, 21, 17, 30, tzinfo=MSK),
        "7700000000000017",
        accrued=10125,
        redeemed=0,
        balance=123456,
        receipt_id="S001-P01-000123",
        level="Золото",
    )


@pytest.fixture
def printer_sim(tmp_path):
    """The printer simulator as a process on a pty and TCP: (pty path, host, port, control socket, slips folder)."""
    control, out = tmp_path / "printer.ctl", tmp_path / "slips"
    with simulator("printer", "--pty", "--tcp", "0", "--out", str(out), "--control", str(control), endpoints=2) as (
        _,
        (pty_path, tcp),
    ):
        host, port = tcp.split(":")
        yield pty_path, host, int(port), control, out


@pytest.fixture
def agent_store(tmp_path):
    """The agent's database on a real file (the print queue lives there)."""
    store = Store(tmp_path / "agent.sqlite")
    yield store
    store.close()
