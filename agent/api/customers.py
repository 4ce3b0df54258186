"""Identify, register and confirm customers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g

from ..i18n import translate
from .routes import idempotency_key, json_body, operation, respond, service

bp = Blueprint("customers", __name__, url_prefix="/v1")

_IDENTIFY_CODES = (
    "unknown_card",
    "unknown_customer",
    "invalid_card",
    "invalid_track",
    "invalid_barcode",
    "invalid_phone",
    "invalid_qr",
    "qr_expired",
    "qr_disabled",
)


def render_messages(view: dict[str, Any]) -> dict[str, Any]:
    """Computed cashier messages (birthday) rendered in the request's language."""
    view["messages"] = [
        {"id": m["id"], "kind": m["kind"], "text": m["text"] if "text" in m else translate(m["template"], m["params"])}
        for m in view["messages"]
    ]
    return view


@operation(
    bp,
    "/identify",
    "POST",
    summary="Find the customer by card, phone, barcode, magnetic track or QR",
    request="CustomerRef",
    responses={200: "Identification"},
    codes=_IDENTIFY_CODES,
)
def identify() -> Response:
    """Answers the customer even when the card or the customer is blocked (see card_blocked, blocked)."""
    result = service().identify(g.terminal, json_body())
    render_messages(result.body)
    return respond(result)


@operation(
    bp,
    "/customers",
    "POST",
    summary="Register a new customer at the till",
    request="Registration",
    responses={201: "RegistrationResult"},
    idempotency_key=True,
    codes=("invalid_phone", "invalid_card", "phone_taken", "card_taken", "idempotency_conflict"),
)
def register() -> Response:
    """The customer can collect points at once; the SMS code goes to the central server with the event."""
    result = service().register(g.terminal, json_body(), idempotency_key())
    render_messages(result.body["customer"])
    return respond(result)


@operation(
    bp,
    "/customers/<customer_id>/confirm",
    "POST",
    summary="Confirm the customer's phone with the SMS code",
    request="Confirmation",
    responses={200: "ConfirmationResult"},
    idempotency_key=True,
    codes=(
        "unknown_customer",
        "nothing_to_confirm",
        "confirmation_failed",
        "confirmation_expired",
        "confirmation_locked",
        "idempotency_conflict",
    ),
)
def confirm(customer_id: str) -> Response:
    """Wrong codes count towards the limit even though they are refused."""
    return respond(service().confirm(g.terminal, customer_id, json_body(), idempotency_key()))


@operation(
    bp,
    "/cards/<card>/replace",
    "POST",
    summary="Replace a customer's lost or damaged card by a new card number; the balance stays",
    request="CardReplacement",
    responses={200: "CardReplacementResult"},
    idempotency_key=True,
    codes=(
        "unknown_card",
        "invalid_card",
        "card_blocked",
        "card_reassigned",
        "customer_blocked",
        "card_taken",
        "idempotency_conflict",
    ),
)
def replace_card(card: str) -> Response:
    """Works offline: the replacement is recorded here and goes up with the next sync (docs/sync.md)."""
    result = service().replace_card(g.terminal, card, json_body(), idempotency_key())
    render_messages(result.body["customer"])
    return respond(result)
