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


def test_build_the_welcome_bonus_with_the_step_forms_test_it_and_start_it(page, browser, db_path):
    """The step editor's forms: a blank trigger, a registration condition and a credit action added by
    choosing their types, an error shown beside its field, saved, tested on a customer, started; the same
    buttons post without a script too."""
    from central.marketing import trigger_engine
    from central.storage.store import IngestUnit
    from tests.sync.fakes import FakeAgent

    db = CentralStore(db_path)
    users.add_user(db, SYSTEM, "mia", PASSWORD, "marketer")
    db.stream_state("S1", "a1")
    registration = FakeAgent("S1").registration("c1")
    db.commit_ingest(IngestUnit(events=[registration], pointers={("S1", "a1"): (1, registration["id"])}))
    app = create_app({"DATABASE": db_path, "SECRET_KEY": "browser-tests", "TRIGGERS_ENGINE": False})
    try:
        with live_server(app) as url:
            page.goto(url + "/login")
            page.fill("input[name=username]", "mia")
            page.fill("input[name=password]", PASSWORD)
            page.click("button.primary")
            page.wait_for_url(url + "/")
            page.goto(url + "/triggers/new")
            page.fill("input[name=name]", "Welcome bonus")
            page.fill("input[name=group]", "Welcome")
            page.select_option("select[name=owner_store]", "S1")
            for hour in range(24):
                page.check(f"input[name=hours][value='{hour}']")
            page.select_option("select[name='add.s.1.c']", "registration")  # the script adds it at once
            page.wait_for_selector("input[name='s.1.c.1.type'][value=registration]", state="attached")
            page.fill("input[name='s.1.c.1.days_from']", "0")
            page.fill("input[name='s.1.c.1.days_to']", "1")
            page.select_option("select[name='add.s.1.a']", "credit")
            page.wait_for_selector("input[name='s.1.a.1.type'][value=credit]", state="attached")
            assert page.input_value("input[name='s.1.c.1.days_to']") == "1"  # kept across the post
            page.fill("input[name='s.1.a.1.points']", "сто")
            page.click("#trigger-form button.primary")
            assert page.locator("em.error[data-for='s.1.a.1.points']").is_visible()  # beside the field
            assert db.triggers_list() == []
            page.fill("input[name='s.1.a.1.points']", "100")
            page.click("#trigger-form button.primary")
            page.wait_for_url("**/triggers/#t*")
            [row] = db.triggers_list()
            assert db.trigger_document(row["id"], 1)["steps"][0]["actions"] == [{"type": "credit", "points": 10000}]

            page.locator("#triggers tbody tr").first.locator("a[data-action=test]").click()
            page.fill("input[name=customer]", "c1")
            page.click("form button.primary")
            assert page.locator("[data-step='1'] [data-holds=yes]").is_visible()
            assert "10000" in page.locator("#would").inner_text()
            assert db.rows("SELECT COUNT(*) AS n FROM trigger_runs")[0]["n"] == 0

            page.goto(url + "/triggers/")
            page.click("#triggers button[value=start]")
            page.wait_for_url("**/triggers/#t*")
            assert page.locator("#triggers [data-state=running]").is_visible()
            trigger_engine.run_once(db)
            assert db.rows("SELECT points FROM ledger WHERE customer_id = 'c1' AND kind = 'bonus.promo'") == [
                {"points": 10000}
            ]

            # without a script: the add button posts the form and the server adds the step's condition
            context = browser.new_context(java_script_enabled=False)
            try:
                bare = context.new_page()
                bare.goto(url + "/login")
                bare.fill("input[name=username]", "mia")
                bare.fill("input[name=password]", PASSWORD)
                bare.click("button.primary")
                bare.goto(url + f"/triggers/{row['id']}")
                bare.click("button[value=add_step]")
                bare.select_option("select[name='add.s.2.c']", "inactivity")
                bare.click("button[value='add_condition:2']")
                assert bare.locator("input[name='s.2.c.1.days']").is_visible()
                assert bare.input_value("input[name='s.1.a.1.points']") == "100"
            finally:
                context.close()
    finally:
        db.close()
