"""Every console route, generated from ``app.url_map`` (docs/security.md): without a session, without or with a
wrong CSRF token, GETs that change nothing, every form posted by a role that may not, and redirects to hostile
targets. A new route is probed by adding it; the public ones are named here."""

from __future__ import annotations

import re

import pytest

from .conftest import PASSWORD, login

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


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
