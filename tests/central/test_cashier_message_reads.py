"""A cashier message read at a till (cashier_message_read): marked read with its time and store, off every delta."""

from __future__ import annotations

import pytest

from central.points.versions import bump_versions
from central.storage.connection import NotFound
from central.storage.store import IngestUnit, Store
from central.sync.deltas import customer_page
from shared import wire
from tests.sync.fakes import FakeAgent

pytestmark = pytest.mark.postgresql


def _apply(db: Store, *events) -> set[str]:
    last = events[-1]
    return db.commit_ingest(
        IngestUnit(events=list(events), pointers={(last["store"], last["agent"]): (last["seq"], last["id"])})
    )


def _read(agent: FakeAgent, message_id: str, customer_id: str) -> dict:
    env = agent.envelope(
        "cashier_message_read",
        {"message_id": message_id, "customer_id": customer_id, "terminal": "P01", "at": "2026-11-24T09:00:00+00:00"},
    )
    return dict(wire.check_event(env, agent.store, agent.agent))


def _messages(db: Store, store_id: str, cid: str) -> list[dict]:
    deltas, _, _ = customer_page(db, store_id, 0)
    return next(d for d in deltas if d["customer_id"] == cid)["messages"]


@pytest.fixture
def store(db) -> Store:
    for s in ("S1", "S2"):
        db.add_store(s)
        db.stream_state(s, "a1")
    return db


def test_a_read_message_is_marked_with_time_and_store_and_leaves_every_delta(store):
    a1, a2 = FakeAgent("S1", "a1"), FakeAgent("S2", "a1")
    _apply(store, a1.registration("c1"))
    with store.transaction() as conn:
        store.add_customer_message("m1", "c1", "Предложите десерт", None, "2026-11-24T08:00:00+00:00", "boss", True)
        store.add_customer_message("m2", "c1", "Без печати", None, "2026-11-24T08:00:01+00:00", "boss")
        bump_versions(conn, ["c1"])
    assert _messages(store, "S1", "c1") == [
        {"id": "m1", "text": "Предложите десерт", "print": True},
        {"id": "m2", "text": "Без печати"},
    ]
    version = store.customer("c1")["version"]
    _apply(store, _read(a2, "m1", "c1"))
    assert store.customer("c1")["version"] > version  # republished: the other stores drop it
    assert _messages(store, "S1", "c1") == [{"id": "m2", "text": "Без печати"}]
    [m1, m2] = store.live_customer_messages("c1")
    assert (m1["read_at"], m1["read_store"], m1["print"]) == ("2026-11-24T09:00:00+00:00", "S2", 1)
    assert m2["read_at"] is None
    # a later read elsewhere (shown there before the news came) keeps the first one
    _apply(store, _read(a1, "m1", "c1"))
    assert store.live_customer_messages("c1")[0]["read_store"] == "S2"


def test_a_read_of_an_unknown_customer_or_message_changes_nothing(store):
    a1 = FakeAgent("S1", "a1")
    _apply(store, _read(a1, "nope", "c-unknown"))
    with pytest.raises(NotFound):  # no stub customer is made for it
        store.customer("c-unknown")
