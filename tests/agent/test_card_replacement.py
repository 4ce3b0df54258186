"""POST /v1/cards/{card}/replace: a lost or damaged card replaced at the till keeps the balance; offline; refusals
change nothing; the outbox event; a delta written before the central server applied it does not undo it."""

from __future__ import annotations

import pytest

from tests.agent.conftest import CARD, CARD2, delta, receipt
from tests.agent.test_receipts_api import snapshot

CARD3 = "7700000000000032"


def replace(api, card=CARD, body=None, **kw):
    return api.post(f"/v1/cards/{card}/replace", {"new_card": CARD2} if body is None else body, **kw)


def test_replacement_keeps_the_balance_and_goes_up(api, store):
    store.apply_customer_delta(delta("c1", points=1500))
    r = replace(api, body={"new_card": "7700 0000 0000 0024", "reason": "damaged"})
    assert r.status_code == 200
    assert r.json["customer_id"] == "c1" and r.json["old_card"] == CARD and r.json["new_card"] == CARD2
    assert r.json["old_status"] == "replaced"
    assert r.json["customer"]["card"] == CARD2 and r.json["customer"]["balance"] == 1500
    # the new card identifies the customer with the same balance; the old one is refused with a clear message
    r = api.post("/v1/identify", {"card": CARD2})
    assert (r.json["customer_id"], r.json["balance"], r.json["card_status"]) == ("c1", 1500, "active")
    r = api.post("/v1/identify", {"card": CARD})
    assert r.json["card_status"] == "reassigned"
    r = api.post("/v1/receipts", receipt(customer={"card": CARD}))
    assert (r.status_code, r.json["code"]) == (409, "card_reassigned")
    assert "ask the customer for the new card" in r.json["detail"]
    r = api.post("/v1/receipts", receipt(customer={"card": CARD2}))
    assert r.status_code == 201
    [event] = [e for e in store.outbox_batch() if e.kind == "card_replacement"]
    assert event.body == {
        "customer_id": "c1",
        "old_card": CARD,
        "new_card": CARD2,
        "status": "replaced",
        "reason": "damaged",
        "terminal": "P01",
        "at": event.body["at"],
    }


def test_lost_card(api, store):
    store.apply_customer_delta(delta("c1"))
    r = replace(api, body={"new_card": CARD2, "status": "lost"})
    assert r.status_code == 200 and r.json["old_status"] == "lost"
    r = api.post("/v1/receipts/quote", receipt(customer={"card": CARD}))
    assert (r.status_code, r.json["code"]) == (409, "card_blocked")


def test_replacement_is_idempotent_by_key(api, store):
    store.apply_customer_delta(delta("c1"))
    first = replace(api, headers={"Idempotency-Key": "k1"})
    again = replace(api, headers={"Idempotency-Key": "k1"})
    assert first.json == again.json
    assert [e.kind for e in store.outbox_batch()].count("card_replacement") == 1


@pytest.mark.parametrize(
    "setup, card, body, status, code",
    [
        ([], CARD, None, 404, "unknown_card"),
        ([delta("c1")], "7700000000000017", None, 422, "invalid_card"),
        ([delta("c1")], CARD, {"new_card": "7700000000000017"}, 422, "invalid_card"),
        ([delta("c1")], CARD, {"new_card": CARD}, 422, "validation_error"),
        ([delta("c1")], CARD, {"new_card": CARD2, "status": "stolen"}, 422, "validation_error"),
        ([delta("c1")], CARD, {}, 422, "validation_error"),
        ([delta("c1", cards=[{"number": CARD, "status": "blocked"}])], CARD, None, 409, "card_blocked"),
        ([delta("c1", cards=[{"number": CARD, "status": "reassigned"}])], CARD, None, 409, "card_reassigned"),
        ([delta("c1", blocked=True)], CARD, None, 409, "customer_blocked"),
        ([delta("c1"), delta("c2", card=CARD2)], CARD, None, 409, "card_taken"),
    ],
)
def test_refusals_change_nothing(api, store, setup, card, body, status, code):
    for d in setup:
        store.apply_customer_delta(d)
    before = snapshot(store)
    r = replace(api, card, body)
    assert (r.status_code, r.json["code"]) == (status, code), r.json
    assert r.json["detail"]
    assert snapshot(store) == before


def test_a_card_used_before_it_was_given_joins_the_customer(api, store):
    """The new card was used at this till as an unknown card (its holder): its points become the customer's."""
    store.apply_customer_delta(delta("c1", points=1000))
    assert api.post("/v1/receipts", receipt("R0", customer={"card": CARD2})).status_code == 201
    assert replace(api).status_code == 200
    r = api.post("/v1/identify", {"card": CARD2})
    assert r.json["customer_id"] == "c1" and r.json["balance"] > 1000


def test_an_older_delta_does_not_undo_the_replacement(api, store):
    store.apply_customer_delta(delta("c1", version=1))
    replace(api)
    # the central server sends the customer again before it has our event (applied stays 0)
    store.apply_customer_delta(delta("c1", version=2, points=2000))
    r = api.post("/v1/identify", {"card": CARD2})
    assert (r.json["customer_id"], r.json["balance"]) == ("c1", 2000)
    assert api.post("/v1/identify", {"card": CARD}).json["card_status"] == "reassigned"
    # once the central server has applied it, its delta is the truth
    seq = max(e.seq for e in store.outbox_batch())
    cards = [{"number": CARD, "status": "reassigned", "reason": "replaced"}, {"number": CARD2, "status": "active"}]
    store.apply_customer_delta(delta("c1", version=3, cards=cards, applied={"S001-1": seq}))
    assert api.post("/v1/identify", {"card": CARD2}).json["card_status"] == "active"


def test_replacing_the_new_card_again(api, store):
    store.apply_customer_delta(delta("c1"))
    replace(api)
    r = replace(api, CARD2, {"new_card": CARD3, "status": "lost"})
    assert r.status_code == 200 and r.json["customer"]["card"] == CARD3
