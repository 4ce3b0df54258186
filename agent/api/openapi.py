"""``GET /openapi.json``: the OpenAPI 3.1 document, built from the route declarations."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app

from ..version import __version__
from .problems import TITLES
from .routes import OPERATIONS, Operation
from .schemas import RECEIPT_ID, SCHEMAS, ref, text

bp = Blueprint("openapi", __name__)

_PARAM = re.compile(r"<(?:[a-z_]+:)?([a-z_]+)>")
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    400: "Malformed request",
    401: "No valid terminal key",
    404: "Not found",
    409: "Conflict with the current state",
    410: "Gone",
    413: "Too large",
    422: "Refused input",
    429: "Too many attempts",
    503: "Not ready",
}
_STATUS_OF_CODE = {
    "validation_error": 422,
    "refund_invalid": 422,
    "malformed_json": 400,
    "unauthorized": 401,
    "unknown_card": 404,
    "unknown_customer": 404,
    "receipt_not_found": 404,
    "card_blocked": 409,
    "card_reassigned": 409,
    "customer_blocked": 409,
    "receipt_conflict": 409,
    "refund_conflict": 409,
    "idempotency_conflict": 409,
    "receipt_cancelled": 409,
    "shift_closed": 409,
    "card_taken": 409,
    "phone_taken": 409,
    "nothing_to_confirm": 409,
    "insufficient_points": 422,
    "redeem_over_limit": 422,
    "offline_limit": 422,
    "customer_required": 422,
    "card_not_registered": 422,
    "invalid_card": 422,
    "invalid_track": 422,
    "invalid_barcode": 422,
    "invalid_phone": 422,
    "invalid_qr": 422,
    "qr_expired": 422,
    "qr_disabled": 422,
    "confirmation_failed": 422,
    "confirmation_expired": 410,
    "confirmation_locked": 429,
    "confirmation_required": 409,
    "confirmation_not_required": 409,
    "confirmation_unavailable": 503,
    "confirmation_no_address": 422,
    "confirmation_too_many": 429,
    "confirmation_unknown": 422,
    "confirmation_used": 409,
    "confirmation_superseded": 409,
    "confirmation_points": 422,
    "no_rules": 503,
    "no_identification": 404,
    "no_printer": 409,
    "no_slip": 409,
    "too_many_streams": 503,
}

#: path parameters that are more than any string
PATH_SCHEMAS = {
    "receipt_id": {"type": "string", "pattern": RECEIPT_ID["pattern"], "description": RECEIPT_ID["description"]},
}

DESCRIPTION = """The store agent's POS API (loyalty-edge). Money and points are integer minor units.

* Authentication: every terminal has an API key (`loyalty-agent terminals add ID`); send `Authorization: Bearer KEY`.
* Errors are RFC 9457 problem documents (`application/problem+json`) with a stable `code`.
* Writes are idempotent: a receipt's `receipt_id`, a refund's `refund_id`, or the `Idempotency-Key` header.
  The same request again returns the first answer (header `Idempotent-Replayed: true`); a different request
  under the same id is a 409.
* A 2xx write is on the agent's disk before the answer is sent.
* `Accept-Language: ru` answers problem titles, details and cashier messages in Russian.
* Path parameters are percent-encoded. A `receipt_id` is refused at commit (422) when it contains `/` or is
  `.` or `..`: no path could name it for a refund, cancel or reprint.
* The schemas say what is enforced: a string field is refused when empty or only whitespace; JSON text must be
  valid Unicode (a lone surrogate escape such as `"\\ud800"` is a 422 naming the field). Some rules are
  beyond a schema and answer 422 too: card numbers and phones, `amount` = price x quantity - discount,
  `total` = the sum of the amounts, a refund naming a line twice.
"""


def openapi_path(rule: str) -> str:
    """Flask ``/v1/receipts/<receipt_id>/refund`` -> OpenAPI ``/v1/receipts/{receipt_id}/refund``."""
    return _PARAM.sub(r"{\1}", rule)


def _problem_response(status: int, codes: list[str]) -> dict[str, Any]:
    return {
        "description": f"{_STATUS_TEXT.get(status, 'Error')}: " + ", ".join(f"`{c}`" for c in codes),
        "content": {"application/problem+json": {"schema": ref("Problem")}},
    }


def _operation(op: Operation) -> dict[str, Any]:
    codes = list(op.codes)
    if op.auth:
        codes.append("unauthorized")
    if op.request:
        codes += ["validation_error", "malformed_json"]
    doc: dict[str, Any] = {
        "operationId": op.endpoint.replace(".", "_"),
        "summary": op.summary,
        "tags": [op.tag],
        "responses": {
            str(status): {"description": _STATUS_TEXT.get(status, "OK"), "content": {op.media: {"schema": ref(name)}}}
            for status, name in op.responses.items()
        },
        "x-problem-codes": sorted(set(codes)),
    }
    if op.description:
        doc["description"] = op.description
    by_status: dict[int, list[str]] = {}
    for code in sorted(set(codes)):
        by_status.setdefault(_STATUS_OF_CODE[code], []).append(code)
    for status, group in sorted(by_status.items()):
        doc["responses"][str(status)] = _problem_response(status, group)
    params = [
        {"name": name, "in": "path", "required": True, "schema": PATH_SCHEMAS.get(name, {"type": "string"})}
        for name in _PARAM.findall(op.rule)
    ]
    if op.idempotency_key:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": text(200),
                "description": "Retry-safe key: the same key and body return the first answer.",
            }
        )
    params.append(
        {
            "name": "Accept-Language",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "examples": ["ru", "en"]},
        }
    )
    params += op.parameters
    if op.token_query:
        params.append(
            {
                "name": "access_token",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "The terminal's key, for clients that cannot send headers (a browser's EventSource).",
            }
        )
    doc["parameters"] = params
    if op.request:
        doc["requestBody"] = {
            "required": op.request_required,
            "content": {"application/json": {"schema": ref(op.request)}},
        }
    doc["security"] = (
        ([{"terminalKey": []}] + ([{"terminalKeyQuery": []}] if op.token_query else [])) if op.auth else []
    )
    return doc


def build_document(version: str) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document of the routes declared with ``@operation``."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(openapi_path(op.rule), {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "loyalty-edge store agent POS API", "version": version, "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "terminalKey": {"type": "http", "scheme": "bearer", "description": "the terminal's API key"},
                "terminalKeyQuery": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "access_token",
                    "description": "the terminal's API key as a query parameter (streams only)",
                },
            },
        },
        "x-problem-titles": dict(TITLES),
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI document (public: integrators read it before they have a key)."""
    return current_app.json.response(build_document(__version__))
