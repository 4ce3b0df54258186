"""Every console route, generated from ``app.url_map`` (docs/security.md): without a session, without or with a
wrong CSRF token, GETs that change nothing, every form posted by a role that may not, and redirects to hostile
targets. A new route is probed by adding it; the public ones are named here."""

from __future__ import annotations

import re

import pytest

from central import create_app
from central.services import messages as message_service
from central.services import promotions, segments
from central.services.access import SYSTEM

from .conftest import PASSWORD, login
from .test_hostile_input import NAMED, _rows

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

#: endpoints open without a console session (their own checks are in tests/card, tests/messages, test_api)
PUBLIC_ENDPOINTS = {"static", "health.health", "auth.login", "auth.logout", "auth.language", "api.enroll"}
PUBLIC_BLUEPRINTS = {"card", "message_hooks"}
#: blueprints without CSRF tokens (central/__init__.py), and their only state-changing routes
CSRF_EXEMPT = {"api", "message_hooks"}
EXEMPT_WRITES = {
    "api.enroll",
    "message_hooks.gateway_webhook",
    "message_hooks.telegram_webhook",
    "message_hooks.unsubscribe",
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _routes(app, methods, values=NAMED):
    """(endpoint, method, url) of every rule, ``values`` in its path parameters (ids: 1)."""
    for rule in app.url_map.iter_rules():
        url = re.sub(r"<(?:[^:>]+:)?([a-z_]+)>", lambda m: values.get(m.group(1), "1"), rule.rule)
        for method in sorted(rule.methods & methods):
            yield rule.endpoint, method, url


def _public(endpoint: str) -> bool:
    return endpoint in PUBLIC_ENDPOINTS or endpoint.split(".")[0] in PUBLIC_BLUEPRINTS


def _with_objects(db):
    segments.create(db, SYSTEM, "Everyone", "static", members=["c1", "c2"])
    message_service.save_template(db, SYSTEM, name="t", channel="sms", language="ru", body="Привет")
    promotions.create_code_list(db, SYSTEM, "PER", count=2, length=6, kind="personal")


def _headers_kept(response, endpoint):
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], endpoint
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff", endpoint
    if endpoint != "static":
        assert "no-store" in headers["Cache-Control"], endpoint


def test_every_route_without_a_session_goes_to_the_sign_in_or_is_a_401(app, db, shoppers):
    """Pages redirect to the sign-in page (GET remembers where it was going), the JSON API is a 401; nothing is
    shown, nothing changes, no answer is a 500, and every answer carries the security headers."""
    _with_objects(db)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    before = _rows(db)
    checked = 0
    for endpoint, method, url in _routes(app, {"GET"} | WRITES):
        response = client.open(url, method=method)
        response.close()
        assert response.status_code < 500, (method, url)
        _headers_kept(response, endpoint)
        if _public(endpoint):
            continue
        checked += 1
        if url.startswith("/api/"):
            assert response.status_code == 401 and response.is_json, (method, url, response.status_code)
        else:
            assert response.status_code == 302, (method, url, response.status_code)
            assert response.headers["Location"].startswith("/login"), (method, url)
    assert checked >= 140
    assert _rows(db) == before


@pytest.fixture
def csrf_app(db_file, db, people):
    """The app as deployed: CSRF tokens required."""
    app = create_app({"TESTING": True, "DATABASE": db_file, "SECRET_KEY": "test", "MQTT_URL": "mqtt://b:1883"})
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def _signed_in(app, username):
    """A browser signed in through the real form, and its CSRF token."""
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    assert client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token}).status_code
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/account").text).group(1)
    return client, token


def test_every_state_changing_route_needs_this_sessions_csrf_token(csrf_app, db, shoppers):
    """No token, a made-up one and another session's real one: 400, and nothing changes (sign-out neither)."""
    _with_objects(db)
    client, _mine = _signed_in(csrf_app, "admin")
    _other, theirs = _signed_in(csrf_app, "marketer")
    exempt = {e for e, _m, _u in _routes(csrf_app, WRITES) if e.split(".")[0] in CSRF_EXEMPT}
    assert exempt == EXEMPT_WRITES  # a new route without tokens is a decision: name it here
    before = _rows(db)
    for endpoint, method, url in _routes(csrf_app, WRITES):
        if endpoint in exempt:
            continue
        for token in (None, "made-up", theirs):
            response = client.open(url, method=method, data={} if token is None else {"csrf_token": token})
            response.close()
            assert response.status_code == 400, (method, url, token, response.status_code)
    assert _rows(db) == before
    assert client.get("/").status_code == 200  # still signed in: the sign-out without a token was refused too


@pytest.mark.parametrize("who", ["admin", "manager", "viewer"])
def test_no_get_changes_anything(app, db, shoppers, who):
    _with_objects(db)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    login(client, who)
    before = _rows(db)
    for _endpoint, _method, url in _routes(app, {"GET"}):
        client.get(url).close()
        assert _rows(db) == before, url


HOSTILE_NEXT = [
    "//evil.example/",
    "/\\evil.example/",
    "/\\/evil.example/",
    "/\t/evil.example/",
    "https://evil.example/",
    "\\\\evil.example/",
    "javascript:alert(1)",
    "/\r\nSet-Cookie: x=1",
    "/customers/\nx",
    "/\x00",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT, ids=repr)
def test_a_hostile_next_sends_home(app, db, target):
    """``next`` of the sign-in and of the language switch: never another host, never a 500 (a CR or LF in the
    target was one, the Location header refusing it)."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    answers = [
        client.post("/language", data={"lang": "en", "next": target}),
        client.post("/login", data={"username": "admin", "password": PASSWORD, "next": target}),
        client.post("/language", data={"lang": "ru", "next": target}),
    ]
    assert [(a.status_code, a.headers["Location"]) for a in answers] == [(302, "/")] * 3
    assert client.get("/").status_code == 200  # signed in all the same


HOSTILE_QUERIES = ["q=a\r\nSet-Cookie: x=1", "q=a#b", "q=a\nb&kind=all", "q=%0d%0ax"]


@pytest.mark.parametrize("query", HOSTILE_QUERIES, ids=repr)
def test_the_lists_forms_take_their_query_back_as_data(app, db, people, query):
    """Saving a filter, choosing columns and saving a pivot go back to the list with the form's ``query``: a CR or
    LF in it was a 500, and a ``#`` cut the rest off."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    login(client, "admin")
    for url, data, back in [
        ("/customers/filters", {"name": "F", "query": query}, "/customers/?"),
        ("/transactions/filters", {"name": "F", "query": query}, "/transactions/?"),
        ("/customers/columns", {"column": "phone", "query": query}, "/customers/?"),
        ("/reports/pivot/save", {"name": "P", "query": query}, "/reports/pivot?"),
    ]:
        response = client.post(url, data=data)
        assert response.status_code == 302, (url, response.status_code)
        location = response.headers["Location"]
        assert location.startswith(back) and not re.search(r"[\x00-\x1f#]", location), (url, location)


@pytest.mark.parametrize("export", ["/customers/export.csv", "/transactions/export.csv"])
@pytest.mark.parametrize("extra", ["endpoint=x", "_method=POST", "_external=1&_scheme=javascript", "_anchor=x"])
def test_an_export_with_a_wrong_filter_goes_back_to_the_list_with_the_whole_filter(app, db, people, export, extra):
    """An export whose filter is wrong goes back to the list (which shows why): the query was passed to ``url_for``
    as its arguments, so ``endpoint`` and ``_method`` were 500s, ``_external`` made the address absolute (the
    request's own ``Host``) and a filter's second condition was lost."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    login(client, "admin")
    wrong = "f=name&o=contains&v=a&f=balance&o=gt&v=abc" if export.startswith("/customers") else "hour_from=99"
    response = client.get(f"{export}?{wrong}&{extra}")
    assert response.status_code == 302, response.status_code
    location = response.headers["Location"]
    assert location.startswith(export.rsplit("/", 1)[0] + "/?") and "#" not in location, location
    if export.startswith("/customers"):
        assert "f=name" in location and "f=balance" in location and "v=abc" in location
