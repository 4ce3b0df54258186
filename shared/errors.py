"""The one error hierarchy of loyalty-edge.

Every error has a stable machine ``code`` (the POS API's problem ``code``, the
CLI's JSON ``code``) and a message a cashier, marketer or technician can act on.
Errors that are bad input dual-inherit ``ValueError`` so callers may catch
either.
"""

from __future__ import annotations

from dataclasses import dataclass


class LoyaltyError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "loyalty_error"
    #: HTTP status the POS API answers with
    status = 400

    def to_dict(self) -> dict[str, object]:
        """The error as JSON-ready data: ``{"code": ..., "detail": ...}`` plus extras."""
        return {"code": self.code, "detail": str(self)}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input document, at a JSON path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ValidationError(LoyaltyError, ValueError):
    """An input document has one or more problems; all of them are listed."""

    code = "validation_error"
    status = 422
    what = "input"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"invalid {self.what} ({len(self.problems)} problem(s)):\n{lines}")

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "detail": str(self),
            "errors": [{"path": p.path, "message": p.message} for p in self.problems],
        }


class RuleSetError(ValidationError):
    """The rule set JSON does not follow accrual.md."""

    code = "invalid_rule_set"
    what = "rule set"


class ReceiptError(ValidationError):
    """A receipt (or its customer, campaigns, refund request) is malformed."""

    code = "validation_error"
    what = "receipt"


class RedeemOverLimit(LoyaltyError):
    """The till asked to redeem more points than the rules and the balance allow."""

    code = "redeem_over_limit"
    status = 422

    def __init__(self, requested: int, max_redeemable: int) -> None:
        self.requested = requested
        self.max_redeemable = max_redeemable
        super().__init__(f"cannot redeem {requested} points: at most {max_redeemable} can be redeemed on this receipt")

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "max_redeemable": self.max_redeemable}


class RefundError(ValidationError):
    """A refund request does not fit the receipt it names (line, quantity)."""

    code = "refund_invalid"
    what = "refund"
