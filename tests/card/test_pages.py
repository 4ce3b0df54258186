"""The web card's pages through Flask's client: sign-up, the card, security (another customer's data, fixation,
brute force), manifest and service worker."""

from __future__ import annotations

import json

import pytest

from central import create_app
from central.services import web_card as wc
from tests.card.conftest import OTHER_PHONE, PHONE

pytestmark = pytest.mark.postgresql

SECRET = "test-chain-secret-0123456789"
FORM = {"phone": "+7 916 123-45-67", "first_name": "Анна", "consent_personal_data": "1", "consent_sms": "1"}


@pytest.fixture
def app(db, sms):
    return create_app(
        {
            "TESTING": True,
            "DATABASE": db.path,
            "MQTT_URL": "mqtt://broker.example:1883",
            "WTF_CSRF_ENABLED": False,
            "SECRET_KEY": "test",
            "QR_SECRET": SECRET,
            "WEB_CODE_RESEND_SECONDS": 0,
        }
    )


def sign_up(client, codes, phone=PHONE, name="Анна"):
    r = client.post("/card/join/S1", data={**FORM, "phone": phone, "first_name": name})
    assert r.status_code == 302 and r.headers["Location"].endswith("/card/code")
    r = client.post("/card/code", data={"code": codes.last(phone)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/card/")
    return client.get_cookie("card_session", path="/card").value


def test_signup_page_code_and_card(app, db, codes):
    client = app.test_client()
    page = client.get("/card/join/S1?lang=ru")
    assert page.status_code == 200 and "Тверская 7" in page.text and 'name="consent_personal_data"' in page.text
    sign_up(client, codes)
    card = client.get("/card/")
    assert card.status_code == 200 and "Анна" in card.text and "7700000" in card.text
    assert card.headers["Cache-Control"] == "no-store"
    qr = client.get("/card/qr.svg")
    assert qr.status_code == 200 and qr.headers["Content-Type"] == "image/svg+xml"
    token = client.get("/card/qr.json").get_json()["token"]
    import time

    from shared.identifiers import verify_qr

    assert verify_qr(SECRET.encode(), token, int(time.time())) == db.customer_by_phone(PHONE)  # what the tills check
    assert client.get("/card/barcode.svg").status_code == 200


def test_bad_input_is_answered_on_the_page_with_nothing_changed(app, db, codes):
    client = app.test_client()
    r = client.post("/card/join/S1", data={"phone": "123", "first_name": ""})
    assert r.status_code == 422 and 'id="phone-error"' in r.text and 'id="first_name-error"' in r.text
    assert db.count("customers") == 0
    sign_up(client, codes)
    other = app.test_client()
    r = other.post("/card/join/S2", data=FORM)
    assert r.status_code == 422 and 'id="phone-error"' in r.text
    assert db.count("customers") == 1
    r = other.post("/card/login", data={"phone": OTHER_PHONE})
    assert r.status_code == 422


def test_the_code_settings_reach_the_pages(db, sms):
    """WEB_CODE_REGIONS and WEB_CODES_PER_HOUR as a chain sets them, answered on the sign-up page."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE": db.path,
            "MQTT_URL": "mqtt://broker.example:1883",
            "WTF_CSRF_ENABLED": False,
            "SECRET_KEY": "test",
            "WEB_CODE_RESEND_SECONDS": 0,
            "WEB_CODE_REGIONS": "ru, by",
            "WEB_CODES_PER_HOUR": 1,
        }
    )
    client = app.test_client()
    r = client.post("/card/join/S1?lang=en", data={**FORM, "phone": "+4915123456789"})
    assert r.status_code == 422 and "Codes are sent only to phones of: BY, RU." in r.text
    assert client.post("/card/join/S1", data=FORM).status_code == 302
    r = app.test_client().post("/card/join/S1?lang=en", data={**FORM, "phone": OTHER_PHONE})
    assert r.status_code == 429 and "last hour" in r.text
    assert db.count("customers") == 1


def test_nothing_of_another_customer_is_reachable(app, db, codes):
    anna, boris = app.test_client(), app.test_client()
    sign_up(anna, codes, PHONE, "Анна")
    sign_up(boris, codes, OTHER_PHONE, "Борис")
    anna_id = db.customer_by_phone(PHONE)
    page = boris.get("/card/")
    assert "Борис" in page.text and "Анна" not in page.text
    # no URL takes a customer id: these are all the session's own customer or nothing
    for url in (f"/card/{anna_id}", f"/card/?customer={anna_id}", f"/card/qr.svg?customer={anna_id}"):
        r = boris.get(url)
        assert anna_id not in r.get_data(as_text=True)
        assert "Анна" not in r.get_data(as_text=True)
    # without a session: nothing
    stranger = app.test_client()
    assert stranger.get("/card/").status_code == 302
    assert stranger.get("/card/qr.svg").status_code == 401
    assert stranger.get("/card/barcode.svg").status_code == 401
    assert stranger.post("/card/consents", data={"channel": "sms", "granted": "0"}).status_code == 401
    # a forged or guessed cookie is no session
    stranger.set_cookie("card_session", "x" * 43, path="/card")
    assert stranger.get("/card/qr.json").status_code == 401


def test_session_fixation_is_prevented(app, db, codes):
    """A session id planted in the browser before sign-in is never the one after it, and the server forgets it."""
    attacker = app.test_client()
    planted = sign_up(attacker, codes, OTHER_PHONE, "Борис")  # a valid id the attacker knows
    victim = app.test_client()
    victim.set_cookie("card_session", planted, path="/card")
    fresh = sign_up(victim, codes, PHONE, "Анна")
    assert fresh != planted
    assert wc.session_customer(db, planted) is None  # ended at the victim's sign-in
    assert attacker.get("/card/").status_code == 302
    # signing out ends the session on the server: a copied cookie is useless
    victim.post("/card/logout")
    copy = app.test_client()
    copy.set_cookie("card_session", fresh, path="/card")
    assert copy.get("/card/").status_code == 302


def test_code_brute_force_is_refused(app, db, codes):
    client = app.test_client()
    client.post("/card/join/S1", data=FORM)
    statuses = [client.post("/card/code", data={"code": f"{i:06d}"}).status_code for i in range(7)]
    assert statuses[:5] == [422] * 5
    r = client.post("/card/code", data={"code": codes.last(PHONE)})
    assert r.status_code == 422  # the code is void after 5 wrong tries
    assert db.customer(db.customer_by_phone(PHONE))["phone_verified"] == 0
    assert db.count("cards") == 0


def test_consents_on_the_card(app, db, codes):
    client = app.test_client()
    sign_up(client, codes)
    cid = db.customer_by_phone(PHONE)
    client.post("/card/consents", data={"channel": "email", "granted": "1"})
    assert json.loads(db.customer(cid)["consents"])["email"] is True
    assert db.consents_of(cid)[-1]["source"] == "customer"


def test_manifest_and_service_worker(app):
    client = app.test_client()
    manifest = client.get("/card/manifest.webmanifest")
    doc = json.loads(manifest.data)
    assert manifest.headers["Content-Type"] == "application/manifest+json"
    assert doc["start_url"] == "/card/" and doc["display"] == "standalone"
    assert {i["sizes"] for i in doc["icons"]} == {"192x192", "512x512"}
    for icon in doc["icons"]:
        response = client.get(icon["src"])
        assert response.status_code == 200 and response.data[:4] == b"\x89PNG"
        response.close()
    sw = client.get("/card/sw.js")
    assert sw.status_code == 200 and "javascript" in sw.headers["Content-Type"]
    poster = client.get("/card/join/S1/poster")
    assert poster.status_code == 200 and "/card/join/S1" in poster.text
    assert client.get("/card/join/S1/qr.svg").headers["Content-Type"] == "image/svg+xml"
    assert client.get("/card/join/NOPE").status_code == 404


def test_push_subscription_from_the_card(app, db, codes):
    from central.services import messages as msg
    from central.services.access import SYSTEM
    from tests.messages.test_push import PushService

    client = app.test_client()
    sign_up(client, codes)
    cid = db.customer_by_phone(PHONE)
    assert 'id="push" hidden' in client.get("/card/").text and "data-vapid" not in client.get("/card/").text
    assert client.post("/card/push", json={}).status_code == 404  # push not set up
    msg.set_channel(db, SYSTEM, "push", {"subject": "mailto:club@shop.example"})
    assert f'data-vapid="{msg.vapid_public_key(db)}"' in client.get("/card/").text
    service = PushService()
    service.url = "https://push.example"
    assert client.post("/card/push", json={"endpoint": "https://push.example/x"}).status_code == 422
    assert client.post("/card/push", json=service.subscription()).status_code == 200
    assert db.message_customer(cid)["push_subscription"] and db.consents_of(cid)[-1]["source"] == "customer"
    assert "showNotification" in client.get("/card/sw.js").text


def test_the_customer_edits_their_own_data(app, db, codes):
    client = app.test_client()
    sign_up(client, codes)
    cid = db.customer_by_phone(PHONE)
    version = db.customer(cid)["version"]
    assert 'id="own-edit"' in client.get("/card/").text
    page = client.get("/card/profile")
    assert page.status_code == 200 and 'name="birthday"' in page.text and "Анна" in page.text
    data = {"first_name": "Анна", "middle_name": "Сергеевна", "last_name": "Орлова", "email": "Anna@Example.org"}
    r = client.post("/card/profile", data={**data, "birthday": "1990-05-17", "gender": "female"})
    assert r.status_code == 302 and r.headers["Location"].endswith("#own-data")
    row = db.customer(cid)
    assert (row["name"], row["email"], row["birthday"], row["gender"]) == (
        "Анна Сергеевна Орлова",
        "anna@example.org",
        "1990-05-17",
        "female",
    )
    assert row["version"] > version  # the tills get the name and the birthday
    [audit] = db.rows("SELECT username, after FROM audit_log WHERE action = 'customer.questionnaire'")
    assert audit["username"] == "customer (web card)" and "Орлова" in audit["after"]
    # the birthday is set once: the form shows it, a change is refused with nothing written
    page = client.get("/card/profile")
    assert 'name="birthday"' not in page.text and 'id="own-birthday"' in page.text
    r = client.post("/card/profile?lang=en", data={**data, "birthday": "1991-01-01"})
    assert r.status_code == 422 and 'id="birthday-error"' in r.text and "ask at a store" in r.text
    assert db.customer(cid)["birthday"] == "1990-05-17"
    # bad input: the field's message in the page's language, nothing written
    before = db.customer(cid)
    r = client.post("/card/profile?lang=ru", data={**data, "email": "не почта", "gender": "x"})
    assert r.status_code == 422 and 'id="email-error"' in r.text and 'id="gender-error"' in r.text
    assert "Это не адрес эл. почты." in r.text
    r = client.post("/card/profile?lang=en", data={"first_name": "", "last_name": ""})
    assert r.status_code == 422 and "Write the first or the last name." in r.text
    assert db.customer(cid) == before
    # saving the same data again writes nothing (no audit row, no new version)
    client.post("/card/profile", data={**data, "gender": "female"})
    assert db.customer(cid)["version"] == before["version"]
    assert db.count("audit_log", "action = 'customer.questionnaire'") == 1


def test_the_customer_chooses_the_language_of_our_messages_on_the_card(app, db, codes):
    client = app.test_client()
    sign_up(client, codes, PHONE, "Анна")
    cid = db.customer_by_phone(PHONE)
    page = client.get("/card/profile?lang=en")
    assert 'name="language"' in page.text and '<option value="ru" selected>' in page.text  # Russian by default
    version = db.customer(cid)["version"]
    data = {"first_name": "Анна", "last_name": ""}
    r = client.post("/card/profile", data={**data, "language": "en"})
    assert r.status_code == 302
    assert db.message_customer(cid)["language"] == "en"
    assert db.customer(cid)["version"] == version  # the tills do not show it: no new version for a language
    [audit] = db.rows("SELECT before, after FROM audit_log WHERE action = 'customer.questionnaire'")
    assert '"en"' in audit["after"] and '"language"' in audit["before"]
    assert '<option value="en" selected>' in client.get("/card/profile").text
    # a language not on the list: said beside the field in the page's language, nothing written
    r = client.post("/card/profile?lang=ru", data={**data, "language": "de"})
    assert r.status_code == 422 and 'id="language-error"' in r.text and "Выберите язык из списка." in r.text
    assert db.message_customer(cid)["language"] == "en"
    # a form without the field keeps the language
    client.post("/card/profile", data={**data, "first_name": "Аня"})
    assert db.message_customer(cid)["language"] == "en" and db.customer(cid)["first_name"] == "Аня"


def test_a_customer_cannot_edit_another_customers_data(app, db, codes):
    anna, boris = app.test_client(), app.test_client()
    sign_up(anna, codes, PHONE, "Анна")
    sign_up(boris, codes, OTHER_PHONE, "Борис")
    anna_id, boris_id = db.customer_by_phone(PHONE), db.customer_by_phone(OTHER_PHONE)
    before = db.customer(anna_id)
    # no form field or URL names a customer: the change is always the session's own
    for url in ("/card/profile", f"/card/profile?customer={anna_id}", f"/card/profile?id={anna_id}"):
        r = boris.post(url, data={"first_name": "Взлом", "customer_id": anna_id, "id": anna_id})
        assert r.status_code == 302
    assert db.customer(anna_id) == before
    assert db.customer(boris_id)["first_name"] == "Взлом"
    assert "Анна" not in boris.get("/card/profile").text
    # without a session: sent to sign in, nothing changed
    stranger = app.test_client()
    r = stranger.post("/card/profile", data={"first_name": "Взлом"})
    assert r.status_code == 302 and "/card/login" in r.headers["Location"]
    stranger.set_cookie("card_session", "x" * 43, path="/card")
    assert stranger.post("/card/profile", data={"first_name": "Взлом"}).status_code == 302
    assert db.customer(anna_id) == before


def test_custom_fields_the_customer_may_edit_and_the_others_refused(app, db, codes):
    """Head office flags custom fields "customer may edit": only those are on the customer's own form, checked as
    on head office's form; a field not flagged posted anyway is ignored (its value kept), audited as the
    customer's change."""
    from central.services import fields
    from central.services.access import SYSTEM

    fields.define(db, SYSTEM, {"name": "pet", "label": "Питомец", "type": "string", "customer_edit": "1"})
    fields.define(db, SYSTEM, {"name": "kids", "label": "Дети", "type": "number"})
    fields.define(db, SYSTEM, {"name": "vegan", "label": "Вегетарианец", "type": "yes_no"})
    fields.set_customer_edit(db, SYSTEM, "vegan", True)
    client = app.test_client()
    sign_up(client, codes)
    cid = db.customer_by_phone(PHONE)
    with db.transaction():
        db.set_customer_custom(cid, {"kids": "2"})  # head office's value
    page = client.get("/card/profile")
    assert 'name="custom_pet"' in page.text and 'name="custom_vegan"' in page.text
    assert 'name="custom_kids"' not in page.text and "Дети" not in page.text
    data = {"first_name": "Анна"}
    # the same validation as head office's: too long a text is refused in place, nothing written
    before = db.customer(cid)
    r = client.post("/card/profile?lang=en", data={**data, "custom_pet": "x" * 501})
    assert r.status_code == 422 and 'id="custom_pet-error"' in r.text and "At most 500 characters." in r.text
    assert db.customer(cid) == before
    # a field not flagged, posted anyway: ignored, head office's value kept
    r = client.post("/card/profile", data={**data, "custom_pet": "кот", "custom_vegan": "1", "custom_kids": "9"})
    assert r.status_code == 302
    assert json.loads(db.customer(cid)["custom"]) == {"kids": "2", "pet": "кот", "vegan": True}
    assert db.customer(cid)["version"] > before["version"]
    [row] = db.rows("SELECT username, before, after FROM audit_log WHERE action = 'customer.questionnaire'")
    assert row["username"] == "customer (web card)"
    assert json.loads(row["after"]) == {"custom": {"pet": "кот", "vegan": True}}
    assert json.loads(row["before"]) == {"custom": {"pet": None, "vegan": None}}
    # only a non-flagged field posted: nothing written, no audit
    client.post("/card/profile", data={**data, "custom_pet": "кот", "custom_vegan": "1", "custom_kids": "0"})
    assert json.loads(db.customer(cid)["custom"])["kids"] == "2"
    assert db.count("audit_log", "action = 'customer.questionnaire'") == 1
    # head office stops offering a field: off the form, and a post of it is ignored
    fields.set_customer_edit(db, SYSTEM, "pet", False)
    assert 'name="custom_pet"' not in client.get("/card/profile").text
    client.post("/card/profile", data={**data, "custom_pet": "пёс", "custom_vegan": "1"})
    assert json.loads(db.customer(cid)["custom"])["pet"] == "кот"


def test_a_telegram_link_without_the_telegram_channel_is_a_404(app, db, codes):
    """The card's Telegram button posts to /card/telegram: with no Telegram channel set up it was a 500."""
    client = app.test_client()
    sign_up(client, codes)
    response = client.post("/card/telegram")
    assert response.status_code == 404
    assert db.rows("SELECT * FROM link_tokens") == []
