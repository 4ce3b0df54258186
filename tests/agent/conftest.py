"""Fixtures of the agent tests: a real SQLite file per test, the Flask app, a checked API client.

``api`` is a Flask test client that sends the terminal's key and checks every
answer against the OpenAPI document the agent serves: the status must be
documented for the route, and the body must validate against its schema.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agent.api.openapi import build_document
from agent.app import create_app
from agent.auth import add_terminal
from tests.conftest import EXAMPLES

MSK = dt.timezone(dt.timedelta(hours=3))
#: a Tuesday noon in Moscow: no time coefficient of docs/examples/rules.json applies
NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=MSK)
CARD = "7700000000000016"
CARD2 = "7700000000000024"
RULES = json.loads((EXAMPLES / "rules.json").read_text(encoding="utf-8"))
DOC = build_document("test")


class Clock:
    """A settable clock for the agent (QR steps, birthdays, shift days, offline age)."""

    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def base_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "database": str(tmp_path / "agent.sqlite"),
        "store_id": "S001",
        "agent_id": "S001-1",
        "terminals": ["P01", "P02"],
        "card_ranges": [{"prefix": "7700", "length": 16, "luhn": True}],
        "qr_secret": "test-chain-secret-0123456789",
        **overrides,
    }


def delta(
    customer_id: str = "c1", *, version: int = 1, card: str | None = CARD, points: int = 10_000, **fields: Any
) -> dict:
    """A CustomerDelta (shared/events.py) as the central server would send it."""
    base = {
        "customer_id": customer_id,
        "version": version,
        "name": "Иван",
        "phone": "+79123456789",
        "phone_verified": True,
        "birthday": None,
        "level": "Base",
        "network_percent": None,
        "store_percent": None,
        "blocked": False,
        "cards": [{"number": card, "status": "active"}] if card else [],
        "lots": [{"id": "L1", "points": points, "expires_at": None}] if points else [],
        "applied": {},
        "messages": [],
        "consents": {"personal_data": True, "sms": True},
    }
    base.update(fields)
    return base


def _operation(rule: str, method: str) -> dict[str, Any]:
    path = rule
    for part in rule.split("/"):
        if part.startswith("<"):
            path = path.replace(part, "{" + part.strip("<>").split(":")[-1] + "}")
    return DOC["paths"][path][method.lower()]


def check_against_openapi(app, method: str, path: str, response, request_body: Any = None) -> None:
    """The answer's status is documented for the route and its body validates against the schema;
    a request that succeeded validates against the documented request schema."""
    rule, _ = app.url_map.bind("localhost").match(path.split("?")[0], method=method, return_rule=True)
    op = _operation(rule.rule, method)
    status = str(response.status_code)
    assert status in op["responses"], (
        f"{method} {path} answered {status}, not documented: {response.get_data(as_text=True)}"
    )
    content = op["responses"][status]["content"]
    media = "application/problem+json" if response.status_code >= 400 else "application/json"
    assert response.mimetype == media
    schema = {"$ref": content[media]["schema"]["$ref"], "components": DOC["components"]}
    jsonschema.Draft202012Validator(schema).validate(response.get_json())
    if response.status_code >= 400:
        code = response.get_json()["code"]
        assert code in op["x-problem-codes"], f"{method} {path}: code {code} is not documented"
    elif request_body is not None and "requestBody" in op:
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        jsonschema.Draft202012Validator({"$ref": ref, "components": DOC["components"]}).validate(request_body)


class Api:
    """The POS API through the Flask test client, as terminal ``P01``, checked against OpenAPI."""

    def __init__(self, app, key: str) -> None:
        self.app = app
        self.client = app.test_client()
        self.key = key

    def call(self, method: str, path: str, body: Any = None, *, key: str | None = "default", headers=None, raw=None):
        headers = dict(headers or {})
        if key is not None:
            headers["Authorization"] = f"Bearer {self.key if key == 'default' else key}"
        if raw is None and body is not None:
            # json.dumps escapes non-ASCII, so a lone surrogate that hypothesis draws travels as "\ud800"
            # (Flask's json= would try to encode it as UTF-8 and fail in the test client)
            raw = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        kwargs = {"data": raw} if raw is not None else {}
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        check_against_openapi(self.app, method, path, response, body)
        return response

    def post(self, path: str, body: Any = None, **kw):
        return self.call("POST", path, body, **kw)

    def get(self, path: str, **kw):
        return self.call("GET", path, **kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_app(tmp_path, clock):
    """Build an agent app over a temp database: make_app(**settings) (rules installed)."""
    apps = []

    def make(rules: dict | None = RULES, **overrides: Any):
        app = create_app(base_config(tmp_path, **overrides), clock=clock)
        apps.append(app)
        if rules is not None:
            app.extensions["loyalty_agent"].store.set_rules(rules)
        return app

    yield make
    for app in apps:
        app.extensions["loyalty_agent"].store.close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def store(app):
    return app.extensions["loyalty_agent"].store


@pytest.fixture
def api(app) -> Api:
    key = add_terminal(app.extensions["loyalty_agent"].store, "P01", "Till 1")
    return Api(app, key)


def receipt(
    receipt_id: str = "R1", *, redeem: int = 0, customer: dict | None = None, lines=None, at: dt.datetime = NOW
) -> dict:
    """A receipt body of pos-api.md (default: one 450.00 line, the card of customer c1)."""
    return {
        "receipt_id": receipt_id,
        "at": at.isoformat(),
        "customer": {"card": CARD} if customer is None else customer,
        "lines": lines
        or [{"sku": "SKU-9", "name": "Ролл", "category": "ROLLS", "quantity": "1", "price": 45000, "amount": 45000}],
        "redeem": redeem,
    }
