"""A customer's points: the lots the central server last sent plus this agent's own effects.

The agent knows a customer's lots (points with a start and an expiry) as of
the last down-synced delta, and its own later events (accruals, redemptions,
refunds) as signed *effects* in sequence order. :func:`compute_balance`
replays the effects over the lots, spending in the order of :func:`spend_key`
(the central ledger spends by the same function), so points spent before
they expired are not counted again when they expire.

Pure: times are arguments; no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T", str, dt.datetime)

#: the id of the agent's own gains in the replay: a permanent lot, spent after the central server's
LOCAL_GAINS_ID = "\U0010ffff"


def spend_key(expires_at: T | None, lot_id: str) -> tuple[bool, T | None, str]:
    """The spending order of points lots, one for the agent and the central ledger (docs/accrual.md).

    Temporary lots (with an expiry) before permanent ones; among temporary lots
    the earliest expiry first; ties (and permanent lots) by lot id. Times are
    all datetimes (the agent) or all UTC ISO strings of one format, which sort
    as times (the central ledger, ``central.storage.clock.utc``).
    """
    return (expires_at is None, expires_at, lot_id)


@dataclass(frozen=True, slots=True)
class Lot:
    """Points with one validity window; permanent points have ``expires_at`` None."""

    points: int
    starts_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    id: str = ""

    def active(self, at: dt.datetime) -> bool:
        """Spendable at ``at``: started and not yet expired."""
        return (self.starts_at is None or self.starts_at <= at) and (self.expires_at is None or at < self.expires_at)

    def pending(self, at: dt.datetime) -> bool:
        """Held: not started yet (a hold period), and not expired."""
        return self.starts_at is not None and at < self.starts_at and (self.expires_at is None or at < self.expires_at)


class Effect(NamedTuple):
    """One local change of points, signed: + accrued or given back, - redeemed or taken back."""

    points: int
    at: dt.datetime


class Balance(NamedTuple):
    """``available`` can be spent now; ``held`` is not started yet; ``balance`` is both."""

    balance: int
    available: int
    held: int


def _spend_order(lot: list[Any]) -> tuple[bool, dt.datetime | None, str]:
    return spend_key(lot[2], lot[3])


def compute_balance(lots: Iterable[Lot], effects: Iterable[Effect], now: dt.datetime) -> Balance:
    """The balance at ``now`` after replaying ``effects`` (in order) over ``lots``.

    A spending effect takes points from the lots active at its time in spend
    order; what no lot covers becomes a debt, which later gains pay first.
    A gain becomes a new permanent lot. Negative lots (debts the central server
    recorded) count against the balance as they are.
    """
    # [points, starts_at, expires_at, id]
    pool: list[list[Any]] = [[lot.points, lot.starts_at, lot.expires_at, lot.id] for lot in lots]
    debt = 0
    # every local gain is permanent and alike, so they share one lot: the pool stays as small as
    # the delta's lots however many effects an agent offline for a day has (else quadratic)
    gains: list[Any] | None = None
    for points, at in effects:
        if points >= 0:
            paid = min(points, debt)
            debt -= paid
            if points - paid:
                if gains is None:
                    gains = [0, None, None, LOCAL_GAINS_ID]
                    pool.append(gains)
                gains[0] += points - paid
            continue
        need = -points
        usable = [lot for lot in pool if lot[0] > 0 and Lot(0, lot[1], lot[2]).active(at)]
        for lot in sorted(usable, key=_spend_order):
            take = min(need, lot[0])
            lot[0] -= take
            need -= take
            if need == 0:
                break
        debt += need
    available, held = -debt, 0
    for points, starts_at, expires_at, _ in pool:
        left = Lot(points, starts_at, expires_at)
        if points < 0:
            available += points
        elif left.active(now):
            available += points
        elif left.pending(now):
            held += points
    return Balance(available + held, available, held)
