"""Playwright: build the welcome-bonus trigger in the console, test it on a customer, start it, register a
customer at a real till (a real agent through a real Mosquitto), and see the bonus on their profile."""

from __future__ import annotations

import pytest

from central import create_app
from central.marketing.trigger_engine import TriggerEngine
from central.services import users
from central.services.access import SYSTEM
from central.storage.store import Store as CentralStore
from tests.polling import wait_for
from tests.web import live_server

pytestmark = pytest.mark.slow
PASSWORD = "correct horse"


def test_build_test_start_register_and_see_the_bonus(page, broker, central, db_path, spawn):
    db = CentralStore(db_path)
    users.add_user(db, SYSTEM, "mia", PASSWORD, "marketer")
    s1 = spawn("S1")
    assert s1.wait_online(30)
    first = s1.register(1)  # a customer to test the trigger on
    assert wait_for(lambda: db.rows("SELECT id FROM customers WHERE id = ?", (first,)), 30, 0.1)
    engine = TriggerEngine(db_path, interval=0.1).start()
    app = create_app({"DATABASE": db_path, "SECRET_KEY": "browser-tests", "TRIGGERS_ENGINE": False})
    try:
        with live_server(app) as url:
            page.goto(url + "/login")
            page.fill("input[name=username]", "mia")
            page.fill("input[name=password]", PASSWORD)
            page.click("button.primary")
            page.wait_for_url(url + "/")
            page.click("nav a[href='/triggers/']")
            page.click("a[data-template=welcome]")
            page.select_option("select[name=owner_store]", "S1")
            for hour in range(24):
                page.check(f"input[name=hours][value='{hour}']")
            page.fill("input[name=name]", "")
            page.click("#trigger-form button.primary")
            assert page.locator("em.error[data-for=name]").is_visible()  # validated in place, nothing saved
            assert db.triggers_list() == []
            page.fill("input[name=name]", "Welcome bonus")
            page.click("#trigger-form button.primary")
            page.wait_for_url("**/triggers/#t*")
            row = page.locator("#triggers tbody tr").first
            assert row.locator("[data-state=draft]").is_visible()

            row.locator("a[data-action=test]").click()
            page.fill("input[name=customer]", first)
            page.click("form button.primary")
            assert page.locator("[data-step='1'] [data-holds=yes]").is_visible()
            assert "10000" in page.locator("#would").inner_text()
            assert db.rows("SELECT COUNT(*) AS n FROM trigger_runs")[0]["n"] == 0  # the test changed nothing

            page.goto(url + "/triggers/")
            page.click("#triggers button[value=start]")
            page.wait_for_url("**/triggers/#t*")
            assert page.locator("#triggers [data-state=running]").is_visible()

            second = s1.register(2)  # at the till
            assert wait_for(
                lambda: db.rows("SELECT 1 FROM ledger WHERE customer_id = ? AND kind = 'bonus.promo'", (second,)),
                30,
                0.1,
            )
            page.goto(url + f"/customers/{second}")
            assert page.locator("#program-total").inner_text().replace("\xa0", " ").startswith("100")
            assert page.locator("#customer-triggers").inner_text().count("Welcome bonus") == 1
    finally:
        engine.stop()
        db.close()
