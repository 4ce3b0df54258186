"""The segmenter in a real headless Chromium: the spec's two SetLoyalty examples (marketing.md, Segments),
built, counted live, saved, and their members found."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from central import create_app
from tests.web import live_server

from .conftest import apply_events, sale
from .test_browser import sign_in

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


@pytest.fixture
def console(db_file, db, people, shoppers, agents):
    """c1 bought running shoes and a protein bar a week ago, c2 running socks; c1 also bought SKU-1 now."""
    now = dt.datetime.now(dt.UTC)
    week_ago = (now - dt.timedelta(days=7)).isoformat(timespec="seconds")
    apply_events(db, sale(agents["S1"], "c1", [("SHOE-1", "RUNNING", 500_000), ("BAR-1", "BARS", 15_000)], at=week_ago))
    apply_events(db, sale(agents["S2"], "c2", [("SOCK-1", "RUNNING", 90_000)], at=week_ago))
    apply_events(db, sale(agents["S1"], "c1", [("SKU-1", "SUSHI", 30_000)], at=now.isoformat(timespec="seconds")))
    db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    app = create_app({"DATABASE": db_file, "SECRET_KEY": "browser-tests"})
    with live_server(app) as url:
        yield url


def _add(page, group: str, criterion: str) -> None:
    page.select_option(f"select[name='add.{group}']", criterion)
    page.click(f"button[value='add:{group}']")


def _save_and_open(page, db, name: str) -> int:
    page.click("#save-segment")
    page.wait_for_url(re.compile(r"/segments/\d+$"))
    return int(db.segment_id_named(name))


def test_bought_a_sku_in_the_last_month(page, console, db):
    sign_in(page, console, "marketer")
    page.click("nav >> text=Сегменты")
    page.click("#new-segment")
    page.fill("input[name=name]", "Купили SKU-1 за месяц")
    _add(page, "1", "bought_products")
    page.fill("input[name='c.1.1.products']", "SKU-1")
    page.select_option("select[name='c.1.1.period.kind']", "days")
    page.fill("input[name='c.1.1.period.days']", "30")
    # the live size and sample come from the draft, nothing saved yet
    expect(page.locator("#live-count")).to_have_text("1")
    expect(page.locator("#live-sample li")).to_have_count(1)
    assert "Иван Петров" in page.locator("#live-sample").inner_text()
    assert db.segment_list() == []
    segment_id = _save_and_open(page, db, "Купили SKU-1 за месяц")
    assert page.locator("#segment-size").inner_text() == "1"
    assert "Иван Петров" in page.locator("#member-list").inner_text()
    assert page.locator("#size-chart").is_visible()
    assert db.segment(segment_id)["kind"] == "dynamic"


def test_running_goods_and_not_a_bar_in_two_weeks(page, console, db):
    sign_in(page, console, "marketer")
    # the exclusion segment first: bought a bar in the last 2 weeks
    page.goto(console + "/segments/new")
    page.fill("input[name=name]", "Батончики за 2 недели")
    _add(page, "1", "bought_category")
    bars = db.conn.execute("SELECT id FROM catalog_categories WHERE name = 'BARS'").fetchone()[0]
    page.select_option("select[name='c.1.1.categories']", str(bars))
    page.select_option("select[name='c.1.1.period.kind']", "days")
    page.fill("input[name='c.1.1.period.days']", "14")
    expect(page.locator("#live-count")).to_have_text("1")
    bar_segment = _save_and_open(page, db, "Батончики за 2 недели")
    # running goods AND NOT in the bar segment
    page.goto(console + "/segments/new")
    page.fill("input[name=name]", "Бегуны без батончиков")
    _add(page, "1", "bought_category")
    running = db.conn.execute("SELECT id FROM catalog_categories WHERE name = 'RUNNING'").fetchone()[0]
    page.select_option("select[name='c.1.1.categories']", str(running))
    expect(page.locator("#live-count")).to_have_text("2")  # both bought running goods
    page.click("button[value=exclude]")
    _add(page, "x", "in_segment")
    page.select_option("select[name='c.x.1.segments']", str(bar_segment))
    expect(page.locator("#live-count")).to_have_text("1")
    assert "Мария Иванова" in page.locator("#live-sample").inner_text()
    _save_and_open(page, db, "Бегуны без батончиков")
    members = page.locator("#member-list").inner_text()
    assert "Мария Иванова" in members and "Иван Петров" not in members
    # the bar segment is used now: deleting it is refused, saying by what
    page.goto(console + f"/segments/{bar_segment}")
    assert "Бегуны без батончиков" in page.locator("#used-by").inner_text()
    page.click("#delete-segment")
    assert "Бегуны без батончиков" in page.locator("p.flash").inner_text()
    assert db.segment(bar_segment) is not None


def test_a_bad_range_is_shown_in_place_live(page, console, db):
    sign_in(page, console, "marketer")
    page.goto(console + "/segments/new")
    page.fill("input[name=name]", "Траты")
    _add(page, "1", "spend")
    page.fill("input[name='c.1.1.from']", "5000")
    page.fill("input[name='c.1.1.to']", "100")
    expect(page.locator("em.error[data-for='c.1.1.to']")).to_be_visible()
    page.click("#save-segment")
    expect(page.locator("em.error[data-for='c.1.1.to']")).to_be_visible()
    assert db.segment_list() == []


def test_segment_pages_work_under_the_content_security_policy(page, console, db, tmp_path):
    from central.services import segments
    from central.services.access import SYSTEM

    segment_id = segments.create(
        db, SYSTEM, "Все", "dynamic", {"audiences": [[{"type": "kind", "values": ["registered", "potential"]}]]}
    )
    db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    violations = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: violations.append(str(exc)))
    sign_in(page, console, "admin")
    for path in (
        "/segments/",
        "/segments/new",
        f"/segments/{segment_id}",
        f"/segments/{segment_id}/edit",
        "/segments/rfm",
    ):
        response = page.goto(console + path)
        assert response.status == 200, path
        page.screenshot(path=str(tmp_path / (path.strip("/").replace("/", "_") + ".png")), full_page=True)
    expect(page.locator("#rfm-grid")).to_be_visible()
    page.goto(console + f"/segments/{segment_id}/edit")
    expect(page.locator("#live-count")).to_have_text("3")
    page.screenshot(path="/tmp/seg-edit.png", full_page=True)
    assert violations == []


def test_a_store_manager_sees_only_their_stores_customers_in_a_segment(page, console, db):
    from central.services import segments
    from central.services.access import SYSTEM

    segment_id = segments.create(
        db, SYSTEM, "Бегуны", "dynamic", {"audiences": [[{"type": "kind", "values": ["registered"]}]]}
    )
    db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    sign_in(page, console, "manager")  # manages S1: c1 is theirs, c2 (S2) is not
    page.goto(console + "/segments/")
    assert page.locator("#segments tbody tr").first.locator("td.num").inner_text() == "1"
    page.goto(console + f"/segments/{segment_id}")
    assert page.locator("#segment-size").inner_text() == "1"
    members = page.locator("#member-list").inner_text()
    assert "Иван Петров" in members and "Мария Иванова" not in members
    assert "Мария Иванова" not in page.locator("#history").inner_text()
    assert page.locator("#delete-segment").count() == 0  # reading only
