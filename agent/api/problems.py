"""RFC 9457 problem documents: every refusal of the POS API, in the till's language.

``{"type": "urn:loyalty-edge:problem:card_blocked", "title": ..., "status": 409,
"detail": ..., "code": "card_blocked"}``, plus ``errors`` (JSON path and
message of each problem) for ``validation_error`` and the fields a code
exposes (``max_redeemable``, ``attempts_left``, ...). Nothing else ever leaves
the API as an error: an unexpected exception becomes a logged 500
``internal_error`` without internals.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from shared.errors import LoyaltyError, RedeemOverLimit, ValidationError
from shared.identifiers import N_

from ..errors import AgentError, _error
from ..i18n import translate
from ..promotions import CODE_PROBLEMS

log = logging.getLogger("loyalty.agent.api")

PROBLEM_TYPE = "urn:loyalty-edge:problem:"

MalformedJson = _error("MalformedJson", "malformed_json", 400, N_("The request body is not valid JSON: %(error)s"))

#: the title of every code the API answers with (translated)
TITLES: dict[str, str] = {
    "validation_error": N_("The request has errors"),
    "refund_invalid": N_("The refund does not fit the receipt"),
    "malformed_json": N_("The request body is not JSON"),
    "unauthorized": N_("Terminal key required"),
    "unknown_card": N_("Unknown card"),
    "unknown_customer": N_("Unknown customer"),
    "receipt_not_found": N_("Receipt not found"),
    "card_blocked": N_("Card blocked"),
    "card_reassigned": N_("Card replaced"),
    "customer_blocked": N_("Customer blocked"),
    "receipt_conflict": N_("Receipt already committed with other contents"),
    "refund_conflict": N_("Refund already made with other contents"),
    "idempotency_conflict": N_("Idempotency-Key reused for another request"),
    "receipt_cancelled": N_("Receipt cancelled"),
    "shift_closed": N_("Shift closed"),
    "card_taken": N_("Card already registered"),
    "phone_taken": N_("Phone already registered"),
    "insufficient_points": N_("Not enough points"),
    "redeem_over_limit": N_("Redemption over the limit"),
    "offline_limit": N_("Offline redemption limit"),
    "customer_required": N_("Customer not identified"),
    "card_not_registered": N_("Card not registered yet"),
    "invalid_card": N_("Invalid card number"),
    "invalid_track": N_("Card could not be read"),
    "invalid_barcode": N_("Invalid barcode"),
    "invalid_phone": N_("Invalid phone number"),
    "invalid_qr": N_("Not a loyalty QR code"),
    "qr_expired": N_("QR code expired"),
    "qr_disabled": N_("QR codes not set up"),
    "nothing_to_confirm": N_("Nothing to confirm"),
    "confirmation_failed": N_("Wrong confirmation code"),
    "confirmation_expired": N_("Confirmation code expired"),
    "confirmation_locked": N_("Confirmation locked"),
    "confirmation_required": N_("Redemption needs a confirmation code"),
    "confirmation_not_required": N_("No confirmation code needed"),
    "confirmation_unavailable": N_("Redemption cannot be confirmed now"),
    "confirmation_no_address": N_("No way to send the customer a code"),
    "confirmation_too_many": N_("Too many codes"),
    "confirmation_unknown": N_("Unknown confirmation code request"),
    "confirmation_used": N_("Confirmation code already used"),
    "confirmation_superseded": N_("A newer code was sent"),
    "confirmation_points": N_("Code confirms fewer points"),
    "no_rules": N_("No rule set installed"),
    "not_found": N_("No such endpoint"),
    "method_not_allowed": N_("Method not allowed"),
    "payload_too_large": N_("Request too large"),
    "bad_request": N_("Bad request"),
    "internal_error": N_("Internal error"),
    "no_identification": N_("No identification yet"),
    "no_printer": N_("No printer configured"),
    "no_slip": N_("No loyalty slip for this receipt"),
    "too_many_streams": N_("Too many identification streams"),
    **CODE_PROBLEMS,  # in a quote's or commit's promo_code_problems (the sale goes on)
}

_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
_HTTP_DETAILS = {
    "bad_request": N_("The request could not be understood."),
    "not_found": N_("There is no such endpoint: see /openapi.json."),
    "method_not_allowed": N_("This endpoint does not accept this method: see /openapi.json."),
    "payload_too_large": N_("The request body is too large."),
}


def problem_document(code: str, status: int, detail: str, **extra: object) -> dict[str, object]:
    """A problem document in the request's language."""
    return {
        "type": PROBLEM_TYPE + code,
        "title": translate(TITLES.get(code, code)),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


def problem(code: str, status: int, detail: str, **extra: object) -> Response:
    """A problem+json response."""
    return _respond(problem_document(code, status, detail, **extra))


def _respond(document: dict[str, object]) -> Response:
    response = current_app.json.response(document)
    response.status_code = document["status"]
    response.mimetype = "application/problem+json"
    return response


def _detail(exc: LoyaltyError) -> str:
    template = getattr(exc, "template", None)
    if template is not None:
        return translate(template, getattr(exc, "params", None))
    if isinstance(exc, RedeemOverLimit):
        return translate(
            N_("Cannot redeem %(requested)d points: at most %(max_redeemable)d can be redeemed on this receipt."),
            {"requested": exc.requested, "max_redeemable": exc.max_redeemable},
        )
    if isinstance(exc, ValidationError):
        return translate(N_("Please correct: %(problems)s"), {"problems": "; ".join(str(p) for p in exc.problems)})
    return str(exc)


def loyalty_document(exc: LoyaltyError) -> dict[str, object]:
    """The problem document of a refusal (also sent in identification events)."""
    extra = {k: v for k, v in exc.to_dict().items() if k not in ("code", "detail")}
    return problem_document(exc.code, exc.status, _detail(exc), **extra)


def loyalty_problem(exc: LoyaltyError) -> Response:
    return _respond(loyalty_document(exc))


def http_problem(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = _HTTP_CODES.get(status, "bad_request" if status < 500 else "internal_error")
    response = problem(code, status, translate(_HTTP_DETAILS.get(code, N_("The request could not be understood."))))
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)  # RFC 9110 15.5.6: a 405 lists what is allowed
    return response


def unexpected_problem(exc: Exception) -> Response:
    log.exception("unexpected error answering a POS API request")
    return problem("internal_error", 500, translate(N_("The agent failed to answer; the error is in its log.")))


def init_app(app: Flask) -> None:
    """Answer every error of the app as a problem document."""
    app.register_error_handler(LoyaltyError, loyalty_problem)
    app.register_error_handler(AgentError, loyalty_problem)
    app.register_error_handler(HTTPException, http_problem)
    app.register_error_handler(Exception, unexpected_problem)
