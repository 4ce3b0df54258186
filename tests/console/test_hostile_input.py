"""Hostile input to every console route (docs/security.md): ids out of range, unknown objects, digits that are
not ASCII, numbers past int64. Each answer is a clear 4xx, never a 500, and changes nothing."""

from __future__ import annotations

import re

import pytest

from .conftest import login

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

#: path parameters that are not ids: a value each (the objects exist or not, the answer must be < 500)
NAMED = {
    "customer_id": "c1",
    "number": "2000001",
    "store": "S1",
    "store_id": "S1",
    "ident": "x",
    "fmt": "csv",
    "name": "dashboard",
    "channel": "sms",
    "token": "x",
    "promotion_id": "P1",
    "list_id": "L1",
    "what": "pause",
    "filename": "console.js",
}


def _int_routes(app):
    return [rule for rule in app.url_map.iter_rules() if "<int:" in rule.rule]


@pytest.mark.parametrize("number", [str(2**63), "9" * 30])
def test_an_id_past_int64_in_a_path_is_a_404(app, db, shoppers, number):
    """Flask's ``<int:...>`` took any length: past int64 the database refused it (a 500 on SQLite and PostgreSQL)."""
    assert _int_routes(app)
    client = app.test_client()
    login(client, "admin")
    for rule in _int_routes(app):
        url = re.sub(r"<int:[a-z_]+>", number, rule.rule)
        url = re.sub(r"<(?:[^:>]+:)?([a-z_]+)>", lambda m: NAMED.get(m.group(1), "x"), url)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            response.close()
            assert response.status_code == 404, (method, url, response.status_code)
    assert client.get(f"/segments/{2**63 - 1}").status_code == 404  # the largest id is looked up: no such segment


def _every_route(app, values: dict[str, str]):
    """(method, url) of every route but signing out and static files, ``values`` in its path parameters."""
    for rule in app.url_map.iter_rules():
        url = re.sub(r"<(?:[^:>]+:)?([a-z_]+)>", lambda m: values.get(m.group(1), "1"), rule.rule)
        if url.startswith(("/logout", "/static/")):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, url


@pytest.mark.parametrize("who", ["admin", "manager", "viewer"])
def test_an_unknown_object_is_a_4xx_on_every_route(app, db, shoppers, who):
    """Ids of no segment, trigger, template, mailing, promo-code list... (a trigger's pages and a code list's
    export were 500s): GET and an empty POST of every route answer below 500."""
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a server error is a 500 answer here, as in production
    client = app.test_client()
    login(client, who)
    failed = []
    for method, url in _every_route(app, {**NAMED, "list_id": "NOPE", "promotion_id": "NOPE"}):
        response = client.open(url, method=method)
        response.close()
        if response.status_code >= 500:
            failed.append((method, url))
    assert failed == []
    assert client.get("/triggers/1").status_code == 404
    assert client.get("/promotions/codes/NOPE/export.csv").status_code == 404
