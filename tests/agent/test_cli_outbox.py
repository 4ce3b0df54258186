"""`loyalty-agent outbox depth/list` and the central link in `status`."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from agent.config import load_config
from agent.service import Service
from agent.store import Store
from agent.store.times import iso
from tests.agent.test_cli_agent import RULES, run


@pytest.fixture
def synced(tmp_path):
    """An agent configured with a broker, a rule set and two receipts waiting in its outbox."""
    path = tmp_path / "agent.toml"
    result = run(
        "setup",
        "--no-input",
        "--config",
        str(path),
        "--store-id",
        "S001",
        "--agent-id",
        "a1",
        "--database",
        str(tmp_path / "agent.sqlite"),
        "--broker-url",
        "mqtt://127.0.0.1:1883",
    )
    assert result.exit_code == 0, result.output
    assert run("rules", "load", RULES, "--config", str(path)).exit_code == 0
    config = load_config(path, env={})
    store = Store(config.database, agent_id="a1")
    service = Service(store, config)
    for n in range(2):
        service.commit(
            "P01", {"receipt_id": f"R{n}", "at": dt.datetime.now(dt.UTC).isoformat(), "lines": [{"amount": 20_000}]}
        )
    yield path, store
    store.close()


def test_outbox_depth_and_list(synced):
    path, _ = synced
    result = run("outbox", "depth", "--config", str(path))
    assert result.exit_code == 0, result.output
    assert (
        "2 event(s) waiting" in result.output and "next seq 3" in result.output and "last sync never" in result.output
    )
    data = json.loads(run("outbox", "depth", "--json", "--config", str(path)).output)
    assert data["outbox_depth"] == 2 and data["link"] == "offline"
    listing = run("outbox", "list", "--config", str(path)).output.splitlines()
    assert [line.split("\t")[0] for line in listing] == ["1", "2"]
    assert listing[0].split("\t")[2] == "purchase" and listing[0].endswith("\tR0")
    assert run("outbox", "list", "--after", "2", "--config", str(path)).output.startswith("the outbox is empty")


def test_status_shows_the_link_as_the_till_sees_it(synced):
    path, store = synced
    data = json.loads(run("status", "--json", "--config", str(path)).output)
    assert data["link"] == "offline" and data["last_sync_at"] is None and data["outbox_depth"] == 2
    store.set_state("link", "online")
    store.set_state("last_sync_at", iso(dt.datetime.now(dt.UTC)))
    store.set_state("customers_version", "42")
    data = json.loads(run("status", "--json", "--config", str(path)).output)
    assert data["link"] == "online" and data["customers_version"] == 42
    # connected to the broker, but the central server has not answered for too long
    store.set_state("last_sync_at", iso(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)))
    data = json.loads(run("status", "--json", "--config", str(path)).output)
    assert data["link"] == "offline"
    assert "central link: offline" in run("status", "--config", str(path)).output
