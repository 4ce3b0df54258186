"""The engine's set-based SQL on both backends (docs/scale.md): a pause-only first step enters everyone with one
INSERT ... SELECT, and due runs of several triggers are decided in one batch's transaction."""

from __future__ import annotations

import datetime as dt

import pytest

from central.marketing import trigger_engine as engine
from central.services import triggers as triggers
from central.services.access import Actor
from central.storage.store import IngestUnit
from tests.sync.fakes import FakeAgent

pytestmark = pytest.mark.postgresql
MIA = Actor(7, "mia", "marketer")
ALL = list(range(24))


def test_pause_entry_and_a_shared_batch_over_two_triggers(db):
    db.add_store("S1", timezone="Europe/Moscow")
    db.stream_state("S1", "a1")
    agent = FakeAgent("S1", "a1")
    events = [agent.registration(c) for c in ("c1", "c2", "c3")]
    db.commit_ingest(IngestUnit(events=events, pointers={("S1", "a1"): (events[-1]["seq"], events[-1]["id"])}))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    pause = {
        "name": "p",
        "owner_store": "S1",
        "group": "g",
        "hours": ALL,
        "steps": [{"pause_days": 2, "actions": [{"type": "tag", "tag": "wk"}]}],
    }
    credit = {
        "name": "c",
        "owner_store": "S1",
        "group": "g",
        "hours": ALL,
        "steps": [{"pause_days": 1, "actions": [{"type": "credit", "points": 500}]}],
    }
    ids = [triggers.create(db, MIA, d) for d in (pause, credit)]
    assert [triggers.start(db, MIA, tid, now) for tid in ids] == [3, 3]
    assert triggers.start(db, MIA, ids[0], now) in (0, 3)  # a second start adds nobody
    runs = db.conn.execute(
        "SELECT trigger_id, phase, pass_no, wake_at FROM trigger_runs ORDER BY trigger_id, customer_key"
    ).fetchall()
    assert len(runs) == 6 and {(r[1], r[2]) for r in runs} == {("pause", 1)}
    assert engine.process_due(db, now + dt.timedelta(days=1, minutes=1), batch=4) == (3, 3)  # the credits
    assert engine.process_due(db, now + dt.timedelta(days=2, minutes=1), batch=4) == (3, 3)  # the tags
    assert engine.process_due(db, now + dt.timedelta(days=3), batch=4) == (0, 0)  # once each
    balances = db.conn.execute("SELECT id, balance FROM customers ORDER BY id").fetchall()
    assert [tuple(b) for b in balances] == [("c1", 500), ("c2", 500), ("c3", 500)]
    tags = db.conn.execute("SELECT customer_id FROM customer_tags WHERE tag = 'wk' ORDER BY customer_id").fetchall()
    assert [t[0] for t in tags] == ["c1", "c2", "c3"]
