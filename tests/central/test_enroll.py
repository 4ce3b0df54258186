"""Enrollment: a one-time, expiring token buys an agent its broker credentials."""

from __future__ import annotations

import datetime as dt

import pytest

from central.storage.store import mosquitto_hash

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def test_enrollment_returns_credentials_once(client, db):
    db.add_store("S1", "Tverskaya 7", "Europe/Moscow")
    token = db.new_enrollment_token("S1")
    res = client.post("/api/v1/enroll", json={"token": token})
    assert res.status_code == 201, res.json
    body = res.json
    assert body["store"] == {"id": "S1", "name": "Tverskaya 7", "timezone": "Europe/Moscow"}
    assert body["agent"] == "a1"
    mqtt = body["mqtt"]
    assert mqtt["url"] == "mqtt://broker.example:1883" and mqtt["protocol"] == 5
    assert mqtt["username"] == "agent-S1-a1" and len(mqtt["password"]) >= 24
    assert mqtt["topic_root"] == "loyalty/v1/stores/S1"
    # the central server keeps only the Mosquitto hash, never the password
    row = db.get_agent("S1", "a1")
    assert row["password_hash"].startswith("$7$101$") and mqtt["password"] not in row["password_hash"]

    again = client.post("/api/v1/enroll", json={"token": token})
    assert again.status_code == 409
    assert again.json["code"] == "enroll_token_used" and "already used" in again.json["detail"]


def test_second_agent_of_a_store_gets_its_own_id(client, db):
    db.add_store("S1")
    client.post("/api/v1/enroll", json={"token": db.new_enrollment_token("S1")})
    res = client.post("/api/v1/enroll", json={"token": db.new_enrollment_token("S1")})
    assert res.json["agent"] == "a2" and res.json["mqtt"]["username"] == "agent-S1-a2"


def test_expired_unknown_and_malformed_tokens_are_refused(client, db):
    db.add_store("S1")
    expired = db.new_enrollment_token("S1", dt.timedelta(seconds=-1))
    res = client.post("/api/v1/enroll", json={"token": expired})
    assert res.status_code == 410 and res.json["code"] == "enroll_token_expired"
    res = client.post("/api/v1/enroll", json={"token": "nope"})
    assert res.status_code == 403 and res.json["code"] == "enroll_token_invalid"
    res = client.post("/api/v1/enroll", data="token=x")
    assert res.status_code == 422 and res.json["code"] == "validation_error"
    res = client.post("/api/v1/enroll", json={"token": db.new_enrollment_token("S1"), "agent": "a/1"})
    assert res.status_code == 422
    for bad in ('"\\ud800"', '"tok\\u0000en"', '"' + "x" * 201 + '"'):  # a lone surrogate, a NUL, too long
        res = client.post("/api/v1/enroll", data=f'{{"token": {bad}}}', content_type="application/json")
        assert res.status_code == 422 and res.json["code"] == "validation_error", bad
    assert db.count("agents") == 0  # nothing changed


def test_status_endpoint_lists_stores_and_agents(client, db):
    db.add_store("S1")
    client.post("/api/v1/enroll", json={"token": db.new_enrollment_token("S1")})
    assert client.get("/api/v1/stores/status").status_code == 401  # an API token or a console session
    from central.services.access import SYSTEM
    from central.services.tokens import add_token

    _, token = add_token(db, SYSTEM, "monitoring")
    res = client.get("/api/v1/stores/status", headers={"Authorization": f"Bearer {token}"})
    store = res.json["stores"][0]
    assert store["id"] == "S1" and store["agents"][0]["id"] == "a1" and store["agents"][0]["state"] == "unknown"
    assert client.get("/health").json["status"] == "ok"


def test_mosquitto_hash_format():
    digest = mosquitto_hash("secret", salt=b"0123456789ab")
    assert digest == mosquitto_hash("secret", salt=b"0123456789ab")
    kind, iterations, salt, value = digest.split("$")[1:]
    assert kind == "7" and iterations == "101" and salt == "MDEyMzQ1Njc4OWFi" and len(value) == 88


def test_a_405_says_which_methods_are_allowed(client):
    # RFC 9110 15.5.6; the console's error pages (403, 404) must not take the header away from a 405
    for method, path, allowed in (
        ("GET", "/api/v1/enroll", {"POST", "OPTIONS"}),
        ("POST", "/health", {"GET", "HEAD", "OPTIONS"}),
        ("DELETE", "/login", {"GET", "HEAD", "POST", "OPTIONS"}),
    ):
        res = client.open(path, method=method)
        assert res.status_code == 405, (method, path)
        assert set(res.headers["Allow"].split(", ")) == allowed, (method, path)
