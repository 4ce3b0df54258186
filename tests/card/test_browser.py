"""The web card in headless Chromium on a phone-sized screen: sign-up with the SMS code, the card page (QR code,
barcode, points), consents, the install manifest, the service worker's offline card; no CSP violation."""

from __future__ import annotations

import json

import pytest

from central import create_app
from tests.card.conftest import PHONE
from tests.web import live_server

SECRET = "test-chain-secret-0123456789"
PHONE_SCREEN = {"width": 390, "height": 844}


@pytest.fixture
def server(db, sms):
    app = create_app(
        {
            "TESTING": True,
            "DATABASE": db.path,
            "MQTT_URL": "mqtt://broker.example:1883",
            "SECRET_KEY": "test",
            "QR_SECRET": SECRET,
        }
    )
    with live_server(app) as url:
        yield url


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE_SCREEN, is_mobile=True, has_touch=True, locale="ru-RU")
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.problems = problems
    yield page
    context.close()


def test_sign_up_with_the_code_then_the_card_consents_and_offline(server, db, codes, phone):
    phone.goto(f"{server}/card/join/S1")
    assert phone.locator("h1").is_visible()
    phone.fill("input[name=phone]", "8 916 123 45 67")
    phone.fill("input[name=first_name]", "Анна")
    phone.click("button[type=submit]")  # without the consent to keep the data: refused in place
    assert phone.locator("#consent_personal_data-error").is_visible()
    assert db.count("customers") == 0
    phone.check("input[name=consent_personal_data]")
    phone.check("input[name=consent_sms]")
    phone.click("button[type=submit]")
    phone.wait_for_url("**/card/code")
    phone.fill("input[name=code]", "000000" if codes.last(PHONE) != "000000" else "111111")
    phone.click("button[type=submit]")
    assert phone.locator("#code-error").is_visible()  # a wrong code: said in place
    phone.fill("input[name=code]", codes.last(PHONE))
    phone.click("button[type=submit]")
    phone.wait_for_url("**/card/")
    # the card: the rotating QR code (loaded by card.js), the barcode and number, points and level
    number = phone.locator("#card-number").inner_text()
    assert number.startswith("7700000")
    phone.wait_for_function("document.getElementById('qr').src.includes('?t=')")
    phone.wait_for_function("document.getElementById('qr').complete && document.getElementById('qr').naturalWidth > 0")
    phone.wait_for_function("document.querySelector('.barcode img').naturalWidth > 0")
    assert phone.locator("#balance").inner_text() == "0,00"  # points in minor units, Russian format
    # nothing wider than the phone's screen
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_SCREEN["width"]
    # consents: withdraw SMS, give email
    phone.locator("form:has(input[value=sms]) button").click()
    assert phone.locator("[data-consent=sms]").inner_text() in ("no", "нет")
    phone.locator("form:has(input[value=email]) button").click()
    assert phone.locator("[data-consent=email]").inner_text() in ("yes", "да")
    cid = db.customer_by_phone(PHONE)
    assert [(h["channel"], h["granted"]) for h in db.consents_of(cid)][-2:] == [("sms", 0), ("email", 1)]
    # installable: the manifest is linked and served; the service worker controls the card
    href = phone.get_attribute("link[rel=manifest]", "href")
    manifest = phone.evaluate(f"fetch('{href}').then(r => r.json())")
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/card/"
    phone.evaluate("navigator.serviceWorker.ready.then(() => true)")
    phone.reload()  # now through the service worker, which keeps the card
    phone.wait_for_function("navigator.serviceWorker.controller !== null")
    phone.reload()
    phone.context.set_offline(True)
    phone.reload()
    assert phone.locator("#card-number").inner_text() == number  # the last card, offline
    phone.wait_for_function("document.body.classList.contains('offline')")
    phone.context.set_offline(False)
    assert phone.problems == []


def test_the_customer_edits_their_own_data_on_the_phone(server, db, codes, phone):
    phone.goto(f"{server}/card/join/S1")
    phone.fill("input[name=phone]", "8 916 123 45 67")
    phone.fill("input[name=first_name]", "Анна")
    phone.check("input[name=consent_personal_data]")
    phone.click("button[type=submit]")
    phone.wait_for_url("**/card/code")
    phone.fill("input[name=code]", codes.last(PHONE))
    phone.click("button[type=submit]")
    phone.wait_for_url("**/card/")
    phone.click("#own-edit")
    phone.wait_for_url("**/card/profile")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_SCREEN["width"]
    phone.fill("input[name=last_name]", "Орлова")
    phone.fill("input[name=email]", "не почта")
    phone.click("#own-save")
    assert phone.locator("#email-error").is_visible()  # said beside the field, in Russian
    assert "почты" in phone.locator("#email-error").inner_text()
    cid = db.customer_by_phone(PHONE)
    assert db.customer(cid)["last_name"] is None  # nothing written
    phone.fill("input[name=email]", "anna@example.org")
    phone.fill("input[name=birthday]", "1990-05-17")
    phone.select_option("select[name=gender]", "female")
    phone.click("#own-save")
    phone.wait_for_url("**/card/?saved=1#own-data")
    assert phone.locator("#own-saved").is_visible()
    assert "Орлова" in phone.locator("#own-data").inner_text()
    row = db.customer(cid)
    assert (row["last_name"], row["email"], row["birthday"], row["gender"]) == (
        "Орлова",
        "anna@example.org",
        "1990-05-17",
        "female",
    )
    phone.click("#own-edit")
    assert phone.locator("#own-birthday").inner_text() == "1990-05-17"  # set once: shown, not editable
    assert phone.locator("input[name=birthday]").count() == 0
    assert phone.problems == []


def test_the_customer_fills_the_custom_fields_head_office_offers(server, db, codes, phone):
    from central.services import fields
    from central.services.access import SYSTEM

    fields.define(db, SYSTEM, {"name": "pet", "label": "Питомец", "type": "string", "customer_edit": "1"})
    fields.define(db, SYSTEM, {"name": "visit_day", "label": "Удобный день", "type": "date", "customer_edit": "1"})
    fields.define(db, SYSTEM, {"name": "discount_group", "label": "Группа скидки", "type": "string"})
    phone.goto(f"{server}/card/join/S1")
    phone.fill("input[name=phone]", "8 916 123 45 67")
    phone.fill("input[name=first_name]", "Анна")
    phone.check("input[name=consent_personal_data]")
    phone.click("button[type=submit]")
    phone.wait_for_url("**/card/code")
    phone.fill("input[name=code]", codes.last(PHONE))
    phone.click("button[type=submit]")
    phone.wait_for_url("**/card/")
    phone.click("#own-edit")
    phone.wait_for_url("**/card/profile")
    assert phone.locator("input[name=custom_discount_group]").count() == 0  # head office's only
    assert phone.get_attribute("input[name=custom_visit_day]", "type") == "date"
    # longer than head office allows: the browser stops at 500, a page without that limit gets the server's answer
    phone.evaluate("document.querySelector('input[name=custom_pet]').removeAttribute('maxlength')")
    phone.fill("input[name=custom_pet]", "x" * 501)
    phone.click("#own-save")
    assert phone.locator("#custom_pet-error").is_visible()  # said beside the field, nothing written
    cid = db.customer_by_phone(PHONE)
    assert db.customer(cid)["custom"] in (None, "{}")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_SCREEN["width"]
    phone.fill("input[name=custom_pet]", "кот")
    phone.fill("input[name=custom_visit_day]", "2026-12-12")
    phone.click("#own-save")
    phone.wait_for_url("**/card/?saved=1#own-data")
    assert json.loads(db.customer(cid)["custom"]) == {"pet": "кот", "visit_day": "2026-12-12"}
    phone.click("#own-edit")
    assert phone.input_value("input[name=custom_pet]") == "кот"  # shown again with the stored value
    assert phone.problems == []
