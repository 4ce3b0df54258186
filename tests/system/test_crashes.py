"""Three real agents, 10,000 receipts over their POS API, the broker killed 10 times and the
central ingest once mid-stream; a real agent SIGKILLed mid-stream. Afterwards every event is
applied exactly once and every balance agrees: central ledger = what the agents answered the
tills = what each agent shows after down-sync."""

from __future__ import annotations

import http.client
import signal
import time

import pytest

from central.storage.store import Store as CentralStore
from tests.polling import wait_for

from .conftest import RealAgent, wait_caught_up
from .tills import Ledger, Till, local_balance, register_customers

pytestmark = pytest.mark.slow

RECEIPTS = 10_000
CUSTOMERS = 60
TILLS_PER_AGENT = 2


def _check_exactly_once(db: CentralStore, agents: list[RealAgent], ledger: Ledger, ids: dict[int, str]) -> None:
    """Every agent's every event applied once, nothing set aside, balances = ledger = the tills' sum."""
    total = 0
    for agent in agents:
        last = agent.last_seq()
        total += last
        assert db.applied_seq(agent.store, agent.agent) == last, agent.store
        assert (
            db.count("applied_events", "store = ? AND agent = ? AND status = 'applied'", (agent.store, agent.agent))
            == last
        )
    assert db.count("applied_events") == total
    assert db.count("dead_letters") == 0, db.dead_letters()
    for i, cid in ids.items():
        customer = db.customer(cid)
        assert customer["balance"] == db.ledger_sum(cid) == ledger.points[i], (i, cid)


def test_three_agents_ten_broker_kills_and_a_central_crash(broker, central, db_path, spawn):
    agents = [spawn(store) for store in ("S1", "S2", "S3")]
    assert all(a.wait_online(30) for a in agents)
    ids = register_customers(agents, CUSTOMERS)
    db = CentralStore(db_path)
    assert all(wait_caught_up(a, db, list(ids.values()), 30) for a in agents)

    ledger = Ledger()
    per_till = RECEIPTS // (len(agents) * TILLS_PER_AGENT)
    tills = [
        Till(agent, f"{agent.store}-T{t}", list(ids), per_till + (1 if k < RECEIPTS % 6 else 0), ledger, seed=k)
        for k, (agent, t) in enumerate((a, t) for a in agents for t in range(TILLS_PER_AGENT))
    ]
    assert sum(t.count for t in tills) == RECEIPTS
    for till in tills:
        till.start()
    kills = 0
    busy = []  # outbox depths when the broker died: proof it died in the middle of traffic
    while kills < 10:
        # kill number k when about k/11 of the receipts are committed
        if sum(t.done for t in tills) >= (kills + 1) * RECEIPTS // 11:
            busy.append(sum(a.outbox_depth() for a in agents))
            broker.restart(down_for=0.3)
            kills += 1
            if kills == 5:
                central.crash()  # the central ingest dies too, without a clean disconnect
                central.start()
        elif not any(t.is_alive() for t in tills):
            break
        time.sleep(0.05)
    for till in tills:
        till.join(300)
        assert till.error is None, till.error
    assert kills == 10 and sum(depth > 0 for depth in busy) >= 8, busy
    assert ledger.receipts == RECEIPTS and ledger.refunds > 500 and ledger.redemptions > 500

    assert all(a.wait_drained(120) for a in agents), [a.outbox_depth() for a in agents]
    _check_exactly_once(db, agents, ledger, ids)
    # every agent ends with the central server's state, and so shows the same balances
    assert all(wait_caught_up(a, db, list(ids.values()), 60) for a in agents)
    for agent in agents:
        for i, cid in ids.items():
            assert local_balance(agent, i) == db.customer(cid)["balance"], (agent.store, i)


def test_agent_sigkilled_mid_stream_loses_and_doubles_nothing(broker, central, db_path, spawn):
    agent = spawn("S1")
    assert agent.wait_online(30)
    ids = register_customers([agent], 10)
    ledger = Ledger()
    db = CentralStore(db_path)
    for cycle in range(3):
        tills = [Till(agent, f"K{cycle}-T{t}", list(ids), 10_000, ledger, seed=cycle * 10 + t) for t in range(2)]
        for till in tills:
            till.start()
        assert wait_for(lambda tills=tills: sum(t.done for t in tills) >= 150, 60)
        agent.kill(signal.SIGKILL)  # mid-commit, mid-publish: no goodbye
        for till in tills:
            till.join(60)
            assert isinstance(till.error, (OSError, http.client.HTTPException)), till.error
        agent.start()
        for till in tills:
            till.finish()  # the request cut off by the kill, sent again: committed once either way
    assert ledger.receipts > 450
    assert agent.wait_drained(60)
    _check_exactly_once(db, [agent], ledger, ids)
    assert wait_caught_up(agent, db, list(ids.values()), 30)
    for i, cid in ids.items():
        assert local_balance(agent, i) == db.customer(cid)["balance"]


#: catch-up after a 3 s broker outage (issue 12): measured 1.5-4 s on a loaded 2-core machine
#: (docs/sync.md, "Catch-up after a broker restart"); the bound leaves room for more load
CATCH_UP_BOUND = 10.0


def test_catch_up_after_a_three_second_broker_outage_is_bounded_and_exact(broker, central, db_path, spawn):
    """Issue 12: tills keep selling through a 3 s broker outage (kill -9); every event written
    before the restart is applied within CATCH_UP_BOUND of it, and afterwards each event is applied
    exactly once (the resent window, the QoS 1 copies and the hello answer double nothing)."""
    agents = [spawn(store) for store in ("S1", "S2")]
    assert all(a.wait_online(30) for a in agents)
    ids = register_customers(agents, 20)
    db = CentralStore(db_path)
    ledger = Ledger()
    tills = [
        Till(agent, f"{agent.store}-T{t}", list(ids), 100_000, ledger, seed=k)
        for k, (agent, t) in enumerate((a, t) for a in agents for t in range(TILLS_PER_AGENT))
    ]
    for till in tills:
        till.start()
    try:
        assert wait_for(lambda: sum(t.done for t in tills) >= 400, 60)
        broker.restart(down_for=3.0)
        restarted = time.monotonic()
        written = {a.store: a.last_seq() for a in agents}  # everything written before the restart
        # the tills sold through the outage: a real backlog to catch up on, not an idle link
        backlog = sum(written[a.store] - db.applied_seq(a.store, a.agent) for a in agents)
        caught_up = wait_for(
            lambda: all(db.applied_seq(a.store, a.agent) >= written[a.store] for a in agents), 60, 0.05
        )
        took = time.monotonic() - restarted
        assert caught_up, {a.store: (db.applied_seq(a.store, a.agent), written[a.store]) for a in agents}
        assert took < CATCH_UP_BOUND, f"catch-up of {backlog} events took {took:.2f} s"
        assert backlog > 100, backlog
    finally:
        for till in tills:
            till.stopping.set()
        for till in tills:
            till.join(60)
    for till in tills:
        assert till.error is None, till.error
    assert all(a.wait_drained(60) for a in agents), [a.outbox_depth() for a in agents]
    _check_exactly_once(db, agents, ledger, ids)
