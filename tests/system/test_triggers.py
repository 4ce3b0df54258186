"""A real agent's registration and purchase, through a real Mosquitto and the central ingest, move a
customer through a two-step trigger run by the engine; the second step's bonus and cashier message come
back down to the till."""

from __future__ import annotations

import pytest

from central.marketing.trigger_engine import TriggerEngine
from central.services import triggers as service
from central.services.access import SYSTEM
from central.storage.store import Store as CentralStore
from tests.polling import wait_for

from .conftest import wait_caught_up

pytestmark = pytest.mark.slow


def test_a_purchase_at_a_real_till_moves_a_customer_through_two_steps(broker, central, db_path, spawn):
    db = CentralStore(db_path)
    doc = {
        "name": "Join, then buy",
        "owner_store": "S1",
        "group": "Loyalty",
        "hours": list(range(24)),
        "steps": [
            {"conditions": [{"type": "registration", "stores": ["S1"]}], "actions": [{"type": "tag", "tag": "joined"}]},
            {
                "conditions": [{"type": "transaction", "kind": "purchase", "count_from": 1, "check_min": 10000}],
                "actions": [
                    {"type": "credit", "points": 5000},
                    {"type": "cashier_message", "text": "Thank you for the first purchase!"},
                ],
            },
        ],
    }
    tid = service.create(db, SYSTEM, doc)
    service.start(db, SYSTEM, tid)
    engine = TriggerEngine(db_path, interval=0.1).start()
    try:
        s1 = spawn("S1")
        assert s1.wait_online(30)
        cid = s1.register(1)
        assert wait_for(lambda: [r["step"] for r in service.customer_triggers(db, SYSTEM, cid)] == [1], 30, 0.1)
        assert db.customer_tags(cid) == ["joined"]
        status, _ = s1.commit("R-small", 1, 5_000)  # below the step's minimum check: stays on step 1
        assert status in (200, 201)
        status, _ = s1.commit("R-big", 1, 20_000)
        assert status in (200, 201)
        assert wait_for(lambda: service.customer_triggers(db, SYSTEM, cid)[0]["phase"] == "done", 30, 0.1)
        entries = db.rows("SELECT points, reason FROM ledger WHERE customer_id = ? AND kind = 'bonus.promo'", (cid,))
        assert [e["points"] for e in entries] == [5000] and "step 2" in entries[0]["reason"]
        assert wait_caught_up(s1, db, [cid])
        seen = s1.identify(1)[1]
        assert "Thank you for the first purchase!" in [m["text"] for m in seen["messages"]]
    finally:
        engine.stop()
        db.close()
