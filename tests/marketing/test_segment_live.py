"""Segments kept current: the ingest moves customers in and out in its transaction, the date-change
refresh visits only customers whose answer can flip (a fake clock), the service's checks and audit."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from central.marketing import engine
from central.services import segments as service
from central.services.access import SYSTEM, Actor, Forbidden, FormError
from central.storage import aggregates, pg, segment_columns
from central.storage.pg import is_url
from central.storage.segment_engine import database_path
from central.storage.store import IngestUnit, Store
from tests.sync.fakes import FakeAgent

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

NOW = dt.datetime.now(dt.UTC)
MARKETER = Actor(7, "mia", "marketer")


def apply(db: Store, *events) -> set[str]:
    last = events[-1]
    return db.commit_ingest(
        IngestUnit(events=list(events), pointers={(last["store"], last["agent"]): (last["seq"], last["id"])})
    )


def bought(agent: FakeAgent, cid: str, total: int, days_ago: int = 0, sku: str = "SKU-1", category: str | None = None):
    event = agent.purchase(cid, total=total, accrued=0)
    event["body"]["at"] = (NOW - dt.timedelta(days=days_ago)).isoformat(timespec="seconds")
    event["body"]["lines"][0].update(sku=sku, category=category)
    return event


@pytest.fixture
def db(db):
    db.add_store("S1", timezone="Europe/Moscow")
    db.stream_state("S1", "a1")
    return db


def key(db: Store, cid: str) -> int:
    return db.conn.execute("SELECT key FROM customer_keys WHERE customer_id = ?", (cid,)).fetchone()[0]


def history(db: Store, segment_id: int) -> list[tuple[str, int, str]]:
    return [(h["customer_id"], h["entered"], h["cause"]) for h in reversed(db.segment_history(segment_id))]


def test_a_purchase_moves_a_customer_into_and_a_refund_out_of_a_segment(db):
    agent = FakeAgent("S1", "a1")
    apply(db, agent.registration("c1"), agent.registration("c2"))
    big = service.create(
        db,
        MARKETER,
        "Big spenders",
        "dynamic",
        {"audiences": [[{"type": "spend", "from": 10000, "period": {"last_days": 30}}]]},
    )
    potential = service.create(
        db, MARKETER, "Not big", "dynamic", {"audiences": [[{"type": "in_segment", "segments": [big], "in": False}]]}
    )
    assert service.members(db, SYSTEM, big)["count"] == 0
    assert service.members(db, SYSTEM, potential)["count"] == 2
    started = time.monotonic()
    apply(db, bought(agent, "c1", 12000, days_ago=1))
    assert time.monotonic() - started < 1.0  # within a second of being applied (in the ingest's transaction)
    assert service.members(db, SYSTEM, big)["customers"] == ["c1"]
    assert service.members(db, SYSTEM, potential)["customers"] == ["c2"]  # the nesting segment followed
    apply(db, agent.refund("c1", "S1-a1-1", amount=5000, accrued=0, redeemed=0))
    assert service.members(db, SYSTEM, big)["count"] == 0
    assert history(db, big) == [("c1", 1, "purchase"), ("c1", 0, "refund")]
    assert history(db, potential)[-2:] == [("c1", 0, "purchase"), ("c1", 1, "refund")]
    assert db.conn.execute("SELECT size FROM segments WHERE id = ?", (big,)).fetchone()[0] == 0


def test_the_date_change_refresh_visits_only_customers_whose_answer_flips(db):
    agent = FakeAgent("S1", "a1")
    apply(
        db,
        agent.registration("c1"),
        agent.registration("c2"),
        agent.registration("c3"),
        bought(agent, "c1", 100, days_ago=2),
        bought(agent, "c2", 100, days_ago=6),
    )
    week = service.create(
        db,
        MARKETER,
        "Bought this week",
        "dynamic",
        {"audiences": [[{"type": "purchases", "from": 1, "period": {"last_days": 7}}]]},
    )
    sleeping = service.create(
        db, MARKETER, "Asleep 5 days", "dynamic", {"audiences": [[{"type": "last_purchase", "days_from": 5}]]}
    )
    assert set(service.members(db, SYSTEM, week)["customers"]) == {"c1", "c2"}
    assert service.members(db, SYSTEM, sleeping)["customers"] == ["c2"]
    today = aggregates.today(db.conn, NOW)

    def flips(day):
        return {k: int(d) for k, d in enumerate(engine.next_flips(db.conn, day)) if d}

    # c1 falls asleep in 3 days, leaves "this week" in 5; c2 leaves tomorrow; c3 never bought: never flips
    assert flips(today) == {key(db, "c1"): today + 3, key(db, "c2"): today + 1}
    assert engine.due_keys(db.conn, today + 1) == {key(db, "c2")}
    visited = []
    real = engine.store.member_arrays

    def spy(conn, keys):  # the refresh reads the memberships of the customers it visits
        visited.append(sorted(keys))
        return real(conn, keys)

    engine.store.member_arrays = spy
    try:
        with db.transaction() as conn:  # the fake clock: tomorrow
            engine.refresh_if_new_day(conn, NOW + dt.timedelta(days=1))
        assert service.members(db, SYSTEM, week)["customers"] == ["c1"]
        assert visited == [[key(db, "c2")]]  # only c2's day had come
        with db.transaction() as conn:  # nothing is due on the day after: nobody is visited
            visited.clear()
            engine.refresh_if_new_day(conn, NOW + dt.timedelta(days=2))
        assert visited == []
        with db.transaction() as conn:
            engine.refresh_if_new_day(conn, NOW + dt.timedelta(days=3))
        assert visited == [[key(db, "c1")]]
        assert set(service.members(db, SYSTEM, sleeping)["customers"]) == {"c1", "c2"}
        assert flips(today + 3) == {key(db, "c1"): today + 5}
        with db.transaction() as conn:
            engine.refresh_if_new_day(conn, NOW + dt.timedelta(days=5))
    finally:
        engine.store.member_arrays = real
    assert service.members(db, SYSTEM, week)["count"] == 0
    assert set(service.members(db, SYSTEM, sleeping)["customers"]) == {"c1", "c2"}
    assert ("c1", 0, "date") in history(db, week) and ("c1", 1, "date") in history(db, sleeping)


def test_bad_definitions_name_the_criterion_and_change_nothing(db):
    with pytest.raises(FormError) as caught:
        service.create(
            db,
            MARKETER,
            "Bad",
            "dynamic",
            {"audiences": [[{"type": "spend", "from": 5, "to": 1}, {"type": "horoscope"}]]},
        )
    assert caught.value.errors == {
        "definition.audiences.1.1.to": "to is below from",
        "definition.audiences.1.2.type": "unknown criterion 'horoscope'",
    }
    a = service.create(db, MARKETER, "A", "dynamic", {"audiences": [[{"type": "purchases", "from": 1}]]})
    b = service.create(db, MARKETER, "B", "dynamic", {"audiences": [[{"type": "in_segment", "segments": [a]}]]})
    with pytest.raises(FormError, match="contains this one: a cycle"):
        service.edit(db, MARKETER, a, definition={"audiences": [[{"type": "in_segment", "segments": [b]}]]})
    with pytest.raises(FormError, match="in use: segment B"):
        service.delete(db, MARKETER, a)
    with pytest.raises(Forbidden):
        service.create(db, Actor(8, "sam", "store_manager", frozenset({"S1"})), "C", "static")
    assert [r["name"] for r in service.list_segments(db, SYSTEM)] == ["A", "B"]
    service.delete(db, MARKETER, b)
    service.delete(db, MARKETER, a)
    actions = [r[0] for r in db.conn.execute("SELECT action FROM audit_log WHERE entity = 'segment' ORDER BY id")]
    assert actions == ["segment.create", "segment.create", "segment.delete", "segment.delete"]


def test_preview_copy_static_recompute_and_scope(db):
    db.add_store("S2")
    db.stream_state("S2", "a1")
    a1, a2 = FakeAgent("S1", "a1"), FakeAgent("S2", "a1")
    apply(db, a1.registration("c1"), bought(a1, "c1", 500, sku="shoe", category="running"))
    apply(db, a2.registration("c2"), bought(a2, "c2", 700, sku="bar", category="food"))
    running = db.conn.execute("SELECT id FROM catalog_categories WHERE name = 'running'").fetchone()[0]
    doc = {"audiences": [[{"type": "purchases", "from": 1, "period": {"last_days": 30}}]]}
    assert service.preview(db, MARKETER, doc) == {"count": 2, "sample": ["c1", "c2"]}
    manager = Actor(8, "sam", "store_manager", frozenset({"S2"}))
    assert service.preview(db, manager, doc) == {"count": 1, "sample": ["c2"]}
    static = service.create(
        db, MARKETER, "Runners", "static", {"audiences": [[{"type": "bought_category", "categories": [running]}]]}
    )
    assert service.members(db, SYSTEM, static)["count"] == 0
    assert service.recompute(db, MARKETER, static) == (1, 0)
    twin = service.copy(db, MARKETER, static, "Runners 2")
    assert service.members(db, SYSTEM, twin)["customers"] == ["c1"]
    apply(db, bought(a2, "c2", 100, sku="shoe2", category="running"))
    assert service.members(db, SYSTEM, static)["customers"] == ["c1"]  # static: only people change it


def test_rfm_scores_everyone_and_feeds_the_criterion(db):
    agent = FakeAgent("S1", "a1")
    events = [agent.registration(f"c{i}") for i in range(10)]
    for i in range(10):
        events += [bought(agent, f"c{i}", 1000 * (i + 1), days_ago=30 - 3 * i) for _ in range(1 + i // 2)]
    apply(db, *events)
    assert service.compute_rfm(db, MARKETER) == 10
    grid = service.rfm_grid(db, SYSTEM)
    assert grid["total"] == 10 and sum(c["count"] for c in grid["cells"].values()) == 10
    assert grid["cells"][(5, 5)] == {"class": "champion", "count": 2, "spend": 5 * 9000 + 5 * 10000, "share": 0.2}
    champions = service.create(
        db, MARKETER, "Champions", "dynamic", {"audiences": [[{"type": "rfm", "classes": ["champion"]}]]}
    )
    assert sorted(service.members(db, SYSTEM, champions)["customers"]) == ["c8", "c9"]


def test_messages_in_russian(app, db):
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("ru"), pytest.raises(FormError) as caught:
        service.create(
            db,
            MARKETER,
            "Плохой",
            "dynamic",
            {"audiences": [[{"type": "spend", "from": 5, "to": 1}, {"type": "horoscope"}]]},
        )
    assert caught.value.errors == {
        "definition.audiences.1.1.to": "до меньше, чем от",  # parameters as the segmenter names them
        "definition.audiences.1.2.type": "неизвестный критерий 'horoscope'",
    }


def test_the_nightly_job_refreshes_segments_for_the_new_day(db):
    from central.points import nightly

    agent = FakeAgent("S1", "a1")
    apply(db, agent.registration("c1"), bought(agent, "c1", 100, days_ago=0))
    today = service.create(
        db,
        MARKETER,
        "Bought today",
        "dynamic",
        {"audiences": [[{"type": "purchases", "from": 1, "period": {"last_days": 1}}]]},
    )
    assert service.members(db, SYSTEM, today)["count"] == 1
    nightly.run(db, (NOW + dt.timedelta(days=1)).isoformat(timespec="seconds"))
    assert service.members(db, SYSTEM, today)["count"] == 0
    assert history(db, today)[-1] == ("c1", 0, "date")


def test_static_members_by_hand(db):
    agent = FakeAgent("S1", "a1")
    apply(db, agent.registration("c1"), agent.registration("c2"))
    static = service.create(db, MARKETER, "Hand picked", "static")
    assert service.change_members(db, MARKETER, static, add=["c1", "c2"]) == (2, 0)
    with pytest.raises(FormError, match="Unknown customers: nobody"):
        service.change_members(db, MARKETER, static, remove=["c1", "nobody"])
    assert service.members(db, SYSTEM, static)["count"] == 2  # nothing changed
    assert service.change_members(db, MARKETER, static, remove=["c1"]) == (0, 1)
    assert history(db, static) == [("c1", 1, "hand"), ("c2", 1, "hand"), ("c1", 0, "hand")]
    dynamic = service.create(db, MARKETER, "Dyn", "dynamic", {"audiences": [[{"type": "purchases", "from": 1}]]})
    with pytest.raises(FormError, match="static"):
        service.change_members(db, MARKETER, dynamic, add=["c1"])


def test_a_merge_moves_the_aggregates_and_the_memberships(db):
    from central.services.merge import merge

    agent = FakeAgent("S1", "a1")
    apply(
        db,
        agent.registration("c1"),
        agent.registration("c2"),
        bought(agent, "c1", 6000, days_ago=1),
        bought(agent, "c2", 5000, days_ago=2),
    )
    big = service.create(db, MARKETER, "Big", "dynamic", {"audiences": [[{"type": "spend", "from": 10000}]]})
    assert service.members(db, SYSTEM, big)["count"] == 0
    merge(db, SYSTEM, "c2", "c1")
    assert service.members(db, SYSTEM, big)["customers"] == ["c1"]
    assert db.conn.execute("SELECT SUM(spend), COUNT(DISTINCT key) FROM agg_days").fetchone() == (11000, 1)
    assert history(db, big) == [("c1", 1, "merge")]


def test_the_live_count_reuses_criteria_for_a_while(db):
    agent = FakeAgent("S1", "a1")
    apply(db, agent.registration("c1"), bought(agent, "c1", 700, days_ago=1))
    clock = [100.0]
    today = aggregates.today(db.conn)
    spend = {"type": "spend", "from": 500}
    first = engine.live_evaluator(db.conn, today, clock=lambda: clock[0])
    assert first.members(parse({"audiences": [[spend]]})) == {key(db, "c1")}
    clock[0] += 5
    again = engine.live_evaluator(db.conn, today, clock=lambda: clock[0])
    assert again is first and len(again._cache) == 1
    clock[0] += engine.LIVE_SECONDS + 1
    assert engine.live_evaluator(db.conn, today, clock=lambda: clock[0]) is not first


def parse(doc):
    from central.marketing.segments import parse_definition

    return parse_definition(doc)


def test_console_writes_move_customers_too(db):
    from central.services import accounts

    agent = FakeAgent("S1", "a1")
    apply(db, agent.registration("c1"))
    vip = service.create(db, MARKETER, "VIP", "dynamic", {"audiences": [[{"type": "tag", "tags": ["vip"]}]]})
    rich = service.create(db, MARKETER, "Rich", "dynamic", {"audiences": [[{"type": "balance", "from": 1000}]]})
    accounts.set_tags(db, SYSTEM, "c1", "vip")
    assert service.members(db, SYSTEM, vip)["customers"] == ["c1"]
    accounts.set_tags(db, SYSTEM, "c1", "")
    assert service.members(db, SYSTEM, vip)["count"] == 0
    accounts.adjust_points(db, SYSTEM, "c1", {"points": "1500", "reason": "goodwill"})
    assert service.members(db, SYSTEM, rich)["customers"] == ["c1"]
    assert history(db, vip) == [("c1", 1, "tags"), ("c1", 0, "tags")] and history(db, rich) == [("c1", 1, "points")]


def test_each_customer_moves_for_their_own_event(db):
    agent = FakeAgent("S1", "a1")
    apply(db, agent.registration("c1"), agent.registration("c2"), bought(agent, "c2", 20000, days_ago=1))
    big = service.create(db, MARKETER, "Big", "dynamic", {"audiences": [[{"type": "spend", "from": 10000}]]})
    apply(db, bought(agent, "c1", 15000), agent.refund("c2", "S1-a1-1", amount=15000, accrued=0, redeemed=0))
    assert sorted(history(db, big)) == [("c1", 1, "purchase"), ("c2", 0, "refund"), ("c2", 1, "created")]


def test_the_column_snapshot_sees_a_write_committed_after_a_later_one(db, db_file):
    """PostgreSQL's writers need not commit in the order of the change log's numbers (docs/segments.md): a
    snapshot that looked between a later write's commit and an earlier one's still sees the earlier one."""
    if not is_url(db_file):
        pytest.skip("SQLite's writers take turns: its log is in commit order")
    agent = FakeAgent("S1", "a1")
    apply(db, agent.registration("c1"), agent.registration("c2"))
    k1, k2 = key(db, "c1"), key(db, "c2")
    snap = segment_columns.snapshot(db.conn, database_path(db.conn))
    early, late = pg.connect(db_file), pg.connect(db_file)
    try:
        early.execute("BEGIN")
        early.execute("UPDATE customers SET balance = 111 WHERE id = 'c1'")  # its log row numbered first
        late.execute("BEGIN")
        late.execute("UPDATE customers SET balance = 222 WHERE id = 'c2'")
        late.execute("COMMIT")
        snap = segment_columns.snapshot(db.conn, database_path(db.conn))
        assert (snap.balance[k1], snap.balance[k2]) == (0, 222)
        version = snap.version  # a look with nothing new reloads nothing, though the early writer still runs
        assert segment_columns.snapshot(db.conn, database_path(db.conn)).version == version
        fresh = segment_columns.Snapshot.load(db.conn)  # built while it runs: the late write is in it
        built = fresh.version
        assert fresh.catch_up(db.conn).version == built
        early.execute("COMMIT")
    finally:
        early.close()
        late.close()
    snap = segment_columns.snapshot(db.conn, database_path(db.conn))
    assert (snap.balance[k1], snap.balance[k2]) == (111, 222)
    # the process keeps one snapshot per database, named by URL and oid on PostgreSQL
    assert segment_columns.snapshot(db.conn, database_path(db.conn)) is snap
