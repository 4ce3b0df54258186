"""What the calculator answers. Both engines return these exact types.

They are NamedTuples: immutable, compared by value (kernel == reference is a
plain ``==``), and cheap to build on the till's hot path.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class LineQuote(NamedTuple):
    """One line of a quote: points earned and points redeemed on it."""

    accrued: int  # fixed-point rewards included
    redeemed: int
    k_item: int  # x1000
    redeemable: bool
    discount: int = 0  # money off by promotions (the till applies it on its fiscal receipt)
    bonus: int = 0  # fixed points of promotions (in ``accrued``, not subject to total_step)


class Quote(NamedTuple):
    """Accrual and redemption of one receipt (accrual.md)."""

    accrued: int
    redeemed: int
    max_redeemable: int
    lines: tuple[LineQuote, ...]
    percent: int  # x100, the percent that applied (step 5)
    k_time: int  # x1000
    k_receipt: int  # x1000
    cap_percent: int  # x100, the redemption cap that applied
    discount: int = 0  # money off by promotions, all lines
    bonus: int = 0  # fixed points of promotions, all lines (in ``accrued``)
    #: per reward given to the calculator (in its order), per line: money off or fixed points
    rewards: tuple[tuple[int, ...], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The CLI's and the POS API's JSON form."""
        return {
            "accrued": self.accrued,
            "redeemed": self.redeemed,
            "max_redeemable": self.max_redeemable,
            "lines": [
                {"accrued": line.accrued, "redeemed": line.redeemed, "discount": line.discount, "bonus": line.bonus}
                for line in self.lines
            ]
            if self.rewards
            else [{"accrued": line.accrued, "redeemed": line.redeemed} for line in self.lines],
        }


class CommittedLine(NamedTuple):
    """A line as committed: what a refund is computed from."""

    quantity: int  # x1000
    amount: int
    accrued: int
    redeemed: int


class LineRefund(NamedTuple):
    """What a refund moves on one line (or the running total of earlier refunds)."""

    quantity: int = 0  # x1000
    amount: int = 0
    accrued: int = 0  # earned points taken back
    redeemed: int = 0  # redeemed points given back


class Refund(NamedTuple):
    lines: tuple[LineRefund, ...]
    amount: int
    accrued: int
    redeemed: int
