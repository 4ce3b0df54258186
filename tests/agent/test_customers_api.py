"""Identify, register, confirm; terminal keys; languages."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.auth import add_terminal, revoke_terminal
from shared.identifiers import qr_token
from tests.agent.conftest import CARD, CARD2, NOW, delta, receipt
from tests.agent.test_receipts_api import snapshot

SECRET = b"test-chain-secret-0123456789"


def test_identify_answers_the_cashier_view(api, store):
    store.apply_customer_delta(
        delta(
            "c1",
            points=0,
            birthday="1990-11-24",
            lots=[{"id": "L1", "points": 700}, {"id": "L2", "points": 300, "starts_at": "2026-12-01T00:00:00+00:00"}],
            messages=[
                {"id": "m1", "text": "Предложите десерт"},
                {"id": "m2", "text": "old", "until": "2026-01-01T00:00:00+00:00"},
            ],
        )
    )
    r = api.post("/v1/identify", {"card": CARD})
    assert r.json == {
        "customer_id": "c1",
        "name": "Иван",
        "phone": "+7 912 ***-**-89",
        "phone_verified": True,
        "level": "Base",
        "balance": 1000,
        "available": 700,
        "held": 300,
        "card": CARD,
        "card_status": "active",
        "card_blocked": False,
        "blocked": False,
        "registered": True,
        "consents": {"personal_data": True, "sms": True},
        "messages": [
            {"id": "m1", "kind": "custom", "text": "Предложите десерт"},
            {"id": "birthday", "kind": "birthday", "text": "Birthday today!"},
        ],
        "link": "standalone",
        "redeemable_now": 700,
    }


def test_identify_in_russian(api, store):
    store.apply_customer_delta(delta("c1", birthday="--11-26"))
    r = api.post("/v1/identify", {"card": CARD}, headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert r.json["messages"] == [{"id": "birthday", "kind": "birthday", "text": "День рождения через 2 дн., 26.11."}]
    r = api.post("/v1/identify", {"card": "7700000000000017"}, headers={"Accept-Language": "ru"})
    assert r.json["title"] == "Неверный номер карты"
    assert "контрольная цифра" in r.json["detail"]
    assert r.headers["Content-Type"].startswith("application/problem+json")


def test_identify_blocked_card_is_answered_with_the_flag(api, store):
    store.apply_customer_delta(delta("c1", cards=[{"number": CARD, "status": "blocked", "reason": "lost"}]))
    r = api.post("/v1/identify", {"card": CARD})
    assert r.status_code == 200 and r.json["card_blocked"] is True and r.json["card_status"] == "blocked"


@pytest.mark.parametrize(
    "body, code",
    [
        ({}, "validation_error"),
        ({"card": CARD, "phone": "+79123456789"}, "validation_error"),
        ({"email": "x@example.org"}, "validation_error"),
        ({"card": 7700000000000016}, "validation_error"),
        ({"barcode": "4006381333931"}, "unknown_card"),  # a barcode of no card range
        ({"barcode": "4006381333932"}, "invalid_barcode"),
        ({"track": ";7700000000000016=2812?0"}, "invalid_track"),
        ({"phone": "12345"}, "invalid_phone"),
        ({"qr": "garbage"}, "invalid_qr"),
        ({"id": "nobody"}, "unknown_customer"),
    ],
)
def test_identify_refusals(api, store, body, code):
    store.apply_customer_delta(delta("c1"))
    r = api.post("/v1/identify", body)
    assert r.json["code"] == code


def test_qr_screenshot_stops_working(api, store, clock):
    store.apply_customer_delta(delta("c1"))
    token = qr_token(SECRET, "c1", int(NOW.timestamp()))
    assert api.post("/v1/identify", {"qr": token}).status_code == 200
    clock.advance(seconds=95)
    r = api.post("/v1/identify", {"qr": token})
    assert (r.status_code, r.json["code"]) == (422, "qr_expired")


def test_qr_disabled(make_app, tmp_path):
    from tests.agent.conftest import Api

    app = make_app(qr_secret="")
    api = Api(app, add_terminal(app.extensions["loyalty_agent"].store, "P01"))
    r = api.post("/v1/identify", {"qr": "LE1.c1.AAAAAAAAAAAAAAAA"})
    assert r.json["code"] == "qr_disabled"


# -- registration and confirmation


def test_register_and_identify_a_phone_of_another_country(api, store):
    r = api.post(
        "/v1/customers", {"phone": "+375 (29) 123-45-67", "name": "Ольга", "consents": {"personal_data": True}}
    )
    assert r.status_code == 201
    [event] = store.outbox_batch()
    assert event.body["phone"] == "+375291234567"  # E.164
    assert r.json["customer"]["phone"] == "+375 *******67"
    found = api.post("/v1/identify", {"phone": "00 375 29 123 45 67"})
    assert found.status_code == 200 and found.json["customer_id"] == r.json["customer_id"]
    # the Russian forms still name Russian customers
    assert api.post("/v1/identify", {"phone": "8 916 000 11 22"}).json["code"] == "unknown_customer"


def test_an_invalid_foreign_phone_is_refused_in_russian(api):
    r = api.post("/v1/identify", {"phone": "+44 20 79"}, headers={"Accept-Language": "ru"})
    assert (r.status_code, r.json["code"]) == (422, "invalid_phone")
    assert "код страны" in r.json["detail"]


REGISTRATION = {
    "phone": "8 (916) 000-11-22",
    "card": "7700 0000 0000 0024",
    "name": "Мария",
    "consents": {"personal_data": True, "sms": True},
}


def register(api, **change):
    return api.post("/v1/customers", {**REGISTRATION, **change})


def confirmation_code(store, customer_id: str) -> str:
    [event] = [e for e in store.outbox_batch() if e.kind == "registration" and e.body["customer_id"] == customer_id]
    return event.body["confirmation_code"]


def test_register_is_usable_at_once(api, store):
    r = register(api)
    assert r.status_code == 201
    customer_id = r.json["customer_id"]
    assert r.json["customer"]["card"] == CARD2 and r.json["customer"]["level"] == "Base"
    assert r.json["confirmation"]["required"] is True
    [event] = store.outbox_batch()
    assert event.kind == "registration"
    assert event.body == {
        "customer_id": customer_id,
        "phone": "+79160001122",
        "card": CARD2,
        "name": "Мария",
        "consents": {"personal_data": True, "sms": True},
        "confirmation_code": event.body["confirmation_code"],
        "terminal": "P01",
        "at": event.body["at"],
    }
    assert len(event.body["confirmation_code"]) == 6
    # usable at once: identify and accrue
    assert api.post("/v1/identify", {"phone": "+7 916 000 11 22"}).json["customer_id"] == customer_id
    bought = api.post("/v1/receipts", receipt(customer={"card": CARD2}))
    assert bought.status_code == 201 and bought.json["accrued"] == 1350 and bought.json["balance"] == 1350


@pytest.mark.parametrize(
    "change, status, code",
    [
        ({"phone": "+44 20 79"}, 422, "invalid_phone"),
        ({"card": "7700000000000017"}, 422, "invalid_card"),
        ({"consents": {"sms": True}}, 422, "validation_error"),
        ({"consents": {"personal_data": "yes"}}, 422, "validation_error"),
        ({"birthday": "1990-02-30"}, 422, "validation_error"),
        ({"name": ""}, 422, "validation_error"),
        ({"nickname": "x"}, 422, "validation_error"),
        ({"language": "de"}, 422, "validation_error"),
        ({"language": 1}, 422, "validation_error"),
    ],
)
def test_register_refusals_change_nothing(api, store, change, status, code):
    before = snapshot(store)
    r = register(api, **change)
    assert (r.status_code, r.json["code"]) == (status, code), r.json
    assert snapshot(store) == before


def test_register_with_the_language_of_messages_sends_it_up(api, store):
    r = register(api, language="en")
    assert r.status_code == 201
    [event] = store.outbox_batch()
    assert event.body["language"] == "en" and event.body["customer_id"] == r.json["customer_id"]
    refused = register(api, phone="+79160009999", card=None, language="english")
    assert refused.status_code == 422 and refused.json["errors"][0]["path"] == "language", refused.json
    assert "ru or en" in refused.json["errors"][0]["message"]


def test_register_taken_phone_or_card(api, store):
    store.apply_customer_delta(delta("c1", card=CARD2, phone="+79160001122"))
    assert register(api).json["code"] == "phone_taken"
    r = register(api, phone="+79160009999")
    assert (r.status_code, r.json["code"]) == (409, "card_taken")


def test_register_with_idempotency_key(api, store):
    first = api.post("/v1/customers", REGISTRATION, headers={"Idempotency-Key": "reg-1"})
    again = api.post("/v1/customers", REGISTRATION, headers={"Idempotency-Key": "reg-1"})
    assert again.status_code == 201 and again.json == first.json
    assert store.outbox_depth() == 1
    # without the key, a double submit is a clear conflict
    assert register(api).json["code"] == "phone_taken"


def test_confirm_with_the_code(api, store):
    customer_id = register(api).json["customer_id"]
    code = confirmation_code(store, customer_id)
    wrong = "000000" if code != "000000" else "111111"
    r = api.post(f"/v1/customers/{customer_id}/confirm", {"code": wrong})
    assert (r.status_code, r.json["code"], r.json["attempts_left"]) == (422, "confirmation_failed", 4)
    r = api.post(f"/v1/customers/{customer_id}/confirm", {"code": code})
    assert r.status_code == 200 and r.json == {"customer_id": customer_id, "phone_verified": True}
    assert api.post("/v1/identify", {"id": customer_id}).json["phone_verified"] is True
    kinds = [e.kind for e in store.outbox_batch()]
    assert kinds == ["registration", "phone_confirmed"]
    # confirming again is harmless
    assert api.post(f"/v1/customers/{customer_id}/confirm", {"code": code}).status_code == 200


def test_confirm_locks_after_attempts(api, store):
    customer_id = register(api).json["customer_id"]
    code = confirmation_code(store, customer_id)
    wrong = "000000" if code != "000000" else "111111"
    codes = [api.post(f"/v1/customers/{customer_id}/confirm", {"code": wrong}).json["code"] for _ in range(6)]
    assert codes == ["confirmation_failed"] * 4 + ["confirmation_locked"] * 2
    r = api.post(f"/v1/customers/{customer_id}/confirm", {"code": code})
    assert (r.status_code, r.json["code"]) == (429, "confirmation_locked")


def test_confirm_expired(api, store, clock):
    customer_id = register(api).json["customer_id"]
    code = confirmation_code(store, customer_id)
    clock.advance(seconds=601)
    r = api.post(f"/v1/customers/{customer_id}/confirm", {"code": code})
    assert (r.status_code, r.json["code"]) == (410, "confirmation_expired")


@pytest.mark.parametrize("body", [{}, {"code": "12345"}, {"code": "abcdef"}, {"code": 123456}])
def test_confirm_malformed(api, store, body):
    customer_id = register(api).json["customer_id"]
    r = api.post(f"/v1/customers/{customer_id}/confirm", body)
    assert (r.status_code, r.json["code"]) == (422, "validation_error")


def test_confirm_unknown_customer_and_nothing_to_confirm(api, store):
    assert api.post("/v1/customers/nobody/confirm", {"code": "123456"}).json["code"] == "unknown_customer"
    store.apply_customer_delta(delta("c1", phone_verified=False))
    assert api.post("/v1/customers/c1/confirm", {"code": "123456"}).json["code"] == "nothing_to_confirm"


# -- terminal keys


def test_missing_wrong_and_revoked_keys_get_401(api, store):
    for key in (None, "lk_wrong", ""):
        r = api.post("/v1/identify", {"card": CARD}, key=key)
        assert (r.status_code, r.json["code"]) == (401, "unauthorized")
    r = api.client.post("/v1/identify", json={"card": CARD}, headers={"Authorization": f"Basic {api.key}"})
    assert r.status_code == 401
    assert api.get("/v1/terminal").json == {"terminal": "P01", "name": "Till 1"}
    revoke_terminal(store, "P01")
    assert api.get("/v1/terminal").status_code == 401


def test_keys_are_stored_hashed(api, store):
    with store.read() as tx:
        [row] = tx.terminals()
    assert api.key not in str(dict(row)) and len(row["key_hash"]) == 64


def test_health_is_public(api):
    r = api.get("/v1/health", key=None)
    assert r.status_code == 200 and r.json["rules_version"] == 17 and r.json["link"] == "standalone"


def test_birthday_window():
    from agent.customer_lookup import birthday_message

    today = dt.date(2026, 11, 24)
    assert birthday_message("1990-11-24", today)["template"] == "Birthday today!"
    assert birthday_message("--11-27", today)["params"]["days"] == 3
    assert birthday_message("1990-11-21", today)["params"]["days"] == 3
    assert birthday_message("1990-11-28", today) is None
    assert birthday_message("1990-12-31", dt.date(2027, 1, 2))["params"] == {"days": 2, "date": "31.12"}
    assert birthday_message("--02-29", dt.date(2027, 2, 28))["template"] == "Birthday today!"
    assert birthday_message(None, today) is None
