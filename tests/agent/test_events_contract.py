"""Every outbox body has exactly the fields of its shared/events.py Struct (the agent <-> central contract)."""

from __future__ import annotations

from typing import get_type_hints

import msgspec

from shared import events
from tests.agent.conftest import delta, receipt
from tests.agent.test_customers_api import REGISTRATION, confirmation_code

BODIES = {
    "purchase": events.PurchaseBody,
    "refund": events.RefundBody,
    "cancel": events.CancelBody,
    "registration": events.RegistrationBody,
    "phone_confirmed": events.PhoneConfirmedBody,
}


def test_outbox_bodies_follow_shared_events(api, store):
    store.apply_customer_delta(delta("c1"))
    api.post("/v1/receipts", receipt("R1", redeem=1000))
    api.post("/v1/receipts/R1/refund", {"lines": [{"index": 0, "quantity": "0.5"}]})
    api.post("/v1/receipts/R1/cancel")
    customer_id = api.post("/v1/customers", REGISTRATION).json["customer_id"]
    api.post(f"/v1/customers/{customer_id}/confirm", {"code": confirmation_code(store, customer_id)})
    batch = store.outbox_batch()
    assert [e.kind for e in batch] == ["purchase", "refund", "cancel", "registration", "phone_confirmed"]
    assert [e.seq for e in batch] == [1, 2, 3, 4, 5]
    for event in batch:
        assert event.kind in events.EVENT_KINDS
        # every required field, and optional ones only when they say something (promotions: shared/events.py)
        required = {f.encode_name for f in msgspec.structs.fields(BODIES[event.kind]) if f.required}
        assert required <= set(event.body) <= set(get_type_hints(BODIES[event.kind])), event.kind
    assert set(batch[0].body["lines"][0]) == set(get_type_hints(events.PurchaseLine))
    assert set(batch[1].body["lines"][0]) == set(get_type_hints(events.RefundLine))
    for event in batch:  # money and points are ints, never floats
        for key in ("total", "amount", "accrued", "redeemed"):
            if key in event.body:
                assert type(event.body[key]) is int


def test_a_rule_set_is_parsed_once_on_the_agent(make_app, monkeypatch):
    """Installed (Store.set_rules: parsed and checked), then quoted: the calculator reuses that RuleSet."""
    import agent.store as agent_store

    parses = []
    real = agent_store.parse_rules
    counted = lambda doc: parses.append(1) or real(doc)  # noqa: E731
    monkeypatch.setattr(agent_store, "parse_rules", counted)
    monkeypatch.setattr("agent.service.parse_rules", counted, raising=False)  # where it was parsed again
    app = make_app()
    service = app.extensions["loyalty_agent"].service
    with service.store.read() as tx:
        rules, _ = service.calculator(tx)
    assert len(parses) == 1
    assert rules.to_json() == service.store.rules()[1]


def test_the_outbox_keeps_the_bytes_the_sync_sends(api, store):
    """The body is encoded once, into the outbox BLOB; the sync puts those bytes in the frame as they are."""
    import msgpack

    store.apply_customer_delta(delta("c1"))
    api.post("/v1/receipts", receipt("R1", redeem=1000))
    event = store.outbox_batch()[0]
    assert isinstance(event.raw, bytes) and msgpack.unpackb(event.raw) == event.body
    with store.read() as tx:
        (blob,) = tx.c.execute("SELECT body FROM outbox WHERE seq = ?", (event.seq,)).fetchone()
    assert blob == event.raw
