"""loyalty-central commands: stores add, rules publish, broker-config."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from central.cli import cli
from central.storage.store import Store
from shared import wire

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_stores_add_prints_a_token_that_enrolls(db_file):
    result = run("stores", "add", "S1", "--name", "Tverskaya", "--timezone", "Europe/Moscow", "--db", db_file)
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    agent, password = Store(db_file).enroll(token)
    assert agent["store"] == "S1" and password
    again = run("stores", "add", "S1", "--db", db_file)
    assert again.exit_code == 1 and "already exists" in again.output
    bad = run("stores", "add", "S/1", "--db", db_file)
    assert bad.exit_code == 1 and "store id must be" in bad.output


def test_rules_publish_validates_and_versions(db_file, tmp_path, spec_rules_doc):
    run("stores", "add", "S1", "--db", db_file)
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(spec_rules_doc))
    result = run("rules", "publish", str(path), "--store", "S1", "--db", db_file)
    assert result.exit_code == 0 and "rule set version 17" in result.output
    result = run("rules", "publish", str(path), "--store", "S1", "--db", db_file)
    assert "version 18" in result.output
    bad = dict(spec_rules_doc, base_percent="lots")
    path.write_text(json.dumps(bad))
    result = run("rules", "publish", str(path), "--store", "S1", "--db", db_file)
    assert result.exit_code == 1 and "base_percent" in result.output
    result = run("rules", "publish", str(path), "--store", "S9", "--db", db_file)
    assert result.exit_code == 1 and "no store S9" in result.output
    assert Store(db_file).latest_rules()["S1"][0] == 18


def test_rules_publish_keeps_levels_chain_wide_and_the_store_time_zone(db_file, tmp_path, spec_rules_doc):
    run("stores", "add", "S1", "--timezone", "Asia/Yekaterinburg", "--db", db_file)
    run("stores", "add", "S2", "--timezone", "Asia/Yekaterinburg", "--db", db_file)
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(spec_rules_doc))
    first = run("rules", "publish", str(path), "--store", "S1", "--db", db_file)
    assert first.exit_code == 0, first.output
    assert "the file's 3 levels are now the chain's level program" in first.output
    assert "the store's time zone Asia/Yekaterinburg replaces the file's Europe/Moscow" in first.output
    other = dict(spec_rules_doc, levels=[{"name": "Solo", "from_spend": 0, "percent": "9"}])
    path.write_text(json.dumps(other))
    second = run("rules", "publish", str(path), "--store", "S2", "--db", db_file)
    assert second.exit_code == 0 and "the level program's levels replace the file's" in second.output
    published = Store(db_file).latest_rules()
    assert [lv["name"] for lv in published["S2"][1]["levels"]] == ["Base", "Gold", "Platinum"]
    assert published["S1"][1]["timezone"] == published["S2"][1]["timezone"] == "Asia/Yekaterinburg"


def test_broker_config_writes_passwd_and_acl(db_file, tmp_path):
    db = Store(db_file)
    db.add_store("S1")
    db.enroll(db.new_enrollment_token("S1"))
    result = run("broker-config", "--out", str(tmp_path / "etc"), "--db", db_file)
    assert result.exit_code == 0, result.output
    passwd = (tmp_path / "etc" / "passwd").read_text().splitlines()
    assert [line.split(":")[0] for line in passwd] == ["central", "agent-S1-a1"]
    assert all(line.split(":", 1)[1].startswith("$7$101$") for line in passwd)
    acl = (tmp_path / "etc" / "acl").read_text()
    assert "user agent-S1-a1\ntopic write loyalty/v1/stores/S1/agents/a1/events" in acl
    assert f"topic read {wire.store_topic('S1', 'rules')}" in acl
    assert "topic readwrite loyalty/v1/#" in acl
    assert "acl_file" in result.output
    conf = (tmp_path / "etc" / "loyalty.conf").read_text()
    assert "use_username_as_clientid true" in conf and "max_queued_messages 100000" in conf  # issue 12
    assert f"password_file {(tmp_path / 'etc' / 'passwd').resolve()}" in conf


def test_the_central_link_reconnects_within_its_setting_and_its_id_is_its_login(db_file):
    """Issue 12: the ingest's reconnect backoff was fixed at 30 s; it is MQTT_RECONNECT_MAX now."""
    from central.cli import _config, _link_config
    from central.config import check_settings

    config = _config(db_file)
    store = Store(db_file)
    link = _link_config(config, store, "mqtt://127.0.0.1:1883", 5)
    assert link.backoff_max == 2.0 and link.client_id == link.username == "central"
    link = _link_config({**config, "MQTT_RECONNECT_MAX": 0.5}, store, "mqtt://127.0.0.1:1883", 5)
    assert link.backoff_max == 0.5
    for bad in (0, 7200, "soon"):
        try:
            check_settings({**config, "MQTT_RECONNECT_MAX": bad})
        except ValueError as exc:
            assert "MQTT_RECONNECT_MAX" in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")


def test_messages_add_and_bad_input(db_file):
    run("stores", "add", "S1", "--db", db_file)
    ok = run(
        "messages",
        "add",
        "Double points today",
        "--store",
        "S1",
        "--until",
        "2099-01-01T00:00:00+03:00",
        "--db",
        db_file,
    )
    assert ok.exit_code == 0, ok.output
    version, items = Store(db_file).store_messages()["S1"]
    assert items == [{"id": items[0]["id"], "text": "Double points today", "until": "2098-12-31T21:00:00+00:00"}]
    bad = run("messages", "add", "x", "--store", "S1", "--until", "tomorrow", "--db", db_file)
    assert bad.exit_code == 1 and "ISO 8601" in bad.output
    zone = run("stores", "add", "S2", "--timezone", "Mars/Olympus", "--db", db_file)
    assert zone.exit_code == 1 and "unknown time zone" in zone.output
