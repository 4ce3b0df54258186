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

# text may hold lone surrogates: JSON can escape them ("\ud800"), though they are not Unicode text
texts = st.text(max_size=20) | st.text(st.characters(exclude_categories=()), max_size=5)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)
FIELDS = [
    "receipt_id",
    "at",
    "customer",
    "lines",
    "redeem",
    "total",
    "amount",
    "card",
    "phone",
    "code",
    "index",
    "quantity",
]
near_receipts = st.fixed_dictionaries(
    {},
    optional={name: json_values for name in FIELDS},
).map(lambda extra: {**receipt("FUZZ"), **extra})
near_lines = st.lists(
    st.fixed_dictionaries({}, optional={k: json_values for k in ("amount", "price", "quantity", "discount", "sku")}),
    max_size=3,
).map(lambda lines: {**receipt("FUZZ"), "lines": lines})

PATHS = [
    "/v1/identify",
    "/v1/receipts/quote",
    "/v1/receipts",
    "/v1/receipts/R1/refund",
    "/v1/receipts/R1/cancel",
    "/v1/customers",
    "/v1/customers/c1/confirm",
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


# each endpoint that takes a body, with a lone surrogate escape in a field it reads (in the raw JSON text)
SURROGATE_BODIES = [
    ("/v1/identify", '{"card": "77\\ud80000"}', "card"),
    ("/v1/identify", '{"phone": "+7912\\udc00"}', "phone"),
    (
        "/v1/receipts/quote",
        '{"at": "2026-11-24T12:00:00+03:00", "lines": [{"amount": 100, "name": "\\ud800"}]}',
        "lines[0].name",
    ),
    (
        "/v1/receipts",
        '{"receipt_id": "R\\ud800", "at": "2026-11-24T12:00:00+03:00", "lines": [{"amount": 100}]}',
        "receipt_id",
    ),
    (
        "/v1/receipts",
        '{"receipt_id": "R2", "at": "2026-11-24T12:00:00+03:00", "customer": {"card": "\\udfff"}, '
        '"lines": [{"amount": 100}]}',
        "customer.card",
    ),
    ("/v1/receipts/R1/refund", '{"refund_id": "\\ud800", "lines": [{"index": 0}]}', "refund_id"),
    ("/v1/receipts/R1/refund", '{"lines": [{"index": 0}], "reason": "\\ud800"}', "reason"),
    ("/v1/receipts/R1/cancel", '{"reason": "bad \\ud800 scan"}', "reason"),
    ("/v1/customers", '{"phone": "+79123450000", "name": "\\ud800", "consents": {"personal_data": true}}', "name"),
    ("/v1/customers/c1/confirm", '{"code": "\\ud800"}', "code"),
    ("/v1/identify", '{"\\ud800": "x"}', "\\ud800"),
]


@pytest.mark.parametrize("path,raw,field", SURROGATE_BODIES)
def test_a_lone_surrogate_is_a_422_naming_the_field(prepared, path, raw, field):
    api, store = prepared
    before = snapshot(store)
    json_type = {"Content-Type": "application/json"}
    for headers in (json_type, {**json_type, "Idempotency-Key": "k1"}):
        r = api.post(path, raw=raw.encode(), headers=headers)
        assert (r.status_code, r.json["code"]) == (422, "validation_error"), r.get_data(as_text=True)
        assert field in [e["path"] for e in r.json["errors"]]
        assert "surrogate" in r.json["detail"]
        assert snapshot(store) == before


def test_oversized_body(prepared):
    api, _ = prepared
    r = api.client.post("/v1/identify", data=b" " * (3 * 1024 * 1024), headers={"Authorization": f"Bearer {api.key}"})
    assert (r.status_code, r.json["code"]) == (413, "payload_too_large")


def test_card_with_letters_in_identify(prepared):
    api, _ = prepared
    assert api.post("/v1/identify", {"card": CARD + "A"}).json["code"] == "invalid_card"


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
@pytest.mark.parametrize(
    "path,body",
    [
        ("/v1/receipts/quote", receipt("Q1")),
        ("/v1/receipts", receipt("R2")),
        ("/v1/receipts/R1/refund", {"refund_id": "F1", "lines": [{"index": 0}]}),
        ("/v1/receipts/R1/cancel", {"reason": "scan"}),
    ],
)
def test_a_time_outside_the_years_1_to_9999_in_utc_is_a_422(prepared, path, body, at):
    """Valid ISO 8601 that no UTC datetime holds (it was an OverflowError, a 500) is refused naming ``at``."""
    api, store = prepared
    before = snapshot(store)
    r = api.post(path, {**body, "at": at})
    assert (r.status_code, r.json["errors"][0]["path"]) == (422, "at"), r.json
    assert "between the years 1 and 9999" in r.json["detail"]
    assert snapshot(store) == before


@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "/v1/receipts/%ED%A0%80/refund"),
        ("POST", "/v1/receipts/%ED%A0%80/cancel"),
        ("POST", "/v1/receipts/%ED%A0%80/reprint"),
        ("POST", "/v1/customers/%ED%A0%80/confirm"),
        ("GET", "/v1/receipts?limit=%ED%A0%80"),
        ("GET", "/v1/identifications/last?lang=%ED%A0%80"),
        ("GET", "/till/?lang=%ED%A0%80"),
    ],
)
def test_an_encoded_lone_surrogate_in_a_path_or_query_is_no_500(prepared, method, path):
    api, store = prepared
    before = snapshot(store)
    r = api.client.open(path, method=method, headers={"Authorization": f"Bearer {api.key}"}, json={"code": "123456"})
    assert r.status_code < 500
    assert snapshot(store) == before


def test_the_surrogate_check_skips_only_bodies_that_cannot_hold_one():
    """The fast path of agent/api/routes.py: a UTF-8 body without a surrogate escape is not walked; escapes,
    surrogates encoded in the bytes (json.loads lets them through) and UTF-16 bodies are checked."""
    import json

    from agent.api.routes import _may_hold_surrogates

    def check(data: bytes) -> bool:
        return _may_hold_surrogates(data, json.loads(data))

    assert not check('{"name": "Ролл", "q": "\\u0422"}'.encode())
    assert check(b'{"name": "\\ud800"}')
    assert not check(b'{"emoji": "\\ud83d\\ude00"}')  # a valid pair: checked, and it holds none
    assert check(b'{"name": "\xed\xa0\x80"}')  # an encoded lone surrogate
    assert check('{"name": "\ud800"}'.encode("utf-16", "surrogatepass"))
