"""Devices inside the agent, in process: slips queued with their receipts, reprints, identifications, health.

The reads here enter through the reader's seam (``Hardware.on_read`` with a
``CardRead``, as the reader's thread calls it); tests/devices/test_agent_devices.py
runs the same through real processes and the simulators.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote

import pytest

from agent.auth import add_terminal
from agent.device_manager import hardware_of
from agent.devices.readers import CardRead
from agent.devices.slip_layout import SlipData, layout
from tests.agent.conftest import CARD, NOW, Api, delta, receipt
from tests.agent.test_receipts_api import snapshot

PRINTER = {"printer_kind": "serial", "printer_url": "/dev/null-printer"}  # never opened: nothing is started here
UNKNOWN = "7700000000000024"


@pytest.fixture
def printing(make_app):
    app = make_app(**PRINTER)
    store = app.extensions["loyalty_agent"].store
    store.apply_customer_delta(delta("c1", points=10_000, level="Gold"))
    return Api(app, add_terminal(store, "P01")), store, hardware_of(app)


def anonymous(receipt_id: str) -> dict:
    body = receipt(receipt_id)
    del body["customer"]
    return body


def jobs(store) -> list[tuple[str, str, dict]]:
    with store.read() as tx:
        return [(r["slip_id"], r["status"], r["payload"]) for r in tx.c.execute("SELECT * FROM print_jobs ORDER BY id")]


def test_a_committed_receipt_with_a_customer_queues_its_slip_with_it(printing):
    api, store, _ = printing
    assert api.post("/v1/receipts", receipt("R1", redeem=5000)).status_code == 201
    assert api.post("/v1/receipts", anonymous("R2")).status_code == 201  # nobody to show points to: no slip
    assert api.post("/v1/receipts", receipt("R1", redeem=5000)).headers["Idempotent-Replayed"] == "true"
    [(slip_id, status, payload)] = jobs(store)
    assert (slip_id, status) == ("receipt:R1", "pending")
    slip = SlipData.from_json(json.loads(payload))
    assert (slip.accrued, slip.redeemed, slip.balance, slip.card_number, slip.level) == (2000, 5000, 7000, CARD, "Gold")
    assert slip.at == NOW and slip.at.utcoffset() == dt.timedelta(hours=3) and slip.store_name == "S001"
    texts = [op.text for op in layout(slip) if hasattr(op, "text")]
    assert (
        "Начислено баллов                     20,00" in texts and "Баланс                               70,00" in texts
    )


def test_refund_and_cancel_print_short_slips(printing):
    api, store, _ = printing
    api.post("/v1/receipts", receipt("R1", redeem=5000))
    api.post("/v1/receipts", receipt("R2"))
    assert api.post("/v1/receipts/R1/refund", {"refund_id": "F1", "lines": [{"index": 0}]}).status_code == 201
    assert api.post("/v1/receipts/R2/cancel").status_code == 200
    rows = {slip_id: json.loads(payload) for slip_id, _, payload in jobs(store)}
    assert set(rows) == {"receipt:R1", "receipt:R2", "refund:F1", "cancel:R2"}
    assert (rows["refund:F1"]["operation"], rows["refund:F1"]["accrued"], rows["refund:F1"]["redeemed"]) == (
        "refund",
        2000,
        5000,
    )
    assert rows["cancel:R2"]["operation"] == "cancel"
    texts = [op.text for op in layout(SlipData.from_json(rows["refund:F1"])) if hasattr(op, "text")]
    assert "Возврат" in texts and "Отозвано баллов                      20,00" in texts


def test_no_printer_no_slips_and_reprint_is_409(make_app):
    app = make_app()
    store = app.extensions["loyalty_agent"].store
    store.apply_customer_delta(delta("c1"))
    api = Api(app, add_terminal(store, "P01"))
    api.post("/v1/receipts", receipt("R1"))
    assert jobs(store) == []
    r = api.post("/v1/receipts/R1/reprint")
    assert r.status_code == 409 and r.json["code"] == "no_printer"


def test_reprint(printing):
    api, store, hardware = printing
    api.post("/v1/receipts", receipt("R1"))
    with store.write() as tx:
        job = tx.print_job("receipt:R1")
        tx.mark_print_job_printed(job.id, NOW)
    r = api.post("/v1/receipts/R1/reprint")
    assert r.status_code == 202
    assert r.json == {
        "receipt_id": "R1",
        "slip_id": "receipt:R1",
        "status": "queued",
        "slips_waiting": 1,
        "printer_state": "stopped",
    }
    with store.read() as tx:
        assert tx.print_job("receipt:R1").prints == 1  # printed once: the reprint is a copy
    assert api.post("/v1/receipts/NOPE/reprint").json["code"] == "receipt_not_found"
    api.post("/v1/receipts", anonymous("R9"))
    r = api.post("/v1/receipts/R9/reprint", headers={"Accept-Language": "ru"})
    assert r.status_code == 409 and r.json["code"] == "no_slip" and "без покупателя" in r.json["detail"]
    with store.write() as tx:  # a receipt committed before the printer was set up: its slip is made now
        tx.c.execute("DELETE FROM print_jobs")
    assert api.post("/v1/receipts/R1/reprint").status_code == 202 and jobs(store)[0][:2] == ("receipt:R1", "pending")


def test_a_failing_slip_never_fails_the_commit(printing):
    api, store, hardware = printing

    def broken(tx, terminal, answer):
        tx.enqueue_print_job("half-written", {}, "loyalty_slip", "default", NOW)
        raise RuntimeError("a bug in slip making")

    hardware.service.subscribe_in_transaction("committed", broken)
    assert api.post("/v1/receipts", receipt("R1")).status_code == 201
    assert [j[0] for j in jobs(store)] == ["receipt:R1"]  # the broken listener's write is rolled back, alone


def read(number: str, kind: str = "track") -> CardRead:
    raw = f";{number}=4912101?" if kind == "track" else number
    return CardRead(kind, raw, number, None, "reader-1", dt.datetime.now(dt.UTC))


def test_last_identification_of_reads_and_identify_calls(printing):
    api, store, hardware = printing
    r = api.get("/v1/identifications/last")
    assert r.status_code == 404 and r.json["code"] == "no_identification"
    hardware.on_read(read(CARD))
    r = api.get("/v1/identifications/last")
    assert r.status_code == 200
    assert (r.json["customer_id"], r.json["source"], r.json["balance"], r.json["card"]) == (
        "c1",
        "reader-1",
        10_000,
        CARD,
    )
    first = int(r.json["event_id"])
    hardware.on_read(read(UNKNOWN))
    r = api.get("/v1/identifications/last?lang=ru")
    # a card of the chain's ranges this store does not know: its holder, not registered (docs/agent.md)
    assert (
        r.json["registered"] is False and r.json["customer_id"].startswith("card-") and r.json["source"] == "reader-1"
    )
    assert r.json["card"] == UNKNOWN and r.json["redeemable_now"] == 0
    assert int(r.json["event_id"]) > first
    api.post("/v1/identify", {"phone": "+7 912 345-67-89"})
    assert api.get("/v1/identifications/last").json["source"] == "api"
    other = Api(api.app, add_terminal(store, "P02"))
    assert other.get("/v1/identifications/last").status_code == 404  # each terminal sees its own


def test_a_blocked_card_is_an_identification_the_cashier_sees(printing):
    api, store, hardware = printing
    store.apply_customer_delta(delta("c1", version=2, cards=[{"number": CARD, "status": "blocked"}]))
    hardware.on_read(read(CARD))
    body = api.get("/v1/identifications/last").json
    assert body["card_blocked"] is True and body["customer_id"] == "c1"


def test_health_shows_the_devices(printing):
    api, store, _ = printing
    api.post("/v1/receipts", receipt("R1"))
    devices = api.get("/v1/health", key=None).json["devices"]
    assert devices == {
        "reader": None,
        "identification_streams": 0,
        "printer": {"kind": "serial", "device": "/dev/null-printer", "state": "stopped", "slips_waiting": 1},
    }


def test_the_stream_is_documented_as_server_sent_events(printing):
    api, _, _ = printing
    doc = api.client.get("/openapi.json").json
    stream = doc["paths"]["/v1/identifications/stream"]["get"]
    assert list(stream["responses"]["200"]["content"]) == ["text/event-stream"]
    assert {p["name"] for p in stream["parameters"]} >= {"access_token", "lang", "Last-Event-ID"}
    assert stream["security"] == [{"terminalKey": []}, {"terminalKeyQuery": []}]
    assert doc["paths"]["/v1/receipts/{receipt_id}/reprint"]["post"]["x-problem-codes"] == [
        "no_printer",
        "no_slip",
        "receipt_not_found",
        "unauthorized",
    ]


def test_identification_times_are_the_agents_clock(printing):
    api, _, hardware = printing
    hardware.on_read(read(CARD))
    assert api.get("/v1/identifications/last").json["at"] == NOW.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def test_serve_refuses_a_reader_without_a_terminal_naming_the_setting(make_app):
    from agent.device_manager import running

    app = make_app(terminals=[], reader_kind="serial", reader_url="/dev/no-reader")
    with pytest.raises(SystemExit, match="reader_terminal: is required when no `terminals` are configured"):
        with running(app):
            pass
    assert hardware_of(app).reader is None  # nothing was started


@pytest.mark.parametrize("receipt_id", ["S001/P01/000123", "/", "A/", ".", ".."])
def test_a_receipt_id_no_url_path_can_name_is_refused_at_quote_and_commit(printing, receipt_id):
    api, store, _ = printing
    before = snapshot(store)
    for path in ("/v1/receipts/quote", "/v1/receipts"):
        r = api.post(path, receipt(receipt_id))
        assert (r.status_code, r.json["code"]) == (422, "validation_error"), r.json
        assert [e["path"] for e in r.json["errors"]] == ["receipt_id"]
    assert snapshot(store) == before


def test_a_receipt_id_with_any_other_character_is_refunded_cancelled_and_reprinted(printing):
    api, store, _ = printing
    receipt_id = "Чек №12 ?a=1#x %2F\\ ..."
    assert (
        api.post(
            "/v1/receipts", receipt(receipt_id, lines=[{"sku": "A", "quantity": "2", "price": 10000, "amount": 20000}])
        ).status_code
        == 201
    )
    path = "/v1/receipts/" + quote(receipt_id, safe="")
    r = api.post(path + "/reprint")
    assert (r.status_code, r.json["receipt_id"]) == (202, receipt_id)
    r = api.post(path + "/refund", {"lines": [{"index": 0, "quantity": "1"}]})
    assert (r.status_code, r.json["receipt_id"]) == (201, receipt_id)
    r = api.post(path + "/cancel")
    assert (r.status_code, r.json["receipt_id"], r.json["status"]) == (200, receipt_id, "cancelled")
