"""A customer's cashier message through a real broker and real agents: shown once at one store, read
centrally (time and store), shown at no other store."""

from __future__ import annotations

import pytest

from central.points.versions import bump_versions
from central.storage.store import Store as CentralStore
from tests.polling import wait_for

from .conftest import wait_caught_up

pytestmark = pytest.mark.slow


def _custom(answer: dict) -> list[str]:
    return [m["text"] for m in answer["messages"] if m["kind"] == "custom"]


def test_a_message_shown_at_one_store_is_read_and_gone_everywhere(broker, central, db_path, spawn):
    s1, s2 = spawn("S1"), spawn("S2")
    assert s1.wait_online(30) and s2.wait_online(30)
    db = CentralStore(db_path)
    cid = s1.register(1)
    assert s1.wait_drained() and wait_caught_up(s1, db, [cid])  # the customer is known centrally
    with db.transaction() as conn:
        db.add_customer_message("m1", cid, "Верните зонт", None, "2026-11-24T08:00:00+00:00", "boss", True)
        bump_versions(conn, [cid])
    assert wait_caught_up(s1, db, [cid]) and wait_caught_up(s2, db, [cid])

    status, first = s1.identify(1)
    assert status == 200 and _custom(first) == ["Верните зонт"]
    assert _custom(s1.identify(1)[1]) == []  # once shown, not again here
    assert wait_for(lambda: db.live_customer_messages(cid)[0]["read_at"] is not None, 20)
    assert db.live_customer_messages(cid)[0]["read_store"] == "S1"
    assert wait_caught_up(s2, db, [cid])
    assert _custom(s2.identify(1)[1]) == []  # nor at another store
    assert s2.query("SELECT COUNT(*) FROM messages WHERE customer_id = ?", (cid,)) == [(0,)]
