"""Quote and commit over the POS API: results, durability in the store, refusals that change nothing."""

from __future__ import annotations

import msgpack
import pytest

from shared.identifiers import qr_token
from tests.agent.conftest import CARD, CARD2, NOW, delta, receipt


@pytest.fixture
def customer(store):
    store.apply_customer_delta(delta("c1", points=10_000))
    return "c1"


def snapshot(store) -> dict:
    """Everything a refused request must leave unchanged."""
    with store.read() as tx:
        return {
            table: tx.c.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in ("receipts", "receipt_lines", "effects", "outbox", "refunds", "customers", "cards")
        }


def test_quote_changes_nothing(api, store, customer):
    before = snapshot(store)
    r = api.post("/v1/receipts/quote", receipt(redeem=5000))
    assert r.status_code == 200
    assert r.json == {
        "customer_id": "c1",
        "total": 45000,
        "accrued": 1200,
        "redeemed": 5000,
        "max_redeemable": 9000,
        "lines": [{"accrued": 1200, "redeemed": 5000}],
        "balance": 10000,
        "available": 10000,
        "offline": False,
        "rules_version": 17,
    }
    assert snapshot(store) == before


def test_commit_writes_receipt_lines_effects_and_outbox(api, store, customer):
    r = api.post("/v1/receipts", receipt(redeem=5000))
    assert r.status_code == 201
    body = r.json
    assert body["receipt_id"] == "R1" and body["accrued"] == 1200 and body["redeemed"] == 5000
    assert body["balance"] == body["available"] == 10000 - 5000 + 1200
    with store.read() as tx:
        row = tx.receipt("R1")
        assert (row["customer_id"], row["card"], row["terminal"], row["total"]) == ("c1", CARD, "P01", 45000)
        lines = tx.receipt_lines("R1")
        assert [(x["amount"], x["accrued"], x["redeemed"], x["quantity"]) for x in lines] == [(45000, 1200, 5000, 1000)]
        assert tx.ledger_sum("c1") == 6200
    [event] = store.outbox_batch()
    assert event.kind == "purchase" and event.seq == row["seq"]
    assert set(event.body) == {
        "receipt_id",
        "terminal",
        "customer_id",
        "card",
        "at",
        "rules_version",
        "total",
        "accrued",
        "redeemed",
        "offline",
        "lines",
    }
    assert event.body["lines"][0] == {
        "sku": "SKU-9",
        "name": "Ролл",
        "category": "ROLLS",
        "quantity": "1",
        "price": 45000,
        "discount": 0,
        "amount": 45000,
        "accrued": 1200,
        "redeemed": 5000,
    }
    assert event.body["offline"] is False and event.body["at"] == NOW.isoformat()


def test_identify_after_commit_shows_new_balance(api, customer):
    api.post("/v1/receipts", receipt(redeem=5000))
    r = api.post("/v1/identify", {"card": "7700 0000 0000 0016"})
    assert r.json["balance"] == 6200


def test_same_receipt_twice_returns_first_answer(api, store, customer):
    first = api.post("/v1/receipts", receipt(redeem=1000))
    again = api.post("/v1/receipts", receipt(redeem=1000))
    assert again.status_code == 201 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert store.outbox_depth() == 1


def test_same_receipt_id_other_body_is_a_conflict(api, store, customer):
    api.post("/v1/receipts", receipt(redeem=1000))
    before = snapshot(store)
    r = api.post("/v1/receipts", receipt(redeem=2000))
    assert r.status_code == 409 and r.json["code"] == "receipt_conflict"
    assert snapshot(store) == before


def test_key_order_does_not_make_a_conflict(api, customer):
    body = receipt()
    api.post("/v1/receipts", body)
    reordered = dict(reversed(list(body.items())))
    assert api.post("/v1/receipts", reordered).status_code == 201


def test_anonymous_receipt_accrues_nothing(api, store):
    r = api.post("/v1/receipts", {k: v for k, v in receipt().items() if k != "customer"})
    assert r.status_code == 201
    assert r.json["customer_id"] is None and r.json["balance"] is None
    assert r.json["accrued"] == 0 and r.json["lines"] == [{"accrued": 0, "redeemed": 0}]
    [event] = store.outbox_batch()
    assert event.body["customer_id"] is None and event.body["accrued"] == 0
    with store.read() as tx:
        assert tx.receipt_lines("R1")[0]["accrued"] == 0


@pytest.mark.parametrize(
    "change, status, code",
    [
        ({"redeem": 9001}, 422, "redeem_over_limit"),
        ({"lines": [{"amount": -1}]}, 422, "validation_error"),
        ({"lines": []}, 422, "validation_error"),
        ({"total": 1}, 422, "validation_error"),
        ({"at": "yesterday"}, 422, "validation_error"),
        ({"at": "2026-11-24T12:00:00"}, 422, "validation_error"),
        ({"at": "2026-11-25T12:00:00+03:00"}, 422, "validation_error"),
        ({"customer": {"barcode": "4006381333931"}}, 404, "unknown_card"),
        ({"customer": {"card": "7700000000000017"}}, 422, "invalid_card"),
        ({"customer": {"card": CARD, "phone": "89123456789"}}, 422, "validation_error"),
        ({"customer": {"phone": "+1 212 555"}}, 422, "invalid_phone"),
        ({"customer": {"phone": "8 999 000 00 00"}}, 404, "unknown_customer"),
        ({"customer": {"qr": "LE1.c1.AAAAAAAAAAAAAAAA"}}, 422, "qr_expired"),
        ({"receipt_id": ""}, 422, "validation_error"),
        ({"lines": [{"amount": 100, "price": 50, "quantity": "1"}]}, 422, "validation_error"),
        ({"redeem": -5}, 422, "validation_error"),
        ({"unknown_field": 1}, 422, "validation_error"),
    ],
)
def test_bad_receipts_are_refused_and_change_nothing(api, store, customer, change, status, code):
    before = snapshot(store)
    body = {**receipt(), **change}
    for path in ("/v1/receipts/quote", "/v1/receipts"):
        r = api.post(path, body)
        assert (r.status_code, r.json["code"]) == (status, code), r.json
        assert r.json["detail"]
    assert snapshot(store) == before


def test_validation_errors_list_json_paths(api, customer):
    r = api.post("/v1/receipts", {**receipt(), "lines": [{"amount": 100}, {"amount": -3, "discount": "x"}]})
    paths = {e["path"] for e in r.json["errors"]}
    assert {"lines[1].amount", "lines[1].discount"} <= paths


def test_missing_receipt_id_on_commit_only(api, customer):
    body = {k: v for k, v in receipt().items() if k != "receipt_id"}
    assert api.post("/v1/receipts/quote", body).status_code == 200
    r = api.post("/v1/receipts", body)
    assert r.status_code == 422 and r.json["errors"][0]["path"] == "receipt_id"


def test_insufficient_points(api, store):
    store.apply_customer_delta(delta("c1", points=3000))
    r = api.post("/v1/receipts", receipt(redeem=4000))
    assert r.status_code == 422 and r.json["code"] == "insufficient_points"
    assert r.json["available"] == 3000 and r.json["max_redeemable"] == 3000


def test_redeem_without_customer(api):
    body = {k: v for k, v in receipt(redeem=100).items() if k != "customer"}
    r = api.post("/v1/receipts", body)
    assert r.status_code == 422 and r.json["code"] == "customer_required"


@pytest.mark.parametrize("status, code", [("blocked", "card_blocked"), ("reassigned", "card_reassigned")])
def test_card_not_active(api, store, status, code):
    store.apply_customer_delta(delta("c1", cards=[{"number": CARD, "status": status}]))
    before = snapshot(store)
    for path in ("/v1/receipts/quote", "/v1/receipts"):
        r = api.post(path, receipt())
        assert (r.status_code, r.json["code"]) == (409, code)
    assert snapshot(store) == before


def test_blocked_customer(api, store):
    store.apply_customer_delta(delta("c1", blocked=True))
    r = api.post("/v1/receipts", receipt())
    assert (r.status_code, r.json["code"]) == (409, "customer_blocked")


def test_personal_percent_and_level(api, store):
    store.apply_customer_delta(delta("c1", level="Gold", card=CARD, points=0))
    store.apply_customer_delta(
        delta("c2", level="Gold", card=CARD2, phone="+79990000000", store_percent="10", points=0)
    )
    assert api.post("/v1/receipts/quote", receipt()).json["accrued"] == 45000 * 5 // 100
    assert api.post("/v1/receipts/quote", receipt(customer={"card": CARD2})).json["accrued"] == 4500


def test_identify_by_every_identifier(api, store):
    store.apply_customer_delta(delta("c1"))
    secret = b"test-chain-secret-0123456789"
    token = qr_token(secret, "c1", int(NOW.timestamp()))
    for ident in (
        {"card": "7700-0000-0000-0016"},
        {"phone": "8 (912) 345-67-89"},
        {"barcode": CARD},
        {"track": ";7700000000000016=2812101?"},
        {"qr": token},
        {"id": "c1"},
    ):
        r = api.post("/v1/identify", ident)
        assert r.status_code == 200, (ident, r.json)
        assert r.json["customer_id"] == "c1"


def test_unknown_routes_and_methods_are_problems(api):
    assert api.client.get("/v1/nothing").json["code"] == "not_found"
    r = api.client.get("/v1/identify")
    assert r.status_code == 405 and r.json["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "method,path,allowed",
    [
        ("GET", "/v1/identify", {"POST", "OPTIONS"}),
        ("DELETE", "/v1/receipts", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("PUT", "/v1/receipts/R1/refund", {"POST", "OPTIONS"}),
        ("POST", "/v1/health", {"GET", "HEAD", "OPTIONS"}),
        ("POST", "/openapi.json", {"GET", "HEAD", "OPTIONS"}),
        ("POST", "/till/", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_a_405_says_which_methods_are_allowed(api, method, path, allowed):
    r = api.client.open(path, method=method)
    assert (r.status_code, r.json["code"]) == (405, "method_not_allowed")
    assert set(r.headers["Allow"].split(", ")) == allowed  # RFC 9110 15.5.6


def test_malformed_json(api, store, customer):
    before = snapshot(store)
    r = api.post("/v1/receipts", raw=b'{"receipt_id": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json["code"] == "malformed_json"
    r = api.post("/v1/receipts", raw=b"")
    assert r.status_code == 422 and r.json["code"] == "validation_error"
    assert snapshot(store) == before


def test_outbox_body_is_msgpack(store, api, customer):
    api.post("/v1/receipts", receipt())
    with store.read() as tx:
        raw = tx.c.execute("SELECT body FROM outbox").fetchone()[0]
    assert msgpack.unpackb(raw)["receipt_id"] == "R1"
