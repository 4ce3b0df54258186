"""Reports in a real headless Chromium: the dashboard, its period, a pivot and its XLSX, a chart's points."""

from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import load_workbook

from central import create_app
from tests.web import live_server

from .test_browser import sign_in
from .test_reports import _expected, ledger  # noqa: F401  (the hand-built ledger fixture)

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

PAINTED = """(box) => {
  const canvas = box.querySelector('canvas');
  if (!canvas) return 0;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i]) painted++;
  return painted;
}"""


@pytest.fixture
def console(db_file, ledger, people):  # noqa: F811
    ledger.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    app = create_app({"DATABASE": db_file, "SECRET_KEY": "browser-tests"})
    with live_server(app) as url:
        yield url


def test_dashboard_change_the_period_and_see_the_charts(page, console):
    sign_in(page, console)
    assert page.locator("#dashboard-figures").is_visible()
    page.select_option("#period", "custom")
    page.fill("#from", "2026-10-01")
    page.fill("#to", "2026-11-30")
    page.click("#dashboard-apply")
    page.wait_for_url("**from=2026-10-01**")
    want = _expected(dt.date(2026, 10, 1), dt.date(2026, 11, 30))
    receipts = page.locator("tr[data-measure=receipts] td.value").inner_text()
    assert receipts.replace("\u00a0", "").replace(" ", "") == str(want["receipts"])
    chart = page.locator(".chart[data-measure=sales]")
    page.wait_for_function("document.querySelector('.chart[data-measure=sales]').dataset.points")
    assert chart.get_attribute("data-points") == "61"  # 61 days, one point each
    assert chart.evaluate(PAINTED) > 0
    # the week step: 10 buckets (ISO weeks touching 1 Oct .. 30 Nov)
    page.select_option("#grain", "week")
    page.click("#dashboard-apply")
    page.wait_for_url("**grain=week**")
    page.wait_for_function("document.querySelector('.chart[data-measure=sales]').dataset.points")
    assert page.locator(".chart[data-measure=sales]").get_attribute("data-points") == "10"


def test_build_a_pivot_export_xlsx_and_read_it_back(page, console, tmp_path):
    sign_in(page, console)
    page.goto(console + "/reports/pivot")
    page.select_option("#period", "custom")
    page.fill("#from", "2026-10-01")
    page.fill("#to", "2026-12-31")
    page.select_option("#pivot-rows", ["store"])
    page.select_option("#pivot-columns", ["month"])
    page.select_option("#pivot-measures", ["sales", "customers"])
    page.click("#pivot-build")
    page.wait_for_selector("#pivot-table")
    assert page.locator("#pivot-table tbody tr").count() == 3
    with page.expect_download() as info:
        page.click("#export-xlsx")
    path = tmp_path / "pivot.xlsx"
    info.value.save_as(path)
    rows = list(load_workbook(path).active.iter_rows(values_only=True))
    assert rows[0][0] == "store"
    assert [r[0].split(" · ")[0] for r in rows[1:-1]] == ["S1", "S2", "S3"]
    total = _expected(dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    assert rows[-1][-2:] == (total["sales"], total["customers"])
    # save it and open it again
    page.fill("#save-name", "Stores by month")
    page.click("#save-report")
    page.wait_for_selector("#saved-reports")
    page.click("#saved-reports >> text=Stores by month")
    page.wait_for_selector("#pivot-table")
    assert page.locator("#pivot-table tbody tr").count() == 3


def test_a_chart_split_by_store_has_a_series_per_store(page, console, tmp_path):
    sign_in(page, console)
    page.goto(
        console + "/reports/charts?period=custom&from=2026-10-01&to=2026-12-31&grain=month&split=store"
        "&measure=receipts&kind=bars"
    )
    page.wait_for_function("document.getElementById('split-chart').dataset.points")
    chart = page.locator("#split-chart")
    assert chart.get_attribute("data-points") == "3"
    assert chart.get_attribute("data-series") == "3"
    assert chart.evaluate(PAINTED) > 0
    # its PNG and its numbers as CSV
    with page.expect_download() as info:
        chart.locator(".chart-tools button", has_text="PNG").click()
    info.value.save_as(tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as info:
        chart.locator(".chart-tools button", has_text="CSV").click()
    info.value.save_as(tmp_path / "chart.csv")
    lines = (tmp_path / "chart.csv").read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("label,S1")
    # the program's effect: identified vs anonymous receipts by month, drawn as two series
    page.goto(console + "/reports/effect?period=custom&from=2026-10-01&to=2026-12-31&grain=month")
    page.wait_for_function("document.getElementById('effect-receipts-chart').dataset.points")
    effect = page.locator("#effect-receipts-chart")
    assert (effect.get_attribute("data-points"), effect.get_attribute("data-series")) == ("3", "2")


def test_customers_by_category_exported_to_xlsx_equal_the_page(page, console, tmp_path):
    """Customers and receipts by category (a receipt in two categories counts in both): the XLSX read back holds the
    numbers the page shows, the totals counting each customer and receipt once."""
    sign_in(page, console)
    page.goto(console + "/reports/pivot")
    page.select_option("#period", "custom")
    page.fill("#from", "2026-10-01")
    page.fill("#to", "2026-12-31")
    page.select_option("#pivot-rows", ["category"])
    page.select_option("#pivot-columns", [])
    page.select_option("#pivot-measures", ["receipts", "customers"])
    page.click("#pivot-build")
    page.wait_for_selector("#pivot-table")
    assert page.locator("#pivot-by-category").is_visible()

    def number(text: str) -> int:
        return int(text.replace("\u00a0", "").replace("\u202f", "").replace(" ", ""))

    shown = [
        [cell.inner_text() for cell in row.locator("td").all()] for row in page.locator("#pivot-table tbody tr").all()
    ]
    on_page = {r[0]: [number(v) for v in r[1:]] for r in shown}
    total = [number(td.inner_text()) for td in page.locator("#pivot-table tfoot td.total").all()]
    # food: c1, c2 and seven receipts (three anonymous); toys: c1, c3 and three receipts (c1's first in both)
    assert on_page == {"food": [7, 2], "toys": [3, 2]}
    assert total == [8, 3]  # eight receipts, three customers: each once
    with page.expect_download() as info:
        page.click("#export-xlsx")
    path = tmp_path / "by-category.xlsx"
    info.value.save_as(path)
    rows = list(load_workbook(path).active.iter_rows(values_only=True))
    assert rows[0] == ("category", "receipts", "customers")
    assert {r[0]: list(r[1:]) for r in rows[1:-1]} == on_page
    assert list(rows[-1][1:]) == total
