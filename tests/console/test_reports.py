"""Reports (docs/reports.md): every figure against an independent computation on a small hand-built ledger.

The ledger: three stores in three time zones, identified and anonymous purchases, a refund, a cancel, a till's
manual points, head office's points by hand, expired points, and first purchases at a month's end that are in
another month in the store's local time.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from central.points import nightly
from central.services import accounts, analytics
from central.services.access import SYSTEM
from central.storage import rollups
from central.storage.store import IngestUnit, Store
from tests.sync.fakes import FakeAgent

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

ZONES = {"S1": "Europe/Moscow", "S2": "Asia/Vladivostok", "S3": "America/New_York"}
UTC = dt.UTC


def apply(db: Store, *events) -> None:
    last = events[-1]
    db.commit_ingest(
        IngestUnit(events=list(events), pointers={(last["store"], last["agent"]): (last["seq"], last["id"])})
    )


def line_points(points: int, amount: int, total: int) -> int:
    """A line's share of a receipt's points: 90 % of them by amount, rounded down."""
    return points * 9 * amount // (10 * total) if total else 0


def purchase(agent: FakeAgent, cid, at: dt.datetime, lines, accrued=0, redeemed=0) -> dict:
    event = agent.purchase(cid, total=sum(a for _c, a in lines), accrued=accrued, redeemed=redeemed)
    event["body"]["at"] = at.isoformat()
    event["body"]["lines"] = [
        {
            "sku": f"{cat}-sku",
            "name": cat,
            "category": cat,
            "quantity": "1",
            "price": a,
            "discount": 0,
            "amount": a,
            # the lines carry part of the receipt's points (the rest is the receipt's own: category 0)
            "accrued": line_points(accrued, a, sum(x for _c, x in lines)),
            "redeemed": line_points(redeemed, a, sum(x for _c, x in lines)),
        }
        for cat, a in lines
    ]
    return event


#: (store, UTC time, customer, [(category, amount)], accrued, redeemed): the purchases, written out by hand
PURCHASES = [
    # c1's first purchase: 31 Oct 20:00 UTC is 1 Nov 06:00 in Vladivostok (a November customer)
    ("S2", dt.datetime(2026, 10, 31, 20, 0, tzinfo=UTC), "c1", [("food", 1000), ("toys", 500)], 75, 0),
    # c2's first purchase: 1 Nov 03:00 UTC is 31 Oct 23:00 in New York (an October customer)
    ("S3", dt.datetime(2026, 11, 1, 3, 0, tzinfo=UTC), "c2", [("food", 2000)], 100, 0),
    ("S1", dt.datetime(2026, 11, 5, 10, 0, tzinfo=UTC), "c1", [("food", 300)], 15, 50),
    ("S1", dt.datetime(2026, 11, 5, 11, 0, tzinfo=UTC), None, [("food", 700), ("toys", 200)], 0, 0),
    ("S1", dt.datetime(2026, 11, 20, 9, 0, tzinfo=UTC), "c3", [("toys", 4000)], 200, 0),
    ("S3", dt.datetime(2026, 12, 2, 15, 0, tzinfo=UTC), "c2", [("food", 100)], 5, 0),
    ("S1", dt.datetime(2026, 12, 3, 8, 0, tzinfo=UTC), None, [("food", 900)], 0, 0),
    # October, for the previous period
    ("S1", dt.datetime(2026, 10, 10, 8, 0, tzinfo=UTC), None, [("food", 450)], 0, 0),
]


def local(store: str, at: dt.datetime) -> dt.date:
    return at.astimezone(zoneinfo.ZoneInfo(ZONES[store])).date()


@pytest.fixture
def ledger(db):
    for store, zone in ZONES.items():
        if store in ("S1", "S2"):
            db.conn.execute("UPDATE stores SET timezone = ? WHERE id = ?", (zone, store))
        else:
            db.add_store(store, "Fifth Avenue", zone)
    agents = {s: FakeAgent(s, "a1") for s in ZONES}
    for s in ZONES:
        db.stream_state(s, "a1")
    apply(db, agents["S1"].registration("c1"), agents["S1"].registration("c2"), agents["S1"].registration("c3"))
    receipts = {}
    for store, at, cid, lines, accrued, redeemed in PURCHASES:
        event = purchase(agents[store], cid, at, lines, accrued, redeemed)
        receipts[(store, at)] = event["body"]["receipt_id"]
        apply(db, event)
    # c1 returns the toys bought on 1 Nov (Vladivostok) on 10 Nov in S2: 500 and 25 points back
    refund = agents["S2"].refund("c1", receipts[("S2", PURCHASES[0][1])], 500, 25, 0)
    refund["body"]["at"] = dt.datetime(2026, 11, 10, 1, 0, tzinfo=UTC).isoformat()
    apply(db, refund)
    # the anonymous 3 Dec receipt is cancelled the same day
    cancel = agents["S1"].cancel(None, receipts[("S1", PURCHASES[6][1])], 900, 0)
    cancel["body"]["at"] = dt.datetime(2026, 12, 3, 9, 0, tzinfo=UTC).isoformat()
    apply(db, cancel)
    # a till's manual points for c3 on 21 Nov in S1 (+40)
    manual = agents["S1"].manual("c3", 40)
    manual["at"] = dt.datetime(2026, 11, 21, 9, 0, tzinfo=UTC).isoformat()
    apply(db, manual)
    # head office: +30 permanent and 20 temporary points for c2 (now), the temporary ones expire
    accounts.adjust_points(db, SYSTEM, "c2", {"points": "0.30", "reason": "goodwill"})
    accounts.give_temporary(db, SYSTEM, "c2", {"points": "0.20", "reason": "promo", "expires": "2099-01-01"}, "UTC")
    nightly.expire_lots(db, "2099-01-02T00:00:00+00:00")
    analytics.forget_columns()
    return db


def _expected(first: dt.date, last: dt.date, stores=("S1", "S2", "S3")) -> dict:
    """The figures computed straight from PURCHASES and the operations above, not from the database."""
    sales = receipts = known = 0
    customers, points_acc, points_red = set(), 0, 0
    for store, at, cid, lines, accrued, redeemed in PURCHASES:
        if store in stores and first <= local(store, at) <= last:
            sales += sum(a for _c, a in lines)
            receipts += 1
            known += cid is not None
            points_acc += accrued
            points_red += redeemed
            if cid:
                customers.add(cid)
    if "S2" in stores and first <= dt.date(2026, 11, 10) <= last:  # refund: 10 Nov 11:00 Vladivostok
        sales -= 500
        points_acc -= 25
    if "S1" in stores and first <= dt.date(2026, 12, 3) <= last:
        sales -= 900
    firsts = {
        "c1": ("S2", dt.date(2026, 11, 1)),
        "c2": ("S3", dt.date(2026, 10, 31)),
        "c3": ("S1", dt.date(2026, 11, 20)),
    }
    new = sum(1 for s, d in firsts.values() if s in stores and first <= d <= last)
    by_hand = 40 if "S1" in stores and first <= dt.date(2026, 11, 21) <= last else 0
    return {
        "sales": sales,
        "receipts": receipts,
        "customers": len(customers),
        "new_customers": new,
        "share_identified_exact": [known, receipts],
        "average_check_exact": [sales, receipts],
        "points_accrued": points_acc,
        "points_redeemed": points_red,
        "points_by_hand": by_hand,
        "points_expired": 0,
    }


@pytest.mark.parametrize(
    "first,last,stores",
    [
        (dt.date(2026, 11, 1), dt.date(2026, 11, 30), ("S1", "S2", "S3")),
        (dt.date(2026, 10, 1), dt.date(2026, 10, 31), ("S1", "S2", "S3")),
        (dt.date(2026, 11, 1), dt.date(2026, 12, 31), ("S1",)),
        (dt.date(2026, 11, 1), dt.date(2026, 11, 1), ("S2", "S3")),
        (dt.date(2026, 10, 31), dt.date(2026, 10, 31), ("S3",)),
    ],
)
def test_dashboard_figures_equal_an_independent_computation(ledger, first, last, stores):
    args = {"from": first.isoformat(), "to": last.isoformat(), "stores": list(stores)}
    out = analytics.dashboard(ledger, SYSTEM, args)
    want = _expected(first, last, stores)
    got = {k: out["figures"][k] for k in want}
    assert got == want
    days = (last - first).days + 1
    before = _expected(first - dt.timedelta(days=days), first - dt.timedelta(days=1), stores)
    assert {k: out["previous"][k] for k in before} == before
    # the series add up to the figures
    for measure in ("sales", "receipts", "points_accrued", "new_customers"):
        assert sum(out["series"][measure]) == out["figures"][measure]


def test_liability_and_by_hand_points_over_all_time(ledger):
    balance = ledger.conn.execute("SELECT SUM(balance) FROM customers").fetchone()[0]
    # everything up to the expiry: the liability is the customers' balances; the expiry and head office's points
    out = analytics.dashboard(ledger, SYSTEM, {"from": "2090-01-01", "to": "2099-01-02"})
    assert out["figures"]["liability"] == balance
    assert out["figures"]["points_expired"] == 20
    everything = ledger.conn.execute("SELECT SUM(points) FROM ledger").fetchone()[0]
    assert everything == balance
    # liability at the end of November: earned on receipts minus redeemed, refunds, the till's manual points
    nov = analytics.dashboard(ledger, SYSTEM, {"from": "2026-11-01", "to": "2026-11-30"})
    assert nov["figures"]["liability"] == 75 + 100 + 15 - 50 + 200 - 25 + 40


def test_rollups_equal_a_full_recomputation_and_the_backfill(ledger):
    kept = rollups.kept(ledger.conn)
    assert kept == {t: {k: v for k, v in acc.items()} for t, acc in rollups.recompute(ledger.conn).items()}
    # categories add up to the sales
    by_cat = ledger.conn.execute("SELECT SUM(sales) FROM report_categories").fetchone()[0]
    assert by_cat == ledger.conn.execute("SELECT SUM(sales) FROM report_sales").fetchone()[0]
    for table in rollups.TABLES:
        ledger.conn.execute(f"DELETE FROM {table}")
    rollups.backfill(ledger.conn)
    assert rollups.kept(ledger.conn) == kept


def test_pivot_store_by_month_and_category(ledger):
    args = {
        "from": "2026-10-01",
        "to": "2026-12-31",
        "rows": "store",
        "columns": "month",
        "measures": "sales,receipts,customers",
    }
    table, _ctx = analytics.pivot(ledger, SYSTEM, args, limit=1000)
    shown = table.to_dict()
    body = {tuple(r["key"]): r for r in shown["body"]}
    months = [k[0] for k in shown["column_keys"]]
    assert months == ["2026-10", "2026-11", "2026-12"]
    s1 = body[("S1",)]
    assert s1["cells"][1] == [300 + 900 + 4000, 3, 2]  # S1 in November: c1, anonymous, c3
    assert s1["cells"][2] == [900 - 900, 1, 0]
    assert body[("S3",)]["cells"][0] == [2000, 1, 1]  # the New York receipt is October's
    assert shown["total"][0] == _expected(dt.date(2026, 10, 1), dt.date(2026, 12, 31))["sales"]
    assert shown["total"][2] == 3
    cats, _ctx = analytics.pivot(
        ledger, SYSTEM, {"from": "2026-10-01", "to": "2026-12-31", "rows": "category", "measures": "sales"}, limit=1000
    )
    assert sum(r["total"][0] for r in cats.to_dict()["body"]) == shown["total"][0]


def test_cohorts_by_month_of_first_purchase(ledger):
    out = analytics.cohorts(ledger, SYSTEM, {"from": "2026-10-01", "to": "2026-12-31"})
    # the period asked for (it was the last 365 days whatever the dates: the default preset won)
    assert out["period"] == {"from": "2026-10-01", "to": "2026-12-31"} and out["preset"] == "custom"
    assert out["months"] == ["2026-10", "2026-11", "2026-12"]
    rows = {r["cohort"]: r for r in out["cohorts"]}
    assert rows["2026-10"]["customers"] == 1  # c2 (New York, 31 Oct local)
    assert rows["2026-10"]["active"] == [1, 0, 1]  # c2 again in December
    assert rows["2026-10"]["sales"] == [2000, 0, 100]
    assert rows["2026-11"]["customers"] == 2  # c1 (Vladivostok, 1 Nov local) and c3
    assert rows["2026-11"]["active"] == [2, 0]
    assert rows["2026-11"]["sales"] == [1500 + 300 - 500 + 4000, 0]
    assert rows["2026-12"]["customers"] == 0


@pytest.mark.parametrize(
    "args,field,text",
    [
        ({"from": "2026-11-10", "to": "2026-11-01"}, "to", "ends"),
        ({"from": "2026-13-01", "to": "2026-11-01"}, "from", "YYYY-MM-DD"),
        ({"period": "last_weekish"}, "period", "Unknown period"),
        ({"stores": "S9"}, "stores", "S9"),
    ],
)
def test_bad_periods_and_stores_are_clear(ledger, args, field, text):
    with pytest.raises(analytics.ReportError) as err:
        analytics.dashboard(ledger, SYSTEM, args)
    assert text in err.value.errors[field]


def test_bad_pivots_are_clear(ledger):
    with pytest.raises(analytics.ReportError) as err:
        analytics.pivot(ledger, SYSTEM, {"rows": "colour", "measures": "sales"})
    assert "Unknown dimension colour" in err.value.errors["rows"]
    with pytest.raises(analytics.ReportError) as err:  # by the customer's dimensions only identified receipts count
        analytics.pivot(ledger, SYSTEM, {"rows": "gender", "measures": "share_identified"})
    assert "cannot be split by Gender" in err.value.errors["measures"]
    with pytest.raises(analytics.ReportError) as err:
        analytics.pivot(
            ledger,
            SYSTEM,
            {"from": "2026-01-01", "to": "2026-12-31", "rows": "day", "columns": "store", "measures": "sales"},
            limit=10,
        )
    assert "export" in err.value.errors["size"]


def test_store_manager_sees_only_their_stores(ledger, people):
    manager = people["manager"]  # S1
    out = analytics.dashboard(ledger, manager, {"from": "2026-11-01", "to": "2026-11-30"})
    assert out["stores"] == ["S1"]
    assert out["figures"]["sales"] == _expected(dt.date(2026, 11, 1), dt.date(2026, 11, 30), ("S1",))["sales"]
    with pytest.raises(analytics.ReportError):
        analytics.dashboard(ledger, manager, {"stores": "S2"})


# -- the pages and the API ---------------------------------------------------------------------------------------


def test_home_is_the_dashboard_readable_without_javascript(client, ledger):
    from tests.console.conftest import login

    login(client, "admin")
    page = client.get("/?from=2026-11-01&to=2026-11-30")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="dashboard-figures"' in html
    assert "board-data" in html and "uPlot.iife.min.js" in html
    bad = client.get("/?period=custom&from=2026-11-30&to=2026-11-01")
    assert bad.status_code == 400
    assert 'data-error="to"' in bad.get_data(as_text=True)  # beside the field, in the user's language
    script = client.get("/static/vendor/uplot/uPlot.iife.min.js")
    assert script.status_code == 200
    script.close()
    for path in (
        "/reports/pivot?rows=store&columns=month&measures=sales&from=2026-10-01&to=2026-12-31",
        "/reports/charts?split=store&measure=receipts&from=2026-10-01&to=2026-12-31",
        "/reports/cohorts?from=2026-10-01&to=2026-12-31",
        "/reports/effect?from=2026-10-01&to=2026-12-31",
    ):
        assert client.get(path).status_code == 200, path
    # split by category or segment, the page says how a receipt (a customer) in several of them counts
    split = client.get("/reports/pivot?rows=segment&columns=category&measures=receipts,customers&from=2026-10-01")
    html = split.get_data(as_text=True)
    assert split.status_code == 200 and 'id="pivot-by-category"' in html and 'id="pivot-by-segment"' in html
    plain = client.get("/reports/pivot?rows=store&measures=customers&from=2026-10-01").get_data(as_text=True)
    assert 'id="pivot-by-category"' not in plain and 'id="pivot-by-segment"' not in plain
    unknown = client.get("/reports/pivot?rows=colour")
    assert unknown.status_code == 400 and 'data-error="rows"' in unknown.get_data(as_text=True)
    assert "colour" in unknown.get_data(as_text=True)


def test_the_api_gives_every_report_as_json_and_csv_with_a_token(client, ledger):
    from central.services import tokens

    _ident, token = tokens.add_token(ledger, SYSTEM, "bi")
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/reports/dashboard").status_code == 401
    out = client.get("/api/v1/reports/dashboard?from=2026-11-01&to=2026-11-30", headers=auth).get_json()
    assert out["figures"]["sales"] == _expected(dt.date(2026, 11, 1), dt.date(2026, 11, 30))["sales"]
    csv_text = client.get("/api/v1/reports/dashboard?from=2026-11-01&to=2026-11-30&format=csv", headers=auth)
    assert csv_text.mimetype == "text/csv"
    last_lines = csv_text.get_data(as_text=True).strip().splitlines()
    assert last_lines[-2].split(",")[1] == str(out["figures"]["sales"])
    pivot = client.get(
        "/api/v1/reports/pivot?rows=store&measures=sales&from=2026-10-01&to=2026-12-31", headers=auth
    ).get_json()
    assert pivot["total"][0] == _expected(dt.date(2026, 10, 1), dt.date(2026, 12, 31))["sales"]
    for name in ("cohorts", "effect"):
        assert client.get(f"/api/v1/reports/{name}?from=2026-10-01&to=2026-12-31", headers=auth).status_code == 200
        assert client.get(f"/api/v1/reports/{name}?format=csv", headers=auth).mimetype == "text/csv"
    bad = client.get("/api/v1/reports/dashboard?from=2026-11-30&to=2026-11-01", headers=auth)
    assert bad.status_code == 422 and "2026-11-01" in bad.get_json()["errors"]["to"]
    bad = client.get("/api/v1/reports/pivot?rows=colour", headers=auth)
    assert bad.status_code == 422 and "colour" in bad.get_json()["errors"]["rows"]
    xlsx = client.get(
        "/api/v1/reports/pivot?rows=store&columns=month&measures=sales,receipts&format=xlsx"
        "&from=2026-10-01&to=2026-12-31",
        headers=auth,
    )
    import io

    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "store" and rows[-1][0] == "total"
    assert rows[-1][-2] == pivot["total"][0]


def test_columns_appended_in_pieces_equal_columns_read_at_once():
    """The columns' derived sets (first purchases, per-month active customers) catch up with appended rows."""
    import random

    import numpy as np

    from central.reports.columns import Columns

    rng = random.Random(5)
    rows = [
        (
            rng.randrange(1, 60),
            f"S{rng.randrange(3)}",
            1_780_000_000 + rng.randrange(0, 400 * 86400),
            rng.random() < 0.9,
            rng.randrange(-500, 5000),
        )
        for _ in range(3000)
    ]

    def day_of(store, epoch):
        return epoch // 86400 + 719163

    whole = Columns()
    whole.append(rows, day_of)
    pieces = Columns()
    for start in range(0, len(rows), 700):
        pieces.append(rows[start : start + 700], day_of)
        pieces.customers(0, 10**9, None)
        pieces.cohorts(24000, 24400)  # derived between the pieces
    whole._derive()
    first, last = int(whole.month.min()), int(whole.month.max())
    for a, b in (
        (whole.first_day, pieces.first_day),
        (whole.first_store, pieces.first_store),
        (whole.pair_code, pieces.pair_code),
    ):
        assert np.array_equal(a, b)
    assert whole.cohorts(first, last) == pieces.cohorts(first, last)
    # and the cohorts against a plain count
    firsts: dict[int, int] = {}
    active: set[tuple[int, int]] = set()
    for i, (key, _s, _e, bought, _a) in enumerate(rows):
        if bought:
            month = int(whole.month[i])
            firsts[key] = min(firsts.get(key, month), month)
            active.add((key, month))
    table = whole.cohorts(first, last)
    for c in range(last - first + 1):
        members = {k for k, m in firsts.items() if m == first + c}
        assert table["sizes"][c] == len(members)
        for later in range(c, last - first + 1):
            assert table["active"][c][later] == sum(1 for k in members if (k, first + later) in active)


def test_pivot_by_hour_identified_and_a_customer_dimension(ledger):
    nov = {"from": "2026-11-01", "to": "2026-11-30"}
    hours, _ctx = analytics.pivot(ledger, SYSTEM, {**nov, "rows": "hour", "measures": "receipts,sales"}, limit=1000)
    got = {r["key"][0]: r["total"] for r in hours.to_dict()["body"]}
    # local hours: 06:00 in Vladivostok, 13:00, 14:00 and 12:00 in Moscow; c1's refund at 11:00 in Vladivostok
    # (sales net of refunds, as everywhere: the hours add up to the month's sales)
    assert got == {"6": [1, 1500], "11": [0, -500], "12": [1, 4000], "13": [1, 300], "14": [1, 900]}
    known, _ctx = analytics.pivot(
        ledger, SYSTEM, {**nov, "rows": "identified", "measures": "receipts,share_identified"}, limit=1000
    )
    rows = {r["key"][0]: r["total"] for r in known.to_dict()["body"]}
    assert rows == {"0": [1, 0.0], "1": [3, 1.0]}
    assert known.to_dict()["total"] == [4, 0.75]
    gender, _ctx = analytics.pivot(ledger, SYSTEM, {**nov, "rows": "gender", "measures": "customers,sales"}, limit=1000)
    shown = gender.to_dict()
    assert shown["identified_only"] is True
    assert shown["body"] == [{"key": ["unknown"], "cells": [], "total": [2, 1500 + 300 + 4000 - 500]}]


def test_new_customers_by_store_count_where_they_started(ledger):
    out, _ctx = analytics.pivot(
        ledger,
        SYSTEM,
        {"from": "2026-10-01", "to": "2026-12-31", "rows": "store", "measures": "new_customers"},
        limit=1000,
    )
    got = {r["key"][0]: r["total"][0] for r in out.to_dict()["body"]}
    assert got == {"S1": 1, "S2": 1, "S3": 1}  # c3 at S1, c1 at S2 (though c1 bought at S1 too), c2 at S3
    assert out.to_dict()["total"] == [3]


def test_pivot_by_segment_counts_each_membership_and_the_filter(ledger):
    conn = ledger.conn
    keys = dict(conn.execute("SELECT customer_id, key FROM customer_keys"))
    for ident, name, members in ((1, "vip", ("c1", "c3")), (2, "new", ("c1",))):
        conn.execute(
            "INSERT INTO segments (id, name, kind, size, created_by, created_at, changed_by, changed_at)"
            " VALUES (?, ?, 'static', ?, 't', '2026-01-01', 't', '2026-01-01')",
            (ident, name, len(members)),
        )
        conn.executemany(
            "INSERT INTO segment_members (segment_id, key, since) VALUES (?, ?, 1767225600)",
            [(ident, keys[c]) for c in members],
        )
    nov = {"from": "2026-11-01", "to": "2026-11-30"}
    out, _ctx = analytics.pivot(ledger, SYSTEM, {**nov, "rows": "segment", "measures": "customers,sales"}, limit=99)
    got = {r["key"][0]: r["total"] for r in out.to_dict()["body"]}
    c1, c3 = 1500 + 300 - 500, 4000  # November at every store
    assert got == {"vip": [2, c1 + c3], "new": [1, c1]}
    assert out.to_dict()["total"] == [2, c1 + c3]  # each receipt once
    # by segment and category (both many-valued): c1's 1 Nov receipt (food, toys) and 5 Nov one (food), c3's toys
    both, _ctx = analytics.pivot(
        ledger, SYSTEM, {**nov, "rows": "segment", "columns": "category", "measures": "receipts,customers"}, limit=99
    )
    shown = both.to_dict()
    names = dict(conn.execute("SELECT id, name FROM catalog_categories"))
    assert [names[int(k[0])] for k in shown["column_keys"]] == ["food", "toys"]
    assert {r["key"][0]: (r["cells"], r["total"]) for r in shown["body"]} == {
        "vip": ([[2, 1], [2, 2]], [3, 2]),
        "new": ([[2, 1], [1, 1]], [2, 1]),
    }
    assert shown["column_totals"] == [[2, 1], [2, 2]]  # each receipt and customer once per category
    assert shown["total"] == [3, 2]
    only, _ctx = analytics.pivot(
        ledger, SYSTEM, {**nov, "rows": "store", "measures": "sales", "segment": "2"}, limit=99
    )
    assert {r["key"][0]: r["total"][0] for r in only.to_dict()["body"]} == {"S1": 300, "S2": 1500 - 500}
    # points by segment, and by store within a segment (the filter): c1's and c3's receipts, c3's manual points
    points = "points_accrued,points_redeemed,points_by_hand"
    seg, _ctx = analytics.pivot(ledger, SYSTEM, {**nov, "rows": "segment", "measures": points}, limit=99)
    assert {r["key"][0]: r["total"] for r in seg.to_dict()["body"]} == {
        "vip": [75 + 15 - 25 + 200, 50, 40],
        "new": [75 + 15 - 25, 50, 0],
    }
    assert seg.to_dict()["total"] == [75 + 15 - 25 + 200, 50, 40]
    only, _ctx = analytics.pivot(ledger, SYSTEM, {**nov, "rows": "store", "measures": points, "segment": "1"}, limit=99)
    assert {r["key"][0]: r["total"] for r in only.to_dict()["body"]} == {
        "S1": [15 + 200, 50, 40],
        "S2": [75 - 25, 0, 0],
    }


def test_a_store_managers_cohorts_and_pivots_hold_only_their_stores(ledger, people):
    manager = people["manager"]  # S1
    out = analytics.cohorts(ledger, manager, {"from": "2026-10-01", "to": "2026-12-31", "by": "all"})
    assert out["by"] == "store" and out["stores"] == ["S1"]
    rows = {r["cohort"]: r for r in out["cohorts"]}
    assert rows["2026-11"]["customers"] == 2  # c1 and c3 first bought at S1 in November
    assert rows["2026-11"]["sales"] == [300 + 4000, 0]
    table, _ctx = analytics.pivot(
        ledger,
        manager,
        {"from": "2026-10-01", "to": "2026-12-31", "rows": "store", "measures": "sales,customers"},
        limit=99,
    )
    assert [r["key"][0] for r in table.to_dict()["body"]] == ["S1"]


def test_local_days_of_columns_equal_the_per_row_days_across_dst():
    import random
    import zoneinfo as zi

    from central.storage.rollups import DayOf

    zones = {"S1": zi.ZoneInfo("America/New_York"), "S2": zi.ZoneInfo("Asia/Vladivostok"), None: zi.ZoneInfo("UTC")}
    rng = random.Random(3)
    stores = [rng.choice(["S1", "S2", None]) for _ in range(2000)]
    # around New York's fall back (1 Nov 2026 06:00 UTC) and spring forward (14 Mar 2027 07:00 UTC)
    epochs = [rng.choice([1793512800, 1805000400]) + rng.randrange(-86400, 86400) for _ in stores]
    day_of = DayOf(zones.get)
    want = [dt.datetime.fromtimestamp(e, zones[s]).date().toordinal() for s, e in zip(stores, epochs, strict=True)]
    assert [day_of(s, e) for s, e in zip(stores, epochs, strict=True)] == want
    assert DayOf(zones.get).days(stores, epochs).tolist() == want


# -- every dimension x every figure of the pivot, against a model of the receipts written out above ----------------

#: the pivot's dimensions the model below computes (the customer's dimensions: gender stands for them all, since the
#: hand-built customers have none: "unknown"; segments have their own test)
MODEL_DIMENSIONS = ("store", "month", "week", "day", "weekday", "hour", "category", "level", "identified", "gender")
RECEIPT_FIGURES = ("sales", "receipts", "average_check", "customers", "new_customers", "share_identified")
WEEKDAY_NAMES = ("1 Mon", "2 Tue", "3 Wed", "4 Thu", "5 Fri", "6 Sat", "7 Sun")


def _model_receipts(ledger) -> list[dict]:
    """Every receipt of the ledger as the model sees it: PURCHASES, the refund and the cancel, with their local
    time, category amounts and the level the ledger recorded with them (that alone is read from the database)."""
    levels = {
        (e, k): lv for e, k, lv in ledger.conn.execute("SELECT at_epoch, kind, COALESCE(level, '') FROM transactions")
    }
    category = dict(ledger.conn.execute("SELECT name, id FROM catalog_categories"))
    out = []
    for n, (store, at, cid, lines, _acc, _red) in enumerate(PURCHASES):
        amounts: dict[int, int] = {}
        for cat, a in lines:
            amounts[category[cat]] = amounts.get(category[cat], 0) + a
        out.append({"n": n, "store": store, "at": at, "cid": cid, "purchase": True, "categories": amounts})
    refund_at = dt.datetime(2026, 11, 10, 1, 0, tzinfo=UTC)
    out.append({"n": 100, "store": "S2", "at": refund_at, "cid": "c1", "purchase": False, "categories": {0: -500}})
    cancel_at = dt.datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    out.append({"n": 101, "store": "S1", "at": cancel_at, "cid": None, "purchase": False, "categories": {0: -900}})
    for r in out:
        moment = r["at"].astimezone(zoneinfo.ZoneInfo(ZONES[r["store"]]))
        r["date"], r["hour"] = moment.date(), moment.hour
        r["level"] = levels[
            (int(r["at"].timestamp()), "purchase" if r["purchase"] else ("refund" if r["n"] == 100 else "cancel"))
        ]
    firsts: dict[str, dict] = {}
    for r in sorted((r for r in out if r["purchase"] and r["cid"]), key=lambda r: (r["date"], r["n"])):
        firsts.setdefault(r["cid"], r)
    for r in out:
        r["first"] = r["purchase"] and r["cid"] is not None and firsts[r["cid"]] is r
    return out


def _model_value(r: dict, dim: str, category: int | None) -> str:
    date = r["date"]
    if dim == "store":
        return r["store"]
    if dim == "month":
        return date.strftime("%Y-%m")
    if dim == "week":
        year, week, _d = date.isocalendar()
        return f"{year}-W{week:02d}"
    if dim == "day":
        return date.isoformat()
    if dim == "weekday":
        return WEEKDAY_NAMES[date.weekday()]
    if dim == "hour":
        return str(r["hour"])
    if dim == "category":
        return str(category)
    if dim == "level":
        return r["level"]
    if dim == "identified":
        return str(int(r["cid"] is not None))
    assert dim == "gender"
    return "unknown"


def _model_cell(receipts: list[dict], dims: tuple[str, ...]) -> dict[tuple[str, ...], dict]:
    """Per cell of these dimensions: sales, the receipts, the customers and the new customers in it. A receipt is
    in a category's cell when it has a line there (its amounts there count); the others' amounts are category 0."""
    cells: dict[tuple[str, ...], dict] = {}
    for r in receipts:
        for cat, amount in r["categories"].items() if "category" in dims else [(None, sum(r["categories"].values()))]:
            key = tuple(_model_value(r, d, cat) for d in dims)
            cell = cells.setdefault(
                key, {"sales": 0, "receipts": set(), "known": set(), "customers": set(), "new": set()}
            )
            cell["sales"] += amount
            if r["purchase"] and (cat is None or cat != 0):
                cell["receipts"].add(r["n"])
                if r["cid"]:
                    cell["known"].add(r["n"])
                    cell["customers"].add(r["cid"])
                    if r["first"]:
                        cell["new"].add(r["cid"])
    return cells


def _model_figures(cell: dict | None) -> dict[str, object]:
    if cell is None:
        return {
            "sales": 0,
            "receipts": 0,
            "average_check": None,
            "customers": 0,
            "new_customers": 0,
            "share_identified": None,
        }
    receipts = len(cell["receipts"])
    return {
        "sales": cell["sales"],
        "receipts": receipts,
        "average_check": cell["sales"] / receipts if receipts else None,
        "customers": len(cell["customers"]),
        "new_customers": len(cell["new"]),
        "share_identified": len(cell["known"]) / receipts if receipts else None,
    }


@pytest.mark.parametrize(
    "rows,cols",
    [((a,), ()) for a in MODEL_DIMENSIONS]
    + [((a,), (b,)) for i, a in enumerate(MODEL_DIMENSIONS) for b in MODEL_DIMENSIONS[i + 1 :]]
    + [(("category", "hour"), ("identified",)), (("store", "category"), ("month", "hour"))],
)
def test_every_dimension_by_every_figure_equals_a_model_of_the_receipts(ledger, rows, cols):
    """Cells, rows' and columns' totals and the total: a receipt with lines in two categories counts once in each
    category and once in every total; distinct customers per cell; by the customer's dimensions identified receipts
    only (and no share identified, which would be 100 %)."""
    receipts = [r for r in _model_receipts(ledger) if dt.date(2026, 10, 1) <= r["date"] <= dt.date(2026, 12, 31)]
    figures = RECEIPT_FIGURES
    if "gender" in rows + cols:
        receipts = [r for r in receipts if r["cid"] is not None]
        figures = tuple(f for f in figures if f != "share_identified")
    args = {
        "from": "2026-10-01",
        "to": "2026-12-31",
        "rows": list(rows),
        "columns": list(cols),
        "measures": list(figures),
    }
    table, _ctx = analytics.pivot(ledger, SYSTEM, args, limit=100_000)
    shown = table.to_dict()

    def want(cell: dict | None) -> list:
        return [_model_figures(cell)[f] for f in figures]

    by_cell, by_row = _model_cell(receipts, rows + cols), _model_cell(receipts, rows)
    by_col, total = _model_cell(receipts, cols), _model_cell(receipts, ())
    assert sorted(tuple(r["key"]) for r in shown["body"]) == sorted(by_row)
    assert sorted(tuple(k) for k in shown["column_keys"]) == (sorted(by_col) if cols else [])
    for line in shown["body"]:
        assert line["total"] == want(by_row[tuple(line["key"])]), (line["key"], "total")
        for ck, cell in zip(shown["column_keys"], line["cells"], strict=True):
            assert cell == want(by_cell.get(tuple(line["key"]) + tuple(ck))), (line["key"], ck)
    for ck, cell in zip(shown["column_keys"], shown["column_totals"], strict=True):
        assert cell == want(by_col[tuple(ck)]), (ck, "column total")
    assert shown["total"] == want(total[()])


def test_receipts_and_customers_by_category_count_a_receipt_once_per_category(ledger):
    """c1's first receipt has food and toys: it is in both rows, once in the total (written out by hand)."""
    table, _ctx = analytics.pivot(
        ledger,
        SYSTEM,
        {"from": "2026-11-01", "to": "2026-11-30", "rows": "category", "measures": "receipts,customers,sales"},
        limit=1000,
    )
    names = dict(ledger.conn.execute("SELECT id, name FROM catalog_categories"))
    got = {names.get(int(r["key"][0]), "none"): r["total"] for r in table.to_dict()["body"]}
    # November: c1 food+toys (S2), c2 food (S3, 31 Oct local: October), c1 food, anonymous food+toys, c3 toys
    assert got == {
        "food": [3, 1, 1000 + 300 + 700],
        "toys": [3, 2, 500 + 200 + 4000],
        "none": [0, 0, -500],  # c1's refund
    }
    assert table.to_dict()["total"] == [4, 2, 1000 + 500 + 300 + 700 + 200 + 4000 - 500]


# -- points by every dimension -------------------------------------------------------------------------------------

POINTS_FIGURES = ("points_accrued", "points_redeemed", "points_expired", "points_by_hand")
#: the chain's zone (the setting's default): the day and hour of an operation without a store
CHAIN_ZONE = "Europe/Moscow"


def _model_points(ledger) -> list[dict]:
    """Every points movement as the model sees it: the receipts' (PURCHASES written out by hand: their lines'
    points by category, the rest in category 0; the refund's 25 points back) and the operations that are not
    receipts (the till's manual points, head office's points and the expiry: read from the ledger, since head
    office's are written "now"), each with its local day and hour (the chain's zone without a store)."""
    out = []
    for r in _model_receipts(ledger):
        if r["n"] < 100:
            _s, _at, _cid, lines, accrued, redeemed = PURCHASES[r["n"]]
            total = sum(a for _c, a in lines)
            acc = {c: 0 for c in r["categories"]}
            red = dict(acc)
            ids = {name: ident for ident, name in _category_names(ledger).items()}
            for cat, a in lines:
                c = ids[cat]
                acc[c] += line_points(accrued, a, total)
                red[c] += line_points(redeemed, a, total)
            acc[0] = accrued - sum(acc.values())
            red[0] = redeemed - sum(red.values())
        else:
            acc, red = {0: -25 if r["n"] == 100 else 0}, {0: 0}
        pairs = {}
        for c in set(acc) | set(r["categories"]):
            amount_rest = r["categories"].get(c, 0) if c == 0 else 0
            if c == 0 and not (amount_rest or acc.get(0) or red.get(0)):
                continue  # no category-0 pair: nothing beyond its lines
            pairs[c] = {"points_accrued": acc.get(c, 0), "points_redeemed": red.get(c, 0)}
        out.append({**r, "receipt": True, "pairs": pairs})
    names = {"expire": "points_expired", "manual": "points_by_hand", "admin": "points_by_hand"}
    names["promo"] = "points_by_hand"
    rows = ledger.conn.execute(
        "SELECT t.kind, t.store, t.at_epoch, t.customer_id, COALESCE(t.level, ''), t.accrued FROM transactions t"
        " WHERE t.kind NOT IN ('purchase', 'refund', 'cancel')"
        " AND (t.accrued <> 0 OR t.redeemed <> 0) ORDER BY t.id"
    ).fetchall()
    assert sorted({r[0] for r in rows}) == ["admin", "expire", "manual", "promo"]
    for kind, store, epoch, cid, level, accrued in rows:
        zone = zoneinfo.ZoneInfo(ZONES[store] if store else CHAIN_ZONE)
        moment = dt.datetime.fromtimestamp(epoch, zone)
        value = -accrued if kind == "expire" else accrued
        out.append(
            {
                "store": store or "",
                "date": moment.date(),
                "hour": moment.hour,
                "cid": cid,
                "level": level,
                "receipt": False,
                "pairs": {0: {names[kind]: value}},
            }
        )
    return out


def _category_names(ledger) -> dict[int, str]:
    return dict(ledger.conn.execute("SELECT id, name FROM catalog_categories"))


def _model_points_cells(moves: list[dict], dims: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, int]]:
    """Per cell: the four points figures, for the cells where some receipt or operation moved points."""
    cells: dict[tuple[str, ...], dict[str, int]] = {}
    for r in moves:
        if "category" in dims:
            pairs = list(r["pairs"].items())
        else:
            whole: dict[str, int] = {}
            for values in r["pairs"].values():
                for f, v in values.items():
                    whole[f] = whole.get(f, 0) + v
            pairs = [(None, whole)]
        for cat, values in pairs:
            if r["receipt"] and not (values.get("points_accrued") or values.get("points_redeemed")):
                continue
            cell = cells.setdefault(tuple(_model_value(r, d, cat) for d in dims), dict.fromkeys(POINTS_FIGURES, 0))
            for f, v in values.items():
                cell[f] += v
    return cells


@pytest.mark.parametrize(
    "rows,cols",
    [((a,), ()) for a in MODEL_DIMENSIONS]
    + [((a,), (b,)) for i, a in enumerate(MODEL_DIMENSIONS) for b in MODEL_DIMENSIONS[i + 1 :]]
    + [(("category", "hour"), ("identified",)), (("store", "category"), ("month", "hour"))],
)
def test_points_by_every_dimension_equal_a_model_of_the_ledger(ledger, rows, cols):
    """Points accrued / redeemed / expired / by hand by every dimension pair, cell by cell: a receipt's points by
    category are its lines' (the rest in category 0), the expiry and points by hand are category 0, at their local
    hour; by store and time from report_points, otherwise from the columns -- the same numbers."""
    zero = dict.fromkeys(POINTS_FIGURES, 0)

    def want(cell: dict | None) -> list:
        return [(cell or zero)[f] for f in POINTS_FIGURES]

    # the receipts and the points by hand (head office's are written now), then the expiry (in 2099)
    periods = (
        (dt.date(2026, 10, 1), dt.date(2036, 9, 30), [0, 90]),
        (dt.date(2098, 6, 1), dt.date(2099, 6, 1), [20, 0]),
    )
    for first, last, other in periods:
        moves = [r for r in _model_points(ledger) if first <= r["date"] <= last]
        if "gender" in rows + cols:
            moves = [r for r in moves if r["cid"] is not None]
        args = {
            "from": first.isoformat(),
            "to": last.isoformat(),
            "rows": list(rows),
            "columns": list(cols),
            "measures": list(POINTS_FIGURES),
        }
        table, _ctx = analytics.pivot(ledger, SYSTEM, args, limit=1_000_000)
        shown = table.to_dict()
        by_cell, by_row = _model_points_cells(moves, rows + cols), _model_points_cells(moves, rows)
        by_col, total = _model_points_cells(moves, cols), _model_points_cells(moves, ())
        assert sorted(tuple(r["key"]) for r in shown["body"]) == sorted(by_row)
        assert sorted(tuple(k) for k in shown["column_keys"]) == (sorted(by_col) if cols else [])
        for line in shown["body"]:
            assert line["total"] == want(by_row[tuple(line["key"])]), (line["key"], "total")
            for ck, cell in zip(shown["column_keys"], line["cells"], strict=True):
                assert cell == want(by_cell.get(tuple(line["key"]) + tuple(ck))), (line["key"], ck)
        for ck, cell in zip(shown["column_keys"], shown["column_totals"], strict=True):
            assert cell == want(by_col[tuple(ck)]), (ck, "column total")
        assert shown["total"] == want(total[()])
        # the expiry (20) and head office's and the till's points by hand (30 + 20 + 40) in every split's total
        assert shown["total"][2:] == other
