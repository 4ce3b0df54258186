"""``loyalty-central serve`` on embedded defaults: web, ingest and an embedded broker in one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from central.storage.store import Store
from tests.polling import wait_for
from tests.sync.broker import free_port
from tests.sync.sim_agent import SimAgent

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

ROOT = Path(__file__).resolve().parents[2]


def _http(url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def served(tmp_path, central_database):
    db_file = central_database
    web, mqtt = free_port(), free_port()
    env = {
        **os.environ,
        "LOYALTY_CENTRAL_DATABASE": json.dumps(str(db_file)),
        "LOYALTY_CENTRAL_EMBEDDED_BROKER_PORT": str(mqtt),
        "LOYALTY_CENTRAL_GAP_WAIT": "0.5",
    }
    cli = [sys.executable, "-m", "central.cli"]
    out = subprocess.run(
        [*cli, "stores", "add", "S1", "--name", "Demo"], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    out = subprocess.run([*cli, "tokens", "add", "monitoring"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "shown only now" in out.stderr, out.stderr
    api_token = out.stdout.strip()
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(web)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
    )
    base = f"http://127.0.0.1:{web}"

    def up() -> bool:
        try:
            return _http(base + "/health")[0] == 200
        except OSError:
            return False

    assert wait_for(up, 20, 0.1), (tmp_path / "serve.log").read_text()
    yield base, token, str(db_file), api_token
    proc.terminate()
    proc.wait(10)
    log.close()


def test_serve_runs_web_ingest_and_embedded_broker(served):
    base, token, db_file, api_token = served
    status, enrolled = _http(base + "/api/v1/enroll", {"token": token})
    assert status == 201, enrolled
    mqtt = enrolled["mqtt"]
    assert mqtt["protocol"] == 4 and mqtt["url"].startswith("mqtt://127.0.0.1:")  # amqtt speaks 3.1.1
    status, again = _http(base + "/api/v1/enroll", {"token": token})
    assert status == 409 and again["code"] == "enroll_token_used"

    agent = SimAgent(
        mqtt["url"],
        "S1",
        enrolled["agent"],
        username=mqtt["username"],
        password=mqtt["password"],
        protocol=mqtt["protocol"],
    ).start()
    try:
        agent.write_all([agent.registration("c1")] + [agent.purchase("c1", accrued=100) for _ in range(50)])
        assert agent.wait_drained(20)
        db = Store(db_file)
        assert db.customer("c1")["balance"] == 5000 == db.ledger_sum("c1")
        assert wait_for(lambda: "c1" in agent.customers, 10)  # deltas come down on 3.1.1 too
        assert _http(base + "/api/v1/stores/status")[0] == 401  # monitoring needs its API token
        _, body = _http(base + "/api/v1/stores/status", token=api_token)
        row = body["stores"][0]["agents"][0]
        assert row["id"] == "a1" and row["state"] == "online" and row["applied_seq"] == 51
    finally:
        agent.stop()
