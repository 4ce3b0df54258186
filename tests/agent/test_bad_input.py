"""Whatever a till sends, the answer is a documented 2xx or 4xx problem, never a 500.

Hypothesis throws arbitrary JSON (and near-miss receipts) at every write
endpoint; refused requests must leave the database exactly as it was.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.agent.conftest import CARD, delta, receipt
from tests.agent.test_receipts_api import snapshot

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
FIELDS = ["receipt_id", "at", "customer", "lines", "redeem", "total", "amount", "card", "phone", "code", "index", "quantity"]
near_receipts = st.fixed_dictionaries(
    {},
    optional={name: json_values for name in FIELDS},
).map(lambda extra: {**receipt("FUZZ"), **extra})
near_lines = st.lists(
    st.fixed_dictionaries({}, optional={k: json_values for k in ("amount", "price", "quantity", "discount", "sku")}),
    max_size=3,
).map(lambda lines: {**receipt("FUZZ"), "lines": lines})

PATHS = [
    "/v1/identify", "/v1/receipts/quote", "/v1/receipts", "/v1/receipts/R1/refund", "/v1/receipts/R1/cancel",
    "/v1/customers", "/v1/customers/c1/confirm",
]


@pytest.fixture
def prepared(api, store):
    store.apply_customer_delta(delta("c1", phone_verified=False))
    assert api.post("/v1/receipts", receipt("R1", redeem=100)).status_code == 201
    return api, store


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), body=json_values | near_receipts | near_lines)
def test_arbitrary_json_never_500(prepared, path, body):
    api, store = prepared
    before = snapshot(store)
    r = api.post(path, body)  # also checked against the OpenAPI document
    assert r.status_code < 500, r.json
    if r.status_code >= 400:
        assert snapshot(store) == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=60) | st.just(b"[" * 5000 + b"]" * 5000) | st.just(b'{"card": "\xff\xfe"}'))
def test_arbitrary_bytes_never_500(prepared, raw):
    api, store = prepared
    r = api.post("/v1/identify", raw=raw, headers={"Content-Type": "application/json"})
    assert r.status_code < 500, r.json


def test_oversized_body(prepared):
    api, _ = prepared
    r = api.client.post("/v1/identify", data=b" " * (3 * 1024 * 1024), headers={"Authorization": f"Bearer {api.key}"})
    assert (r.status_code, r.json["code"]) == (413, "payload_too_large")


def test_card_with_letters_in_identify(prepared):
    api, _ = prepared
    assert api.post("/v1/identify", {"card": CARD + "A"}).json["code"] == "invalid_card"
