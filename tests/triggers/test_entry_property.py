"""One definition, two evaluators, one test: a trigger's first step entered set-based when it starts
(``enter_all``: the segments' SQL evaluator, coarse flip days, inactivity from the aggregates) and the per-event
path (each customer's registration event makes a fresh run, decided by the pure scenario with the per-customer
evaluator) give the same runs -- the same step and phase day after day, the same actions -- for random customers
and random first steps (hypothesis, derandomized). The set-based wake-ups may come earlier (a coarse flip day:
the run is decided again and sleeps on), never later."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from central.marketing import trigger_engine as engine
from central.marketing.triggers.definition import TriggerError, parse_trigger
from central.storage import triggers as q
from central.storage.store import Store
from tests.marketing.test_segment_property import CRITERIA, CUSTOMER, NAMES, TODAY, load

ZONE = zoneinfo.ZoneInfo("Asia/Yekaterinburg")
#: local noon of the property test's day (the segments' test's TODAY), in UTC
NOON = dt.datetime.combine(dt.date.fromordinal(TODAY), dt.time(12), ZONE).astimezone(dt.UTC)
STEP_CRITERIA = CRITERIA.filter(lambda c: c["type"] not in ("trigger", "in_segment"))
INACTIVITY = st.builds(
    lambda days, stores: {"type": "inactivity", "days": days, **({"stores": stores} if stores else {})},
    st.integers(1, 70),
    st.one_of(st.none(), st.lists(st.sampled_from(["s1", "s2", "s3"]), min_size=1, max_size=2, unique=True)),
)

#: event conditions: nobody's hold at the start (no event since it), both ways
EVENTS = st.sampled_from(
    [{"type": "transaction", "kind": "purchase", "count_from": 1}, {"type": "points_event", "direction": "credited"}]
)

pytestmark = pytest.mark.postgresql
#: none at all: a first step that is a pause alone (one INSERT ... SELECT, everyone pauses from the start)
CONDITIONS = st.lists(st.one_of(STEP_CRITERIA, INACTIVITY, INACTIVITY, EVENTS), min_size=0, max_size=3)


def trigger_doc(conditions: list[dict], pause: int) -> dict:
    first: dict = {"conditions": conditions, "actions": [{"type": "comment", "text": "first"}]}
    if pause:
        first["pause_days"] = pause
    return {
        "name": "property",
        "owner_store": "s1",
        "group": "g",
        "hours": list(range(24)),
        "steps": [first, {"pause_days": 1, "actions": [{"type": "comment", "text": "second"}]}],
    }


def _database(path) -> Store:
    db = Store(str(path))
    db.conn.execute("INSERT INTO settings (name, value) VALUES ('chain_timezone', 'Asia/Yekaterinburg')")
    for i, name in NAMES.items():
        db.conn.execute(
            "INSERT INTO catalog_products (id, sku, name, created_at) VALUES (?, ?, ?, 'x')", (i, f"p{i}", name)
        )
    db.conn.commit()
    return db


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("entry")
    dbs = (_database(folder / "sets.sqlite"), _database(folder / "events.sqlite"))
    yield dbs
    for db in dbs:
        db.close()


def _reset(db: Store, customers: list[dict], doc: dict) -> int:
    load(db, customers)  # (its customers' runs of other triggers are dropped below: this trigger starts afresh)
    for table in ("triggers", "trigger_versions", "trigger_runs", "trigger_events", "trigger_actions"):
        db.conn.execute(f"DELETE FROM {table}")
    db.conn.execute("DELETE FROM trigger_stats")
    db.conn.execute("DELETE FROM customer_comments")
    db.conn.execute("DELETE FROM counters WHERE name LIKE 'trigger%'")
    tid = db.add_trigger(doc, NOON.isoformat(), "t")
    db.set_trigger_state(tid, "running", NOON.isoformat(), "t")
    db.conn.commit()
    return tid


def _runs(db: Store, tid: int) -> dict[int, tuple]:
    return {
        r["customer_key"]: (r["step"], r["phase"], r["pass_no"])
        for r in db.rows("SELECT customer_key, step, phase, pass_no FROM trigger_runs WHERE trigger_id = ?", (tid,))
    }


def _wakes(db: Store, tid: int) -> dict[int, str | None]:
    return {
        r["customer_key"]: r["wake_at"]
        for r in db.rows("SELECT customer_key, wake_at FROM trigger_runs WHERE trigger_id = ?", (tid,))
    }


def _comments(db: Store) -> list[tuple]:
    return sorted((r["customer_id"], r["text"]) for r in db.rows("SELECT customer_id, text FROM customer_comments"))


@settings(
    max_examples=90,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    customers=st.lists(CUSTOMER, min_size=1, max_size=10),
    conditions=CONDITIONS,
    pause=st.sampled_from([0, 0, 2]),
)
def test_set_based_entry_and_the_event_path_give_the_same_runs(pair, customers, conditions, pause):
    doc = trigger_doc(conditions, pause)
    try:
        parse_trigger(doc)
    except TriggerError:
        event("invalid step")
        return
    sets, events = pair
    tid_sets, tid_events = _reset(sets, customers, doc), _reset(events, customers, doc)
    # the set-based entry, as a start does it
    with sets.transaction() as conn:
        entered = engine.enter_all(conn, tid_sets, NOON)
    # the per-event path: each customer's registration event (at the same moment) makes a fresh run
    ids = [r["id"] for r in events.rows("SELECT id FROM customers WHERE merged_into IS NULL")]
    with events.transaction() as conn:
        q.set_cursor(conn, 0)
        q.set_cursor(conn, 0, "trigger_segments")
        q.add_events(conn, [(cid, "registration", NOON.isoformat(), None, 0, None, None) for cid in ids])
        assert engine.dispatch(conn, NOON) == len(ids)
    assert entered == len(ids)
    assert set(_runs(sets, tid_sets)) == set(_runs(events, tid_events))
    # day after day (and at each set-based wake-up in between), both decide the same
    moments = sorted({NOON + dt.timedelta(days=d) for d in range(0, 5)})
    for now in moments:
        engine.process_due(sets, now)
        engine.process_due(events, now)
        assert _runs(sets, tid_sets) == _runs(events, tid_events), now
        assert _comments(sets) == _comments(events), now
        early, exact = _wakes(sets, tid_sets), _wakes(events, tid_events)
        for key, wake in exact.items():  # a coarse flip day comes no later than the exact one
            if wake is not None:
                assert early[key] is not None and early[key] <= wake, (key, now)
    passed = sum(1 for step, phase, _ in _runs(sets, tid_sets).values() if step > 0 or phase == "done")
    event(f"passed: {'none' if not passed else 'all' if passed == len(ids) else 'some'}")
