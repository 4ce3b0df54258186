"""GET /v1/receipts: the calling terminal's recent receipts, for the cashier page's refund list."""

from __future__ import annotations

import pytest

from agent.auth import add_terminal
from tests.agent.conftest import delta, receipt
from tests.agent.test_receipts_api import snapshot

TWO_LINES = [
    {"sku": "A", "name": "Чай", "quantity": "2", "price": 10000, "amount": 20000},
    {"sku": "B", "name": "Ролл", "quantity": "0.5", "price": 30000, "discount": 1000, "amount": 14000},
]


@pytest.fixture
def customer(store):
    store.apply_customer_delta(delta("c1", points=10_000))


def test_newest_first_with_lines_refunds_and_cancel_state(api, customer, clock):
    assert api.post("/v1/receipts", receipt("R1", lines=TWO_LINES)).status_code == 201
    clock.advance(minutes=1)
    assert api.post("/v1/receipts", receipt("R2", redeem=1000)).status_code == 201
    assert api.post("/v1/receipts/R1/refund", {"lines": [{"index": 0, "quantity": "1"}]}).status_code == 201
    r = api.get("/v1/receipts")
    assert r.status_code == 200 and r.json["terminal"] == "P01"
    first, second = r.json["receipts"]
    assert (first["receipt_id"], second["receipt_id"]) == ("R2", "R1")
    assert first["redeemed"] == 1000 and first["customer_name"] == "Иван" and first["card"] == "7700000000000016"
    assert second["refunded_amount"] == 10000 and second["status"] == "committed" and second["cancellable"]
    assert [(ln["quantity"], ln["refunded_quantity"], ln["amount"]) for ln in second["lines"]] == [
        ("2", "1", 20000),
        ("0.5", "0", 14000),
    ]
    assert second["lines"][1]["discount"] == 1000 and second["lines"][1]["name"] == "Ролл"


def test_cancelled_and_closed_shift_receipts_cannot_be_cancelled(api, customer, clock):
    api.post("/v1/receipts", receipt("R1"))
    api.post("/v1/receipts/R1/cancel")
    clock.advance(seconds=1)
    api.post("/v1/receipts", receipt("R2"))
    states = {x["receipt_id"]: (x["status"], x["cancellable"]) for x in api.get("/v1/receipts").json["receipts"]}
    assert states == {"R1": ("cancelled", False), "R2": ("committed", True)}
    api.post("/v1/shifts/close")
    assert [x["cancellable"] for x in api.get("/v1/receipts").json["receipts"]] == [False, False]


def test_only_the_calling_terminals_receipts_and_the_limit(api, app, customer, clock):
    other = add_terminal(app.extensions["loyalty_agent"].store, "P02")
    for i in range(3):
        clock.advance(seconds=1)
        api.post("/v1/receipts", receipt(f"R{i}"))
    api.post("/v1/receipts", receipt("X1"), key=other)
    assert [x["receipt_id"] for x in api.get("/v1/receipts?limit=2").json["receipts"]] == ["R2", "R1"]
    assert [x["receipt_id"] for x in api.get("/v1/receipts", key=other).json["receipts"]] == ["X1"]


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1", "1.5", "２"])
def test_bad_limit_is_a_validation_error_and_changes_nothing(api, store, customer, limit):
    before = snapshot(store)
    r = api.get(f"/v1/receipts?limit={limit}")
    assert r.status_code == 422 and r.json["code"] == "validation_error"
    assert r.json["errors"][0]["path"] == "limit"
    assert snapshot(store) == before


def test_needs_a_key(api):
    assert api.get("/v1/receipts", key=None).status_code == 401
