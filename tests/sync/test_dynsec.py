"""Enrollment with Mosquitto's dynamic security plugin: the agent's login and ACL at once (issue 12).

A real Mosquitto is started by the test with the plugin and the lines
``loyalty-central broker-config --dynsec`` writes; the central web app runs with
``BROKER_SECURITY = "dynsec"``. No password file, no ACL file, no SIGHUP.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from central import create_app
from central.cli import cli
from central.storage.store import Store
from central.sync.dynsec import PLUGIN_PATH
from shared import wire
from tests.polling import wait_for

from .broker import Mosquitto
from .clients import Listener

pytestmark = [
    pytest.mark.skipif(not Path(PLUGIN_PATH).exists(), reason="Mosquitto's dynamic security plugin is not installed"),
    pytest.mark.postgresql,
]


def _post(base: str, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def chain(tmp_path: Path, central_database: str):
    """Stores S1, S2 (S1's agent a1 enrolled before the plugin), the plugin's broker, the web app."""
    db_file = central_database
    db = Store(db_file)
    for store in ("S1", "S2"):
        db.add_store(store)
    early, early_password = db.enroll(db.new_enrollment_token("S1"))
    central = db.central_credentials()
    result = CliRunner().invoke(cli, ["broker-config", "--dynsec", "--out", str(tmp_path / "etc"), "--db", db_file])
    assert result.exit_code == 0, result.output
    settings = (tmp_path / "etc" / "loyalty.conf").read_text().splitlines()
    assert f"plugin {PLUGIN_PATH}" in settings and "use_username_as_clientid true" in settings
    broker = Mosquitto(tmp_path / "broker", extra=settings, max_queued=None).start()
    app = create_app({"DATABASE": db_file, "MQTT_URL": broker.url, "BROKER_SECURITY": "dynsec"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {
        "db": db,
        "broker": broker,
        "base": f"http://127.0.0.1:{server.server_port}",
        "central": central,
        "early": (early["username"], early_password),
    }
    server.shutdown()
    broker.stop()
    db.close()


def _enroll(chain, store: str) -> tuple[int, dict]:
    return _post(chain["base"], "/api/v1/enroll", {"token": chain["db"].new_enrollment_token(store)})


def _agent(
    chain, creds: tuple[str, str], topics: list[str], client_id: str | None = None, wait: bool = True
) -> Listener:
    return Listener(chain["broker"].url, topics, client_id or creds[0], username=creds[0], password=creds[1], wait=wait)


def _status(store: str, agent: str) -> bytes:
    return wire.encode("status", {"store": store, "agent": agent, "state": "online", "at": "2026-11-21T12:00:00+03:00"})


def test_an_enrolled_agent_connects_at_once_with_exactly_its_rights(chain):
    cuser, cpass = chain["central"]
    central = Listener(chain["broker"].url, wire.central_subscriptions(), cuser, username=cuser, password=cpass)
    status, answer = _enroll(chain, "S2")
    assert status == 201, answer
    creds = (answer["mqtt"]["username"], answer["mqtt"]["password"])
    assert creds[0] == answer["mqtt"]["client_id"] == "agent-S2-a1"
    # no broker-config, no SIGHUP: the login works now
    agent = _agent(chain, creds, wire.agent_subscriptions("S2", "a1") + [wire.store_topic("S1", "rules")])
    agent.link.publish(wire.agent_topic("S1", "a1", "status"), _status("S1", "a1"))  # another store's: refused
    agent.link.publish(wire.agent_topic("S2", "a2", "events"), b"another agent of my own store")
    agent.link.publish(wire.agent_topic("S2", "a1", "status"), _status("S2", "a1"))  # the marker, its own
    assert wait_for(lambda: wire.agent_topic("S2", "a1", "status") in central.topics(), 10)
    assert central.topics() == {wire.agent_topic("S2", "a1", "status")}
    # down: its own channels and store, never another store's
    for store in ("S1", "S2"):
        central.link.publish(
            wire.store_topic(store, "rules"),
            wire.encode("rules", {"store": store, "version": 1, "rules": {}}),
            retain=True,
        )
    central.link.publish(wire.agent_topic("S2", "a1", "acks"), wire.encode("ack", {"through": 1, "id": "x"}))
    assert wait_for(lambda: wire.agent_topic("S2", "a1", "acks") in agent.topics(), 10)
    assert agent.topics() == {wire.store_topic("S2", "rules"), wire.agent_topic("S2", "a1", "acks")}
    # the agent enrolled before the plugin came in broker-config's first file, with its password
    early = _agent(chain, chain["early"], [])
    assert early.link.connects == 1
    for client in (agent, early, central):
        client.stop()


def test_a_login_cannot_take_over_another_stores_session(chain):
    s2 = _enroll(chain, "S2")[1]["mqtt"]
    victim = _agent(chain, (s2["username"], s2["password"]), wire.agent_subscriptions("S2", "a1"))
    intruders = [_agent(chain, chain["early"], [], client_id=s2["client_id"], wait=False) for _ in range(3)]
    assert wait_for(lambda: all(i.link.connects or i.link.refusals for i in intruders), 10)
    cuser, cpass = chain["central"]
    central = Listener(chain["broker"].url, [], cuser, username=cuser, password=cpass)
    central.link.publish(wire.agent_topic("S2", "a1", "acks"), wire.encode("ack", {"through": 7, "id": "marker"}))
    assert wait_for(lambda: wire.agent_topic("S2", "a1", "acks") in victim.topics(), 10)
    assert victim.link.connects == 1 and victim.link.connected.is_set()
    assert "agent-S2-a1 already connected" not in chain["broker"].log_text()
    for client in (*intruders, victim, central):
        client.stop()


def test_a_broker_that_cannot_be_reached_enrolls_nothing_and_the_token_stays_good(chain):
    db, broker = chain["db"], chain["broker"]
    token = db.new_enrollment_token("S2")
    broker.stop()
    status, answer = _post(chain["base"], "/api/v1/enroll", {"token": token})
    assert status == 503 and answer["code"] == "broker_unavailable", answer
    assert [a["id"] for a in db.agents("S2")] == []
    broker.start()
    status, answer = _post(chain["base"], "/api/v1/enroll", {"token": token})
    assert status == 201, answer
    # the plugin keeps what enrollment granted across a restart (its own file)
    broker.restart()
    agent = _agent(chain, (answer["mqtt"]["username"], answer["mqtt"]["password"]), [])
    assert agent.link.connects == 1
    agent.stop()
