"""Rule sets in the console: every rule kind through the form, messages in place, drafts, publishing."""

from __future__ import annotations

import json

import pytest
from werkzeug.datastructures import MultiDict

from central.services import level_program as levels
from central.services import rules
from central.services.access import Forbidden, FormError
from central.services.rules_form import form_values
from central.sync.publisher import Publisher
from shared.rules import parse_rules

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

SPEC_FORM = {
    "base_percent": "5",
    "points_per_money": "1",
    "total_step": "1",
    "time_rules-0-type": "date",
    "time_rules-0-date": "2026-12-31",
    "time_rules-0-k": "2",
    "time_rules-1-type": "weekdays_hours",
    "time_rules-1-weekdays": ["5", "6"],
    "time_rules-1-from_hour": "17",
    "time_rules-1-to_hour": "18",
    "time_rules-1-k": "1,5",
    "time_rules-2-type": "weekdays",
    "time_rules-2-weekdays": "1",
    "time_rules-2-k": "1.2",
    "time_rules-3-type": "hours",
    "time_rules-3-from_hour": "8",
    "time_rules-3-to_hour": "10",
    "time_rules-3-k": "1.3",
    "receipt_tiers-0-from": "0",
    "receipt_tiers-0-k": "0",
    "receipt_tiers-1-from": "100",
    "receipt_tiers-1-k": "1",
    "receipt_tiers-2-from": "3000",
    "receipt_tiers-2-k": "1.5",
    "categories-0-name": "SUSHI",
    "categories-0-k": "2",
    "categories-0-redeemable": "1",
    "categories-1-name": "TOBACCO",
    "categories-1-k": "0",
    "category_groups-0-name": "LUNCH",
    "category_groups-0-categories": "BIZLUNCH, DAYMENU",
    "category_groups-0-k": "1.5",
    "products-0-sku": "SKU-1",
    "products-0-category": "SUSHI",
    "products-0-k": "3",
    "products-0-redeemable": "1",
    "redemption.max_percent": "20",
    "redemption.reduced_max_percent": "10",
    "redemption.discount_threshold_percent": "25",
}


def _multi(fields: dict) -> MultiDict:
    form = MultiDict()
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            form.add(key, item)
    return form


def test_every_rule_kind_of_the_spec_round_trips_through_the_form(db, people, spec_rules_doc):
    levels.save(
        db,
        people["marketer"],
        _multi(
            {
                "levels-0-name": "Base",
                "levels-0-from_spend": "0",
                "levels-0-percent": "3",
                "levels-1-name": "Gold",
                "levels-1-from_spend": "50000",
                "levels-1-percent": "5",
                "levels-2-name": "Platinum",
                "levels-2-from_spend": "150000",
                "levels-2-percent": "7",
                "auto": "1",
            }
        ),
    )
    db.conn.execute("UPDATE stores SET timezone = 'Europe/Moscow' WHERE id = 'S1'")
    version = rules.publish(db, people["marketer"], "S1", _multi(SPEC_FORM))
    published = db.latest_rules()["S1"][1]
    expected = {**spec_rules_doc, "version": version, "store": "S1"}
    assert parse_rules(published) == parse_rules(expected)
    # and the form shows it back as it was typed (decimals normalised)
    values = form_values(published)
    assert values["time_rules"][1]["weekdays"] == [5, 6] and values["receipt_tiers"][2]["from"] == "3000.00"
    assert values["categories"][1] == {"name": "TOBACCO", "k": "0", "redeemable": False}


def test_problems_land_beside_their_fields_and_nothing_is_written(db, people):
    bad = dict(SPEC_FORM)
    bad.update(
        {
            "base_percent": "101",
            "time_rules-1-to_hour": "25",
            "time_rules-2-weekdays": "9",
            "receipt_tiers-1-from": "lots",
            "categories-0-k": "1.2345",
            "products-0-k": "-1",
            "redemption.max_percent": "abc",
            "category_groups-0-categories": "",
        }
    )
    with pytest.raises(FormError) as caught:
        rules.save_draft(db, people["admin"], "S1", _multi(bad))
    errors = caught.value.errors
    assert set(errors) >= {
        "base_percent",
        "time_rules-1-to_hour",
        "time_rules-2-weekdays",
        "receipt_tiers-1-from",
        "categories-0-k",
        "products-0-k",
        "redemption.max_percent",
        "category_groups-0-categories",
    }
    assert "0..23" in errors["time_rules-1-to_hour"]
    assert db.count("rule_drafts") == 0 and db.count("rule_sets") == 0


def test_a_row_deleted_or_renamed_keeps_messages_on_the_right_row(db, people):
    form = dict(SPEC_FORM)
    form["time_rules-0-delete"] = "1"  # the first row goes; the second's error must still be on row 1
    form["time_rules-1-from_hour"] = "x"
    form["categories-5-name"] = "SUSHI"  # a duplicate name in another row
    with pytest.raises(FormError) as caught:
        rules.save_draft(db, people["admin"], "S1", _multi(form))
    assert set(caught.value.errors) == {"time_rules-1-from_hour", "categories-5-name"}


def test_drafts_publish_and_reach_the_publisher(db, people):
    rules.save_draft(db, people["manager"], "S1", _multi({**SPEC_FORM, "base_percent": "7"}))
    doc, info = rules.draft(db, people["viewer"], "S1")
    assert doc["base_percent"] == "7" and info["updated_by"] == "manager"
    assert db.count("rule_sets") == 0  # a draft is not published
    version = rules.publish(db, people["manager"], "S1")
    assert version == 1 and db.count("rule_drafts") == 0
    sent = []

    class Link:
        connected = type("E", (), {"is_set": lambda self: True})()

        def publish(self, topic, payload, **kw):
            sent.append((topic, payload, kw))

    Publisher(db.path, Link()).publish_once(db)
    from shared import wire

    rules_msgs = [wire.decode(p, channel="rules") for t, p, _ in sent if t.endswith("/rules")]
    assert [(m["store"], m["version"], m["rules"]["base_percent"]) for m in rules_msgs] == [("S1", 1, "7")]
    actions = [r[0] for r in db.conn.execute("SELECT action FROM audit_log WHERE entity = 'rules' ORDER BY id")]
    assert actions == ["rules.draft", "rules.publish"]
    after = json.loads(db.conn.execute("SELECT after FROM audit_log WHERE action = 'rules.publish'").fetchone()[0])
    assert after["version"] == 1


def test_a_publication_is_one_transaction_with_its_audit_row(db, people, monkeypatch):
    """The version, the draft's removal and the audit row commit together or not at all."""
    rules.save_draft(db, people["manager"], "S1", _multi({**SPEC_FORM, "base_percent": "7"}))

    def audit_fails(*args, **kwargs):
        raise RuntimeError("the audit row could not be written")

    monkeypatch.setattr(rules.audit, "record", audit_fails)
    with pytest.raises(RuntimeError):
        rules.publish(db, people["manager"], "S1")
    assert db.count("rule_sets") == 0 and db.count("rule_drafts") == 1  # nothing half done
    monkeypatch.undo()
    assert rules.publish(db, people["manager"], "S1") == 1
    assert db.count("rule_sets") == 1 and db.count("rule_drafts") == 0


def test_roles_and_store_scope_for_rules(db, people):
    with pytest.raises(Forbidden):
        rules.save_draft(db, people["viewer"], "S1", _multi(SPEC_FORM))
    with pytest.raises(Forbidden):
        rules.publish(db, people["manager"], "S2", _multi(SPEC_FORM))
    with pytest.raises(Forbidden):
        rules.draft(db, people["manager"], "S2")
    with pytest.raises(Forbidden):
        levels.save(
            db,
            people["manager"],
            _multi({"levels-0-name": "Base", "levels-0-from_spend": "0", "levels-0-percent": "3"}),
        )


def test_the_level_program_republishes_every_store(db, people):
    rules.publish(db, people["admin"], "S1", _multi(SPEC_FORM))
    rules.publish(db, people["admin"], "S2", _multi(SPEC_FORM))
    with pytest.raises(FormError) as caught:
        levels.save(
            db,
            people["admin"],
            _multi(
                {
                    "levels-0-name": "Silver",
                    "levels-0-from_spend": "100",
                    "levels-0-percent": "4",
                    "levels-1-name": "Silver",
                    "levels-1-from_spend": "x",
                    "levels-1-percent": "200",
                }
            ),
        )
    assert set(caught.value.errors) == {"levels", "levels-1-name", "levels-1-from_spend", "levels-1-percent"}
    assert "start at 0" in caught.value.errors["levels"]
    published = levels.save(
        db,
        people["admin"],
        _multi(
            {
                "levels-0-name": "Base",
                "levels-0-from_spend": "0",
                "levels-0-percent": "3",
                "levels-1-name": "Gold",
                "levels-1-from_spend": "500",
                "levels-1-percent": "5",
            }
        ),
    )
    assert published == [("S1", 2), ("S2", 2)]
    assert [lv["name"] for lv in db.latest_rules()["S2"][1]["levels"]] == ["Base", "Gold"]
