"""``loyalty-central triggers``: start, one pass, list, stop."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from central.cli import cli
from central.services import triggers as service
from central.services.access import SYSTEM
from central.storage.store import IngestUnit, Store
from tests.sync.fakes import FakeAgent

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def test_start_once_list_stop(db_file):
    db = Store(db_file)
    db.add_store("S1", "Demo", "Europe/Moscow")
    db.stream_state("S1", "a1")
    event = FakeAgent("S1").registration("c1")
    db.commit_ingest(IngestUnit(events=[event], pointers={("S1", "a1"): (event["seq"], event["id"])}))
    tid = service.create(db, SYSTEM, service.templates("S1")["welcome"] | {"hours": list(range(24))})
    db.close()
    run = CliRunner()
    assert run.invoke(cli, ["triggers", "start", str(tid), "--db", db_file]).output == "1 customers entered\n"
    assert run.invoke(cli, ["triggers", "once", "--db", db_file]).output == "events 0, runs 1, actions 1\n"
    [line] = run.invoke(cli, ["triggers", "list", "--db", db_file]).output.splitlines()
    listed = json.loads(line)
    assert listed["state"] == "running" and listed["steps"][0]["entered"] == 1
    assert run.invoke(cli, ["triggers", "stop", str(tid), "--db", db_file]).exit_code == 0
    db = Store(db_file)
    assert db.trigger_row(tid)["state"] == "stopped"
    db.close()
