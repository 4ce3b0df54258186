"""The issue's acceptance, with real processes: simulators on ptys, ``loyalty-agent serve``, HTTP.

``loyalty-sim reader --pty`` swipes a card; the agent (a real ``serve``
process configured with that pty) identifies the customer for its terminal
(last identification and the SSE stream); a receipt is committed through the
POS API; ``loyalty-sim printer --pty`` renders the slip, in Cyrillic, with the
points the commit answered. Then the faults: paper out during a commit, the
reader unplugged and back, noise on the line.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import cli
from agent.devices.slip_layout import format_points
from agent.testing import (
    AgentProcess,
    PreparedAgent,
    card_number,
    prepare_agent,
    request,
)
from firmware_sim.control import send_command
from tests.firmware_sim.procs import simulator, slip_texts
from tests.polling import wait_for
from tests.sse import SseClient

CARD = card_number(0)  # customer c0000000, 10 000,00 points
UNKNOWN = card_number(99)


@dataclass
class Rig:
    agent: PreparedAgent
    reader: Path  # control socket
    printer: Path  # control socket
    slips: Path
    log: Path

    def get(self, path: str) -> tuple[int, dict]:
        return request(self.agent.port, "GET", path, None, self.agent.key)

    def devices(self) -> dict:
        return request(self.agent.port, "GET", "/v1/health", None, None)[1]["devices"]

    def status(self) -> str:
        """What ``loyalty-agent status`` prints (it asks the running agent)."""
        result = CliRunner().invoke(cli, ["status", "--config", str(self.agent.config)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    def swipe(self, card: str = CARD) -> None:
        send_command(self.reader, f"swipe {card}")

    def commit(self, receipt_id: str, amount: int = 45000) -> tuple[int, dict]:
        body = {
            "receipt_id": receipt_id,
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "customer": {"card": CARD},
            "lines": [{"sku": "SKU-9", "name": "Ролл", "category": "ROLLS", "quantity": "1", "amount": amount}],
        }
        return request(self.agent.port, "POST", "/v1/receipts", body, self.agent.key)


@pytest.fixture
def rig(tmp_path):
    """A reader and a printer simulator on ptys and an agent process using both."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            simulator(
                "printer",
                "--pty",
                "--link",
                str(tmp_path / "printer"),
                "--out",
                str(tmp_path / "slips"),
                "--control",
                str(tmp_path / "printer.ctl"),
            )
        )
        stack.enter_context(
            simulator("reader", "--pty", "--link", str(tmp_path / "reader"), "--control", str(tmp_path / "reader.ctl"))
        )
        prepared = prepare_agent(
            tmp_path / "agent",
            customers=3,
            points=1_000_000,
            store_name="Магазин на Лесной",
            reader_kind="serial",
            reader_url=str(tmp_path / "reader"),
            printer_kind="serial",
            printer_url=str(tmp_path / "printer"),
            printer_status_timeout_ms=500,
            stream_keepalive_seconds=1,
        )
        agent = AgentProcess(prepared, log=tmp_path / "agent.log")
        agent.start()
        stack.callback(agent.kill)
        rig = Rig(
            prepared, tmp_path / "reader.ctl", tmp_path / "printer.ctl", tmp_path / "slips", tmp_path / "agent.log"
        )
        send_command(rig.reader, "wait-open 20")  # the agent has opened the reader's port
        yield rig


def test_swipe_identifies_commit_prints_the_slip_in_cyrillic(rig):
    stream = SseClient(rig.agent.port, f"/v1/identifications/stream?access_token={rig.agent.key}&lang=ru")
    try:
        assert stream.block().fields == {"retry": "1000"}
        rig.swipe()
        event = stream.event()
    finally:
        stream.close()
    assert event.data["customer_id"] == "c0000000" and event.data["source"] == "reader-1"
    assert event.data["balance"] == 1_000_000 and event.data["card"] == CARD
    status, last = rig.get("/v1/identifications/last")
    assert status == 200 and last["event_id"] == event.fields["id"] == event.data["event_id"]

    status, committed = rig.commit("R-1")
    assert status == 201 and committed["accrued"] > 0
    (text,) = wait_for(lambda: slip_texts(rig.slips), timeout=20)
    assert "Магазин на Лесной" in text and "Программа лояльности" in text
    assert f"Начислено баллов{format_points(committed['accrued']):>26}" in text
    assert f"Баланс{format_points(committed['balance']):>36}" in text
    assert "**** **** **** " + CARD[-4:] in text and f"[BARCODE CODE128 {CARD}]" in text
    assert sorted(p.suffix for p in rig.slips.iterdir()) == [".png", ".txt"]
    assert wait_for(lambda: (lambda p: (p["state"], p["slips_waiting"]))(rig.devices()["printer"]) == ("ok", 0))

    status, reprint = request(rig.agent.port, "POST", "/v1/receipts/R-1/reprint", None, rig.agent.key)
    assert status == 202 and reprint["slip_id"] == "receipt:R-1"
    assert wait_for(lambda: len(slip_texts(rig.slips)) == 2, timeout=20)
    assert slip_texts(rig.slips)[1].lstrip().startswith("КОПИЯ")


def test_paper_out_during_a_commit_the_commit_succeeds_and_the_slip_prints_after(rig):
    send_command(rig.printer, "paper-out-after 4")  # the roll ends in the middle of the slip
    status, committed = rig.commit("R-2")
    assert status == 201  # the commit never waits for the printer
    assert wait_for(lambda: rig.devices()["printer"]["state"] == "paper_out", timeout=20)
    assert rig.devices()["printer"]["slips_waiting"] == 1 and slip_texts(rig.slips) == []
    assert "paper out, 1 slip(s) waiting" in rig.status()
    assert slip_texts(rig.slips, partial=True)  # the half slip that was cut short
    status, second = rig.commit("R-3", amount=10000)  # commits go on while paper is out
    assert status == 201 and rig.devices()["printer"]["slips_waiting"] == 2
    send_command(rig.printer, "paper ok")
    texts = wait_for(lambda: len(slip_texts(rig.slips)) == 2 and slip_texts(rig.slips), timeout=40)
    assert f"Начислено баллов{format_points(committed['accrued']):>26}" in texts[0] and "Чек" in texts[0]
    assert f"Баланс{format_points(second['balance']):>36}" in texts[1]
    # the simulator writes the slip before the agent's worker hears it finished: wait for the agent
    assert wait_for(lambda: (lambda p: (p["state"], p["slips_waiting"]))(rig.devices()["printer"]) == ("ok", 0))


def test_a_reader_unplugged_and_back_is_picked_up_again(rig):
    rig.swipe()
    assert wait_for(lambda: rig.get("/v1/identifications/last")[0] == 200)
    first = rig.get("/v1/identifications/last")[1]["event_id"]
    send_command(rig.reader, "unplug")
    assert wait_for(lambda: rig.devices()["reader"]["state"] == "disconnected")
    assert (
        f"card reader reader-1 (serial {rig.reader.parent / 'reader'} (9600 8N1)) for terminal P01: disconnected"
        in rig.status()
    )
    send_command(rig.reader, "plug")
    send_command(rig.reader, "wait-open 20")  # the agent reopened the new device node by itself
    assert wait_for(lambda: rig.devices()["reader"]["state"] == "connected")
    rig.swipe()
    assert wait_for(lambda: rig.get("/v1/identifications/last")[1]["event_id"] != first)
    assert rig.get("/v1/identifications/last")[1]["customer_id"] == "c0000000"


def test_noise_on_the_line_identifies_nobody_and_the_agent_goes_on(rig):
    for command in ("noise 300", "partial " + CARD, "raw 3b3737303030303f0d", "raw 00ff10020d", "noise 50"):
        send_command(rig.reader, command)
    assert wait_for(lambda: rig.devices()["reader"]["discarded"] >= 3)
    status, body = rig.get("/v1/identifications/last")
    assert status == 404 and body["code"] == "no_identification"  # no false identification
    rig.swipe(UNKNOWN)  # a well-formed swipe of a card nobody has here: the cashier is told it is not registered
    assert wait_for(lambda: rig.get("/v1/identifications/last")[0] == 200)
    assert rig.get("/v1/identifications/last")[1]["registered"] is False
    rig.swipe()
    assert wait_for(lambda: rig.get("/v1/identifications/last")[1].get("customer_id") == "c0000000")
    assert rig.devices()["reader"]["state"] == "connected"
    assert "discarded" in rig.log.read_text(encoding="utf-8")
