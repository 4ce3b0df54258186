"""Every console route, generated from ``app.url_map`` (docs/security.md): without a session, without or with a
wrong CSRF token, GETs that change nothing, every form posted by a role that may not, and redirects to hostile
targets. A new route is probed by adding it; the public ones are named here."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from central import create_app
from central.services import messages as message_service
from central.services import promotions, segments
from central.services.access import SYSTEM

from .conftest import PASSWORD, apply_events, login, sale
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
#: the values of another store (S2) for the path parameters: what a manager of S1 must not reach
OTHER_STORE = {**NAMED, "customer_id": "c2", "number": "2000002", "store": "S2", "store_id": "S2"}
TABS = ("profile", "cards", "history", "purchases", "messages", "notes", "actions", "log")


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


class _Forms(HTMLParser):
    """Each ``<form method=post>`` of a page: its action and a value for each field (the first option, a text
    "x", checked boxes; a box or radio already given keeps its value)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._form: dict[str, str] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            if a.get("method", "get").lower() == "post":
                self._form = {}
                self.forms.append((html.unescape(a.get("action", "")), self._form))
            return
        name = a.get("name")
        if self._form is None or not name:
            return
        kind = a.get("type", "text").lower()
        if tag == "input" and kind != "file":
            self._form.setdefault(name, a.get("value") or ("1" if kind == "checkbox" else "x"))
        elif tag == "textarea":
            self._form.setdefault(name, "x")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and (self._select not in self._form or "selected" in a):
            self._form[self._select] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def _every_form(app, values):
    """(action, data) of every post form on every page the administrator sees, path parameters ``values``."""
    admin = app.test_client()
    login(admin, "admin")
    pages = {u for e, _m, u in _routes(app, {"GET"}, values) if not _public(e) and not e.startswith("api")}
    pages |= {f"/customers/{values['customer_id']}?tab={tab}" for tab in TABS}
    forms = {}
    for url in sorted(pages):
        response = admin.get(url)
        if response.status_code == 200 and response.mimetype == "text/html":
            parser = _Forms()
            parser.feed(response.text)
            for action, data in parser.forms:
                forms.setdefault((action or url, tuple(sorted(data))), data)
        response.close()
    skipped = ("/logout", "/language", "/account", "/login")  # one's own session, language and password
    return [(action, data) for (action, _), data in sorted(forms.items()) if not action.startswith(skipped)]


#: a viewer's own choices: the list's columns, saved filters (everything else a viewer posts is a 403)
OWN_FORMS = ("/customers/columns", "/customers/filters", "/transactions/filters", "/reports/pivot/save")


def test_a_viewer_posting_every_form_is_refused_and_changes_nothing(app, db, shoppers):
    """Every form of every page the administrator sees, posted by a viewer: 403 before the form is read (a
    promotion, a code list, a card's reassignment and a segment's members were checked first: 422s, flashed
    "unknown customers", a segment's file read and kept), nothing changed but the viewer's own choice of
    columns."""
    _with_objects(db)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    forms = _every_form(app, NAMED)
    assert len(forms) > 40
    viewer = app.test_client()
    login(viewer, "viewer")
    before = _rows(db)
    for action, data in forms:
        response = viewer.post(action, data=data)
        assert response.status_code == 403 or action.startswith(OWN_FORMS), (action, response.status_code)
        after = _rows(db)
        changed = {name for name in before if before[name] != after[name]} - {"console_preferences"}
        assert not changed, (action, data, changed)
        before = after


def _another_stores(rows):
    """The rows that name the other store, its customer c2 or its card."""
    return {
        name: [r for r in table if re.search(r"'(c2|S2|2000002)'", r) or "Nevsky" in r] for name, table in rows.items()
    }


#: what a store manager may post (their own customers, their stores' rules: docs/console.md, "Roles"); every other
#: form, and each of these on S2's objects, is a 403 or changes nothing of S2
MANAGER_MAY = {
    "/customers/bulk",
    "/customers/new",
    "/customers/columns",
    "/promotions/targeting",
    "/rules/categories",
    "/segments/tag-customers",
}


def test_a_store_manager_posting_every_form_of_another_stores_objects_changes_none_of_them(app, db, agents, shoppers):
    """The forms of c2's account (S2's customer who also bought at S1: the manager sees them read-only), their card,
    S2's store and rule set, and every other page, posted by the manager of S1: nothing of S2 changes."""
    _with_objects(db)
    apply_events(db, sale(agents["S1"], "c2", [("SKU-1", None, 1_000)]))
    app.config["PROPAGATE_EXCEPTIONS"] = False
    forms = _every_form(app, OTHER_STORE)
    assert any(action.startswith("/customers/c2/") for action, _ in forms)
    manager = app.test_client()
    login(manager, "manager")
    before = _another_stores(_rows(db))
    for action, data in forms:
        response = manager.post(action, data=data)
        assert response.status_code < 500, (action, response.status_code)
        if not (action in MANAGER_MAY or re.fullmatch(r"/segments/\d+/tags", action)):
            assert response.status_code == 403, (action, response.status_code)
        assert _another_stores(_rows(db)) == before, (action, data)


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


@pytest.mark.parametrize("field", ["body", "subject", "html"])
def test_a_message_template_past_pythons_limits_is_refused_in_place(app, db, people, field):
    """A template with a 5,000-digit number or brackets thousands deep was a 500 on saving (the sandbox's parser
    raised ValueError or RecursionError, not the template error the form shows)."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    login(client, "marketer")
    form = {"name": "t", "channel": "email", "language": "ru", "subject": "s", "body": "x"}
    for hostile in ("{{ " + "9" * 5000 + " }}", "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"):
        response = client.post("/messages/templates/new", data={**form, field: hostile})
        assert response.status_code == 422 and "nested too deeply" in response.text, response.status_code
    assert db.count("message_templates") == 0


def test_a_json_body_nested_thousands_deep_is_no_500_on_any_route(app, db, shoppers):
    """``get_json`` catches ValueError only: Python's recursion limit was a 500 on the agents' enrollment and the
    gateways' and Telegram's webhooks (no key needed for that), and on the web card's push subscription."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    deep = "[" * 100_000 + "]" * 100_000
    anonymous, admin = app.test_client(), app.test_client()
    login(admin, "admin")
    for client in (anonymous, admin):
        for endpoint, method, url in _routes(app, WRITES):
            if endpoint == "auth.logout":
                continue
            response = client.open(url, method=method, data=deep, content_type="application/json")
            response.close()
            assert response.status_code < 500, (method, url, response.status_code)


def test_a_server_error_shows_no_traceback_and_keeps_the_headers(app, people):
    """What a 500 would show (none is known: this route fails on purpose): Flask's plain page, no traceback, no
    exception text, the security headers all the same."""

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret detail /work/central/storage/store.py")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    login(client, "admin")
    response = client.get("/boom")
    assert response.status_code == 500
    assert "Traceback" not in response.text and "secret detail" not in response.text and ".py" not in response.text
    _headers_kept(response, "boom")
