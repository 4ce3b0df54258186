"""`loyalty-agent quote`: JSON out, error objects for refused receipts, exit 2 on bad files."""

from __future__ import annotations

import json

from click.testing import CliRunner

from agent.cli import cli
from tests.conftest import EXAMPLES

RULES = str(EXAMPLES / "rules.json")


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def write(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def test_single_receipt(tmp_path):
    receipt = write(
        tmp_path, "r.json", {"at": "2026-11-21T17:30:00+03:00", "lines": [{"sku": "SKU-1", "amount": 45000}]}
    )
    result = run("quote", "--rules", RULES, "--receipt", receipt)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "accrued": 10125,
        "redeemed": 0,
        "max_redeemable": 9000,
        "lines": [{"accrued": 10125, "redeemed": 0}],
    }


def test_customer_and_balance(tmp_path):
    receipt = write(
        tmp_path, "r.json", {"at": "2026-11-24T12:00:00+03:00", "lines": [{"amount": 20000}], "redeem": 300}
    )
    customer = write(tmp_path, "c.json", {"level": "Platinum"})
    result = run("quote", "--rules", RULES, "--receipt", receipt, "--customer", customer, "--balance", "300")
    assert json.loads(result.output) == {
        "accrued": (20000 - 300) * 7 // 100,
        "redeemed": 300,
        "max_redeemable": 300,
        "lines": [{"accrued": 1379, "redeemed": 300}],
    }


def test_refused_single_receipt_prints_code_and_exits_1(tmp_path):
    receipt = write(
        tmp_path, "r.json", {"at": "2026-11-24T12:00:00+03:00", "lines": [{"amount": 20000}], "redeem": 5000}
    )
    result = run("quote", "--rules", RULES, "--receipt", receipt)
    assert result.exit_code == 1
    out = json.loads(result.output)
    assert out["code"] == "redeem_over_limit" and out["max_redeemable"] == 4000


def test_jsonl_in_input_order_with_errors(tmp_path):
    lines = [
        json.dumps({"receipt": {"at": "2026-11-24T12:00:00+03:00", "lines": [{"amount": 20000}]}}),
        json.dumps(
            {
                "receipt": {
                    "at": "2026-11-24T12:00:00+03:00",
                    "lines": [{"sku": "CIG", "category": "TOBACCO", "amount": 30000}, {"amount": 20000}],
                    "redeem": 5000,
                },
                "customer": None,
                "balance": 10000,
            }
        ),
        "{not json",
        json.dumps({"receipt": {"at": "yesterday", "lines": []}}),
        json.dumps(
            {"receipt": {"at": "2026-11-24T12:00:00+03:00", "lines": [{"amount": 20000}], "redeem": 100}, "balance": 50}
        ),
    ]
    path = write(tmp_path, "in.jsonl", "\n".join(lines) + "\n")
    result = run("quote", "--rules", RULES, "--receipts", path)
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.output.splitlines()]
    assert len(out) == 5
    assert out[0]["accrued"] == 1000
    assert out[1] == {
        "code": "redeem_over_limit",
        "detail": "cannot redeem 5000 points: at most 4000 can be redeemed on this receipt",
        "max_redeemable": 4000,
    }
    assert out[2]["code"] == "validation_error" and "line 3" in out[2]["detail"]
    assert out[3]["code"] == "validation_error"
    assert [e["path"] for e in out[3]["errors"]] == ["at", "lines"]
    assert out[4] == {"code": "redeem_over_limit", "detail": out[4]["detail"], "max_redeemable": 50}


def test_bad_rules_file_exits_2_with_readable_message(tmp_path):
    rules = write(tmp_path, "rules.json", {"version": 1, "store": "S", "timezone": "UTC", "base_percent": "500"})
    receipt = write(tmp_path, "r.json", {"at": "2026-11-24T12:00:00+03:00", "lines": [{"amount": 1}]})
    result = run("quote", "--rules", rules, "--receipt", receipt)
    assert result.exit_code == 2
    assert "base_percent: must be 0..100 percent, got '500'" in result.output
    assert "Traceback" not in result.output


def test_missing_and_malformed_files_exit_2(tmp_path):
    result = run("quote", "--rules", str(tmp_path / "nope.json"), "--receipt", RULES)
    assert result.exit_code == 2 and "cannot read rule set" in result.output
    bad = write(tmp_path, "bad.json", "{")
    result = run("quote", "--rules", RULES, "--receipt", bad)
    assert result.exit_code == 2 and "is not valid JSON" in result.output
    result = run("quote", "--rules", RULES, "--receipts", str(tmp_path / "none.jsonl"))
    assert result.exit_code == 2 and "cannot read receipts file" in result.output


def test_json_nested_too_deeply_is_a_bad_file_not_a_traceback(tmp_path):
    deep = write(tmp_path, "deep.json", "[" * 100_000)
    result = run("quote", "--rules", deep, "--receipt", RULES)
    assert result.exit_code == 2 and "nested too deeply" in result.output
    result = run("quote", "--rules", RULES, "--receipt", deep)
    assert result.exit_code == 2 and "nested too deeply" in result.output
    lines = write(tmp_path, "day.jsonl", "[" * 100_000 + "\n")
    result = run("quote", "--rules", RULES, "--receipts", lines)
    assert result.exit_code == 0 and "line 1: not valid JSON: nested too deeply" in result.output


def test_needs_exactly_one_input():
    assert run("quote", "--rules", RULES).exit_code == 2


def test_doctor_names_the_engine():
    result = run("doctor")
    assert result.exit_code == 0
    assert "calculator engine:" in result.output
