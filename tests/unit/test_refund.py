"""Refunds: proportional to the cumulative returned quantity; a full refund is exact."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared._accrual_py import refund as reference_refund
from shared.errors import RefundError
from shared.results import CommittedLine, LineRefund


def running(previous: list[LineRefund], refund) -> list[LineRefund]:
    return [
        LineRefund(p.quantity + r.quantity, p.amount + r.amount, p.accrued + r.accrued, p.redeemed + r.redeemed)
        for p, r in zip(previous, refund.lines, strict=True)
    ]


def test_partial_then_rest(engine, spec_rules):
    calc = engine(spec_rules)
    lines = [CommittedLine(quantity=3000, amount=30000, accrued=1001, redeemed=500)]
    first = calc.refund(lines, None, {0: 1000})
    assert first.lines[0] == LineRefund(1000, 10000, 333, 166)
    after = running([LineRefund()], first)
    second = calc.refund(lines, after, {0: 1000})
    assert second.lines[0] == LineRefund(1000, 10000, 334, 167)  # floor(2/3 x 1001) - 333
    after = running(after, second)
    last = calc.refund(lines, after, {0: 1000})
    assert last.lines[0] == LineRefund(1000, 10000, 334, 167)
    assert running(after, last)[0] == LineRefund(3000, 30000, 1001, 500)


def test_weighed_goods_with_three_decimals(engine, spec_rules):
    calc = engine(spec_rules)
    lines = [CommittedLine(quantity=455, amount=27300, accrued=1365, redeemed=0)]
    r = calc.refund(lines, None, {0: 200})
    assert r.accrued == 1365 * 200 // 455
    assert r.amount == 27300 * 200 // 455


@pytest.mark.parametrize(
    "request_, message",
    [
        ({}, "lines: name at least one line to return"),
        ({5: 1000}, "lines[5]: the receipt has no line 5 (it has 2)"),
        ({0: 0}, "lines[0].quantity: must be greater than 0"),
        ({1: 1001}, "lines[1].quantity: only 1 of this line is left to return"),
    ],
)
def test_bad_refund_requests(engine, spec_rules, request_, message):
    calc = engine(spec_rules)
    lines = [CommittedLine(2000, 200, 10, 0), CommittedLine(1000, 100, 5, 0)]
    with pytest.raises(RefundError) as info:
        calc.refund(lines, None, request_)
    assert message in [str(p) for p in info.value.problems]


def test_nothing_left_to_return(engine, spec_rules):
    calc = engine(spec_rules)
    lines = [CommittedLine(1000, 100, 5, 0)]
    with pytest.raises(RefundError, match="only 0 of this line"):
        calc.refund(lines, [LineRefund(1000, 100, 5, 0)], {0: 1})


def test_a_line_sold_with_quantity_zero_is_one_unit_returned_whole(engine, spec_rules):
    calc = engine(spec_rules)
    lines = [CommittedLine(0, 12000, 600, 100), CommittedLine(2000, 200, 10, 0)]
    whole = calc.refund(lines, None, {0: 1000})
    assert whole.lines[0] == LineRefund(1000, 12000, 600, 100)
    half = calc.refund(lines, None, {0: 500})
    assert half.lines[0] == LineRefund(500, 6000, 300, 50)
    with pytest.raises(RefundError, match="only 0 of this line"):
        calc.refund(lines, [LineRefund(1000, 12000, 600, 100), LineRefund()], {0: 1})
    with pytest.raises(RefundError, match="only 1 of this line"):
        calc.refund(lines, None, {0: 1001})


def test_earlier_refunds_of_another_receipt_are_refused_not_crashed(engine, spec_rules):
    """Earlier refunds listing fewer lines than the receipt once raised IndexError in the reference."""
    calc = engine(spec_rules)
    lines = [CommittedLine(1000, 100, 5, 0), CommittedLine(1000, 100, 5, 0)]
    with pytest.raises(RefundError, match="earlier refunds do not match the receipt's lines"):
        calc.refund(lines, [LineRefund()], {1: 500})


committed_lines = st.lists(
    st.builds(
        CommittedLine,
        quantity=st.integers(1, 10**6),
        amount=st.integers(0, 10**10),
        accrued=st.integers(0, 9 * 10**18),
        redeemed=st.integers(0, 10**10),
    ),
    min_size=1,
    max_size=8,
)


@given(lines=committed_lines, data=st.data())
def test_any_sequence_of_partial_refunds_returns_exact_totals(lines, data):
    previous = [LineRefund()] * len(lines)
    for round_ in range(6):
        left = {i: line.quantity - previous[i].quantity for i, line in enumerate(lines)}
        left = {i: q for i, q in left.items() if q > 0}
        if not left:
            break
        if round_ == 5:  # the last round returns everything that is left
            request = left
        else:
            chosen = data.draw(st.sets(st.sampled_from(sorted(left)), min_size=1))
            request = {i: data.draw(st.integers(1, left[i])) for i in chosen}
        refund = reference_refund(lines, previous, request)
        assert all(r.accrued >= 0 and r.redeemed >= 0 and r.amount >= 0 for r in refund.lines)
        previous = running(previous, refund)
    for line, done in zip(lines, previous, strict=True):
        assert done == LineRefund(line.quantity, line.amount, line.accrued, line.redeemed)
