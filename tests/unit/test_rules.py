"""The rule-set parser: the spec's example parses; every problem is reported at its JSON path."""

from __future__ import annotations

import copy
import json

import pytest

from shared.errors import RuleSetError
from shared.rules import parse_rules


def test_spec_example_parses(spec_rules_doc):
    rules = parse_rules(spec_rules_doc)
    assert rules.version == 17
    assert rules.base_percent == 500
    assert rules.points_per_money == 1000
    assert [t.from_amount for t in rules.receipt_tiers] == [0, 10000, 300000]
    assert rules.categories["TOBACCO"].redeemable is False
    assert rules.categories["TOBACCO"].k == 0
    assert rules.category_groups["LUNCH"].k == 1500
    assert rules.products["SKU-1"].k == 3000
    assert [level.name for level in rules.levels] == ["Base", "Gold", "Platinum"]
    assert rules.redemption.max_percent == 2000
    assert rules.redemption.reduced_max_percent == 1000
    assert rules.redemption.discount_threshold_percent == 2500
    assert rules.redemption.accrue_on_redeemed is False


def test_json_text_is_accepted(spec_rules_doc):
    assert parse_rules(json.dumps(spec_rules_doc)).version == 17


def test_minimal_rule_set_gets_documented_defaults():
    rules = parse_rules({"version": 1, "store": "S1", "timezone": "UTC", "base_percent": "3"})
    assert rules.total_step == 1
    assert rules.points_per_money == 1000
    assert rules.redemption.max_percent == 0  # no redemption section: nothing redeemable


def problems_of(doc) -> list[str]:
    with pytest.raises(RuleSetError) as info:
        parse_rules(doc)
    return [str(p) for p in info.value.problems]


def test_all_problems_are_listed_with_paths(spec_rules_doc):
    doc = copy.deepcopy(spec_rules_doc)
    doc["time_rules"][3]["to_hour"] = 24
    doc["time_rules"][0]["date"] = "2026-13-01"
    doc["base_percent"] = "5.555"
    doc["categories"]["SUSHI"]["k"] = "101"
    doc["receipt_tiers"][1]["from"] = -5
    doc["products"]["SKU-1"]["redeemeable"] = False
    doc["redemption"]["max_percent"] = 20.5
    problems = problems_of(doc)
    assert "time_rules[3].to_hour: must be 0..23, got 24" in problems
    assert any(p.startswith("time_rules[0].date: must be a date") for p in problems)
    assert "base_percent: must have at most 2 decimals, got '5.555'" in problems
    assert "categories.SUSHI.k: must be 0..100, got '101'" in problems
    assert "receipt_tiers[1].from: must be 0..10000000000, got -5" in problems
    assert any(p.startswith("products.SKU-1.redeemeable: unknown field") for p in problems)
    assert any(p.startswith("redemption.max_percent: must be a decimal string") for p in problems)
    assert len(problems) == 7


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"version": "17"}, "version: must be an integer"),
        ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone"),
        ({"store": ""}, "store: must not be empty"),
        ({"total_step": 0}, "total_step: must be 1..10000000000, got 0"),
        ({"points_per_money": "10"}, "points_per_money: must be 0.001..9"),
        (
            {"time_rules": [{"type": "weekly", "k": "1"}]},
            "time_rules[0].type: must be one of date, weekdays_hours, weekdays, hours",
        ),
        (
            {"time_rules": [{"type": "weekdays", "weekdays": [0, 8], "k": "1"}]},
            "time_rules[0].weekdays[0]: must be an ISO weekday 1..7",
        ),
        ({"time_rules": [{"type": "hours", "from_hour": 8, "k": "1"}]}, "time_rules[0].to_hour: is required"),
        (
            {"receipt_tiers": [{"from": 0, "k": "1"}, {"from": 0, "k": "2"}]},
            "receipt_tiers[1].from: another tier already starts at 0",
        ),
        (
            {
                "levels": [
                    {"name": "A", "from_spend": 0, "percent": "1"},
                    {"name": "A", "from_spend": 5, "percent": "2"},
                ]
            },
            "levels[1].name: level 'A' is defined twice",
        ),
        (
            {"category_groups": {"G": {"categories": [], "k": "1"}}},
            "category_groups.G.categories: must have at least 1 item(s)",
        ),
        ({"colour": "red"}, "colour: unknown field"),
    ],
)
def test_single_problems(spec_rules_doc, change, expected):
    doc = {**spec_rules_doc, **change}
    problems = problems_of(doc)
    assert any(p.startswith(expected) for p in problems), problems


def test_not_an_object_and_not_json():
    assert problems_of([]) == ["must be an object, not a list"]
    assert problems_of("{nope")[0].startswith("not valid JSON")


def test_missing_required_fields_are_all_named():
    problems = problems_of({})
    assert problems == [
        "version: is required",
        "store: is required",
        "timezone: is required",
        "base_percent: is required",
    ]


def test_error_message_is_readable(spec_rules_doc):
    doc = {**spec_rules_doc, "total_step": -1}
    with pytest.raises(RuleSetError) as info:
        parse_rules(doc)
    assert str(info.value) == "invalid rule set (1 problem(s)):\n  total_step: must be 1..10000000000, got -1"
    assert info.value.code == "invalid_rule_set"
