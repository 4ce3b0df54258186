"""A customer's points: the lots the central server last sent plus this agent's own effects.

The agent knows a customer's lots (points with a start and an expiry) as of
the last down-synced delta, and its own later events (accruals, redemptions,
refunds) as signed *effects* in sequence order. :func:`compute_balance`
replays the effects over the lots, spending the way the central server does
(temporary bonuses first, earliest expiry first, permanent points last), so
points spent before they expired are not counted again when they expire.

Pure: times are arguments; no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class Lot:
    """Points with one validity window; permanent points have ``expires_at`` None."""

    points: int
    starts_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None

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


def _spend_order(lot: list) -> tuple:
    # temporary bonuses first, earliest expiry first, then permanent points, oldest first
    expires = lot[2]
    return (expires is None, expires or dt.datetime.max.replace(tzinfo=dt.UTC), lot[3])


def compute_balance(lots: Iterable[Lot], effects: Iterable[Effect], now: dt.datetime) -> Balance:
    """The balance at ``now`` after replaying ``effects`` (in order) over ``lots``.

    A spending effect takes points from the lots active at its time in spend
    order; what no lot covers becomes a debt, which later gains pay first.
    A gain becomes a new permanent lot. Negative lots (debts the central server
    recorded) count against the balance as they are.
    """
    # [points, starts_at, expires_at, order]
    pool: list[list] = [[lot.points, lot.starts_at, lot.expires_at, i] for i, lot in enumerate(lots)]
    debt = 0
    # every local gain is permanent and alike, so they share one lot: the pool stays as small as
    # the delta's lots however many effects an agent offline for a day has (else quadratic)
    gains: list | None = None
    for points, at in effects:
        if points >= 0:
            paid = min(points, debt)
            debt -= paid
            if points - paid:
                if gains is None:
                    gains = [0, None, None, len(pool)]
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
        lot = Lot(points, starts_at, expires_at)
        if points < 0:
            available += points
        elif lot.active(now):
            available += points
        elif lot.pending(now):
            held += points
    return Balance(available + held, available, held)
