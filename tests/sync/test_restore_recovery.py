"""An agent restored from a backup: its new events under reused seqs reach the ledger once.

These drive the real ingest (central/sync/ingest.py, central/sync/recovery.py) against a
real central database, one round of messages at a time and without a broker:
``Ingest.process`` takes the messages and returns the replies (acks) it would
publish. The broker-level story is in test_debts_and_restore.py and, with real
agent processes, tests/system/test_restore.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from central.storage.store import Store
from central.sync.ingest import Ingest
from shared import wire

from .fakes import FakeAgent

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

Ack = tuple[int, str | None]


@pytest.fixture
def ingest(db_path: str) -> Iterator[Ingest]:
    running = Ingest(db_path, None, gap_wait=0.0)
    yield running
    running.stop()


@pytest.fixture
def db(db_path: str) -> Iterator[Store]:
    store = Store(db_path)
    yield store
    store.close()


def send(ingest: Ingest, *batches: tuple[FakeAgent, list[dict[str, Any]], int | None]) -> list[Ack]:
    """One round: an ``events`` message per (agent, events, acked); returns the acks answered."""
    items = []
    for agent, events, acked in batches:
        payload: dict[str, Any] = {"store": agent.store, "agent": agent.agent, "events": events}
        if acked is not None:
            payload["acked"] = acked
        items.append((wire.agent_topic(agent.store, agent.agent, "events"), wire.encode("events", payload)))
    replies = [wire.decode(reply.payload) for reply in ingest.process(items)]
    return [(msg["through"], msg["id"]) for msg in replies if msg.kind == "ack"]


def restore(agent: FakeAgent, seq: int) -> FakeAgent:
    """The agent as a backup taken at ``seq`` left it: it goes on from there with new event ids."""
    restored = FakeAgent(agent.store, agent.agent, start_seq=seq)
    restored.receipts = 100  # its new sales are new receipts (a till retry is built from the original)
    return restored


def retry(restored: FakeAgent, original: dict[str, Any]) -> dict[str, Any]:
    """The till sends again what the lost database had recorded: the same body, a new event."""
    return restored.envelope(original["kind"], dict(original["body"]))


def register(db: Store, *ids: str) -> dict[str, tuple[int, str, str | None]]:
    """event id -> (seq, status, recovery) in the idempotency register."""
    marks = ",".join("?" * len(ids))
    return {
        row["id"]: (row["seq"], row["status"], row["recovery"])
        for row in db.rows(f"SELECT id, seq, status, recovery FROM applied_events WHERE id IN ({marks})", ids)
    }


def test_new_events_under_reused_seqs_are_applied_once_and_marked_recovered(ingest, db, db_path):
    agent = FakeAgent("S1")
    before = [agent.registration("c1")] + [agent.purchase("c1", accrued=100) for _ in range(5)]  # seqs 1..6
    assert send(ingest, (agent, before, 0)) == [(6, before[-1]["id"])]
    restored = restore(agent, 2)  # a backup taken at seq 2, its outbox empty
    after = [restored.purchase("c1", accrued=1) for _ in range(6)]  # seqs 3..8; 3..6 were handled before

    assert send(ingest, (restored, after, 2)) == [(8, after[-1]["id"])]  # all in: the agent may delete them
    assert db.customer("c1")["balance"] == 506 == db.ledger_sum("c1")
    marks = register(db, *(e["id"] for e in after))
    assert [marks[e["id"]] for e in after] == [
        (3, "applied", "applied"),
        (4, "applied", "applied"),
        (5, "applied", "applied"),
        (6, "applied", "applied"),
        (7, "applied", None),
        (8, "applied", None),
    ]
    assert db.applied_seq("S1", "a1") == 8 and db.dead_letters() == []
    assert db.flags("restored_agent") and db.get_agent("S1", "a1")["restored_at"] is not None
    assert db.get_agent("S1", "a1")["recovery_end"] is None  # every reused seq is in
    assert db.count("transactions", "kind = 'purchase' AND receipt_id LIKE 'S1-a1-10_'") == 6

    # the ack was lost: the agent sends everything again; then the ingest restarts and it comes once more
    assert send(ingest, (restored, after, 2)) == [(8, after[-1]["id"])]
    assert ingest.stats["duplicates"] == 6
    restarted = Ingest(db_path, None)
    try:
        assert send(restarted, (restored, after, 2)) == [(8, after[-1]["id"])]
    finally:
        restarted.stop()
    assert db.customer("c1")["balance"] == 506 == db.ledger_sum("c1")
    assert db.count("applied_events") == 12 and db.count("ledger") == 11


def _purchase(agent: FakeAgent) -> list[dict[str, Any]]:
    return [agent.purchase("c1", accrued=100)]


def _refund(agent: FakeAgent) -> list[dict[str, Any]]:
    sale = agent.purchase("c1", total=10_000, accrued=100)
    return [sale, agent.refund("c1", sale["body"]["receipt_id"], amount=5000, accrued=50, redeemed=0)]


def _cancel(agent: FakeAgent) -> list[dict[str, Any]]:
    sale = agent.purchase("c1", total=10_000, accrued=100)
    return [sale, agent.cancel("c1", sale["body"]["receipt_id"], amount=10_000, accrued=100)]


def _registration(agent: FakeAgent) -> list[dict[str, Any]]:
    return [agent.registration("c2")]


def _manual(agent: FakeAgent) -> list[dict[str, Any]]:
    return [agent.manual("c1", 50)]


@pytest.mark.parametrize(
    "make, reason, says",
    [
        (_purchase, "duplicate_receipt", "receipt S1-a1-1 of 2026-11-21T12:00:00+03:00 is already in the ledger"),
        (_refund, "duplicate_refund", "of receipt S1-a1-1 is already in the ledger"),
        (_cancel, "duplicate_cancel", "receipt S1-a1-1 is already cancelled"),
        (_registration, "duplicate_registration", "customer c2 is already registered"),
        (_manual, "duplicate_operation", "is already in the ledger"),
    ],
)
def test_a_till_retry_of_what_the_ledger_holds_is_consumed_without_effect(
    ingest, db, make: Callable[[FakeAgent], list[dict[str, Any]]], reason: str, says: str
):
    agent = FakeAgent("S1")
    originals = [agent.registration("c1"), *make(agent)]
    send(ingest, (agent, originals, 0))
    balance, ledger, customers = db.customer("c1")["balance"], db.count("ledger"), db.count("customers")
    restored = restore(agent, 1)  # the backup knew the registration only
    again = retry(restored, originals[-1])  # seq 2, a handled seq, with a new id

    assert send(ingest, (restored, [again], 1)) == [(2, again["id"])]  # the agent may delete it
    letters = db.dead_letters(reason)
    assert len(letters) == 1 and says in letters[0]["detail"]
    assert originals[-1]["id"] in letters[0]["detail"] or reason == "duplicate_registration"  # names the event
    assert letters[0]["event_id"] == again["id"] and letters[0]["seq"] == 2
    assert register(db, again["id"]) == {again["id"]: (2, "dead", reason)}
    assert (db.customer("c1")["balance"], db.count("ledger"), db.count("customers")) == (balance, ledger, customers)
    assert db.count("transactions") == len(originals) - 1 - (reason == "duplicate_registration")

    # sent again (its ack was lost): a duplicate by id, nothing new
    assert send(ingest, (restored, [again], 1)) == [(2, again["id"])]
    assert db.dead_letters(reason)[0]["count"] == 1 and db.count("applied_events") == len(originals) + 1


def test_look_alikes_that_repeat_nothing_are_applied(ingest, db):
    agent = FakeAgent("S1")
    sale = agent.purchase("c1", total=10_000, accrued=100)
    originals = [
        agent.registration("c1"),
        sale,
        agent.refund("c1", sale["body"]["receipt_id"], 1000, 10, 0),
        agent.purchase("c7", accrued=30),
        agent.purchase("c1", accrued=1),
    ]  # c7: a stub until registered
    send(ingest, (agent, originals, 0))
    assert db.customer("c7")["stub"] == 1
    restored = restore(agent, 1)
    other_time = restored.envelope("purchase", {**sale["body"], "at": "2026-11-22T09:00:00+03:00"})
    recovered = [
        other_time,  # the same receipt number at another time: another sale
        restored.refund("c1", sale["body"]["receipt_id"], 1000, 10, 0),  # a second refund (its own refund_id)
        restored.registration("c7"),  # fills in the stub
        restored.cancel("c1", sale["body"]["receipt_id"], 8000, 80),  # the first cancel of that receipt
    ]
    assert send(ingest, (restored, recovered, 1)) == [(5, recovered[-1]["id"])]
    assert db.dead_letters() == []
    assert all(mark == (mark[0], "applied", "applied") for mark in register(db, *(e["id"] for e in recovered)).values())
    assert db.customer("c7")["stub"] == 0
    assert db.customer("c1")["balance"] == 100 - 10 + 1 + 100 - 10 - 80 == db.ledger_sum("c1")


def test_the_original_and_its_retry_in_the_same_round_apply_once(ingest, db):
    agent = FakeAgent("S1")
    send(ingest, (agent, [agent.registration("c1"), agent.purchase("c1", accrued=100)], 0))
    restored = restore(agent, 2)
    last = agent.purchase("c1", accrued=100)  # seq 3 of the machine that died, still in flight
    again = retry(restored, last)  # seq 3 of the restored one: the till retried that sale
    send(ingest, (agent, [last], 2), (restored, [again], 2))
    assert db.customer("c1")["balance"] == 200 == db.ledger_sum("c1")
    assert [row["event_id"] for row in db.dead_letters("duplicate_receipt")] == [again["id"]]
    assert "received just before" in db.dead_letters("duplicate_receipt")[0]["detail"]


def test_a_recovered_redemption_the_balance_no_longer_covers_becomes_a_flagged_debt(ingest, db):
    agent = FakeAgent("S1")
    send(
        ingest,
        (
            agent,
            [
                agent.registration("c1"),
                agent.purchase("c1", total=20_000, accrued=1000),
                agent.purchase("c1", total=5000, accrued=0, redeemed=800),
            ],
            0,
        ),
    )
    restored = restore(agent, 2)  # its balance says 1000: the redemption at seq 3 is lost with the disk
    spent_again = restored.purchase("c1", total=5000, accrued=0, redeemed=800)
    send(ingest, (restored, [spent_again], 2))
    assert db.customer("c1")["balance"] == -600 == db.ledger_sum("c1")  # applied, never dropped
    debts = db.debts()
    assert [(d["event_id"], d["shortfall"], d["balance_after"]) for d in debts] == [(spent_again["id"], 600, -600)]


def test_a_refund_of_a_recovered_purchase_follows_it(ingest, db):
    agent = FakeAgent("S1")
    send(ingest, (agent, [agent.registration("c1")] + [agent.purchase("c1", accrued=5) for _ in range(4)], 0))
    restored = restore(agent, 1)
    sale = restored.purchase("c1", total=10_000, accrued=100)  # seq 2: a new sale after the restore
    back = restored.refund("c1", sale["body"]["receipt_id"], amount=4000, accrued=40, redeemed=0)  # seq 3
    send(ingest, (restored, [sale], 1))
    send(ingest, (restored, [back], 1))  # a later round: its purchase is in the ledger by then
    assert db.customer("c1")["balance"] == 20 + 100 - 40 == db.ledger_sum("c1")
    kinds = db.rows(
        "SELECT kind, amount FROM transactions WHERE receipt_id = ? ORDER BY id", (sale["body"]["receipt_id"],)
    )
    assert kinds == [{"kind": "purchase", "amount": 10_000}, {"kind": "refund", "amount": -4000}]


def test_acks_wait_until_every_reused_seq_is_in(ingest, db, db_path):
    agent = FakeAgent("S1")
    send(ingest, (agent, [agent.registration("c1")] + [agent.purchase("c1", accrued=10) for _ in range(7)], 0))  # 1..8
    restored = restore(agent, 2)
    hello = wire.encode(
        "hello",
        {"store": "S1", "agent": "a1", "next_seq": 3, "customers_version": 0, "at": "2026-11-21T12:00:00+03:00"},
    )
    assert ingest.process([(wire.agent_topic("S1", "a1", "requests"), hello)]) == []  # nothing to ack yet
    assert db.get_agent("S1", "a1")["recovery_end"] == 8 and db.flags("restored_agent")
    new = [restored.purchase("c1", accrued=1) for _ in range(8)]  # seqs 3..10

    # the broker dropped the message with 3..5; 6..8 (reused) and 9..10 (new seqs) arrive
    assert send(ingest, (restored, new[3:6], 2)) == []
    assert send(ingest, (restored, new[6:], 2)) == []  # applied, pointer 10, but an ack through 10 would delete 3..5
    assert db.applied_seq("S1", "a1") == 10 and db.customer("c1")["balance"] == 75
    ingest._check_gaps()
    assert ingest.stats["resends"] == 1  # resend {from_seq: 3}

    # the ingest crashes and comes back: the recovery goes on from the database
    ingest.stop()
    restarted = Ingest(db_path, None)
    try:
        assert send(restarted, (restored, new[6:], 2)) == []  # still no ack while 3..5 are missing
        assert send(restarted, (restored, new[:3], 2)) == [
            (5, new[2]["id"])
        ]  # 3..5 are in; 6..8 it saw before the crash
        assert send(restarted, (restored, new[3:], 5)) == [(10, new[-1]["id"])]  # the rest again: all in
    finally:
        restarted.stop()
    assert db.get_agent("S1", "a1")["recovery_end"] is None
    assert db.customer("c1")["balance"] == 78 == db.ledger_sum("c1")
    assert db.count("applied_events", "recovery = 'applied'") == 6 and db.count("applied_events") == 16


def deleted_through(acks: list[Ack], held: list[dict[str, Any]]) -> int | None:
    """What an agent holding ``held`` deletes through on these acks (only where its own id is acked)."""
    own = {e["seq"]: e["id"] for e in held}
    matched = [through for through, ident in acks if own.get(through) == ident]
    return max(matched) if matched else None


def test_the_lost_machines_last_events_arriving_after_the_restore_are_reused_safely(ingest, db):
    agent = FakeAgent("S1")
    first = [agent.registration("c1")] + [agent.purchase("c1", accrued=10) for _ in range(3)]  # 1..4
    send(ingest, (agent, first, 0))
    restored = restore(agent, 2)
    hello = wire.encode(
        "hello",
        {"store": "S1", "agent": "a1", "next_seq": 3, "customers_version": 0, "at": "2026-11-21T12:00:00+03:00"},
    )
    ingest.process([(wire.agent_topic("S1", "a1", "requests"), hello)])  # the recovery ends at seq 4 so far
    late = [agent.purchase("c1", accrued=10) for _ in range(2)]  # 5..6 of the dead machine, late from the broker
    assert send(ingest, (agent, late, 0)) == []
    new = [restored.purchase("c1", accrued=1) for _ in range(4)]  # 3..6 again
    assert deleted_through(send(ingest, (restored, new[:3], 2)), new) == 5  # nothing it still needs
    assert deleted_through(send(ingest, (restored, new[3:], 5)), new) == 6
    assert db.customer("c1")["balance"] == 50 + 4 == db.ledger_sum("c1")
    assert db.count("applied_events", "recovery = 'applied'") == 4


def _hello(agent: FakeAgent, next_seq: int, last_id: str | None) -> tuple[str, bytes]:
    fields: dict[str, Any] = {
        "store": agent.store,
        "agent": agent.agent,
        "next_seq": next_seq,
        "customers_version": 0,
        "at": "2026-11-21T12:00:00+03:00",
    }
    if last_id is not None:
        fields["last_id"] = last_id
    return wire.agent_topic(agent.store, agent.agent, "requests"), wire.encode("hello", fields)


def test_a_hello_naming_an_event_already_handled_is_stale_and_ignored(ingest, db):
    """Issue 12: the broker delivers an old hello again after the central server went past it."""
    agent = FakeAgent("S1")
    events = [agent.registration()] + [agent.purchase(None) for _ in range(4)]
    assert send(ingest, (agent, events[:2], 0))[-1] == (2, events[1]["id"])
    stale = _hello(agent, 3, events[1]["id"])  # said on connect while seq 2 was the last one
    assert send(ingest, (agent, events[2:], 2))[-1] == (5, events[4]["id"])
    assert ingest.process([stale]) == []  # seen past: ignored, not answered
    assert ingest.stats["stale_hellos"] == 1
    assert not db.flags("restored_agent") and db.get_agent("S1", "a1")["restored_at"] is None
    # behind events of the same round, not yet committed, too
    more = [agent.purchase(None) for _ in range(2)]
    items = [
        (
            wire.agent_topic("S1", "a1", "events"),
            wire.encode("events", {"store": "S1", "agent": "a1", "events": more, "acked": 5}),
        ),
        _hello(agent, 7, more[0]["id"]),
    ]
    ingest.process(items)
    assert ingest.stats["stale_hellos"] == 2 and not db.flags("restored_agent")
    # a current hello is taken as ever
    assert ingest.process([_hello(agent, 8, more[1]["id"])])  # answered with the pointer's ack
    assert db.get_agent("S1", "a1")["reported_next_seq"] == 8 and not db.flags("restored_agent")


def test_a_hello_behind_the_pointer_without_proof_of_staleness_still_flags_a_restore(ingest, db):
    agent = FakeAgent("S1")
    events = [agent.registration()] + [agent.purchase(None) for _ in range(4)]
    send(ingest, (agent, events, 0))
    # a restored agent that already wrote a new event under a handled seq (its last id is unknown)
    restored = restore(agent, 2)
    new = restored.purchase(None)
    replies = ingest.process([_hello(restored, 4, new["id"])])
    assert db.flags("restored_agent") and "next seq is 4" in db.flags("restored_agent")[0]["detail"]
    assert [wire.decode(r.payload).kind for r in replies] == []  # recovering: nothing received yet to ack


def test_an_older_agents_hello_without_last_id_is_judged_by_next_seq_as_before(ingest, db):
    agent = FakeAgent("S1")
    events = [agent.registration()] + [agent.purchase(None) for _ in range(4)]
    send(ingest, (agent, events, 0))
    ingest.process([_hello(agent, 3, None)])
    assert db.flags("restored_agent")


def test_an_old_copy_of_the_first_hello_is_stale_and_a_restore_to_empty_is_noticed_by_its_events(ingest, db):
    """The broker delivers again the agent's first hello (next_seq 1, nothing to name) once the central server
    is past it: no alarm. An agent really restored to an empty backup is flagged by its first reused seq."""
    agent = FakeAgent("S1")
    events = [agent.registration()] + [agent.purchase(None) for _ in range(3)]
    send(ingest, (agent, events, 0))
    assert ingest.process([_hello(agent, 1, None)]) == []  # ignored, not answered
    assert ingest.stats["stale_hellos"] == 1
    assert not db.flags("restored_agent") and db.get_agent("S1", "a1")["restored_at"] is None

    restored = restore(agent, 0)  # a backup from before its first event: it writes seq 1 again
    send(ingest, (restored, [restored.purchase(None)], 0))
    assert db.flags("restored_agent") and db.get_agent("S1", "a1")["restored_at"] is not None
