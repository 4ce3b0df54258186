"""Head office's customer base in headless Chromium: create a customer with the full questionnaire, a bulk
action whose progress bar console.js moves to the result, and the new pages under the CSP."""

from __future__ import annotations

import pytest

from tests.console.test_browser import console, sign_in  # noqa: F401 - the live console fixture

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def test_create_a_customer_and_run_a_bulk_action(page, console, db):  # noqa: F811
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: violations.append(str(exc)))
    sign_in(page, console, "admin")
    page.goto(console + "/customers/")
    page.click("#new-customer")
    page.fill("input[name=last_name]", "Смирнова")
    page.fill("input[name=first_name]", "Ольга")
    page.fill("input[name=phone]", "+7 916 555-44-33")
    page.fill("input[name=email]", "olga@example")  # the browser takes it, the server does not
    page.click("#new-customer button.primary")
    assert page.locator("em.error[data-for=email]").is_visible()  # refused in place, nothing created
    assert db.customer_by_phone("+79165554433") is None
    page.fill("input[name=email]", "olga@example.com")
    page.fill("input[name=middle_name]", "Петровна")
    page.fill("input[name=birthday]", "1985-03-08")
    page.fill("input[name=address]", "Тверь")
    page.select_option("select[name=gender]", "female")
    page.select_option("select[name=marital_status]", "single")
    page.fill("input[name=children]", "0")
    page.select_option("select[name=store]", "S1")
    page.check("input[name=consent_personal_data]")
    page.click("#new-customer button.primary")
    page.wait_for_url("**/customers/*")
    assert page.locator("#customer-name").inner_text().startswith("Ольга Петровна Смирнова")
    assert "100" in page.locator("#completeness").inner_text()
    # a bulk action on the registered customers: preview, confirm the count, watch it run
    page.goto(console + "/customers/?kind=registered")
    page.click("#bulk-action")
    assert "2" in page.locator("#bulk-count").inner_text()
    page.select_option("select[name=action]", "message")
    page.fill("input[name=text]", "Поздравьте с праздником")
    page.fill("input[name=confirm]", "2")
    page.click("button.primary")
    page.wait_for_selector("#bulk-result", timeout=20_000)  # console.js swapped the finished job in
    assert "2" in page.locator("#bulk-result").inner_text()
    assert {m["text"] for m in db.rows("SELECT text FROM customer_messages")} == {"Поздравьте с праздником"}
    for path in ("/customers/new", "/customers/bulk", "/customers/web-card", "/stores/"):
        assert page.goto(console + path).status == 200, path
    assert violations == []


def test_a_bulk_action_on_a_segments_members(page, console, db):  # noqa: F811
    """From a segment's page: the same bulk page on its members, the count confirmed, the progress bar, the result,
    and the way back to the segment."""
    from central.services import segments
    from central.services.access import SYSTEM

    segment_id = segments.create(db, SYSTEM, "Гости недели", "static")
    segments.change_members(db, SYSTEM, segment_id, add=["c1"])
    db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: violations.append(str(exc)))
    sign_in(page, console, "admin")
    page.goto(f"{console}/segments/{segment_id}")
    page.click("#bulk-members")
    assert "Гости недели" in page.locator("#bulk-segment").inner_text()
    assert "1" in page.locator("#bulk-count").inner_text()
    page.select_option("select[name=action]", "points")
    page.fill("input[name=points]", "50")
    page.fill("input[name=reason]", "гость недели")
    page.fill("input[name=confirm]", "1")
    page.click("button.primary")
    page.wait_for_selector("#bulk-result", timeout=20_000)
    assert "1" in page.locator("#bulk-result").inner_text()
    assert db.rows("SELECT customer_id FROM ledger WHERE kind = 'manual' OR kind = 'admin'")[-1]["customer_id"] == "c1"
    page.click(f"a[href='/segments/{segment_id}#members']")
    page.wait_for_url(f"**/segments/{segment_id}*")
    assert violations == []
