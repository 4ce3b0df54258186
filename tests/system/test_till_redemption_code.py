"""Playwright: the cashier page (agent/till) confirms a redemption with the code head office sends, against a
real agent process, a real Mosquitto, the real central sender and a local SMS gateway: the page asks for the
code, says where it went and until when, refuses a wrong code, commits with the right one; offline it says the
redemption cannot be confirmed. The same fixtures as tests/system/test_redemption_code.py."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from agent.testing import card_number
from central.messages import rules
from central.messages.sender import Sender
from central.services import messages as svc
from central.services.access import SYSTEM
from central.storage.store import Store as CentralStore
from tests.messages.conftest import gateway  # noqa: F401  (the local SMS gateway)
from tests.polling import wait_for

from .conftest import wait_caught_up

pytestmark = pytest.mark.slow


def switch_the_code_on(db: CentralStore, gateway_url: str) -> None:  # noqa: F811
    svc.set_channel(
        db,
        SYSTEM,
        "sms",
        {
            "method": "POST",
            "url": gateway_url + "/sms/send",
            "body_format": "json",
            "body": '{"to": "{phone}", "msg": "{text}", "partner_id": "{key}"}',
            "id_field": "sms.id",
            "error_field": "error",
        },
    )
    template = svc.save_template(
        db, SYSTEM, name="redeem", channel="sms", language="ru", kind="service", body="Код {{ code }}"
    )
    svc.set_service_switches(db, SYSTEM, "", {("redeem_code", "sms"): str(template)})


def start_sale(page, url: str, card: str, amount: str, redeem: str) -> None:
    page.fill("#identify-input", card)
    page.press("#identify-input", "Enter")
    page.wait_for_selector("#customer:not([hidden])")
    page.fill("#amount", amount)
    page.fill("#redeem", redeem)


def test_the_till_page_confirms_a_redemption_with_the_sms_code(page, broker, central, db_path, spawn, gateway):  # noqa: F811
    agent = spawn("S1")
    assert agent.wait_online(30)
    customer = agent.register(1)
    status, body = agent.commit("R0", 1, 100_000)
    assert status == 201 and body["accrued"] > 1000, body
    db = CentralStore(db_path)
    assert agent.wait_drained(30) and wait_caught_up(agent, db, [customer])
    switch_the_code_on(db, gateway.url)
    sender = Sender(db_path, policy=rules.Policy(quiet_start=0, quiet_end=0), interval=0.2).start()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    url = f"http://127.0.0.1:{agent.prepared.port}"
    try:
        assert wait_for(lambda: agent.state("confirm_redemption") == "1", 20)
        page.goto(f"{url}/till/?lang=en#key={agent.prepared.key}")
        page.wait_for_selector("body[data-screen=till]")
        start_sale(page, url, card_number(1), "200", "5")
        expect(page.locator("#code-box")).to_be_visible()  # the quote said the store confirms redemptions

        page.click("#commit")  # no code asked for yet: said beside the code, nothing sent
        expect(page.locator("#code-msg")).to_contain_text("Send the code")
        assert agent.query("SELECT COUNT(*) FROM receipts WHERE customer_id = ?", (customer,))[0][0] == 1

        page.click("#code-send")
        [sms] = gateway.wait(1, 15)
        code = re.search(r"Код (\d{6})", sms["body"]["msg"]).group(1)
        sent = page.locator("#code-sent")
        expect(sent).to_contain_text("SMS")
        expect(sent).to_contain_text("valid until")
        expect(page.locator("#code-send")).to_have_text("Send a new code")
        assert re.search(r"\d\d:\d\d", sent.inner_text())

        page.fill("#code-input", "12")
        page.click("#commit")
        expect(page.locator("#code-msg")).to_contain_text("6 digits")

        page.fill("#code-input", f"{(int(code) + 1) % 10**6:06d}")
        page.click("#commit")
        expect(page.locator("#code-msg")).to_contain_text("The code is wrong: 2 attempt(s) left")
        assert page.input_value("#code-input") == ""
        assert agent.query("SELECT COUNT(*) FROM receipts WHERE customer_id = ?", (customer,))[0][0] == 1

        page.fill("#code-input", code)
        page.press("#code-input", "Enter")
        expect(page.locator("#sale-result")).to_be_visible()
        expect(page.locator("#r-redeemed")).to_have_text("5.00")
        [(redeemed,)] = agent.query("SELECT redeemed FROM receipts WHERE customer_id = ? AND redeemed > 0", (customer,))
        assert redeemed == 500

        # offline, in Russian: no code can be sent; the page says so, and selling without redeeming goes on
        broker.kill()
        assert wait_for(lambda: agent.health()["link"] == "offline", 15)
        page.goto(f"{url}/till/?lang=ru#key={agent.prepared.key}")
        page.wait_for_selector("body[data-screen=till]")
        page.click("#commit")  # "new sale"
        start_sale(page, url, card_number(1), "200", "5")
        expect(page.locator("#code-box")).to_be_visible()
        page.click("#code-send")
        expect(page.locator("#code-msg")).to_contain_text("Списание нельзя подтвердить")
        page.fill("#redeem", "")
        page.click("#commit")
        expect(page.locator("#sale-result")).to_be_visible()
        expect(page.locator("#r-redeemed")).to_have_text("0,00")
    finally:
        sender.stop()
        db.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
