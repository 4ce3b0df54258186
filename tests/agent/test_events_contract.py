"""Every outbox body has exactly the fields of its shared/events.py TypedDict (the agent <-> central contract)."""

from __future__ import annotations

from typing import get_type_hints

from shared import events
from tests.agent.conftest import delta, receipt
from tests.agent.test_customers_api import REGISTRATION, confirmation_code

BODIES = {
    "purchase": events.PurchaseBody, "refund": events.RefundBody, "cancel": events.CancelBody,
    "registration": events.RegistrationBody, "phone_confirmed": events.PhoneConfirmedBody,
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
        assert set(event.body) == set(get_type_hints(BODIES[event.kind])), event.kind
    assert set(batch[0].body["lines"][0]) == set(get_type_hints(events.PurchaseLine))
    assert set(batch[1].body["lines"][0]) == set(get_type_hints(events.RefundLine))
    for event in batch:  # money and points are ints, never floats
        for key in ("total", "amount", "accrued", "redeemed"):
            if key in event.body:
                assert type(event.body[key]) is int
