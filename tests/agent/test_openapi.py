"""/openapi.json matches what is served: a valid 3.1 document, the same routes as Flask, every code titled.

Every response of the API tests is also validated against this document
(tests/agent/conftest.py: ``Api`` checks status, media type, body schema and code).
"""

from __future__ import annotations

from openapi_spec_validator import validate

from agent import errors
from agent.api.openapi import _STATUS_OF_CODE, openapi_path
from agent.api.problems import TITLES
from agent.api.routes import OPERATIONS
from tests.agent.conftest import DOC


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
        ("get", "/v1/health"), ("post", "/v1/identify"), ("post", "/v1/receipts/quote"), ("post", "/v1/receipts"),
        ("post", "/v1/receipts/{receipt_id}/refund"), ("post", "/v1/receipts/{receipt_id}/cancel"),
        ("post", "/v1/customers"), ("post", "/v1/customers/{id}/confirm".replace("{id}", "{customer_id}")),
    ]:
        assert (method, path) in paths


def test_every_code_has_a_title_and_a_status():
    codes = {code for op in OPERATIONS for code in op.codes}
    agent_codes = {cls.code for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.AgentError)}
    agent_codes -= {"agent_error"}
    assert codes <= set(TITLES) and agent_codes <= set(TITLES)
    assert agent_codes - {"unauthorized"} <= set(_STATUS_OF_CODE)
    for cls in vars(errors).values():
        if isinstance(cls, type) and issubclass(cls, errors.AgentError) and cls.code in _STATUS_OF_CODE:
            assert _STATUS_OF_CODE[cls.code] == cls.status, cls.code


def test_operations_are_authenticated_except_health():
    public = {op.rule for op in OPERATIONS if not op.auth}
    assert public == {"/v1/health"}
