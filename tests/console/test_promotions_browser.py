"""Issue 18 end to end in real headless Chromium: head office creates a promotion for a segment on the
console and publishes it; the store's agent gets it (with the customer's segment ids) as the publisher
would send them; the cashier sells on the cashier page and sees the promotion, which is on the slip."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from playwright.sync_api import expect

from agent.app import create_app as create_agent
from agent.auth import add_terminal
from agent.devices.slip_layout import Line, layout
from agent.slips import build_slip
from central import create_app
from central.services import segments
from central.services.access import SYSTEM
from central.sync.deltas import customer_page
from central.sync.publisher import store_promotions
from tests.conftest import EXAMPLES
from tests.web import live_server

from .conftest import PASSWORD

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def test_a_segment_promotion_from_the_console_to_the_slip(page, db_file, db, people, shoppers, tmp_path):
    vip = segments.create(db, SYSTEM, "VIP", "static")
    segments.change_members(db, SYSTEM, vip, add=["c1"])
    db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    with live_server(create_app({"DATABASE": db_file, "SECRET_KEY": "browser-tests"})) as url:
        page.goto(url + "/login")
        page.fill("input[name=username]", "marketer")
        page.fill("input[name=password]", PASSWORD)
        page.click("button.primary")
        page.wait_for_url(url + "/")
        page.click("nav >> a[href='/promotions/']")
        form = page.locator("#promotion-form")
        form.locator("input[name=id]").fill("vip500")
        form.locator("input[name=name]").fill("VIP: 500 points")
        form.locator("select[name=reward_kind]").select_option("points")
        form.locator("input[name=reward_value]").fill("50000")
        form.locator("select[name=audience]").select_option("segments")
        form.locator("input[name=segments]").fill(str(vip))
        form.locator("#save-promotion").click()
        row = page.locator("#promotions tr[data-id=vip500]")
        expect(row).to_contain_text("VIP: 500 points")
        row.locator("button[name=state]").click()
        expect(page.locator("#promotions tr[data-id=vip500] .state")).not_to_have_text("черновик")
    assert db.promotion("vip500")["state"] == "active"

    # what the publisher puts beside S1's rule set, and the customers' deltas (with their segments)
    document = store_promotions("S1", db.promotions_version(), *db.store_promotion_rows(), "")
    deltas, _, _ = customer_page(db, "S1", 0)
    agent = create_agent({"database": str(tmp_path / "agent.sqlite"), "store_id": "S1", "terminals": ["P01"]})
    store = agent.extensions["loyalty_agent"].store
    store.set_rules(json.loads((EXAMPLES / "rules.json").read_text(encoding="utf-8")))
    store.set_promotions(document)
    store.apply_customer_deltas(deltas)
    key = add_terminal(store, "P01", "Till 1")
    with live_server(agent) as till:
        page.goto(f"{till}/till/#key={key}")
        page.wait_for_selector("body[data-screen=till]")
        page.fill("#identify-input", "2000001")
        page.press("#identify-input", "Enter")
        page.wait_for_selector("#customer:not([hidden])")
        page.fill("#amount", "300")
        expect(page.locator("#t-promotions")).to_contain_text("VIP: 500 points")
        page.click("#commit")
        page.wait_for_selector("#sale-result:not([hidden])")
        expect(page.locator("#r-promotions")).to_contain_text("VIP: 500 points")
    with store.read() as tx:
        [receipt] = tx.c.execute("SELECT receipt_id, response FROM receipts").fetchall()
        answer = json.loads(receipt["response"])
        slip = build_slip(tx, agent.extensions["loyalty_agent"].config, "committed", answer, dt.datetime.now(dt.UTC))
    assert answer["promotions"][0]["id"] == "vip500" and answer["promotions"][0]["points"] == 50000
    text = [op.text for op in layout(slip, language="en") if isinstance(op, Line)]
    assert "VIP: 500 points" in text and any("Promotion points" in t and "500.00" in t for t in text)
    store.close()
