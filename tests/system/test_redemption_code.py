"""A redemption confirmed by a code the central server sends, with a real agent process, a real Mosquitto,
the real central ingest and sender, and a local SMS gateway: the till asks its agent for a code, the agent
asks the central server over MQTT (requests -> answers), the code arrives by SMS, the commit carries it and
the central server checks it. Offline the redemption is refused with a clear problem; selling goes on."""

from __future__ import annotations

import re

import pytest

from agent.testing import card_number
from central.messages import rules
from central.messages.sender import Sender
from central.services import messages as svc
from central.services.access import SYSTEM
from central.storage.store import Store as CentralStore
from tests.messages.conftest import gateway  # noqa: F401  (the local SMS gateway)
from tests.polling import wait_for

from .conftest import receipt, wait_caught_up

pytestmark = pytest.mark.slow


def test_a_redemption_confirmed_by_sms_code_and_refused_offline(broker, central, db_path, spawn, gateway):  # noqa: F811
    agent = spawn("S1")
    assert agent.wait_online(30)
    customer = agent.register(1)
    status, body = agent.commit("R0", 1, 100_000)
    assert status == 201 and body["accrued"] > 1000, body
    db = CentralStore(db_path)
    assert agent.wait_drained(30) and wait_caught_up(agent, db, [customer])

    # head office: an SMS gateway and the redemption code switched on for every store
    svc.set_channel(
        db,
        SYSTEM,
        "sms",
        {
            "method": "POST",
            "url": gateway.url + "/sms/send",
            "body_format": "json",
            "body": '{"to": "{phone}", "msg": "{text}", "partner_id": "{key}"}',
            "id_field": "sms.id",
            "error_field": "error",
        },
    )
    template = svc.save_template(
        db, SYSTEM, name="redeem", channel="sms", language="ru", kind="service", body="Код {{ code }}"
    )
    svc.set_service_switches(db, SYSTEM, "", {("redeem_code", "sms"): str(template)})
    sender = Sender(db_path, policy=rules.Policy(quiet_start=0, quiet_end=0), interval=0.2).start()
    try:
        # the requirement comes down beside the rule set
        assert wait_for(lambda: agent.state("confirm_redemption") == "1", 20)
        sale = receipt("R1", 1, 20_000, redeem=500)
        quote = agent.post("/v1/receipts/quote", sale)[1]
        assert quote["confirmation_required"] is True
        status, body = agent.post("/v1/receipts", sale)
        assert (status, body["code"]) == (409, "confirmation_required")

        status, asked = agent.post("/v1/redemptions/code", {"customer": {"card": card_number(1)}, "redeem": 500})
        assert status == 201 and asked["channel"] == "sms" and asked["customer_id"] == customer, asked
        [sms] = gateway.wait(1, 15)
        assert sms["body"]["to"] == "+79120000001"
        code = re.search(r"Код (\d{6})", sms["body"]["msg"]).group(1)

        wrong = {**sale, "confirmation": {"id": asked["confirmation_id"], "code": f"{(int(code) + 1) % 10**6:06d}"}}
        status, body = agent.post("/v1/receipts", wrong)
        assert (status, body["code"], body["attempts_left"]) == (422, "confirmation_failed", 2)
        assert agent.query("SELECT COUNT(*) FROM receipts WHERE receipt_id = 'R1'")[0][0] == 0  # nothing written

        right = {**sale, "confirmation": {"id": asked["confirmation_id"], "code": code}}
        status, body = agent.post("/v1/receipts", right)
        assert status == 201 and body["redeemed"] == 500, body
        assert agent.post("/v1/receipts", right) == (201, body)  # the till's retry: the first answer
        # the code is used up: another receipt with it is refused by the central server
        status, body = agent.post("/v1/receipts", {**right, "receipt_id": "R2"})
        assert (status, body["code"]) == (409, "confirmation_used")

        # offline: no code can be sent or checked; the sale goes on without redeeming
        broker.kill()
        assert wait_for(lambda: agent.health()["link"] == "offline", 15)
        status, body = agent.post("/v1/redemptions/code", {"customer": {"card": card_number(1)}, "redeem": 500})
        assert (status, body["code"]) == (503, "confirmation_unavailable")
        status, body = agent.post("/v1/receipts", {**right, "receipt_id": "R3"})
        assert (status, body["code"]) == (503, "confirmation_unavailable")
        assert "central server" in body["detail"]
        status, body = agent.commit("R4", 1, 20_000)
        assert status == 201 and body["redeemed"] == 0
    finally:
        sender.stop()
        db.close()
