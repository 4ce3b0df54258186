"""A stale hello must not raise a false "restored from backup" alarm (issue 12).

With QoS 1 the broker delivers again what it had not saved as acknowledged when it crashed. The
sequence that made every agent look restored: the central server dies; the broker is killed and
restarted while it is down (the agents reconnect and say hello, the broker saves the hellos in the
ingest's queue); the central server comes back and handles the hellos and the sales behind them;
the broker is killed again about 0.3 s later, before its next save, and on restart delivers the
old hellos again, now behind the central server's pointer.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from central.storage.store import Store as CentralStore
from tests.polling import wait_for

from .conftest import STORES

pytestmark = pytest.mark.slow


def _saved(broker, after: float) -> bool:
    """The broker wrote its persistence file since ``after`` (autosave every second)."""
    db = Path(broker.workdir) / "mosquitto.db"
    return db.exists() and db.stat().st_mtime > after


def _connects(broker, agent) -> int:
    """How many times the broker has let the agent in (its log, across restarts)."""
    return broker.log_text().count(f" as agent-{agent.store}-{agent.agent} ")


def test_a_stale_hello_after_broker_crashes_raises_no_restore_alarm(broker, central, db_path, spawn):
    agents = [spawn(store) for store in STORES]
    for agent in agents:
        assert agent.wait_online(30)
        agent.register(STORES.index(agent.store))
    for agent in agents:
        assert agent.wait_drained(20)
    cards = {agent.store: STORES.index(agent.store) for agent in agents}

    central.crash()  # the central server dies
    before = {agent.store: _connects(broker, agent) for agent in agents}
    broker.restart(down_for=0.3)  # the broker is killed and restarted while it is down
    for agent in agents:  # they reconnect and say hello (into the ingest's queue)
        assert wait_for(lambda agent=agent: _connects(broker, agent) > before[agent.store], 20)
    reconnected = time.time()
    for n in range(3):  # sales behind the hellos
        for agent in agents:
            status, body = agent.commit(f"{agent.store}-R{n}", cards[agent.store], 10_000)
            assert status == 201, body
    assert wait_for(lambda: _saved(broker, reconnected + 0.5), 10)  # the hellos are in the broker's file
    # come back just after a save, so that the next one is about a second away
    mark = Path(broker.workdir, "mosquitto.db").stat().st_mtime
    assert wait_for(lambda: _saved(broker, mark), 5, 0.005)
    central.start()
    time.sleep(0.3)  # the scenario: the central server has handled the hellos and what follows them
    broker.restart()  # killed again before its next save: it delivers the old hellos once more

    # one more sale each after the restart: the broker delivers it after what it kept in the
    # ingest's queue, so once it is applied the old hellos have been handled
    for agent in agents:
        assert wait_for(lambda agent=agent: agent.health().get("link") == "online", 20)
        status, body = agent.commit(f"{agent.store}-after", cards[agent.store], 10_000)
        assert status == 201, body
    db = CentralStore(db_path)
    for agent in agents:
        assert agent.wait_drained(30), agent.outbox_depth()
        assert wait_for(lambda agent=agent: db.applied_seq(agent.store, "a1") == agent.last_seq(), 20)
    # the scenario did happen: the old hellos (and the sales behind them) came again
    assert central.ingest.stats["stale_hellos"] >= 1 and central.ingest.stats["duplicates"] >= 1
    assert db.flags("restored_agent") == []
    assert [a["restored_at"] for a in db.agents()] == [None] * len(agents)
    assert db.count("applied_events") == 5 * len(agents)
    db.close()
