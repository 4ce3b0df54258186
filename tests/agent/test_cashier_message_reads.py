"""Cashier messages read once shown (a cashier_message_read event up) and printed once on the next slip."""

from __future__ import annotations

import json

import msgpack

from agent.devices.slip_layout import SlipData, layout
from tests.agent.conftest import CARD, delta, receipt
from tests.agent.test_devices_api import jobs, printing  # noqa: F401 (a fixture)


def outbox(store) -> list[tuple[str, dict]]:
    with store.read() as tx:
        rows = tx.c.execute("SELECT kind, body FROM outbox ORDER BY seq").fetchall()
    return [(row["kind"], msgpack.unpackb(row["body"], raw=False)) for row in rows]


def test_identify_shows_a_message_once_and_sends_it_read(printing):  # noqa: F811
    api, store, _ = printing
    store.apply_customer_delta(
        delta("c1", version=2, points=10_000, messages=[{"id": "m1", "text": "Предложите десерт"}])
    )
    first = api.post("/v1/identify", {"card": CARD})
    assert [m["text"] for m in first.json["messages"] if m["kind"] == "custom"] == ["Предложите десерт"]
    second = api.post("/v1/identify", {"card": CARD})
    assert [m for m in second.json["messages"] if m["kind"] == "custom"] == []
    [(kind, body)] = outbox(store)
    assert kind == "cashier_message_read"
    assert body["message_id"] == "m1" and body["customer_id"] == "c1" and body["terminal"] == "P01"
    # the same message sent down again (the central server has not heard yet) stays read here
    store.apply_customer_delta(
        delta("c1", version=3, points=10_000, messages=[{"id": "m1", "text": "Предложите десерт"}])
    )
    assert [m for m in api.post("/v1/identify", {"card": CARD}).json["messages"] if m["kind"] == "custom"] == []
    assert len(outbox(store)) == 1
    # a message without the print flag is not on the slip
    assert api.post("/v1/receipts", receipt("R1")).status_code == 201
    [(_, _, payload)] = jobs(store)
    assert SlipData.from_json(json.loads(payload)).messages == ()


def test_a_print_message_is_on_the_next_slip_once_in_cp866(printing):  # noqa: F811
    api, store, _ = printing
    text = "Поздравьте с годовщиной карты"
    store.apply_customer_delta(
        delta("c1", version=2, points=10_000, messages=[{"id": "m2", "text": text, "print": True}])
    )
    # not shown yet: nothing to print
    assert api.post("/v1/receipts", receipt("R0")).status_code == 201
    assert api.post("/v1/identify", {"card": CARD}).status_code == 200
    assert api.post("/v1/receipts", receipt("R1")).status_code == 201
    assert api.post("/v1/receipts", receipt("R2")).status_code == 201
    slips = {slip_id: SlipData.from_json(json.loads(payload)) for slip_id, _, payload in jobs(store)}
    assert slips["receipt:R0"].messages == ()
    assert slips["receipt:R1"].messages == (text,)
    assert slips["receipt:R2"].messages == ()
    ops = layout(slips["receipt:R1"], codepage="cp866")
    assert any(getattr(op, "text", "") == text for op in ops)
    assert text.encode("cp866").decode("cp866") == text
