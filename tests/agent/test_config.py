"""agent/config.py: one SETTINGS table, load order, validation naming the setting, docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.config import (
    SETTINGS,
    ConfigError,
    defaults,
    load_config,
    validate,
    write_config,
)

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_valid():
    assert validate(defaults()) == []


def test_load_order_defaults_file_env_overrides(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text('store_id = "S001"\noffline_daily_limit = 5000\nlisten_port = 9000\n', encoding="utf-8")
    env = {"LOYALTY_AGENT_OFFLINE_DAILY_LIMIT": "7000", "LOYALTY_AGENT_TERMINALS": "P01, P02"}
    config = load_config(path, env, overrides={"listen_port": 9100})
    assert config.store_id == "S001"  # file
    assert config.offline_daily_limit == 7000  # env over file
    assert config.terminals == ["P01", "P02"]
    assert config.listen_port == 9100  # overrides over all
    assert config.listen_host == "127.0.0.1"  # default: loopback
    assert config.effective_agent_id == "S001-1"
    assert config.path == path


def test_config_file_from_environment(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('store_id = "S777"\n', encoding="utf-8")
    assert load_config(env={"LOYALTY_AGENT_CONFIG": str(path)}).store_id == "S777"


@pytest.mark.parametrize(
    "values, message",
    [
        ({"offline_daily_limit": "lots"}, '"offline_daily_limit" should be an integer'),
        ({"listen_port": 70000}, '"listen_port" should be 1..65535'),
        ({"timezone": "Mars/Olympus"}, '"timezone" is not a known time zone'),
        ({"broker_url": "http://x"}, '"broker_url" should look like mqtt://'),
        # the MQTT client's urlsplit().port raised ValueError on each of these at the first connect
        ({"broker_url": "mqtt://broker:port"}, '"broker_url" should look like mqtt://'),
        ({"broker_url": "mqtts://broker:99999"}, '"broker_url" should look like mqtt://'),
        ({"broker_url": "mqtts://[::1"}, '"broker_url" should look like mqtt://'),
        ({"broker_url": "mqtts://:8883"}, '"broker_url" should look like mqtt://'),
        ({"terminals": ["P 01"]}, '"terminals" has bad terminal ids'),
        ({"terminals": ["P01", "P01"]}, '"terminals" lists a terminal twice'),
        ({"card_ranges": [{"prefix": "77", "length": 2}]}, '"card_ranges" [0].length'),
        ({"card_ranges": [{"prefix": "77", "length": 16, "lunh": True}]}, "unknown keys"),
        ({"qr_secret": "short"}, '"qr_secret" should be at least 16'),
        ({"store_id": "S 1"}, '"store_id" should be'),
        ({"colour": "red"}, 'unknown setting "colour"'),
        ({"log_level": "LOUD"}, '"log_level" should be one of'),
    ],
)
def test_validation_names_the_setting(values, message):
    problems = validate({**defaults(), **values})
    assert any(message in p for p in problems), problems


def test_every_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text('listen_port = "x"\nthreads = 0\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert "listen_port" in str(info.value) and "threads" in str(info.value)


def test_bad_env_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="LOYALTY_AGENT_LISTEN_PORT"):
        load_config(env={"LOYALTY_AGENT_LISTEN_PORT": "eighty"}, use_file=False)
    path = tmp_path / "agent.toml"
    path.write_text("store_id = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, {})
    path.write_text('stor_id = "S1"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match='unknown setting "stor_id"'):
        load_config(path, {})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", {})


def test_card_ranges_from_text():
    config = load_config(env={"LOYALTY_AGENT_CARD_RANGES": "7700:16:luhn,2000:13"}, use_file=False)
    assert [(r.prefix, r.length, r.luhn) for r in config.ranges] == [("7700", 16, True), ("2000", 13, False)]


def test_write_config_round_trip(tmp_path):
    path = tmp_path / "etc" / "agent.toml"
    write_config(
        {
            "store_id": "S001",
            "card_ranges": [{"prefix": "7700", "length": 16, "luhn": True}],
            "printer_kind": "serial",
            "printer_url": "socket://127.0.0.1:9100",
        },
        path,
    )
    assert path.stat().st_mode & 0o777 == 0o600
    config = load_config(path, {})
    assert config.card_ranges[0]["luhn"] is True and config.printer_url.startswith("socket://")


def test_every_setting_is_documented():
    docs = (ROOT / "docs" / "agent.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", docs, re.MULTILINE))
    assert {s.name for s in SETTINGS} <= documented
    assert all(s.help.strip() for s in SETTINGS)
