"""shared/balances.py: spend order, expiry, holds, debts; conservation as a property."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from shared.balances import Balance, Effect, Lot, compute_balance

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def day(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def test_no_lots_no_effects():
    assert compute_balance([], [], T0) == Balance(0, 0, 0)


def test_local_effects_sum():
    effects = [Effect(500, day(0)), Effect(-200, day(1)), Effect(50, day(2))]
    assert compute_balance([], effects, day(3)) == Balance(350, 350, 0)


def test_temporary_bonus_spent_first_so_its_expiry_loses_nothing():
    lots = [Lot(1000), Lot(300, expires_at=day(5))]
    effects = [Effect(-300, day(1))]
    assert compute_balance(lots, effects, day(2)).available == 1000
    # after the bonus expires nothing more is lost: it was spent before
    assert compute_balance(lots, effects, day(6)).available == 1000


def test_earliest_expiry_first():
    lots = [Lot(100, expires_at=day(10)), Lot(100, expires_at=day(3)), Lot(100)]
    effects = [Effect(-150, day(1))]
    # the day-3 lot is spent whole, 50 of the day-10 lot; the permanent lot untouched
    assert compute_balance(lots, effects, day(2)).available == 150
    assert compute_balance(lots, effects, day(4)).available == 150
    assert compute_balance(lots, effects, day(11)).available == 100


def test_expired_lot_is_not_spent():
    lots = [Lot(100, expires_at=day(1)), Lot(100)]
    assert compute_balance(lots, [Effect(-50, day(2))], day(3)) == Balance(50, 50, 0)


def test_held_lot_not_available_until_it_starts():
    lots = [Lot(100), Lot(400, starts_at=day(14))]
    assert compute_balance(lots, [], day(1)) == Balance(500, 100, 400)
    assert compute_balance(lots, [], day(14)) == Balance(500, 500, 0)
    # a held lot cannot be spent before it starts: the spend becomes a debt
    assert compute_balance(lots, [Effect(-300, day(1))], day(2)) == Balance(200, -200, 400)


def test_debt_is_paid_by_later_gains():
    effects = [Effect(-100, day(0)), Effect(60, day(1)), Effect(60, day(2))]
    assert compute_balance([], effects, day(3)) == Balance(20, 20, 0)


def test_negative_lot_from_central_counts():
    assert compute_balance([Lot(-70), Lot(100)], [], T0) == Balance(30, 30, 0)


lots_st = st.lists(st.builds(Lot, st.integers(-1000, 10_000)), max_size=8)
effects_st = st.lists(st.builds(Effect, st.integers(-5000, 5000), st.just(T0)), max_size=12)


@given(lots_st, effects_st)
def test_without_expiry_points_are_conserved(lots, effects):
    b = compute_balance(lots, effects, day(1))
    assert b.balance == b.available == sum(lot.points for lot in lots) + sum(e.points for e in effects)


@given(
    st.lists(
        st.builds(
            Lot,
            st.integers(0, 10_000),
            st.one_of(st.none(), st.integers(0, 20).map(day)),
            st.one_of(st.none(), st.integers(1, 30).map(day)),
        ),
        max_size=8,
    ),
    st.lists(st.builds(Effect, st.integers(-3000, 3000), st.integers(0, 30).map(day)), max_size=10),
    st.integers(0, 40).map(day),
)
def test_never_more_than_lots_plus_gains(lots, effects, now):
    b = compute_balance(lots, effects, now)
    gains = sum(e.points for e in effects if e.points > 0)
    assert b.available + b.held <= sum(lot.points for lot in lots) + gains
    assert b.held >= 0
    assert b.balance == b.available + b.held
