"""A trigger's card and store actions move customers in the dynamic segments reading cards and home stores, in
the engine's transaction (docs/segments.md, "Changes outside the ingest")."""

from __future__ import annotations

import datetime as dt

import pytest

from central.marketing import trigger_engine as engine
from central.services import segments as segment_service
from central.services import triggers as service
from central.services.access import SYSTEM, Actor
from central.storage.store import IngestUnit, Store
from tests.sync.fakes import FakeAgent

pytestmark = pytest.mark.postgresql

MARKETER = Actor(7, "mia", "marketer")
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def apply(db: Store, *events) -> None:
    last = events[-1]
    db.commit_ingest(
        IngestUnit(events=list(events), pointers={(last["store"], last["agent"]): (last["seq"], last["id"])})
    )


@pytest.fixture
def db(db):
    db.add_store("S1", timezone="Europe/Moscow")
    db.add_store("S2", timezone="Europe/Moscow")
    db.stream_state("S1", "a1")
    return db


def test_a_triggers_card_block_and_store_binding_move_customers_at_once(db):
    carded = segment_service.create(
        db, MARKETER, "Active card", "dynamic", {"audiences": [[{"type": "card", "number_from": "1"}]]}
    )
    second = segment_service.create(
        db, MARKETER, "S2", "dynamic", {"audiences": [[{"type": "home_store", "stores": ["S2"]}]]}
    )
    tid = service.create(
        db,
        MARKETER,
        {
            "name": "t",
            "owner_store": "S1",
            "group": "g",
            "hours": list(range(24)),
            "steps": [
                {
                    "conditions": [{"type": "registration", "stores": ["S1"]}],
                    "actions": [{"type": "block_card"}, {"type": "bind_store", "store": "S2"}],
                }
            ],
        },
    )
    service.start(db, MARKETER, tid, NOW)
    apply(db, FakeAgent("S1").registration("c1", card="7700000001"))
    assert segment_service.members(db, SYSTEM, carded)["customers"] == ["c1"]
    engine.run_once(db, NOW + dt.timedelta(minutes=1))
    assert db.rows("SELECT status FROM cards WHERE number = '7700000001'") == [{"status": "blocked"}]
    assert segment_service.members(db, SYSTEM, carded)["customers"] == []
    assert segment_service.members(db, SYSTEM, second)["customers"] == ["c1"]
    assert [h["cause"] for h in db.segment_history(carded)] == ["trigger", "registration"]
