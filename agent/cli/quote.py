"""``loyalty-agent quote``: accrual and redemption of receipts with a rule set, from JSON files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from shared.errors import LoyaltyError, ValidationError

from .common import BadInput

if TYPE_CHECKING:
    from shared.rules import RuleSet


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"{what} {path} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise BadInput(f"{what} {path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadInput(f"{what} {path} is not valid JSON: nested too deeply") from None


def _load_rules(path: Path) -> RuleSet:
    from shared.rules import parse_rules  # the rules, receipts and calculator load when a quote runs

    try:
        return parse_rules(_read_json(path, "rule set"))
    except ValidationError as exc:
        raise BadInput(f"{path}: {exc}") from None


def _quote_one(calc: Any, receipt_doc: Any, customer_doc: Any, balance: Any) -> dict[str, Any]:
    """One quote as JSON, or the error object of a refused one."""
    from shared.receipts import parse_customer, parse_receipt

    try:
        receipt = parse_receipt(receipt_doc)
        terms, campaigns = parse_customer(customer_doc)
        if balance is not None and (isinstance(balance, bool) or not isinstance(balance, int)):
            return {"code": "validation_error", "detail": "balance: must be an integer (points, minor units) or null"}
        return calc.quote(receipt, terms, balance, campaigns).to_json()  # type: ignore[no-any-return]
    except LoyaltyError as exc:
        return exc.to_dict()


@click.command()
@click.option(
    "--rules", "rules_path", type=click.Path(path_type=Path), required=True, help="Rule set JSON (accrual.md)."
)
@click.option("--receipt", "receipt_path", type=click.Path(path_type=Path), help="One receipt JSON (pos-api.md body).")
@click.option(
    "--customer",
    "customer_path",
    type=click.Path(path_type=Path),
    help="Customer JSON: level, network_percent, store_percent, campaigns.",
)
@click.option(
    "--balance", type=int, default=None, help="Available points (minor units); default: not limited by a balance."
)
@click.option(
    "--receipts",
    "receipts_path",
    type=click.Path(path_type=Path),
    help="JSONL: one {receipt, customer, balance} per line.",
)
def quote(
    rules_path: Path,
    receipt_path: Path | None,
    customer_path: Path | None,
    balance: int | None,
    receipts_path: Path | None,
) -> None:
    """Compute accrual and redemption of receipts with a rule set; print JSON.

    Prints accrued, redeemed, max_redeemable and lines (accrued, redeemed per
    line). A refused receipt prints its error code instead (exit 1 for a single
    receipt). With --receipts, each output line answers the input line.

    Example:

    \b
        loyalty-agent quote --rules rules.json --receipt receipt.json --balance 5000
        loyalty-agent quote --rules rules.json --receipts day.jsonl > results.jsonl
    """
    if (receipt_path is None) == (receipts_path is None):
        raise click.UsageError("give exactly one of --receipt or --receipts")
    from shared import accrual  # loads the calculator's kernel: not for --help

    rules = _load_rules(rules_path)
    calc = accrual.calculator(rules)
    if receipt_path is not None:
        customer = _read_json(customer_path, "customer file") if customer_path else None
        result = _quote_one(calc, _read_json(receipt_path, "receipt"), customer, balance)
        click.echo(json.dumps(result, ensure_ascii=False))
        if "code" in result:
            sys.exit(1)
        return
    assert receipts_path is not None
    try:
        handle = receipts_path.open(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read receipts file {receipts_path}: {exc.strerror}") from None
    with handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            click.echo(json.dumps(_quote_jsonl_line(calc, number, text), ensure_ascii=False))


def _quote_jsonl_line(calc: Any, number: int, text: str) -> dict[str, Any]:
    try:
        item = json.loads(text)
    except ValueError as exc:
        return {"code": "validation_error", "detail": f"line {number}: not valid JSON: {exc}"}
    except RecursionError:
        return {"code": "validation_error", "detail": f"line {number}: not valid JSON: nested too deeply"}
    if not isinstance(item, dict) or "receipt" not in item:
        return {"code": "validation_error", "detail": f'line {number}: must be an object with "receipt"'}
    unknown = set(item) - {"receipt", "customer", "balance"}
    if unknown:
        return {"code": "validation_error", "detail": f"line {number}: unknown field(s) {', '.join(sorted(unknown))}"}
    return _quote_one(calc, item["receipt"], item.get("customer"), item.get("balance"))
