"""Hostile input to every console route (docs/security.md): ids out of range, unknown objects, digits that are
not ASCII, numbers past int64. Each answer is a clear 4xx, never a 500, and changes nothing."""

from __future__ import annotations

import io
import re

import pytest

from central.services import messages as message_service
from central.services import promotions, segments
from central.services.access import SYSTEM

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


def _rows(db) -> dict[str, list]:
    """Every table's rows but the sign-in's own (sessions, failures) and the audit: what a refusal must not change."""
    if db.dialect == "postgresql":
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'customer_search%'"
    names = [r[0] for r in db.conn.execute(sql).fetchall()]
    kept = [n for n in names if n not in ("console_sessions", "login_failures", "audit_log", "settings")]
    return {n: sorted(map(repr, db.conn.execute(f'SELECT * FROM "{n}"').fetchall())) for n in kept}


SUPERSCRIPT, HUGE = "²", "9" * 20
#: (method, url, form) a number typed as "²" (str.isdigit() is true, int() fails) or past int64: each was a 500
BAD_NUMBERS = [
    ("POST", "/customers/c1/questionnaire", {"first_name": "Иван", "children": SUPERSCRIPT}),
    ("POST", "/customers/new", {"first_name": "Анна", "phone": "+79120000077", "children": SUPERSCRIPT}),
    ("POST", "/rules/S1", {"base_percent": "1", "points_per_money": "1", "total_step": SUPERSCRIPT, "action": "save"}),
    ("POST", "/rules/levels", {"window_days": SUPERSCRIPT}),
    ("POST", "/promotions/", {"name": "P", "reward_kind": "points", "reward_value": "1", "weekdays": SUPERSCRIPT}),
    ("POST", "/promotions/", {"name": "P", "reward_kind": "points", "reward_value": "1", "segments": SUPERSCRIPT}),
    (
        "POST",
        "/promotions/targeting",
        {"targeting_id": "t", "segment": SUPERSCRIPT, "action": "points", "step": "preview"},
    ),
    ("POST", "/promotions/targeting", {"targeting_id": "t", "segment": HUGE, "action": "points", "step": "preview"}),
    (
        "POST",
        "/triggers/new",
        {"name": "T", "owner_store": "S1", "s.1.present": "1", "s.1.since_start_days": SUPERSCRIPT},
    ),
    (
        "POST",
        "/triggers/new",
        {"name": "T", "owner_store": "S1", "s.1.present": "1", "s.1.c.1.type": "age", "s.1.c.1.from": SUPERSCRIPT},
    ),
    ("POST", "/promotions/codes/PER/issue", {"segment": HUGE}),
    ("POST", "/stores/S1", {"name": "Tverskaya 7", "timezone": "Europe/Moscow", "program_id": HUGE}),
    ("POST", "/cards/", {"name": "Gift", "first": SUPERSCRIPT * 6, "count": SUPERSCRIPT}),
    ("POST", "/cards/issue/c1", {"number": SUPERSCRIPT * 8}),
    ("POST", "/messages/mailings/new", {"name": "M", "source": "segment", "segment": "1", "template": HUGE}),
    ("POST", "/messages/mailings/new", {"name": "M", "source": "segment", "segment": SUPERSCRIPT, "template": "1"}),
    ("GET", "/transactions/?hour_from=" + SUPERSCRIPT, None),
    ("GET", "/reports/pivot?rows=store&segment=" + HUGE, None),
    ("GET", "/reports/cohorts?by=segment&segment=" + HUGE, None),
    ("GET", "/api/v1/reports/cohorts?by=segment&segment=" + HUGE, None),
    ("GET", "/api/v1/reports/pivot?rows=store&segment=" + HUGE, None),
]


#: forms that answer a refusal with a redirect back and the message flashed
FLASHED = {"/promotions/codes/PER/issue"}


@pytest.mark.parametrize("method,url,form", BAD_NUMBERS, ids=[f"{m} {u}" for m, u, _ in BAD_NUMBERS])
def test_a_number_that_is_no_number_is_a_4xx_and_changes_nothing(app, db, shoppers, method, url, form):
    segments.create(db, SYSTEM, "Everyone", "static", members=["c1", "c2"])
    message_service.save_template(db, SYSTEM, name="t", channel="sms", language="ru", body="Привет")
    promotions.create_code_list(db, SYSTEM, "PER", count=2, length=6, kind="personal")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    login(client, "admin")
    before = _rows(db)
    response = client.open(url, method=method, data=form)
    if url in FLASHED:
        assert response.status_code == 302
        assert "Выберите сегмент из списка." in client.get(response.headers["Location"]).get_data(as_text=True)
    else:
        assert 400 <= response.status_code < 500, response.get_data(as_text=True)[-500:]
    assert _rows(db) == before


def test_a_weekday_that_is_no_number_is_left_out_of_the_filter(client, shoppers):
    """The transaction list's weekday boxes: a value that is no weekday is ignored, like any other (it was a 500)."""
    login(client, "admin")
    assert client.get("/transactions/?weekday=" + SUPERSCRIPT).status_code == 200


@pytest.mark.parametrize("path", ["/messages/unsubscribe/", "/messages/o/", "/messages/c/"])
def test_a_signed_link_with_a_signature_that_is_not_ascii_is_a_404(client, path):
    """The public unsubscribe, open and click links: a signature of letters that are not ASCII made
    hmac.compare_digest raise (a 500 for anyone, no sign-in needed)."""
    for method in ("GET", "POST") if "unsubscribe" in path else ("GET",):
        response = client.open(path + "Y2xpY2s.%C3%A9%C3%A9", method=method)
        assert response.status_code == 404, (method, path, response.status_code)


def _errors(page: str) -> str:
    return " ".join(re.findall(r'class="error"[^>]*>([^<]+)<', page))


def test_the_promo_code_forms_name_the_real_problem(app, db, shoppers):
    """The code-list form, the what-if and issuing to a segment caught ValueError before FormError (a FormError
    is a ValueError): every refusal said "whole numbers" or "choose a segment", whatever was wrong. And an
    uploaded list that is not UTF-8 (UTF-16 from Excel, Windows-1251) was a 500."""
    promotions.create_code_list(db, SYSTEM, "ONE", count=2, length=6)
    client = app.test_client()
    login(client, "admin")
    bad_id = client.post("/promotions/codes", data={"id": "bad id!", "count": "5", "length": "8", "kind": "single"})
    assert bad_id.status_code == 422
    assert "Код — от 1 до 64 латинских букв" in _errors(bad_id.text) and "целые" not in _errors(bad_id.text)
    not_personal = client.post("/promotions/codes/ONE/issue", data={"segment": "1"}, follow_redirects=True)
    assert "Выберите список персональных промокодов." in not_personal.text
    upload = {"id": "U16", "kind": "single", "upload": (io.BytesIO("code\nABC123\n".encode("utf-16")), "codes.csv")}
    assert client.post("/promotions/codes", data=upload, content_type="multipart/form-data").status_code == 302
    assert [row[0] for row in db.list_codes("U16")] == ["ABC123"]
    garbage = {"id": "BIN", "kind": "single", "upload": (io.BytesIO(b"\x00\x01\x02\x03" * 64), "codes.csv")}
    refused = client.post("/promotions/codes", data=garbage, content_type="multipart/form-data")
    assert refused.status_code == 422 and "Не удаётся прочитать текст файла" in _errors(refused.text)
    assert db.code_list("BIN") is None
