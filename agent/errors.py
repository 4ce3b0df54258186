"""Errors of the store agent's operations, each with a stable code and HTTP status.

Like :class:`shared.identifiers.InvalidIdentifier`, each carries a gettext
``template`` and ``params`` so the POS API answers in the till's language;
``str(error)`` is the English text. The titles of every code are in
``agent/api/problems.py``.
"""

from __future__ import annotations

from shared.errors import LoyaltyError
from shared.identifiers import N_


class AgentError(LoyaltyError):
    """An operation refused for a reason the cashier or the integrator can act on."""

    code = "agent_error"
    status = 400
    template = N_("The operation was refused.")

    def __init__(self, template: str | None = None, /, **params: object) -> None:
        if template is not None:
            self.template = template
        self.params = params
        super().__init__(self.template % params)

    def to_dict(self) -> dict[str, object]:
        extra = {k: v for k, v in self.params.items() if k in self.exposed}
        return {**super().to_dict(), **extra}

    #: params also returned as fields of the problem document
    exposed: tuple[str, ...] = ()


def _error(name: str, code: str, status: int, template: str, exposed: tuple[str, ...] = ()) -> type[AgentError]:
    cls = type(name, (AgentError,), {"code": code, "status": status, "template": template, "exposed": exposed})
    cls.__doc__ = template
    return cls


Unauthorized = _error(
    "Unauthorized", "unauthorized", 401, N_("A valid terminal API key is required: send Authorization: Bearer KEY.")
)
UnknownCard = _error(
    "UnknownCard",
    "unknown_card",
    404,
    N_("The card %(card)s is not registered: register the customer or check the number."),
    ("card",),
)
UnknownCustomer = _error(
    "UnknownCustomer", "unknown_customer", 404, N_("No customer with the id %(customer_id)s is known at this store.")
)
ReceiptNotFound = _error(
    "ReceiptNotFound",
    "receipt_not_found",
    404,
    N_("The receipt %(receipt_id)s was not found at this store."),
    ("receipt_id",),
)
CardBlocked = _error(
    "CardBlocked", "card_blocked", 409, N_("The card %(card)s is blocked: it cannot be used for points."), ("card",)
)
CardReassigned = _error(
    "CardReassigned",
    "card_reassigned",
    409,
    N_("The card %(card)s was replaced by another card: ask the customer for the new card."),
    ("card",),
)
CustomerBlocked = _error(
    "CustomerBlocked",
    "customer_blocked",
    409,
    N_("This customer's account is blocked: points cannot be accrued or redeemed."),
)
ReceiptConflict = _error(
    "ReceiptConflict",
    "receipt_conflict",
    409,
    N_("The receipt %(receipt_id)s was already committed with different contents."),
    ("receipt_id",),
)
RefundConflict = _error(
    "RefundConflict",
    "refund_conflict",
    409,
    N_("The refund %(refund_id)s was already made with different contents."),
    ("refund_id",),
)
IdempotencyConflict = _error(
    "IdempotencyConflict",
    "idempotency_conflict",
    409,
    N_("The Idempotency-Key %(key)s was already used for a different request."),
)
ReceiptCancelled = _error(
    "ReceiptCancelled", "receipt_cancelled", 409, N_("The receipt %(receipt_id)s was cancelled."), ("receipt_id",)
)
ShiftClosed = _error(
    "ShiftClosed",
    "shift_closed",
    409,
    N_("The receipt %(receipt_id)s belongs to a closed shift: make a refund instead of a cancel."),
    ("receipt_id",),
)
CardTaken = _error(
    "CardTaken",
    "card_taken",
    409,
    N_("The card %(card)s already belongs to a customer: identify the customer by this card."),
    ("card",),
)
PhoneTaken = _error(
    "PhoneTaken",
    "phone_taken",
    409,
    N_("The phone %(phone)s is already registered: identify the customer by phone."),
    ("phone",),
)
InsufficientPoints = _error(
    "InsufficientPoints",
    "insufficient_points",
    422,
    N_("Cannot redeem %(requested)d points: the customer has %(available)d available."),
    ("requested", "available", "max_redeemable"),
)
OfflineLimit = _error(
    "OfflineLimit",
    "offline_limit",
    422,
    N_("The store is offline: at most %(max_redeemable)d points can be redeemed for this customer now."),
    ("requested", "max_redeemable"),
)
CardNotRegistered = _error(
    "CardNotRegistered",
    "card_not_registered",
    422,
    N_(
        "The card %(card)s is not registered yet: its points are accrued and wait for the customer, but none "
        "can be redeemed until the card is registered and its balance known."
    ),
    ("card", "requested", "max_redeemable"),
)
NeedsCustomer = _error(
    "NeedsCustomer", "customer_required", 422, N_("Points can only be redeemed when the customer is identified.")
)
QrDisabled = _error(
    "QrDisabled",
    "qr_disabled",
    422,
    N_("QR codes are not set up at this store (no qr_secret): scan the card or enter the phone."),
)
NothingToConfirm = _error(
    "NothingToConfirm", "nothing_to_confirm", 409, N_("This customer has no confirmation code waiting.")
)
ConfirmationFailed = _error(
    "ConfirmationFailed",
    "confirmation_failed",
    422,
    N_("The code is wrong: %(attempts_left)d attempt(s) left."),
    ("attempts_left",),
)
ConfirmationExpired = _error(
    "ConfirmationExpired",
    "confirmation_expired",
    410,
    N_("The confirmation code has expired: register the phone again to get a new code."),
)
ConfirmationLocked = _error(
    "ConfirmationLocked", "confirmation_locked", 429, N_("Too many wrong codes: the confirmation is locked.")
)
NoRules = _error(
    "NoRules",
    "no_rules",
    503,
    N_("No rule set is installed: run `loyalty-agent rules load FILE` or connect the agent to the central server."),
)
NoIdentification = _error(
    "NoIdentification",
    "no_identification",
    404,
    N_("No customer has been identified at terminal %(terminal)s since the agent started."),
)
NoPrinter = _error(
    "NoPrinter",
    "no_printer",
    409,
    N_("No receipt printer is configured at this store (printer_kind): loyalty slips cannot be printed."),
)
NoSlip = _error(
    "NoSlip",
    "no_slip",
    409,
    N_("The receipt %(receipt_id)s has no customer: there is no loyalty slip to print."),
    ("receipt_id",),
)
TooManyStreams = _error(
    "TooManyStreams",
    "too_many_streams",
    503,
    N_("%(limit)d identification streams are open already: close one, or raise stream_max_clients (and threads)."),
)

# -- redemption confirmation codes (docs/messages.md, "Redemption confirmation"): the central server sends and checks
ConfirmationRequired = _error(
    "ConfirmationRequired",
    "confirmation_required",
    409,
    N_(
        "This program confirms every redemption with a code sent to the customer: request a code "
        "(POST /v1/redemptions/code) and send it with the receipt as confirmation."
    ),
)
ConfirmationNotRequired = _error(
    "ConfirmationNotRequired",
    "confirmation_not_required",
    409,
    N_("Redemptions need no confirmation code at this store: commit the receipt without one."),
)
ConfirmationUnavailable = _error(
    "ConfirmationUnavailable",
    "confirmation_unavailable",
    503,
    N_(
        "The redemption cannot be confirmed: the central server cannot be reached. Sell without redeeming "
        "points (they are accrued as usual) or try again when the store is online."
    ),
)
ConfirmationNoAddress = _error(
    "ConfirmationNoAddress",
    "confirmation_no_address",
    422,
    N_("The customer has no phone, chat or push subscription to receive a code: points cannot be redeemed."),
)
ConfirmationTooMany = _error(
    "ConfirmationTooMany",
    "confirmation_too_many",
    429,
    N_("Too many codes were sent to this customer in the last hour: try again later."),
)
ConfirmationUnknown = _error(
    "ConfirmationUnknown",
    "confirmation_unknown",
    422,
    N_("No such confirmation code request for this customer: request a new code."),
)
ConfirmationUsed = _error(
    "ConfirmationUsed",
    "confirmation_used",
    409,
    N_("This code has already confirmed another receipt: request a new code."),
)
ConfirmationSuperseded = _error(
    "ConfirmationSuperseded",
    "confirmation_superseded",
    409,
    N_("A newer code was sent to the customer: use the newest one."),
)
ConfirmationPoints = _error(
    "ConfirmationPoints",
    "confirmation_points",
    422,
    N_("The code confirms at most %(max_redeemable)d points: request a new code for this amount."),
    ("max_redeemable",),
)
CodeExpired = _error(
    "CodeExpired",
    "confirmation_expired",
    410,
    N_("The confirmation code has expired: request a new code."),
)
