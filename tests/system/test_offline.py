"""Real agents offline: a day of sales catches up alone; two stores spending the same points
offline stay within their offline bound and end in a flagged debt, never a lost event."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.config import load_config
from agent.service import Service
from agent.store import Store as AgentStore
from central.storage.store import Store as CentralStore
from tests.polling import wait_for

from .conftest import receipt, wait_caught_up
from .tills import local_balance, register_customers

pytestmark = pytest.mark.slow

DAY_EVENTS = 20_000


def test_agent_offline_for_a_day_catches_up_alone(broker, central, db_path, spawn):
    agent = spawn("S1")
    assert agent.wait_online(30)
    ids = register_customers([agent], 200)
    db = CentralStore(db_path)
    assert wait_caught_up(agent, db, list(ids.values()))
    broker.kill()  # the store's internet is down from opening to closing
    assert wait_for(lambda: agent.health()["link"] == "offline", 10)

    # a day of sales, written through the agent's service layer in this process for speed (the
    # same code the POS API runs); the agent process keeps serving and holds its link down
    start = dt.datetime.now(dt.UTC)
    step = dt.timedelta(days=1) / DAY_EVENTS
    clock = [start]
    config = load_config(agent.prepared.config, env={})
    store = AgentStore(agent.prepared.database, agent_id=config.effective_agent_id)
    # only this generator skips the fsync of each commit (the day is written in seconds, not
    # minutes, on a shared disk); what is tested is the catch-up, by the agent process
    store._writer.execute("PRAGMA synchronous = NORMAL")
    service = Service(store, config, clock=lambda: clock[0])
    expected = {i: 0 for i in ids}
    try:
        for n in range(DAY_EVENTS):
            clock[0] = start + n * step
            i = n % len(ids)
            body = {
                **receipt(f"D{n}", i, 10_000 + n % 5000, 100 if n % 10 == 0 and n >= 2000 else 0),
                "at": clock[0].isoformat(),
            }
            answer = service.commit("P01", body).body
            expected[i] += answer["accrued"] - answer["redeemed"]
    finally:
        store.close()
    assert agent.outbox_depth() == DAY_EVENTS

    broker.restart()  # the link comes back: nobody touches anything
    assert agent.wait_drained(180), agent.outbox_depth()
    assert db.applied_seq("S1", "a1") == agent.last_seq() == len(ids) + DAY_EVENTS
    assert db.count("applied_events") == len(ids) + DAY_EVENTS and db.count("dead_letters") == 0
    for i, cid in ids.items():
        assert db.customer(cid)["balance"] == db.ledger_sum(cid) == expected[i]
    assert wait_caught_up(agent, db, list(ids.values()), 30)
    assert local_balance(agent, 0) == expected[0]
    assert wait_for(lambda: agent.health()["link"] == "online", 10)


def test_two_stores_spending_the_same_points_offline_make_a_flagged_debt(broker, central, db_path, spawn):
    limit = 800
    s1 = spawn("S1", offline_daily_limit=limit)
    s2 = spawn("S2", offline_daily_limit=limit)
    assert s1.wait_online(30) and s2.wait_online(30)
    [cid] = register_customers([s1], 1).values()
    status, first = s1.commit("R1", 0, 10_000)
    assert status == 201 and 2 * limit > first["balance"] == first["accrued"] > limit
    points = first["balance"]
    db = CentralStore(db_path)
    assert s1.wait_drained(10)
    assert wait_caught_up(s1, db, [cid]) and wait_caught_up(s2, db, [cid])
    assert local_balance(s2, 0) == points  # the other store knows the points

    broker.kill()
    assert wait_for(lambda: s1.health()["link"] == s2.health()["link"] == "offline", 10)
    for agent in (s1, s2):
        # the offline bound (sync.md point 5): at most the daily limit, at most the last known balance
        # receipts under 100.00 accrue nothing (the rule set's first tier) and may redeem 20 %
        status, body = agent.commit(f"{agent.store}-X", 0, 9_000, limit + 1)
        assert (status, body["code"], body["max_redeemable"]) == (422, "offline_limit", limit), body
        status, body = agent.commit(f"{agent.store}-Y", 0, 9_000, points + 1)
        assert (status, body["code"]) == (422, "insufficient_points"), body
        status, body = agent.commit(f"{agent.store}-Z", 0, 9_000, limit)
        assert status == 201 and body["redeemed"] == limit and body["offline"] is True, body
        assert body["balance"] == points - limit  # this store's view
        status, body = agent.commit(f"{agent.store}-W", 0, 9_000, 1)  # the day's allowance is used up
        assert (status, body["code"]) == (422, "offline_limit"), body

    broker.restart()
    assert s1.wait_drained(30) and s2.wait_drained(30)
    customer = db.customer(cid)
    balance = points - 2 * limit  # both stores let the customer spend the same points
    assert customer["balance"] == db.ledger_sum(cid) == balance < 0  # applied, never dropped
    [debt] = db.debts()
    assert debt["customer_id"] == cid and debt["balance_after"] == balance and debt["shortfall"] == -balance
    assert db.count("applied_events") == 4
    # both stores see the corrected, negative balance
    for agent in (s1, s2):
        assert wait_caught_up(agent, db, [cid])
        status, view = agent.identify(0)
        assert view["balance"] == balance and view["available"] == 0
