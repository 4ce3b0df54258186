"""The JSON API behind tokens: store status, totals per store and customer, flags, dead letters (issue 12)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.cli import cli
from central.services import audit, tokens
from central.services.access import SYSTEM

from .conftest import apply_events, login, sale

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

URLS = (
    "/api/v1/stores/status",
    "/api/v1/totals/stores",
    "/api/v1/totals/customers",
    "/api/v1/flags",
    "/api/v1/dead-letters",
)


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_the_api_needs_a_token_or_a_console_session(client, db):
    for url in URLS:
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.json["code"] == "unauthorized" and response.headers["WWW-Authenticate"].startswith("Bearer")
        assert client.get(url, headers=_bearer("lct_not-a-token")).status_code == 401
    _, token = tokens.add_token(db, SYSTEM, "zabbix")
    for url in URLS:
        assert client.get(url, headers=_bearer(token)).status_code == 200, url
    login(client, "viewer")  # the console reads the status with its session
    assert client.get("/api/v1/stores/status").status_code == 200


def test_tokens_are_shown_once_kept_hashed_audited_and_revocable(client, db):
    login(client, "admin")
    page = client.post("/tokens", data={"name": "Grafana"})
    assert page.status_code == 201
    text = page.get_data(as_text=True)
    token = text.split('<code id="token-value">')[1].split("</code>")[0]
    assert token.startswith("lct_") and len(token) > 40
    assert token not in client.get("/tokens").get_data(as_text=True)  # shown once
    [row] = db.rows("SELECT * FROM api_tokens")
    assert token not in json.dumps(row) and row["created_by"] == "admin"
    assert client.get("/api/v1/totals/stores", headers=_bearer(token)).status_code == 200
    assert db.rows("SELECT last_used_at FROM api_tokens")[0]["last_used_at"]
    client.post(f"/tokens/{row['id']}/revoke")
    assert client.get("/api/v1/totals/stores", headers=_bearer(token)).status_code == 401
    actions = [(r["action"], r["username"]) for r in audit.history(db, entity="api_token")][::-1]
    assert actions == [("token.add", "admin"), ("token.revoke", "admin")]
    assert token not in json.dumps(audit.history(db, limit=100), ensure_ascii=False)
    assert client.post("/tokens", data={"name": ""}).status_code == 422
    login(client, "marketer")
    assert client.get("/tokens").status_code == 403  # administrators only


def test_the_command_line_makes_lists_and_revokes_tokens(db_file, db):
    runner = CliRunner()
    made = runner.invoke(cli, ["tokens", "add", "nagios", "--db", db_file])
    assert made.exit_code == 0
    token = made.stdout.strip()
    assert tokens.check_token(db, token) is not None
    listed = json.loads(runner.invoke(cli, ["tokens", "list", "--db", db_file]).output)
    assert [t["name"] for t in listed] == ["nagios"] and token not in json.dumps(listed)
    assert runner.invoke(cli, ["tokens", "revoke", str(listed[0]["id"]), "--db", db_file]).exit_code == 0
    assert tokens.check_token(db, token) is None
    assert runner.invoke(cli, ["tokens", "revoke", "999", "--db", db_file]).exit_code != 0
    assert [r["action"] for r in audit.history(db, entity="api_token")] == ["token.revoke", "token.add"]


def test_a_store_managers_session_reads_only_their_stores_status(client, db):
    login(client, "manager")  # S1
    assert [s["id"] for s in client.get("/api/v1/stores/status").json["stores"]] == ["S1"]
    assert client.get("/api/v1/totals/stores").status_code == 403  # chain-wide: a token or another role


def test_totals_per_store_and_per_customer_in_minor_units(client, db, shoppers, agents):
    _, token = tokens.add_token(db, SYSTEM, "bi")
    apply_events(db, sale(agents["S1"], "c2", [("SKU-1", None, 1_000)], accrued=10))
    body = client.get("/api/v1/totals/stores", headers=_bearer(token)).json
    by_id = {s["id"]: s for s in body["stores"]}
    s1, s2 = by_id["S1"], by_id["S2"]
    assert s1["customers"] == 2 and s1["customers_balance"] == 500
    assert s1["ledger"] == {"accrue": 510} and s2["ledger"] == {"accrue": 300}
    assert s1["transactions"]["purchase"] == {"count": 2, "amount": 41_000, "accrued": 510, "redeemed": 0}
    assert body["chain"] == {"customers": 3, "balance": 810, "ledger": {"accrue": 810}}
    for value in (s1["customers_balance"], s1["ledger"]["accrue"], s1["transactions"]["purchase"]["amount"]):
        assert type(value) is int
    first = client.get("/api/v1/totals/customers?limit=2", headers=_bearer(token)).json
    assert [c["id"] for c in first["customers"]] == ["c1", "c2"] and first["next_after"] == "c2"
    assert first["customers"][0]["balance"] == 500 and first["customers"][0]["ledger"] == {"accrue": 500}
    assert first["customers"][1]["spend"] == 21_000
    rest = client.get(f"/api/v1/totals/customers?limit=2&after={first['next_after']}", headers=_bearer(token)).json
    assert [c["id"] for c in rest["customers"]] == ["c3"] and rest["next_after"] is None
    for bad in ("limit=0", "limit=1001", "limit=x"):
        response = client.get(f"/api/v1/totals/customers?{bad}", headers=_bearer(token))
        assert response.status_code == 400 and response.json["code"] == "bad_request", bad


def test_flags_and_dead_letters_open_or_all_paged_by_id(client, db):
    _, token = tokens.add_token(db, SYSTEM, "monitoring")
    for i in range(3):
        db.conn.execute(
            "INSERT INTO flags (kind, store, agent, detail, created_at, resolved_at) VALUES (?,?,?,?,?,?)",
            (
                "restored_agent",
                "S1",
                "a1",
                json.dumps({"n": i}),
                "2026-12-01T00:00:00+00:00",
                "2026-12-02T00:00:00+00:00" if i == 0 else None,
            ),
        )
    db.conn.execute(
        "INSERT INTO dead_letters (digest, reason, detail, store, agent, payload, received_at, last_at)"
        " VALUES ('d1', 'invalid', 'bad body', 'S2', 'a1', ?, '2026-12-01T00:00:00+00:00',"
        " '2026-12-01T00:00:00+00:00')",
        (b"\x00\xff",),
    )
    open_flags = client.get("/api/v1/flags", headers=_bearer(token)).json
    assert [f["detail"]["n"] for f in open_flags["flags"]] == [1, 2] and open_flags["next_after"] is None
    page = client.get("/api/v1/flags?state=all&limit=2", headers=_bearer(token)).json
    assert [f["detail"]["n"] for f in page["flags"]] == [0, 1]
    rest = client.get(f"/api/v1/flags?state=all&after={page['next_after']}", headers=_bearer(token)).json
    assert [f["detail"]["n"] for f in rest["flags"]] == [2]
    [letter] = client.get("/api/v1/dead-letters", headers=_bearer(token)).json["dead_letters"]
    assert letter["reason"] == "invalid" and letter["store"] == "S2" and "payload" not in letter
    assert client.get("/api/v1/flags?state=maybe", headers=_bearer(token)).status_code == 400
    assert client.get("/api/v1/dead-letters?after=-1", headers=_bearer(token)).status_code == 400


@pytest.mark.parametrize(
    "path,status",
    [("/api/v1/enroll", 422), ("/hooks/telegram", 400), ("/hooks/messages/sms/x", 404)],
)
def test_json_nested_too_deeply_is_a_4xx_on_the_open_endpoints(client, db, path, status):
    """``[[[...]]]`` past Python's recursion limit made ``json.loads`` raise RecursionError, which
    ``get_json(silent=True)`` lets through: a 500 from endpoints anyone may post to. Now it is invalid JSON."""
    before = db.count("agents")
    for raw in (b"[" * 100_000 + b"]" * 100_000, b'{"token": ' * 50_000 + b"1" + b"}" * 50_000):
        response = client.post(path, data=raw, content_type="application/json")
        assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert client.post("/api/v1/enroll", data=b"[" * 100_000, content_type="application/json").json == {
        "code": "validation_error",
        "detail": 'send a JSON object {"token": "..."} with the enrollment token',
    }
    assert db.count("agents") == before


def test_under_the_api_an_unknown_path_a_wrong_method_or_a_body_too_large_answer_json_never_cached(app, client, db):
    _, token = tokens.add_token(db, SYSTEM, "monitoring")
    response = client.get("/api/v1/no-such-thing", headers=_bearer(token))
    assert (response.status_code, response.json["code"]) == (404, "not_found") and response.json["detail"]
    response = client.post("/api/v1/flags", headers=_bearer(token))
    assert (response.status_code, response.json["code"]) == (405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = client.post("/api/v1/enroll", json={"token": "x" * 2000})
    assert (response.status_code, response.json["code"]) == (413, "request_entity_too_large")
    # nothing the API answers is kept by a cache
    assert client.get("/api/v1/totals/customers", headers=_bearer(token)).headers["Cache-Control"] == "no-store"
    assert response.headers["Cache-Control"] == "no-store"
    # the console's own error pages stay HTML
    login(client, "admin")
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
_ENROLL = st.fixed_dictionaries(
    {"token": st.one_of(st.text(max_size=30), st.integers(), st.just("x" * 5000))},
    optional={"agent": st.one_of(st.text(max_size=30), st.integers(-(2**70), 2**70), _JSON)},
)


def test_any_body_posted_to_the_open_enrollment_is_a_json_4xx_that_changes_nothing(client, db):
    """The one endpoint open without a token (hypothesis: any JSON, near-miss enrollments, any content type)."""
    db.new_enrollment_token("S1")
    before = (db.count("agents"), db.rows("SELECT used_at FROM enrollment_tokens"))

    @settings(
        max_examples=200,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(_JSON | _ENROLL, st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]))
    def probe(body, content_type):
        response = client.post("/api/v1/enroll", data=json.dumps(body), content_type=content_type)
        assert 400 <= response.status_code < 500 and response.json["code"], response.get_data(as_text=True)[:500]

    probe()
    assert (db.count("agents"), db.rows("SELECT used_at FROM enrollment_tokens")) == before
