"""Service messages through the real ingest: the phone code of a registration sent by SMS, points
received, switches per store (a store's own choice overrides every store's), nothing twice."""

from __future__ import annotations

import pytest

from central.messages import rules
from central.messages.sender import Sender
from central.services import messages as svc
from central.services.access import SYSTEM, FormError
from tests.messages.conftest import gateway  # noqa: F401

from .conftest import apply_events, login

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

NO_QUIET = rules.Policy(quiet_start=0, quiet_end=0)


def drain(db):
    s = Sender(db.path, policy=NO_QUIET)
    for _ in range(5):
        if not s.run_once():
            break
    s.close()


def registration(agent, cid, phone, code):
    event = agent.registration(cid, phone=phone)
    event["body"]["confirmation_code"] = code
    return event


def set_up(db, gateway):  # noqa: F811
    svc.set_channel(
        db,
        SYSTEM,
        "sms",
        {"url": gateway.url + "/send", "body": '{"to": "{phone}", "msg": "{text}"}', "id_field": "sms.id"},
        {},
    )
    code = svc.save_template(
        db, SYSTEM, name="code", channel="sms", language="ru", kind="service", body="Код подтверждения: {{ code }}"
    )
    points = svc.save_template(
        db,
        SYSTEM,
        name="points",
        channel="sms",
        language="ru",
        kind="service",
        body="Начислено {{ points }} баллов, баланс {{ balance }}",
    )
    return code, points


def test_phone_codes_and_points_received_per_store(db, agents, gateway):  # noqa: F811
    code, points = set_up(db, gateway)
    a1, a2 = agents["S1"], agents["S2"]
    apply_events(db, a1.registration("old", phone="+79120000009"), a1.purchase("old", accrued=100))
    drain(db)  # nothing switched on: the receipt so far is never told
    svc.set_service_switches(
        db, SYSTEM, "", {("phone_code", "sms"): str(code), ("points_received", "sms"): str(points)}
    )
    svc.set_service_switches(db, SYSTEM, "S2", {("phone_code", "sms"): "off"})
    apply_events(db, registration(a1, "c1", "+79120000001", "123456"))
    apply_events(db, registration(a2, "c2", "+79120000002", "654321"))
    apply_events(db, a1.purchase("c1", accrued=250), a1.purchase("old", accrued=0))
    drain(db)
    drain(db)  # again: nothing twice
    sent = sorted((r["body"]["to"], r["body"]["msg"]) for r in gateway.wait(2))
    assert sent == [
        ("+79120000001", "Код подтверждения: 123456"),
        ("+79120000001", "Начислено 2,50 баллов, баланс 2,50"),
    ]
    rows = db.rows("SELECT cause, kind FROM message_outbox ORDER BY id")
    assert [r["kind"] for r in rows] == ["service", "service"] and rows[0]["cause"] == "code:123456"
    # no marketing consent needed: a customer without SMS consent still gets the code
    apply_events(db, registration(a1, "c3", "+79120000003", "111111"))
    db.conn.execute("UPDATE customers SET consents = '{}' WHERE id = 'c3'")
    drain(db)
    assert gateway.wait(3)[-1]["body"]["msg"] == "Код подтверждения: 111111"


def test_switches_refuse_a_marketing_template_and_are_audited(db, gateway):  # noqa: F811
    code, _ = set_up(db, gateway)
    marketing = svc.save_template(db, SYSTEM, name="m", channel="sms", language="ru", body="Акция")
    try:
        svc.set_service_switches(db, SYSTEM, "", {("phone_code", "sms"): str(marketing)})
        raise AssertionError("accepted")
    except FormError as exc:
        assert "phone_code-sms" in exc.errors
    assert db.message_switches() == []
    assert svc.set_service_switches(db, SYSTEM, "", {("phone_code", "sms"): str(code)}) == 1
    assert svc.service_switches(db, SYSTEM, "S1")[("phone_code", "sms")] == "inherit"
    assert db.rows("SELECT COUNT(*) AS n FROM audit_log WHERE action = 'messages.switches'")[0]["n"] == 1


def test_the_switches_page(client, db, people, gateway):  # noqa: F811
    code, _ = set_up(db, gateway)
    login(client, "marketer")
    page = client.get("/messages/service").get_data(as_text=True)
    assert 'name="phone_code-sms"' in page
    response = client.post("/messages/service", data={"store": "", "phone_code-sms": str(code)})
    assert response.status_code == 302
    assert svc.service_switches(db, SYSTEM)[("phone_code", "sms")] == str(code)
    response = client.post("/messages/service", data={"store": "S1", "phone_code-sms": "off"})
    assert response.status_code == 302
    assert svc.service_switches(db, SYSTEM, "S1")[("phone_code", "sms")] == "off"


def test_level_change_and_points_expiring_soon(db, agents, gateway):  # noqa: F811
    import datetime as dt

    from central.points.versions import bump_versions

    set_up(db, gateway)
    level = svc.save_template(
        db, SYSTEM, name="level", channel="sms", language="ru", kind="service", body="Ваш уровень: {{ level }}"
    )
    expiring = svc.save_template(
        db,
        SYSTEM,
        name="exp",
        channel="sms",
        language="ru",
        kind="service",
        body="{{ expiring }} баллов сгорят {{ expiring_on }}",
    )
    a1 = agents["S1"]
    apply_events(db, a1.registration("c1", phone="+79120000001"), a1.registration("c2", phone="+79120000002"))
    db.conn.execute("UPDATE customers SET level = 'Silver'")
    svc.set_service_switches(
        db, SYSTEM, "", {("level_changed", "sms"): str(level), ("points_expiring", "sms"): str(expiring)}
    )
    drain(db)  # switched on: every level remembered, nothing told
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat(timespec="seconds")
    with db.transaction() as conn:
        conn.execute("UPDATE customers SET level = 'Gold' WHERE id = 'c1'")
        bump_versions(conn, ["c1", "c2"])  # c2 changed, but not its level
        conn.execute(
            "INSERT INTO lots (id, customer_id, points, initial, expires_at, created_at) VALUES"
            " ('l1', 'c2', 1500, 1500, ?, '2026-01-01T00:00:00+00:00')",
            (soon,),
        )
    db.conn.execute("DELETE FROM settings WHERE name = 'messages_expiry_notice_day'")  # a new day
    drain(db)
    drain(db)
    sent = sorted((r["body"]["to"], r["body"]["msg"]) for r in gateway.wait(2))
    assert sent == [
        ("+79120000001", "Ваш уровень: Gold"),
        ("+79120000002", f"15 баллов сгорят {soon[8:10]}.{soon[5:7]}.{soon[:4]}"),
    ]


def test_consents_given_at_the_till_get_their_history(db, agents, client, people):
    a1 = agents["S1"]
    apply_events(db, a1.registration("c1", phone="+79120000001"))
    svc.set_consent(db, SYSTEM, "c1", "email", True)  # a later change at head office
    apply_events(db, a1.registration("c2", phone="+79120000002"))
    drain(db)
    drain(db)  # again: nothing twice
    history = [(h["channel"], h["granted"], h["source"], h["actor"]) for h in svc.consent_history(db, SYSTEM, "c2")]
    assert history == [("personal_data", 1, "till", "store S1"), ("sms", 1, "till", "store S1")]
    assert [h["source"] for h in svc.consent_history(db, SYSTEM, "c1")] == ["console"]
    login(client, "marketer")
    page = client.get("/customers/c2?tab=messages").get_data(as_text=True)
    assert "касса" in page and "store S1" in page
