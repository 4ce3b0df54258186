"""Quote, commit, refund and cancel receipts; close a shift."""

from __future__ import annotations

from flask import Blueprint, Response, g

from shared.errors import Problem

from .. import history
from ..requests import RequestError
from ..results import Result
from .routes import idempotency_key, json_body, operation, query_arg, respond, service

bp = Blueprint("receipts", __name__, url_prefix="/v1")

_CUSTOMER_CODES = (
    "unknown_card",
    "unknown_customer",
    "card_blocked",
    "card_reassigned",
    "customer_blocked",
    "invalid_card",
    "invalid_track",
    "invalid_barcode",
    "invalid_phone",
    "invalid_qr",
    "qr_expired",
    "qr_disabled",
)
_REDEEM_CODES = (
    "redeem_over_limit",
    "insufficient_points",
    "offline_limit",
    "customer_required",
    "card_not_registered",
)
#: a commit's redemption confirmed by the central server (docs/messages.md, "Redemption confirmation")
_CONFIRM_CODES = (
    "confirmation_required",
    "confirmation_unavailable",
    "confirmation_unknown",
    "confirmation_used",
    "confirmation_superseded",
    "confirmation_points",
    "confirmation_expired",
    "confirmation_locked",
    "confirmation_failed",
)


@operation(
    bp,
    "/receipts/quote",
    "POST",
    summary="Accrual, maximum redemption and its allocation; changes nothing",
    request="QuoteRequest",
    responses={200: "QuoteResult"},
    codes=(*_CUSTOMER_CODES, *_REDEEM_CODES, "no_rules"),
)
def quote() -> Response:
    """The same computation as a commit, without committing anything."""
    return respond(service().quote(g.terminal, json_body()))


@operation(
    bp,
    "/receipts",
    "POST",
    summary="Commit a purchase with an optional redemption",
    request="Receipt",
    responses={201: "CommitResult"},
    codes=(*_CUSTOMER_CODES, *_REDEEM_CODES, *_CONFIRM_CODES, "receipt_conflict", "no_rules"),
)
def commit() -> Response:
    """Idempotent by receipt_id: the same body again returns the first answer; another body is a 409."""
    return respond(service().commit(g.terminal, json_body()))


@operation(
    bp,
    "/redemptions/code",
    "POST",
    summary="Send the customer a code confirming a redemption (when the program requires one)",
    request="RedeemCodeRequest",
    responses={201: "RedeemCodeResult"},
    codes=(
        *_CUSTOMER_CODES,
        "insufficient_points",
        "offline_limit",
        "card_not_registered",
        "confirmation_not_required",
        "confirmation_unavailable",
        "confirmation_no_address",
        "confirmation_too_many",
    ),
)
def redeem_code() -> Response:
    """The central server sends the code (SMS, Telegram, push or email, as head office switched it on); the
    till passes it with the receipt as ``confirmation: {id, code}``. Offline: confirmation_unavailable."""
    return respond(service().request_redeem_code(g.terminal, json_body()))


@operation(
    bp,
    "/receipts/<receipt_id>/refund",
    "POST",
    summary="Return some or all lines of a receipt",
    request="RefundRequest",
    responses={201: "RefundResult"},
    idempotency_key=True,
    codes=(
        "receipt_not_found",
        "receipt_cancelled",
        "refund_invalid",
        "refund_conflict",
        "idempotency_conflict",
        "no_rules",
    ),
)
def refund(receipt_id: str) -> Response:
    """Points earned on the returned part are taken back, points redeemed on it are given back."""
    return respond(service().refund(g.terminal, receipt_id, json_body(), idempotency_key()))


@operation(
    bp,
    "/receipts/<receipt_id>/cancel",
    "POST",
    summary="Void a receipt of the open shift",
    request="CancelRequest",
    request_required=False,
    responses={200: "CancelResult"},
    idempotency_key=True,
    codes=("receipt_not_found", "shift_closed", "idempotency_conflict"),
)
def cancel(receipt_id: str) -> Response:
    """Allowed until the shift of the receipt's terminal is closed (or its business day ends)."""
    return respond(service().cancel(g.terminal, receipt_id, json_body(), idempotency_key()))


@operation(bp, "/shifts/close", "POST", summary="Close this terminal's shift", responses={200: "ShiftClosed"})
def close_shift() -> Response:
    """After it, the shift's receipts can be refunded but no longer cancelled."""
    return respond(service().close_shift(g.terminal))


_LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "description": "how many receipts, newest first",
    "schema": {"type": "integer", "minimum": 1, "maximum": history.MAX_LIMIT, "default": history.DEFAULT_LIMIT},
}


@operation(
    bp,
    "/receipts",
    "GET",
    summary="This terminal's most recent receipts (to refund, cancel or reprint one)",
    responses={200: "RecentReceipts"},
    codes=("validation_error",),
    parameters=(_LIMIT,),
)
def recent() -> Response:
    """Only the calling terminal's receipts, with each line's refunded quantity and whether it can be cancelled."""
    text = query_arg("limit") or str(history.DEFAULT_LIMIT)
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= history.MAX_LIMIT:
        raise RequestError([Problem("limit", f"must be an integer from 1 to {history.MAX_LIMIT}, got {text[:20]!r}")])
    svc = service()
    today = svc.today(svc.clock()).isoformat()
    with svc.store.read() as tx:
        receipts = history.recent_receipts(tx, g.terminal, int(text), today)
    return respond(Result(200, {"terminal": g.terminal, "receipts": receipts}))
