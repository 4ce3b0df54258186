"""The console's main paths in a real headless Chromium (Playwright), against a live server."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from central import create_app
from central.sync.deltas import customer_page
from tests.web import live_server

from .conftest import PASSWORD
from .test_imports import CSV

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


@pytest.fixture
def console(db_file, db, people, shoppers):
    """The console on a live server over the seeded database: yields its base URL."""
    db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    app = create_app({"DATABASE": db_file, "SECRET_KEY": "browser-tests"})
    with live_server(app) as url:
        yield url


def sign_in(page, url, username="admin"):
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(url + "/")


def test_log_in_and_out(page, console):
    page.goto(console + "/customers/")
    assert "/login" in page.url  # not signed in yet
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "wrong password")
    page.click("button.primary")
    assert page.locator("em.error[data-for=password]").inner_text() == "Неверное имя пользователя или пароль."
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(console + "/customers/")  # back where we were going
    assert page.locator("h1").first.inner_text().startswith("Клиенты")
    page.click("text=Выйти")
    page.wait_for_url("**/login")


def test_find_a_customer_by_phone(page, console):
    sign_in(page, console, "marketer")
    page.click("nav >> text=Клиенты")
    page.fill("input[name=q]", "8 (912) 000-00-02")
    page.press("input[name=q]", "Enter")
    rows = page.locator("#customers tbody tr")
    assert rows.count() == 1 and "Мария Иванова" in rows.first.inner_text()
    rows.first.locator("a").click()
    assert page.locator("#customer-name").inner_text().startswith("Мария Иванова")


def test_accrue_points_by_hand(page, console, db):
    sign_in(page, console, "marketer")
    page.goto(console + "/customers/c1?tab=actions")
    page.fill("input[name=points]", "abc")
    page.click("#points-form button")
    assert page.locator("em.error[data-for=points]").is_visible()
    assert page.locator("em.error[data-for=reason]").is_visible()
    assert db.customer("c1")["balance"] == 500  # nothing written
    page.fill("input[name=points]", "150,50")
    page.fill("input[name=reason]", "Извинение за задержку заказа")
    page.click("#points-form button")
    page.wait_for_url("**tab=actions")
    assert page.locator("#balance").inner_text() == "155,50"
    page.click("a[data-tab=history]")
    assert "Извинение за задержку заказа" in page.locator("#history tbody tr").first.inner_text()


def test_block_a_card(page, console, db):
    sign_in(page, console, "manager")
    page.goto(console + "/customers/c1?tab=cards")
    row = page.locator("tr[data-card='2000001']")
    row.locator("input[name=reason]").fill("Потеряна")
    row.locator("button.danger").click()
    page.wait_for_url("**tab=cards")
    assert "Потеряна" in page.locator("tr[data-card='2000001']").inner_text()
    assert db.rows("SELECT status, reason FROM cards WHERE number = '2000001'") == [
        {"status": "blocked", "reason": "Потеряна"}
    ]
    deltas, _, _ = customer_page(db, "S1", 0, 100)
    assert next(d for d in deltas if d["customer_id"] == "c1")["cards"][0]["status"] == "blocked"


def test_edit_and_publish_a_rule(page, console, db):
    sign_in(page, console, "marketer")
    page.goto(console + "/rules/S1")
    page.fill("input[name=base_percent]", "5")
    page.click("button[value='add:time_rules']")
    page.select_option("select[name='time_rules-0-type']", "weekdays_hours")
    page.check("input[name='time_rules-0-weekdays'][value='5']")
    page.fill("input[name='time_rules-0-from_hour']", "17")
    page.fill("input[name='time_rules-0-to_hour']", "25")
    page.fill("input[name='time_rules-0-k']", "1,5")
    page.click("#publish")
    error = page.locator("em.error[data-for='time_rules-0-to_hour']")
    assert error.inner_text() == "Час — от 0 до 23 (введено 25)."
    assert db.count("rule_sets") == 0  # nothing published on error
    page.fill("input[name='time_rules-0-to_hour']", "18")
    page.click("#publish")
    page.wait_for_url("**/rules/S1")
    assert "v1" in page.locator(".heading").inner_text()
    published = db.latest_rules()["S1"][1]
    assert published["time_rules"] == [
        {"type": "weekdays_hours", "weekdays": [5], "from_hour": 17, "to_hour": 18, "k": "1.5"}
    ]


def test_import_a_file_with_a_bad_row(page, console, db, tmp_path):
    path = tmp_path / "клиенты.csv"
    path.write_bytes(CSV)
    sign_in(page, console, "marketer")
    page.goto(console + "/imports/")
    page.set_input_files("input[name=file]", str(path))
    page.click("button.primary")
    page.wait_for_selector("#problems")  # the progress view shows the result when the check is done
    assert page.locator("#rows-bad").inner_text() == "3"
    problems = page.locator("#problems tbody tr")
    assert problems.first.inner_text().startswith("4\tphone\tВ номере 12345 цифр: 5")  # in the user's language
    assert db.count("customers", "channel = 'import'") == 0  # a check writes nothing
    page.click("button[value=good]")
    page.wait_for_selector("#rows-imported")
    assert page.locator("#rows-imported").inner_text() == "2"
    assert db.count("customers", "channel = 'import'") == 2


def test_an_import_moves_its_bar_and_never_reloads_the_page(page, console, db, people):
    from central.services import jobs

    sign_in(page, console, "marketer")
    ident = jobs.create(db, people["marketer"], "import", {"file": "big.csv", "mode": "create"})
    jobs.update(db, ident, state="checking", done=0, total=50_000)
    loads = []
    page.on("load", lambda _page: loads.append(page.url))
    page.goto(f"{console}/imports/{ident}")
    assert page.locator("#job progress").get_attribute("value") == "0"
    jobs.update(db, ident, done=20_000)  # the job's progress, as the worker writes it
    # (not wait_for_function: it evaluates a string as script, which the console's CSP forbids)
    expect(page.locator("#job progress")).to_have_attribute("value", "20000")
    assert page.locator("#job .job-text").inner_text().replace("\u00a0", " ") == "Проверка строк: 20 000 из 50 000"
    report = {
        "total": 50_000,
        "good": 50_000,
        "bad": 0,
        "unknown_columns": [],
        "problems": [],
        "more_problems": 0,
        "mode": "create",
    }
    jobs.update(db, ident, state="checked", done=50_000, detail={"file": "big.csv", "mode": "create", "report": report})
    page.wait_for_selector("#rows-total")  # the finished page's block, swapped in
    assert page.locator("button[value=all]").is_visible() and page.locator("#job progress").count() == 0
    assert loads == [f"{console}/imports/{ident}"]  # one page load: the bar moved by polling


def test_an_xlsx_export_runs_as_a_job_and_offers_the_file(page, console, db):
    from io import BytesIO

    from openpyxl import load_workbook

    sign_in(page, console, "marketer")
    page.goto(console + "/customers/?q=Петров")
    page.click("text=Выгрузить XLSX")
    page.wait_for_url("**/exports/*")
    page.wait_for_selector("#download")  # the finished block, swapped in by the poller
    with page.expect_download() as caught:
        page.click("#download")
    with open(caught.value.path(), "rb") as f:
        rows = list(load_workbook(BytesIO(f.read()), read_only=True).active.values)
    assert rows[0][:2] == ("id", "name") and [r[1] for r in rows[1:]] == ["Иван Петров"]
    assert caught.value.suggested_filename == "customers.xlsx"


def test_a_store_manager_cannot_see_another_stores_customer(page, console):
    sign_in(page, console, "manager")  # manages S1; c2 is S2's
    page.goto(console + "/customers/")
    names = page.locator("#customers tbody").inner_text()
    assert "Иван Петров" in names and "Мария Иванова" not in names
    page.fill("input[name=q]", "Мария")
    page.press("input[name=q]", "Enter")
    assert "Мария Иванова" not in page.locator("#customers tbody").inner_text()
    response = page.goto(console + "/customers/c2")
    assert response.status == 403 and "Нет доступа" in page.content()
    assert page.goto(console + "/customers/c2?tab=purchases").status == 403
    assert page.goto(console + "/rules/S2").status == 403


def test_set_a_personal_percent(page, console, db, tmp_path):
    sign_in(page, console, "marketer")
    page.goto(console + "/customers/c1")
    form = page.locator("#percents form")
    form.locator("input[name=store_percent_S1]").fill("12,5")
    form.locator("input[name=network_percent]").fill("101")
    form.locator("button.primary").click()
    assert "не более двух знаков" in page.locator("em.error[data-for=network_percent]").inner_text()
    assert db.customer("c1")["network_percent"] is None  # nothing written
    form = page.locator("#percents form")
    form.locator("input[name=network_percent]").fill("3")
    form.locator("button.primary").click()
    # waits for the page the POST redirects to (content() read mid-navigation is empty)
    page.get_by_text("Персональные проценты сохранены").wait_for()
    assert page.locator("input[name=store_percent_S1]").input_value() == "12.5"
    page.screenshot(path=str(tmp_path / "percents.png"), full_page=True)
    assert db.customer("c1")["network_percent"] == "3"


def test_pages_work_under_the_content_security_policy(page, console):
    """No inline script anywhere: every page loads without a CSP violation, and console.js still works."""
    violations = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: violations.append(str(exc)))
    sign_in(page, console, "admin")
    for path in (
        "/",
        "/customers/",
        "/customers/c1",
        "/customers/c1?tab=cards",
        "/customers/c1?tab=actions",
        "/customers/fields",
        "/transactions/",
        "/stores/",
        "/rules/",
        "/rules/S1",
        "/imports/",
        "/users",
        "/tokens",
        "/audit",
    ):
        response = page.goto(console + path)
        assert response.status == 200, path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert violations == []
    # console.js runs: a filter condition row is added from its template
    page.goto(console + "/customers/")
    page.click("details.filters summary")
    before = page.locator(".conds .cond").count()
    page.click("[data-add-cond]")
    assert page.locator(".conds .cond").count() == before + 1
    # and a confirmation guards a destructive form (the dialog comes from console.js, not an inline handler)
    page.goto(console + "/tokens")
    page.fill("input[name=name]", "monitoring")
    page.click("button.primary")
    token = page.locator("#token-value").inner_text()
    assert token.startswith("lct_")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#tokens button.danger")
    page.wait_for_selector("#tokens tr.muted")
    assert violations == []
