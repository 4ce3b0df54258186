"""Refunds, cancels and shift closing over the POS API."""

from __future__ import annotations

import pytest

from tests.agent.conftest import delta, receipt
from tests.agent.test_receipts_api import snapshot

TWO_LINES = [
    {"sku": "A", "quantity": "2", "price": 10000, "amount": 20000},
    {"sku": "B", "quantity": "1", "price": 30000, "amount": 30000},
]


@pytest.fixture
def committed(api, store):
    store.apply_customer_delta(delta("c1", points=10_000))
    r = api.post("/v1/receipts", receipt(redeem=5000, lines=TWO_LINES))
    assert r.status_code == 201
    return r.json


def balance(api) -> int:
    return api.post("/v1/identify", {"id": "c1"}).json["balance"]


def test_partial_then_full_refund_returns_exact_totals(api, store, committed):
    # 50000 total, 5000 redeemed (2000 + 3000), accrued 3% of 45000 = 1350 (540 + 810)
    assert committed["lines"] == [{"accrued": 540, "redeemed": 2000}, {"accrued": 810, "redeemed": 3000}]
    r1 = api.post("/v1/receipts/R1/refund", {"lines": [{"index": 0, "quantity": "1"}]})
    assert r1.status_code == 201
    assert (r1.json["amount"], r1.json["accrued"], r1.json["redeemed"]) == (10000, 270, 1000)
    assert r1.json["lines"] == [{"index": 0, "quantity": "1", "amount": 10000, "accrued": 270, "redeemed": 1000}]
    r2 = api.post("/v1/receipts/R1/refund", {"lines": [{"index": 0}, {"index": 1}]})
    assert (r2.json["amount"], r2.json["accrued"], r2.json["redeemed"]) == (40000, 1080, 4000)
    assert balance(api) == 10_000  # everything is back as before the purchase
    kinds = [e.kind for e in store.outbox_batch()]
    assert kinds == ["purchase", "refund", "refund"]
    body = store.outbox_batch()[1].body
    assert set(body) == {
        "refund_id",
        "receipt_id",
        "terminal",
        "customer_id",
        "at",
        "amount",
        "accrued",
        "redeemed",
        "lines",
    }


def test_a_line_of_quantity_zero_earns_on_its_amount_and_is_refunded_whole(api, store):
    store.apply_customer_delta(delta("c1", points=0))
    lines = [
        {"sku": "WEIGHED", "name": "Салат на развес", "quantity": "0", "price": 99900, "amount": 30000},
        {"sku": "B", "quantity": "1", "price": 20000, "amount": 20000},
    ]
    r = api.post("/v1/receipts", receipt(lines=lines))
    assert r.status_code == 201, r.json
    assert r.json["lines"][0]["accrued"] == 900 and r.json["accrued"] == 1500  # 3% of 300.00 and of 200.00
    [event] = store.outbox_batch()
    assert event.body["lines"][0]["quantity"] == "0" and event.body["lines"][0]["amount"] == 30000
    back = api.post("/v1/receipts/R1/refund", {"lines": [{"index": 0}]})  # the whole line
    assert back.status_code == 201, back.json
    assert back.json["lines"] == [{"index": 0, "quantity": "1", "amount": 30000, "accrued": 900, "redeemed": 0}]
    again = api.post("/v1/receipts/R1/refund", {"lines": [{"index": 0}]})
    assert again.status_code == 422 and again.json["code"] == "refund_invalid"
    assert balance(api) == 600


def test_refund_more_than_left_is_refused(api, store, committed):
    api.post("/v1/receipts/R1/refund", {"lines": [{"index": 1}]})
    before = snapshot(store)
    r = api.post("/v1/receipts/R1/refund", {"lines": [{"index": 1, "quantity": "1"}]})
    assert r.status_code == 422 and r.json["code"] == "refund_invalid"
    assert r.json["errors"][0]["path"] == "lines[1].quantity"
    r = api.post("/v1/receipts/R1/refund", {"lines": [{"index": 7}]})
    assert r.status_code == 422 and "no line 7" in r.json["detail"]
    assert snapshot(store) == before


@pytest.mark.parametrize(
    "body, path",
    [
        ({}, "lines"),
        ({"lines": []}, "lines"),
        ({"lines": [{"index": 0}, {"index": 0}]}, "lines[1].index"),
        ({"lines": [{"index": "0"}]}, "lines[0].index"),
        ({"lines": [{"index": 0, "quantity": "0"}]}, "lines[0].quantity"),
        ({"lines": [{"index": 0}], "at": "now"}, "at"),
    ],
)
def test_malformed_refunds(api, store, committed, body, path):
    before = snapshot(store)
    r = api.post("/v1/receipts/R1/refund", body)
    assert r.status_code == 422 and r.json["code"] == "validation_error"
    assert path in {e["path"] for e in r.json["errors"]}
    assert snapshot(store) == before


def test_refund_unknown_receipt(api, committed):
    r = api.post("/v1/receipts/NOPE/refund", {"lines": [{"index": 0}]})
    assert (r.status_code, r.json["code"]) == (404, "receipt_not_found")


def test_refund_id_makes_a_retry_safe(api, store, committed):
    body = {"refund_id": "RET-1", "lines": [{"index": 0, "quantity": "1"}]}
    first = api.post("/v1/receipts/R1/refund", body)
    again = api.post("/v1/receipts/R1/refund", body)
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    other = api.post("/v1/receipts/R1/refund", {**body, "lines": [{"index": 1}]})
    assert (other.status_code, other.json["code"]) == (409, "refund_conflict")
    assert [e.kind for e in store.outbox_batch()] == ["purchase", "refund"]


def test_idempotency_key_on_refund(api, store, committed):
    body = {"lines": [{"index": 0, "quantity": "1"}]}
    first = api.post("/v1/receipts/R1/refund", body, headers={"Idempotency-Key": "k-1"})
    again = api.post("/v1/receipts/R1/refund", body, headers={"Idempotency-Key": "k-1"})
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    other = api.post("/v1/receipts/R1/refund", {"lines": [{"index": 1}]}, headers={"Idempotency-Key": "k-1"})
    assert (other.status_code, other.json["code"]) == (409, "idempotency_conflict")
    assert len(store.outbox_batch()) == 2


def test_cancel_reverses_what_refunds_left(api, store, committed):
    api.post("/v1/receipts/R1/refund", {"lines": [{"index": 0, "quantity": "1"}]})
    r = api.post("/v1/receipts/R1/cancel")
    assert r.status_code == 200
    assert (r.json["amount"], r.json["accrued"], r.json["redeemed"]) == (40000, 1080, 4000)
    assert r.json["status"] == "cancelled"
    assert balance(api) == 10_000
    again = api.post("/v1/receipts/R1/cancel")
    assert again.json == r.json and again.headers["Idempotent-Replayed"] == "true"
    refund = api.post("/v1/receipts/R1/refund", {"lines": [{"index": 1}]})
    assert (refund.status_code, refund.json["code"]) == (409, "receipt_cancelled")
    events = store.outbox_batch()
    assert [e.kind for e in events] == ["purchase", "refund", "cancel"]
    assert set(events[2].body) == {"receipt_id", "terminal", "customer_id", "at", "amount", "accrued", "redeemed"}


def test_cancel_after_shift_close_is_refused(api, store, committed, clock):
    r = api.post("/v1/shifts/close")
    assert r.status_code == 200 and r.json["receipts"] == 1 and r.json["terminal"] == "P01"
    before = snapshot(store)
    r = api.post("/v1/receipts/R1/cancel", {"reason": "mistake"})
    assert (r.status_code, r.json["code"]) == (409, "shift_closed")
    assert snapshot(store) == before
    # a receipt of the new shift can be cancelled
    clock.advance(minutes=1)
    api.post("/v1/receipts", receipt("R2"))
    assert api.post("/v1/receipts/R2/cancel").status_code == 200


def test_cancel_next_business_day_is_refused(api, committed, clock):
    clock.advance(hours=13)  # 01:00 the next day in Moscow
    r = api.post("/v1/receipts/R1/cancel")
    assert (r.status_code, r.json["code"]) == (409, "shift_closed")


def test_cancel_bad_body(api, store, committed):
    before = snapshot(store)
    r = api.post("/v1/receipts/R1/cancel", {"at": 5})
    assert (r.status_code, r.json["code"]) == (422, "validation_error")
    r = api.post("/v1/receipts/NOPE/cancel")
    assert (r.status_code, r.json["code"]) == (404, "receipt_not_found")
    assert snapshot(store) == before


def test_refund_can_make_a_debt(api, store):
    store.apply_customer_delta(delta("c1", points=0))
    api.post("/v1/receipts", receipt("R1", lines=[{"amount": 100000}]))  # earns 3000
    spent = api.post("/v1/receipts", receipt("R2", redeem=3000, lines=[{"amount": 50000}]))
    assert spent.json["balance"] == 47000 * 3 // 100
    r = api.post("/v1/receipts/R1/refund", {"lines": [{"index": 0}]})
    assert r.status_code == 201 and r.json["accrued"] == 3000
    assert r.json["balance"] == 1410 - 3000 and r.json["available"] == 0
    with store.read() as tx:
        assert tx.ledger_sum("c1") == r.json["balance"]
