"""Property: after any stream of events, applied in any batches, the kept rollups equal a full recomputation
(the same fold over everything at once) and an independent, naive computation from the transactions table; the
report columns appended batch by batch equal the columns read at once, and their distinct receipts and customers by
category and hour equal a naive count from the transactions and their lines."""

from __future__ import annotations

import datetime as dt
import tempfile
import zoneinfo
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.reports.columns import Columns
from central.services import analytics
from central.services.access import SYSTEM
from central.storage import line_pack, rollups
from central.storage.store import IngestUnit, Store
from tests.sync.fakes import FakeAgent

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

ZONES = {"S1": "Europe/Moscow", "S2": "Asia/Vladivostok", "S3": "America/New_York"}
START = dt.datetime(2026, 10, 30, 0, 0, tzinfo=dt.UTC)

event = st.tuples(
    st.sampled_from(["purchase", "purchase", "purchase", "refund", "cancel", "manual"]),
    st.sampled_from(sorted(ZONES)),
    st.sampled_from([None, "c1", "c2", "c3"]),
    st.integers(0, 72 * 3600),  # seconds after START: across a month's end in every zone
    st.lists(st.tuples(st.sampled_from([None, "food", "toys"]), st.integers(1, 5000)), min_size=0, max_size=3),
    st.integers(0, 30),
)


def _naive(conn) -> tuple[dict, dict]:
    zones = {s: zoneinfo.ZoneInfo(z) for s, z in ZONES.items()}
    sales: dict = {}
    points: dict = {}
    for kind, store, cid, epoch, amount, accrued, redeemed, level in conn.execute(
        "SELECT kind, store, customer_id, at_epoch, amount, accrued, redeemed, level FROM transactions"
    ):
        zone = zones.get(store) or zoneinfo.ZoneInfo("Europe/Moscow")
        day = dt.datetime.fromtimestamp(epoch, zone).date().toordinal()
        if accrued or redeemed:
            acc = points.setdefault((day, store or "", kind), [0, 0])
            acc[0] += accrued
            acc[1] += redeemed
        if kind in ("purchase", "refund", "cancel"):
            key = (day, store or "", level or "", int(cid is not None))
            acc = sales.setdefault(key, [0, 0, 0])
            acc[0 if kind == "purchase" else 1] += 1
            acc[2] += amount
    return sales, points


def _naive_by_category_and_hour(conn) -> dict:
    """(category, local hour) -> [sales, receipts, customers]: a receipt is in a category when it has a line there
    (the lines' amounts count there); the rest of its amount, and refunds and cancels, are category 0."""
    zones = {s: zoneinfo.ZoneInfo(z) for s, z in ZONES.items()}
    lines: dict = {}
    for tid, category, amount in ((r[0], r[3], r[8]) for r in line_pack.lines_between(conn, 0, 2**62)):
        per = lines.setdefault(tid, {})
        per[category or 0] = per.get(category or 0, 0) + amount
    cells: dict = {}
    for tid, kind, store, cid, epoch, amount in conn.execute(
        "SELECT id, kind, store, customer_id, at_epoch, amount FROM transactions"
        " WHERE kind IN ('purchase', 'refund', 'cancel')"
    ):
        hour = dt.datetime.fromtimestamp(epoch, zones[store]).hour
        mine = dict(lines.get(tid, {})) if kind == "purchase" else {}
        rest = amount - sum(mine.values())
        for category, part in [*mine.items(), (0, rest)]:
            if category == 0 and part == 0 and 0 not in mine:
                continue
            cell = cells.setdefault((str(category), str(hour)), [0, set(), set()])
            cell[0] += part
            if kind == "purchase" and (category in mine):
                cell[1].add(tid)
                if cid:
                    cell[2].add(cid)
    return {k: [v[0], len(v[1]), len(v[2])] for k, v in cells.items()}


def _naive_points_by_category_and_hour(conn) -> dict:
    """(category, local hour) -> [accrued, redeemed, by hand] where points moved: a purchase's lines' points in
    their categories, the rest of a receipt's points in category 0; a till's manual points in category 0."""
    zones = {s: zoneinfo.ZoneInfo(z) for s, z in ZONES.items()}
    lines: dict = {}
    for tid, category, accrued, redeemed in (
        (r[0], r[3], r[9], r[10]) for r in line_pack.lines_between(conn, 0, 2**62)
    ):
        per = lines.setdefault(tid, {})
        have = per.setdefault(category or 0, [0, 0])
        have[0] += accrued
        have[1] += redeemed
    cells: dict = {}
    for tid, kind, store, epoch, accrued, redeemed in conn.execute(
        "SELECT id, kind, store, at_epoch, accrued, redeemed FROM transactions"
    ):
        hour = str(dt.datetime.fromtimestamp(epoch, zones[store]).hour)
        if kind in ("purchase", "refund", "cancel"):
            mine = dict(lines.get(tid, {})) if kind == "purchase" else {}
            rest = [accrued - sum(v[0] for v in mine.values()), redeemed - sum(v[1] for v in mine.values())]
            moves = [(c, [a, r, 0]) for c, (a, r) in [*mine.items(), (0, rest)]]
        else:
            moves = [(0, [0, 0, accrued])] if kind == "manual" else []
            if not (accrued or redeemed):
                continue
        for category, values in moves:
            if kind in ("purchase", "refund", "cancel") and not (values[0] or values[1]):
                continue
            cell = cells.setdefault((str(category), hour), [0, 0, 0])
            for i, v in enumerate(values):
                cell[i] += v
    return cells


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, min_size=1, max_size=25), st.integers(1, 6))
def test_rollups_equal_a_full_recomputation(events, batch):
    with tempfile.TemporaryDirectory() as tmp:
        db = Store(str(Path(tmp) / "central.sqlite"))
        try:
            agents = {}
            for store, zone in ZONES.items():
                db.add_store(store, store, zone)
                db.stream_state(store, "a1")
                agents[store] = FakeAgent(store, "a1")
            envs = [agents["S1"].registration(c) for c in ("c1", "c2", "c3")]
            bought: list[tuple[str, str | None, int]] = []
            for kind, store, cid, offset, lines, points in events:
                agent = agents[store]
                at = (START + dt.timedelta(seconds=offset)).isoformat()
                if kind == "purchase" or not bought:
                    total = sum(a for _c, a in lines)
                    env = agent.purchase(cid, total=total, accrued=points if cid else 0)
                    env["body"]["lines"] = [
                        {
                            "sku": f"{c}-1" if c else None,
                            "name": c,
                            "category": c,
                            "quantity": "1.5",
                            "price": a,
                            "discount": 0,
                            "amount": a,
                            # part of the receipt's points on its lines (the rest is the receipt's: category 0)
                            "accrued": (points if cid else 0) * a // (2 * total),
                            "redeemed": 0,
                        }
                        for c, a in lines
                    ]
                    bought.append((env["body"]["receipt_id"], cid, total))
                elif kind == "manual":
                    env = agent.manual(cid or "c1", points - 10)
                    env["at"] = at
                else:
                    receipt, owner, total = bought[offset % len(bought)]
                    amount = min(total, points * 10)
                    if kind == "refund":
                        env = agent.refund(owner, receipt, amount, 0, 0)
                    else:
                        env = agent.cancel(owner, receipt, amount, 0)
                env["body"]["at"] = at
                envs.append(env)
            for start in range(0, len(envs), batch):
                chunk = envs[start : start + batch]
                pointers = {}
                for env in chunk:
                    pointers[(env["store"], env["agent"])] = (env["seq"], env["id"])
                # each agent's events stay in sequence: one unit per agent per batch
                for store in ZONES:
                    mine = [e for e in chunk if e["agent"] == "a1" and e["id"] and e["store"] == store]
                    if mine:
                        db.commit_ingest(
                            IngestUnit(events=mine, pointers={(store, "a1"): (mine[-1]["seq"], mine[-1]["id"])})
                        )
                analytics.columns(db)  # the report columns appended after each batch
            kept = rollups.kept(db.conn)
            assert kept == rollups.recompute(db.conn)
            sales, points_ = _naive(db.conn)
            assert {
                k: [v[0], v[1], v[2]] for k, v in ((k, (v[0], v[1], v[2])) for k, v in kept["report_sales"].items())
            } == sales
            assert kept["report_points"] == points_
            total = db.conn.execute(
                "SELECT COALESCE(SUM(amount), 0) FROM transactions WHERE kind IN ('purchase', 'refund', 'cancel')"
            ).fetchone()[0]
            assert sum(v[2] for v in kept["report_categories"].values()) == total
            # the columns appended in pieces equal the columns read at once
            pieces, last = analytics.columns(db), db.column_marks()[0]
            whole = Columns()
            whole.append(db.column_rows(0, last), db.report_day_of(), db.column_lines(0, last))
            for name in ("key", "known", "day", "hour", "purchase", "amount"):
                assert getattr(pieces, name).tolist() == getattr(whole, name).tolist(), name
            # stores and levels are indexes in the order met: the same names row by row
            assert [pieces.stores[i] for i in pieces.store] == [whole.stores[i] for i in whole.store]
            assert [pieces.levels[i] for i in pieces.level] == [whole.levels[i] for i in whole.level]
            for name in ("cat_row", "cat_id", "cat_amount", "cat_line", "accrued", "redeemed"):
                assert getattr(pieces, name).tolist() == getattr(whole, name).tolist(), name
            for name in ("cat_accrued", "cat_redeemed"):
                assert getattr(pieces, name).tolist() == getattr(whole, name).tolist(), name
            whole.append_entries(db.column_entries(0, last), db.report_day_of())
            for name in ("key", "day", "hour", "by_hand", "expired"):
                assert getattr(pieces.entries, name).tolist() == getattr(whole.entries, name).tolist(), name
            # sales, distinct receipts and customers by category and hour against the naive count
            table, _ctx = analytics.pivot(
                db,
                SYSTEM,
                {
                    "from": "2026-10-29",
                    "to": "2026-11-03",
                    "rows": "category,hour",
                    "measures": "sales,receipts,customers",
                },
            )
            got = {tuple(r["key"]): r["total"] for r in table.to_dict()["body"]}
            assert got == _naive_by_category_and_hour(db.conn)
            # points by category and hour (the columns) against the naive sums
            table, _ctx = analytics.pivot(
                db,
                SYSTEM,
                {
                    "from": "2026-10-29",
                    "to": "2026-11-03",
                    "rows": "category,hour",
                    "measures": "points_accrued,points_redeemed,points_by_hand",
                },
            )
            got = {tuple(r["key"]): r["total"] for r in table.to_dict()["body"]}
            assert got == _naive_points_by_category_and_hour(db.conn)
        finally:
            db.close()
