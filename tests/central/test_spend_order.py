"""One spending order of points lots (shared/balances.py spend_key): the agent's replay and the central ledger agree."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.points.ledger import CustomerState, LedgerBatch
from central.points.ledger import Lot as CentralLot
from central.points.programs import PERMANENT
from central.storage.clock import utc
from shared.balances import Effect, Lot, compute_balance, spend_key

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
ZONES = [dt.UTC, dt.timezone(dt.timedelta(hours=3)), dt.timezone(dt.timedelta(hours=-5))]


def at(hours: int, zone: int = 0) -> dt.datetime:
    """A time T0 + hours, written in one of three offsets (the same instant whatever the offset)."""
    return (T0 + dt.timedelta(hours=hours)).astimezone(ZONES[zone])


def central_ledger() -> LedgerBatch:
    """The central ledger's spending, without a database: one program (1), the default."""
    batch = LedgerBatch.__new__(LedgerBatch)
    batch._programs = ({}, 1)
    return batch


temporary = st.tuples(
    st.integers(1, 500),  # points
    st.integers(-48, 48),  # starts (hours from T0)
    st.integers(1, 96),  # lasts (hours)
    st.sampled_from(["a", "b", "c", "d", "e"]),  # ids: ties in expiry are common
    st.integers(0, 2),  # the offset the agent's copy of the times is written in
)


@settings(max_examples=300, deadline=None)
@given(
    lots=st.lists(temporary, max_size=6, unique_by=lambda lot: lot[3]),
    permanent=st.integers(0, 500),
    spends=st.lists(st.tuples(st.integers(1, 400), st.integers(-24, 120), st.integers(0, 2)), max_size=6),
    now=st.integers(-24, 150),
)
def test_agent_and_central_spend_the_same_lots(lots, permanent, spends, now):
    cid = "c1"
    spends = sorted(spends, key=lambda s: s[1])
    agent_lots = [Lot(permanent, id=cid + PERMANENT)] + [
        Lot(points, at(start, zone), at(start + lasts, zone), ident) for points, start, lasts, ident, zone in lots
    ]
    state = CustomerState(
        cid,
        balance=permanent + sum(lot[0] for lot in lots),
        spend=0,
        lots=[CentralLot(cid + PERMANENT, permanent, None, None, program=1)]
        + [
            CentralLot(
                ident, points, utc(at(start, zone).isoformat()), utc(at(start + lasts, zone).isoformat()), program=1
            )
            for points, start, lasts, ident, zone in lots
        ],
    )
    ledger = central_ledger()
    for points, hour, zone in spends:
        ledger._spend(state, points, {"at": at(hour, zone).isoformat(), "store": "S1"})
    # the agent's view: the delta's lots with its own redemptions replayed over them ...
    redemptions = [Effect(-points, at(hour, zone)) for points, hour, zone in spends]
    agent_view = compute_balance(agent_lots, redemptions, at(now))
    # ... is the central server's, once it has applied them (the next delta's lots, nothing left to replay)
    central_lots = [Lot(lot.points, _time(lot.starts_at), _time(lot.expires_at), lot.id) for lot in state.lots]
    assert compute_balance(central_lots, [], at(now)) == agent_view


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text is not None else None


def test_spend_key_orders_temporary_by_expiry_then_id_and_permanent_last():
    lots = [("p", None), ("b", at(5)), ("a", at(5)), ("z", at(1))]
    assert [i for i, _ in sorted(lots, key=lambda lot: spend_key(lot[1], lot[0]))] == ["z", "a", "b", "p"]
    strings = [(i, utc(e.isoformat()) if e else None) for i, e in lots]
    assert [i for i, _ in sorted(strings, key=lambda lot: spend_key(lot[1], lot[0]))] == ["z", "a", "b", "p"]
