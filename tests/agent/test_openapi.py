"""/openapi.json matches what is served: a valid 3.1 document, the same routes as Flask, every code titled.

Every response of the API tests is also validated against this document
(tests/agent/conftest.py: ``Api`` checks status, media type, body schema and code).
"""

from __future__ import annotations

import jsonschema
import pytest
from openapi_spec_validator import validate

from agent import errors
from agent.api.openapi import _STATUS_OF_CODE, openapi_path
from agent.api.problems import TITLES
from agent.api.routes import OPERATIONS
from tests.agent.conftest import CARD, DOC, delta, receipt


def test_served_document_is_valid_openapi_31(api):
    served = api.client.get("/openapi.json").get_json()
    assert served["openapi"] == "3.1.0"
    validate(served)


def test_documented_routes_are_exactly_the_served_ones(app):
    served = {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in ("static", "openapi.openapi_json") and not rule.endpoint.startswith("till.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in DOC["paths"].items() for method in ops}
    assert served == documented


def test_spec_endpoints_exist():
    paths = {(m, p) for p, ops in DOC["paths"].items() for m in ops}
    for method, path in [
        ("get", "/v1/health"),
        ("post", "/v1/identify"),
        ("post", "/v1/receipts/quote"),
        ("post", "/v1/receipts"),
        ("post", "/v1/receipts/{receipt_id}/refund"),
        ("post", "/v1/receipts/{receipt_id}/cancel"),
        ("post", "/v1/customers"),
        ("post", "/v1/customers/{id}/confirm".replace("{id}", "{customer_id}")),
    ]:
        assert (method, path) in paths


def test_every_code_has_a_title_and_a_status():
    codes = {code for op in OPERATIONS for code in op.codes}
    agent_codes = {
        cls.code for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.AgentError)
    }
    agent_codes -= {"agent_error"}
    assert codes <= set(TITLES) and agent_codes <= set(TITLES)
    assert agent_codes - {"unauthorized"} <= set(_STATUS_OF_CODE)
    for cls in vars(errors).values():
        if isinstance(cls, type) and issubclass(cls, errors.AgentError) and cls.code in _STATUS_OF_CODE:
            assert _STATUS_OF_CODE[cls.code] == cls.status, cls.code


def test_operations_are_authenticated_except_health():
    public = {op.rule for op in OPERATIONS if not op.auth}
    assert public == {"/v1/health"}


def _request_schema(path: str) -> jsonschema.Draft202012Validator:
    op = DOC["paths"][path]["post"]
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return jsonschema.Draft202012Validator({"$ref": ref, "components": DOC["components"]})


_LINE = {"sku": "A", "quantity": "1", "price": 100, "amount": 100}
_REG = {"phone": "+79120000001", "consents": {"personal_data": True}}
#: (path, body, valid per the schema): the schema says what the server enforces
AGREEMENT = [
    ("/v1/identify", {}, False),
    ("/v1/identify", {"card": ""}, False),
    ("/v1/identify", {"card": " \t"}, False),
    ("/v1/identify", {"card": "\u3000"}, False),
    ("/v1/identify", {"card": CARD, "phone": "+79123456789"}, False),
    ("/v1/identify", {"card": None, "phone": None}, False),
    ("/v1/identify", {"card": CARD, "phone": None}, True),
    ("/v1/identify", {"id": "c1", "qr": None, "track": None}, True),
    ("/v1/receipts/quote", {**receipt(), "receipt_id": ""}, False),
    ("/v1/receipts/quote", {**receipt(), "receipt_id": "A/1"}, False),
    ("/v1/receipts/quote", {**receipt(), "receipt_id": ".."}, False),
    ("/v1/receipts/quote", {**receipt(), "receipt_id": "..."}, True),
    ("/v1/receipts/quote", {**receipt(), "terminal": None, "cashier": None, "extra": [1]}, True),
    ("/v1/receipts/quote", {**receipt(), "terminal": " "}, False),
    ("/v1/receipts/quote", {**receipt(), "customer": {"card": CARD, "phone": None}}, True),
    ("/v1/receipts/quote", {**receipt(), "customer": {"card": ""}}, False),
    ("/v1/receipts/quote", {**receipt(), "redeem": None}, False),
    (
        "/v1/receipts/quote",
        {**receipt(), "lines": [{**_LINE, "sku": None, "name": None, "price": None, "extra": 1}]},
        True,
    ),
    ("/v1/receipts/quote", {**receipt(), "lines": [{**_LINE, "sku": ""}]}, False),
    ("/v1/receipts/quote", {**receipt(), "lines": [{**_LINE, "name": "x" * 201}]}, False),
    ("/v1/receipts/quote", {**receipt(), "lines": [{**_LINE, "discount": None}]}, False),
    ("/v1/receipts/quote", {**receipt(), "lines": [{**_LINE, "quantity": None}]}, False),
    ("/v1/receipts/quote", {**receipt(), "lines": [{"amount": 10**10 + 1}]}, False),
    ("/v1/receipts", {**receipt("R-A"), "receipt_id": "S001/P01/1"}, False),
    ("/v1/receipts", {**receipt("R-B"), "lines": [{**_LINE, "category": None}]}, True),
    ("/v1/customers", {"phone": "+79120000002"}, False),
    ("/v1/customers", {"phone": "+79120000003", "consents": {}}, False),
    ("/v1/customers", {"phone": "+79120000004", "consents": {"personal_data": False}}, False),
    ("/v1/customers", {"phone": "+79120000005", "consents": None}, False),
    ("/v1/customers", {**_REG, "phone": ""}, False),
    ("/v1/customers", {**_REG, "phone": "+79120000006", "name": "  "}, False),
    ("/v1/customers", {**_REG, "phone": "+79120000007", "name": None, "card": None, "birthday": None}, True),
    ("/v1/customers", {**_REG, "phone": "+79120000008", "birthday": "1990-13-01"}, False),
    ("/v1/customers", {**_REG, "phone": "+79120000009", "birthday": "١٩٩٠-٠٥-١٧"}, False),
    ("/v1/customers", {**_REG, "phone": "+79120000010", "consents": {"personal_data": True, "sms": None}}, False),
    (
        "/v1/receipts/R1/refund",
        {"lines": [{"index": 0, "quantity": None}], "refund_id": None, "at": None, "reason": None},
        True,
    ),
    ("/v1/receipts/R1/refund", {"lines": [{"index": 0}], "reason": ""}, False),
    ("/v1/receipts/R1/refund", {"lines": [{"index": 0, "quantity": "0.000"}]}, False),
    ("/v1/receipts/R1/refund", {"lines": [{"index": 0, "quantity": 0}]}, False),
    ("/v1/receipts/R1/refund", {"lines": [{"index": 0, "quantity": "0.001"}]}, True),
    ("/v1/receipts/R1/refund", {"lines": [{"index": 0}], "refund_id": " "}, False),
    ("/v1/receipts/R1/cancel", {"reason": ""}, False),
    ("/v1/receipts/R1/cancel", {"at": None, "reason": None}, True),
    ("/v1/customers/c1/confirm", {"code": "１２３４５６"}, False),
    ("/v1/customers/c1/confirm", {"code": ""}, False),
    ("/v1/customers/c1/confirm", {"code": " 123456\n"}, True),
]


@pytest.mark.parametrize("path,body,valid", AGREEMENT)
def test_the_request_schemas_say_what_the_server_enforces(api, store, path, body, valid):
    """Schema-invalid bodies are refused as validation errors; schema-valid ones are not (other refusals may follow)."""
    store.apply_customer_delta(delta("c1", phone_verified=False))
    assert api.post("/v1/receipts", receipt("R1")).status_code == 201
    rule = path.replace("/R1/", "/{receipt_id}/").replace("/c1/", "/{customer_id}/")
    assert _request_schema(rule).is_valid(body) == valid
    r = api.post(path, body)
    if valid:
        assert r.status_code < 400 or r.json["code"] != "validation_error", r.json
    else:
        assert 400 <= r.status_code < 500 and r.json["code"] == "validation_error", r.json
