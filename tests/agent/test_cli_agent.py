"""The technician's CLI: setup (prompts and flags), status, doctor, terminals, rules load."""

from __future__ import annotations

import json
import tomllib

import pytest
from click.testing import CliRunner

from agent.cli import cli
from agent.config import SETTINGS
from agent.store import Store
from tests.conftest import EXAMPLES

RULES = str(EXAMPLES / "rules.json")


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, env={"LOYALTY_AGENT_CONFIG": None})


@pytest.fixture
def configured(tmp_path):
    path = tmp_path / "etc" / "agent.toml"
    result = run(
        "setup",
        "--no-input",
        "--config",
        str(path),
        "--store-id",
        "S001",
        "--terminals",
        "P01,P02",
        "--database",
        str(tmp_path / "var" / "agent.sqlite"),
        "--card-ranges",
        "7700:16:luhn",
        "--offline-daily-limit",
        "50000",
    )
    assert result.exit_code == 0, result.output
    return path


def test_setup_with_flags_writes_valid_toml_and_database(configured, tmp_path):
    data = tomllib.loads(configured.read_text(encoding="utf-8"))
    assert data["store_id"] == "S001" and data["agent_id"] == "S001-1" and data["terminals"] == ["P01", "P02"]
    assert data["card_ranges"] == [{"prefix": "7700", "length": 16, "luhn": True}]
    assert data["offline_daily_limit"] == 50000 and data["listen_host"] == "127.0.0.1"
    assert data["reader_kind"] == data["printer_kind"] == "none" and data["broker_url"] == ""
    assert (tmp_path / "var" / "agent.sqlite").exists()


def test_setup_refuses_bad_values_and_writes_nothing(tmp_path):
    path = tmp_path / "agent.toml"
    result = run(
        "setup",
        "--no-input",
        "--config",
        str(path),
        "--store-id",
        "S001",
        "--listen-port",
        "eighty",
        "--timezone",
        "Mars/Base",
    )
    assert result.exit_code == 1
    assert '"listen_port" should be an integer' in result.output
    assert not path.exists()
    result = run("setup", "--no-input", "--config", str(path), "--timezone", "Mars/Base", "--no-database")
    assert '"timezone" is not a known time zone' in result.output and '"store_id" is required' in result.output
    assert not path.exists()


def test_setup_interactive_reprompts_bad_values(tmp_path):
    path = tmp_path / "agent.toml"
    answers = [
        "S002",  # store_id
        "",  # agent_id: default S002-1
        "P01",  # terminals
        "",  # listen_host
        "99999",
        "8800",  # listen_port: refused, then accepted
        str(tmp_path / "agent.sqlite"),  # database
        "",  # timezone
        "",  # broker_url
        "",  # offline_daily_limit
        "7700:16:luhn",  # card_ranges
        "",  # qr_secret
        "",  # card reader: none (the default)
        "",  # receipt printer: none (the default)
    ]
    result = run("setup", "--config", str(path), input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert '"listen_port" should be 1..65535' in result.output
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert (data["store_id"], data["agent_id"], data["listen_port"]) == ("S002", "S002-1", 8800)


def test_setup_rerun_keeps_existing_values(configured):
    result = run("setup", "--no-input", "--config", str(configured), "--listen-port", "8766")
    assert result.exit_code == 0, result.output
    data = tomllib.loads(configured.read_text(encoding="utf-8"))
    assert data["listen_port"] == 8766 and data["terminals"] == ["P01", "P02"]


def test_setup_fixes_a_file_with_a_bad_value_and_refuses_a_file_that_is_not_toml(configured, tmp_path):
    # the agent refuses to start naming the bad setting; setup is how it gets fixed (was a traceback)
    configured.write_text(configured.read_text(encoding="utf-8").replace("8765", "70000"), encoding="utf-8")
    result = run("setup", "--no-input", "--no-database", "--config", str(configured))
    assert result.exit_code == 1 and '"listen_port" should be 1..65535' in result.output
    result = run("setup", "--no-input", "--no-database", "--config", str(configured), "--listen-port", "8766")
    assert result.exit_code == 0, result.output
    data = tomllib.loads(configured.read_text(encoding="utf-8"))
    assert data["listen_port"] == 8766 and data["store_id"] == "S001" and data["terminals"] == ["P01", "P02"]
    garbled = tmp_path / "garbled.toml"
    garbled.write_bytes(b"\xffstore_id = [")
    result = run("setup", "--no-input", "--no-database", "--config", str(garbled), "--store-id", "S001")
    assert result.exit_code == 1 and "is not valid TOML" in result.output and "Fix or move the file" in result.output
    assert garbled.read_bytes() == b"\xffstore_id = ["


def test_setup_whose_database_cannot_be_created_leaves_the_file_as_it_was(configured, tmp_path):
    # the config was written first: the agent then pointed at a database that was never created
    before = configured.read_bytes()
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    for database in (tmp_path / "a-file" / "agent.sqlite", tmp_path):
        result = run("setup", "--no-input", "--config", str(configured), "--database", str(database))
        assert result.exit_code == 1 and "wrote" not in result.output, result.output
        assert configured.read_bytes() == before


def test_help_settings_lists_every_setting():
    result = run("setup", "--help-settings")
    assert result.exit_code == 0
    for setting in SETTINGS:
        assert setting.name in result.output


def test_terminals_add_list_revoke(configured):
    result = run("terminals", "add", "P01", "--name", "Till 1", "--config", str(configured))
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("lk_") and len(key) > 40
    listing = run("terminals", "list", "--config", str(configured)).output
    assert "P01\tTill 1\tactive" in listing and key not in listing
    assert run("terminals", "revoke", "P01", "--config", str(configured)).exit_code == 0
    again = run("terminals", "revoke", "P01", "--config", str(configured))
    assert again.exit_code == 1 and "no active key" in again.output
    assert "bad id" not in run("terminals", "add", "P 1", "--config", str(configured)).output
    assert run("terminals", "add", "P 1", "--config", str(configured)).exit_code == 1


def test_rules_load(configured, tmp_path):
    result = run("rules", "load", RULES, "--config", str(configured))
    assert result.exit_code == 0 and "installed rule set version 17 of store S001" in result.output
    assert "already installed" in run("rules", "load", RULES, "--config", str(configured)).output
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"version": 1, "store": "S001", "timezone": "Europe/Moscow", "base_percent": "500"}', encoding="utf-8"
    )
    result = run("rules", "load", str(bad), "--config", str(configured))
    assert result.exit_code == 2 and "base_percent" in result.output
    other = tmp_path / "other.json"
    doc = json.loads((EXAMPLES / "rules.json").read_text(encoding="utf-8"))
    other.write_text(json.dumps({**doc, "store": "S002", "version": 99}), encoding="utf-8")
    result = run("rules", "load", str(other), "--config", str(configured))
    assert result.exit_code == 2 and "store S002; this agent is store S001" in result.output
    assert run("rules", "load", str(tmp_path / "none.json"), "--config", str(configured)).exit_code == 2


def test_rules_load_of_json_nested_too_deeply_is_a_bad_file(configured, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000, encoding="utf-8")  # was a RecursionError traceback
    result = run("rules", "load", str(deep), "--config", str(configured))
    assert result.exit_code == 2 and "not valid JSON: nested too deeply" in result.output


def test_status(configured):
    run("rules", "load", RULES, "--config", str(configured))
    run("terminals", "add", "P01", "--config", str(configured))
    result = run("status", "--config", str(configured))
    assert result.exit_code == 0, result.output
    assert "rule set: version 17" in result.output
    assert "outbox: 0 event(s) waiting" in result.output
    assert "last sync: never" in result.output
    assert "terminal P02: configured, no key yet" in result.output
    data = json.loads(run("status", "--json", "--config", str(configured)).output)
    assert data["rules_version"] == 17 and data["link"] == "standalone"
    assert data["devices"] == {"source": "database", "reader": None, "printer": None}
    assert "card reader: none configured" in result.output and "printer: none configured" in result.output


def test_doctor(configured, tmp_path):
    result = run("doctor", "--config", str(configured))
    assert result.exit_code == 0, result.output
    assert "database integrity: ok" in result.output and "free disk" in result.output and "clock" in result.output
    db = tmp_path / "var" / "agent.sqlite"
    db.unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / "var" / f"agent.sqlite{suffix}").unlink(missing_ok=True)
    result = run("doctor", "--config", str(configured))
    assert result.exit_code == 1 and "FAIL database" in result.output


def test_doctor_finds_corruption(configured, tmp_path):
    db = tmp_path / "var" / "agent.sqlite"
    store = Store(db)
    store.apply_customer_deltas(
        {
            "customer_id": f"c{i}",
            "version": 1,
            "cards": [],
            "lots": [],
            "applied": {},
            "messages": [],
            "consents": {},
            "blocked": False,
            "name": "x" * 500,
        }
        for i in range(300)
    )
    store._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = bytearray(db.read_bytes())
    page = 4096
    data[page * 3 : page * 3 + 200] = b"\xff" * 200  # damage a b-tree page
    db.write_bytes(bytes(data))
    result = run("doctor", "--config", str(configured))
    assert result.exit_code == 1 and "FAIL database" in result.output


def test_commands_without_config_say_what_to_do(tmp_path):
    result = run("status", "--config", str(tmp_path / "none.toml"))
    assert result.exit_code == 1 and "loyalty-agent setup" in result.output
