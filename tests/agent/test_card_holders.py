"""A card of the chain's ranges this store does not know: its holder accrues at once, redeems nothing until
registered, and becomes the registered customer when the registration comes down (docs/agent.md)."""

from __future__ import annotations

from shared.identifiers import card_holder_id
from tests.agent.conftest import CARD2, delta, receipt
from tests.agent.test_receipts_api import snapshot

HOLDER = card_holder_id(CARD2)


def test_identify_names_the_card_holder_and_changes_nothing(api, store):
    before = snapshot(store)
    r = api.post("/v1/identify", {"card": "7700 0000 0000 0024"})
    assert r.status_code == 200
    assert (r.json["customer_id"], r.json["registered"], r.json["card"]) == (HOLDER, False, CARD2)
    assert (r.json["balance"], r.json["available"], r.json["redeemable_now"], r.json["name"]) == (0, 0, 0, None)
    assert snapshot(store) == before
    # out of the ranges or with a wrong check digit it is still a mistyped number, not a holder
    assert api.post("/v1/identify", {"card": "7700000000000017"}).json["code"] == "invalid_card"
    assert api.post("/v1/identify", {"card": "7800000000000016"}).json["code"] == "invalid_card"


def test_a_sale_accrues_to_the_holder_who_cannot_redeem(api, store):
    quote = api.post("/v1/receipts/quote", receipt(customer={"card": CARD2}))
    assert quote.status_code == 200 and quote.json["accrued"] == 1350 and quote.json["max_redeemable"] == 0
    r = api.post("/v1/receipts", receipt("R1", customer={"card": CARD2}))
    assert r.status_code == 201, r.json
    answer = (r.json["customer_id"], r.json["accrued"], r.json["balance"], r.json["max_redeemable"])
    assert answer == (HOLDER, 1350, 1350, 0)
    [event] = store.outbox_batch()
    assert (event.kind, event.body["customer_id"], event.body["card"]) == ("purchase", HOLDER, CARD2)
    # the second sale finds the holder made by the first
    assert api.post("/v1/receipts", receipt("R2", customer={"card": CARD2})).json["balance"] == 2700
    found = api.post("/v1/identify", {"card": CARD2}).json
    view = (found["balance"], found["available"], found["redeemable_now"], found["registered"])
    assert view == (2700, 2700, 0, False)
    # a redemption is refused with a clear error, and changes nothing
    before = snapshot(store)
    refused = api.post("/v1/receipts", receipt("R3", redeem=100, customer={"card": CARD2}))
    assert (refused.status_code, refused.json["code"]) == (422, "card_not_registered")
    assert "not registered yet" in refused.json["detail"] and refused.json["max_redeemable"] == 0
    quoted = api.post("/v1/receipts/quote", receipt(redeem=100, customer={"card": CARD2}))
    assert quoted.json["code"] == "card_not_registered"
    assert snapshot(store) == before
    ru = api.post(
        "/v1/receipts", receipt("R3", redeem=100, customer={"card": CARD2}), headers={"Accept-Language": "ru"}
    )
    assert ru.json["title"] == "Карта ещё не зарегистрирована"


def test_the_registration_coming_down_takes_over_what_was_accrued_here(api, store):
    api.post("/v1/receipts", receipt("R1", customer={"card": CARD2}))  # 1350 at this store, seq 1
    api.post("/v1/receipts", receipt("R2", customer={"card": CARD2}))  # 1350 more, seq 2
    # registered at another store with 500 points; the central server has applied our seq 1 (on its card holder)
    # and joined it to the customer: their lots hold 500 + 1350
    store.apply_customer_delta(delta("x1", card=CARD2, points=1850, applied={"S001-1": 1}))
    found = api.post("/v1/identify", {"card": CARD2}).json
    assert (found["customer_id"], found["registered"], found["name"]) == ("x1", True, "Иван")
    assert found["balance"] == 1850 + 1350 and found["redeemable_now"] == 3200  # seq 2 still counts here
    with store.read() as tx:
        assert tx.customer(HOLDER) is None
        assert {r["customer_id"] for r in tx.c.execute("SELECT customer_id FROM receipts")} == {"x1"}
    # now the points can be redeemed, and a refund of a receipt made on the holder goes to the customer
    r3 = api.post("/v1/receipts", receipt("R3", redeem=1000, customer={"card": CARD2}))
    assert r3.status_code == 201 and r3.json["balance"] == 3200 - 1000 + r3.json["accrued"]
    back = api.post("/v1/receipts/R1/refund", {"lines": [{"index": 0}]})
    assert back.status_code == 201 and back.json["balance"] == r3.json["balance"] - 1350


def test_registering_the_card_here_takes_over_its_holder(api, store):
    api.post("/v1/receipts", receipt("R1", customer={"card": CARD2}))
    r = api.post("/v1/customers", {"phone": "8 916 000 11 22", "card": CARD2, "consents": {"personal_data": True}})
    assert r.status_code == 201, r.json
    assert r.json["customer"]["registered"] is True and r.json["customer"]["balance"] == 1350
    assert api.post("/v1/identify", {"card": CARD2}).json["customer_id"] == r.json["customer_id"]
    events = store.outbox_batch()
    assert [e.kind for e in events] == ["purchase", "registration"] and events[1].body["card"] == CARD2
    # a card registered to a customer is still taken
    again = api.post("/v1/customers", {"phone": "8 916 000 11 33", "card": CARD2, "consents": {"personal_data": True}})
    assert again.json["code"] == "card_taken"
