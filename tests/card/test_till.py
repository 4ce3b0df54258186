"""The web card at a real agent's POS API: the QR code the card shows identifies the customer (after the
central delta went down), a head-office block goes down the same way and the till refuses the customer,
and a lost card is refused as a blocked one."""

from __future__ import annotations

import pytest

from central.services import customer_admin as ca
from central.services import web_card as wc
from central.services.access import SYSTEM
from central.sync.deltas import customer_page
from tests.agent.conftest import NOW, Api, base_config, clock, make_app, receipt  # noqa: F401  # noqa: F401
from tests.agent.conftest import app as agent_app  # noqa: F401
from tests.card.conftest import PHONE

pytestmark = pytest.mark.postgresql

SECRET = "test-chain-secret-0123456789"  # the agents' qr_secret in tests/agent (and QR_SECRET here)


def down(db, agent_store, customer_id):
    deltas, _, _ = customer_page(db, "S1", 0, 10_000)
    for d in deltas:
        if d["customer_id"] == customer_id:
            agent_store.apply_customer_delta(d)


def test_web_card_qr_at_the_till_then_a_block_is_refused(db, codes, agent_app):  # noqa: F811
    from agent.auth import add_terminal
    from central.services import cards

    # the store's own electronic range, in the agents' card format (16 digits from 7700, Luhn)
    category = cards.add_category(
        db,
        SYSTEM,
        {"name": "S1 web", "first_number": "770099000000000", "count": "1000", "electronic": "1", "luhn": "1"},
    )
    with db.transaction():
        db.replace_setting("web_card_category.S1", str(category))
    agent_store = agent_app.extensions["loyalty_agent"].store
    api = Api(agent_app, add_terminal(agent_store, "P01", "Till 1"))
    wc.request_signup_code(db, "S1", {"phone": PHONE, "first_name": "Анна", "consent_personal_data": "1"}, "ip", "ru")
    cid = wc.confirm_signup(db, PHONE, codes.last(PHONE), "ip")
    down(db, agent_store, cid)
    token = wc.qr(SECRET, cid, now=NOW)["token"]
    r = api.post("/v1/identify", {"qr": token})
    assert r.status_code == 200 and r.json["customer_id"] == cid and r.json["blocked"] is False
    ca.block_customer(db, SYSTEM, cid, "fraud")
    down(db, agent_store, cid)
    r = api.post("/v1/receipts", receipt(customer={"qr": token}))
    assert (r.status_code, r.json["code"]) == (409, "customer_blocked")
    ca.unblock_customer(db, SYSTEM, cid)
    [card] = db.customer_cards(cid)
    assert card["number"].startswith("7700990") and len(card["number"]) == 16
    ca.set_card_status(db, SYSTEM, card["number"], "lost", "lost phone")
    down(db, agent_store, cid)
    r = api.post("/v1/identify", {"card": card["number"]})
    assert r.json.get("card_blocked") is True and r.json["blocked"] is False, r.json
    r = api.post("/v1/receipts", receipt("R2", customer={"card": card["number"]}))
    assert (r.status_code, r.json["code"]) == (409, "card_blocked")
