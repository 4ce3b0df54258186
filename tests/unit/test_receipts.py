"""The receipt parser: clear errors at JSON paths for every malformed receipt."""

from __future__ import annotations

import pytest

from shared.errors import ReceiptError
from shared.receipts import parse_customer, parse_receipt

AT = "2026-11-21T17:30:00+03:00"


def problems(doc, **kwargs) -> list[str]:
    with pytest.raises(ReceiptError) as info:
        parse_receipt(doc, **kwargs)
    return [str(p) for p in info.value.problems]


def test_spec_body_parses():
    body = {
        "receipt_id": "S001-P01-000123",
        "at": AT,
        "customer": {"card": "7700000000000017"},
        "lines": [
            {
                "sku": "SKU-1",
                "name": "Суши Дракон",
                "category": "SUSHI",
                "quantity": "1",
                "price": 45000,
                "discount": 0,
                "amount": 45000,
            }
        ],
        "redeem": 0,
    }
    receipt = parse_receipt(body, require_id=True)
    assert receipt.total == 45000
    assert receipt.lines[0].name == "Суши Дракон"
    assert receipt.customer == {"card": "7700000000000017"}


@pytest.mark.parametrize(
    "doc, expected",
    [
        ({"at": AT, "lines": []}, "lines: must have at least 1 item(s)"),
        ({"at": AT, "lines": [{"amount": -1}]}, "lines[0].amount: must be 0..10000000000, got -1"),
        (
            {"at": AT, "lines": [{"amount": 1.5}]},
            "lines[0].amount: must be an integer (minor units), not a fractional number",
        ),
        (
            {"at": "2026-11-21T17:30:00", "lines": [{"amount": 1}]},
            "at: must include a UTC offset (+03:00 or Z), got '2026-11-21T17:30:00'",
        ),
        (  # before year 1 in UTC: no datetime holds it (was an OverflowError, a 500 at the till's API)
            {"at": "0001-01-01T00:00:00+14:00", "lines": [{"amount": 1}]},
            "at: must be a time between the years 1 and 9999 in UTC, got '0001-01-01T00:00:00+14:00'",
        ),
        (
            {"at": "soon", "lines": [{"amount": 1}]},
            "at: must be an ISO 8601 time with offset like \"2026-11-21T17:30:00+03:00\", got 'soon'",
        ),
        (
            {"at": AT, "lines": [{"amount": 100, "price": 60, "quantity": "2"}]},
            "lines[0].amount: 100 does not match price x quantity - discount = 120",
        ),
        ({"at": AT, "lines": [{"amount": 1}], "total": 2}, "total: 2 does not equal the sum of the line amounts, 1"),
        ({"at": AT, "lines": [{"amount": 1, "quantity": "-1"}]}, "lines[0].quantity: must be a non-negative decimal"),
        (
            {"at": AT, "lines": [{"amount": 1, "quantity": "1.0001"}]},
            "lines[0].quantity: must have at most 3 decimals, got '1.0001'",
        ),
        ({"at": AT, "lines": [{"amount": 1}], "redeem": -5}, "redeem: must be 0..4611686018427387904, got -5"),
        (
            {"at": AT, "lines": [{"amount": 10**10}, {"amount": 1}]},
            "lines: the receipt total 10000000001 exceeds the maximum of 10000000000 minor units",
        ),
        ({"at": AT, "lines": [{"amount": 1, "colour": "red"}]}, "lines[0].colour: unknown field"),
        ({"lines": [{"amount": 1}]}, "at: is required"),
    ],
)
def test_malformed_receipts(doc, expected):
    found = problems(doc)
    assert any(p.startswith(expected) for p in found), found


def test_receipt_id_required_for_commits():
    assert "receipt_id: is required" in problems({"at": AT, "lines": [{"amount": 1}]}, require_id=True)


def test_price_times_weighed_quantity_may_round_either_way():
    line = {"amount": 27300 * 455 // 1000 + 1, "price": 27300, "quantity": "0.455"}
    assert parse_receipt({"at": AT, "lines": [line]}).lines[0].quantity == 455


def test_a_line_of_quantity_zero_earns_on_its_amount():
    """Weighed or service items come from real tills with quantity 0 and an amount (price not checked)."""
    line = {"sku": "SKU-1", "category": "SUSHI", "quantity": "0", "price": 45000, "amount": 12000}
    receipt = parse_receipt({"at": AT, "lines": [line, {**line, "quantity": 0}]})
    assert [ln.quantity for ln in receipt.lines] == [0, 0] and receipt.total == 24000


def test_customer_terms_and_campaigns():
    terms, campaigns = parse_customer(
        {"level": "Gold", "network_percent": "7.5", "campaigns": [{"id": "x", "k": "2", "categories": ["SUSHI"]}]}
    )
    assert terms.level == "Gold" and terms.network_percent == 750 and terms.store_percent is None
    assert campaigns[0].k == 2000 and campaigns[0].applies_to("A", "SUSHI") and not campaigns[0].applies_to("A", "B")


def test_bad_customer_lists_problems():
    with pytest.raises(ReceiptError) as info:
        parse_customer({"store_percent": "101", "campaigns": [{"k": "x"}] * 6})
    found = [str(p) for p in info.value.problems]
    assert "customer.store_percent: must be 0..100 percent, got '101'" in found
    assert "customer.campaigns: must have at most 5 items, got 6" in found


def test_line_without_amount_is_a_problem_not_a_crash():
    import pytest

    from shared.errors import ReceiptError
    from shared.receipts import parse_receipt

    with pytest.raises(ReceiptError) as info:
        parse_receipt({"at": "2026-11-24T12:00:00+03:00", "lines": [{}]})
    assert [p.path for p in info.value.problems] == ["lines[0].amount"]
