"""Enrollment against a real central server, then the enrolled agent on a Mosquitto with the ACL;
presence (retained status, last will) of a real agent in the central server's store status."""

from __future__ import annotations

import datetime as dt
import signal
import threading
import tomllib
from pathlib import Path

from click.testing import CliRunner
from werkzeug.serving import make_server

from agent.auth import add_terminal
from agent.cli import cli as agent_cli
from agent.store import Store as AgentStore
from agent.testing import AgentProcess, PreparedAgent, free_port, request
from central import create_app
from central.cli import cli as central_cli
from central.storage.store import Store as CentralStore
from central.sync.ingest import Ingest
from tests.polling import wait_for
from tests.sync.broker import Mosquitto
from transport.mqtt import LinkConfig

from .conftest import RULES, receipt


def _serve_central(db_file: str, mqtt_url: str) -> tuple[str, object]:
    """The central web app (enrollment, status) on a free port, in a thread."""
    app = create_app({"DATABASE": db_file, "MQTT_URL": mqtt_url})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def _setup(config: Path, *args: str):
    return CliRunner().invoke(agent_cli, ["setup", "--no-input", "--no-database", "--config", str(config), *args])


def test_enroll_then_sync_through_the_acl_broker(tmp_path):
    db_file = str(tmp_path / "central.sqlite")
    db = CentralStore(db_file)
    db.add_store("S1", "Tverskaya 7", "Asia/Yekaterinburg")
    db.add_rules("S1", RULES)
    token = db.new_enrollment_token("S1")
    expired = db.new_enrollment_token("S1", dt.timedelta(seconds=-1))
    broker = Mosquitto(
        tmp_path / "broker", password_file=tmp_path / "etc" / "passwd", acl_file=tmp_path / "etc" / "acl"
    )
    base, server = _serve_central(db_file, broker.url)
    config = tmp_path / "agent.toml"
    port = free_port()
    settings = [
        "--database",
        str(tmp_path / "agent.sqlite"),
        "--terminals",
        "P01",
        "--listen-port",
        str(port),
        "--card-ranges",
        "7700:16:luhn",
        "--broker-reconnect-max",
        "1",
    ]
    try:
        result = _setup(config, "--enroll", token, "--central", base, *settings)
        assert result.exit_code == 0, result.output
        assert "enrolled as agent a1 of store S1 (Tverskaya 7)" in result.output
        written = tomllib.loads(config.read_text(encoding="utf-8"))
        assert (written["store_id"], written["agent_id"], written["timezone"]) == ("S1", "a1", "Asia/Yekaterinburg")
        assert written["broker_url"] == broker.url and written["broker_username"] == "agent-S1-a1"
        assert written["broker_protocol"] == 5 and written["broker_client_id"] == "agent-S1-a1"
        assert len(written["broker_password"]) >= 24 and written["central_url"] == base
        assert config.stat().st_mode & 0o777 == 0o600  # it holds the broker password

        # the same token again, an expired one, a wrong one, a central server that is not there:
        # refused with a clear message, and the config is left as it was
        before = config.read_text(encoding="utf-8")
        for bad, words in ((token, "already used"), (expired, "expired"), ("nope", "unknown enrollment token")):
            again = _setup(config, "--enroll", bad, "--central", base, *settings)
            assert again.exit_code == 1 and words in again.output and "not written" in again.output, again.output
        gone = _setup(config, "--enroll", token, "--central", f"http://127.0.0.1:{free_port()}", *settings)
        assert gone.exit_code == 1 and "cannot reach the central server" in gone.output
        alone = CliRunner().invoke(agent_cli, ["setup", "--no-input", "--config", str(config), "--enroll", token])
        assert alone.exit_code == 2 and "go together" in alone.output
        assert config.read_text(encoding="utf-8") == before

        # head office writes the broker's password file and ACL; the agent connects with its own login
        out = CliRunner().invoke(central_cli, ["broker-config", "--out", str(tmp_path / "etc"), "--db", db_file])
        assert out.exit_code == 0, out.output
        broker.start()
        user, password = db.central_credentials()
        central = Ingest(
            db_file,
            LinkConfig(url=broker.url, client_id="central-ingest", username=user, password=password, backoff_max=1.0),
            gap_wait=0.5,
            publish_interval=0.2,
        ).start()
        database = tmp_path / "agent.sqlite"
        store = AgentStore(database, agent_id="a1")
        key = add_terminal(store, "P01")
        store.close()
        agent = AgentProcess(PreparedAgent(config, database, key, port), log=tmp_path / "agent.log")
        agent.start()
        try:
            assert wait_for(lambda: request(port, "GET", "/v1/health", None, None)[1]["link"] == "online", 20)
            status, body = request(
                port, "POST", "/v1/customers", {"phone": "+79120000001", "consents": {"personal_data": True}}, key
            )
            assert status == 201, body
            status, body = request(
                port, "POST", "/v1/receipts", {**receipt("R1", 0, 10_000), "customer": {"id": body["customer_id"]}}, key
            )
            assert status == 201, body
            assert wait_for(lambda: db.applied_seq("S1", "a1") == 2, 20), (tmp_path / "agent.log").read_text()
        finally:
            agent.kill()
            central.stop()
    finally:
        server.shutdown()  # type: ignore[attr-defined]
        broker.stop()
        db.close()


def _api_token(db_path: str) -> str:
    from central.services.access import SYSTEM
    from central.services.tokens import add_token
    from central.storage.store import Store

    store = Store(db_path)
    try:
        return add_token(store, SYSTEM, "system test")[1]
    finally:
        store.close()


def _agent_status(client, store: str = "S1") -> dict:
    body = client.get("/api/v1/stores/status", headers={"Authorization": f"Bearer {client.api_token}"}).get_json()
    [row] = [s for s in body["stores"] if s["id"] == store]
    return row["agents"][0] if row["agents"] else {}


def test_presence_of_a_real_agent_in_the_store_status(central, db_path, broker, spawn):
    client = create_app({"DATABASE": db_path, "MQTT_URL": broker.url}).test_client()
    client.api_token = _api_token(db_path)
    agent = spawn("S1")
    cid = agent.register(1)
    # the rule set arrives and the first sync happens right after connecting: both are told at once
    assert wait_for(lambda: _agent_status(client).get("rules_version") == 17 and _agent_status(client)["last_sync"], 20)
    row = _agent_status(client)
    assert row["id"] == "a1" and row["state"] == "online" and row["software"].startswith("loyalty-agent")
    assert row["outbox_depth"] in (0, 1) and row["customers_version"] >= 0  # the registration may be on its way

    # sales while the broker is down: the status sent on reconnect carries the outbox depth
    assert agent.wait_drained(10)
    broker.kill()
    for n in range(3):
        assert agent.post("/v1/receipts", {**receipt(f"R{n}", 1, 10_000), "customer": {"id": cid}})[0] == 201
    broker.restart()
    assert wait_for(lambda: _agent_status(client).get("outbox_depth") == 3, 20)
    assert agent.wait_drained(20)

    # SIGKILL: no goodbye; the broker publishes the last will (after its 5 s delay)
    agent.kill(signal.SIGKILL)
    assert wait_for(lambda: _agent_status(client).get("state") == "offline", 30)
    agent.start()
    assert wait_for(lambda: _agent_status(client).get("state") == "online", 20)
    # SIGTERM: the agent says offline itself, at once
    agent.stop()
    assert wait_for(lambda: _agent_status(client).get("state") == "offline", 5)
