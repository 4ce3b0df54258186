"""JSON Schemas (OpenAPI 3.1 components) of the POS API's bodies.

The shared parsers are what validates requests (they give the cashier-ready
messages); these schemas document the same shapes for integrators, and the
tests validate every response the API gives against them.
"""

from __future__ import annotations

from typing import Any

from shared.numbers import MAX_AMOUNT, MAX_LINES, MAX_QUANTITY, QUANTITY_SCALE
from shared.receipts import MAX_REDEEM

from ..requests import CONSENTS, IDENTIFIER_KINDS


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(
    properties: dict[str, Any], required: tuple[str, ...] = (), *, closed: bool = True, **extra: Any
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


INT = {"type": "integer"}
MONEY = {"type": "integer", "minimum": 0, "maximum": MAX_AMOUNT, "description": "minor units (kopecks)"}
POINTS = {"type": "integer", "description": "points in minor units"}
TEXT = {"type": "string"}
TIME = {"type": "string", "format": "date-time", "examples": ["2026-11-21T17:30:00+03:00"]}

#: what Python's str.strip() removes, spelled out so that every regex engine (ECMA 262 too) reads it alike
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{WHITESPACE}]"


def text(max_length: int, **extra: Any) -> dict[str, Any]:
    """A string field of a request: refused when empty, only whitespace, or longer than ``max_length``."""
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": NOT_BLANK, **extra}


#: a receipt_id names the receipt in paths: no "/", not "." or ".." (docs/agent.md, "Ids in paths")
RECEIPT_ID_PATTERN = rf"^(?!\.\.?$)[^/]*[^/{WHITESPACE}][^/]*$"
RECEIPT_ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": 100,
    "pattern": RECEIPT_ID_PATTERN,
    "description": 'unique per store; one URL path segment: no "/", not "." or ".." (percent-encode it in paths)',
}
QUANTITY = {
    "type": ["string", "integer"],
    "pattern": r"^[0-9]+(\.[0-9]{1,3})?$",
    "examples": ["1", "0.455"],
    "minimum": 0,
    "maximum": MAX_QUANTITY // QUANTITY_SCALE,
    "description": "a decimal string with at most 3 decimals, or an integer",
}
#: a refund returns more than nothing of a line
REFUND_QUANTITY = {**QUANTITY, "pattern": r"^(?!0*(\.0*)?$)[0-9]+(\.[0-9]{1,3})?$", "minimum": 1}
#: a free-form value the till may send along; the agent does not read it
FREE = {"description": "free-form data of the till (any JSON value); not read by the agent"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


LINE_RESULT = obj(
    {
        "accrued": POINTS,
        "redeemed": POINTS,
        "discount": {**MONEY, "description": "money off by promotions: the till applies it on its fiscal receipt"},
        "bonus": {**POINTS, "description": "fixed points of promotions, included in accrued"},
    },
    ("accrued", "redeemed"),
)
#: the promo-code problems a quote or commit may carry (the sale goes on without the code)
CODE_PROBLEM_TYPES = [
    "urn:loyalty-edge:problem:" + code
    for code in (
        "promo_code_unknown",
        "promo_code_used_up",
        "promo_code_expired",
        "promo_code_not_yet_valid",
        "promo_code_foreign",
        "promo_code_offline",
        "promo_code_not_applicable",
        "promo_code_personal",
    )
]
PROMOTION_APPLIED = obj(
    {
        "id": TEXT,
        "name": TEXT,
        "kind": {"enum": ["multiplier", "points", "percent_off", "money_off"]},
        "points": POINTS,
        "discount": MONEY,
        "promo_code": TEXT,
        "expires_days": INT,
        "lines": {
            "type": "array",
            "items": obj({"index": INT, "points": POINTS, "discount": MONEY}, ("index", "points", "discount")),
        },
    },
    ("id", "name", "kind", "points", "discount", "lines"),
)

_QUOTE_FIELDS = {
    "customer_id": nullable(TEXT),
    "total": MONEY,
    "accrued": POINTS,
    "redeemed": POINTS,
    "max_redeemable": POINTS,
    "lines": {"type": "array", "items": ref("LineResult")},
    "balance": nullable(POINTS),
    "available": nullable(POINTS),
    "offline": {"type": "boolean", "description": "the agent had no fresh link to the central server"},
    "rules_version": INT,
    "confirmation_required": {
        "type": "boolean",
        "description": "present (true) when a redemption needs a code from POST /v1/redemptions/code",
    },
    "discount": {**MONEY, "description": "money off by promotions, all lines (present when promotions apply)"},
    "promotions": {
        "type": "array",
        "items": PROMOTION_APPLIED,
        "description": "each promotion applied, with its points and discount per line",
    },
    "promo_code_problems": {
        "type": "array",
        "items": {
            "allOf": [{"$ref": "#/components/schemas/Problem"}],
            "properties": {"type": {"enum": CODE_PROBLEM_TYPES}, "promo_code": TEXT},
        },
        "description": "codes refused (unknown, used up, expired, not yet valid, foreign, offline, not applicable); "
        "the sale goes on without them",
    },
}
_QUOTE_REQUIRED = (
    "customer_id",
    "total",
    "accrued",
    "redeemed",
    "max_redeemable",
    "lines",
    "balance",
    "available",
    "offline",
    "rules_version",
)
_BALANCE = {"balance": nullable(POINTS), "available": nullable(POINTS)}

SCHEMAS: dict[str, dict[str, Any]] = {
    "CustomerRef": {
        "type": "object",
        "properties": {
            kind: nullable({**text(300), "description": description})
            for kind, description in zip(
                IDENTIFIER_KINDS,
                (
                    "card number; spaces and dashes are ignored",
                    "phone in any usual form: Russian by default (8 912 345-67-89, +7 (912) 345-67-89, 912 345 67 89), "
                    "other countries with + and the country code (+44 20 7946 0958)",
                    "the card's barcode (EAN-13 checked)",
                    "raw magnetic stripe read: ;PAN=YYMM...? or %BPAN^NAME^...?",
                    "QR token from the customer's app (LE1.<id>.<mac>)",
                    "customer id",
                ),
                strict=True,
            )
        },
        "additionalProperties": False,
        "oneOf": [{"required": [kind], "properties": {kind: {"type": "string"}}} for kind in IDENTIFIER_KINDS],
        "description": "Exactly one way of naming the customer (the others absent or null).",
    },
    "ReceiptLine": obj(
        {
            "sku": nullable(text(100)),
            "name": nullable(text(200)),
            "category": nullable(text(100)),
            "barcode": nullable(text(100)),
            "quantity": {
                **QUANTITY,
                "description": (
                    "units sold, up to 3 decimals (default 1); 0 for a weighed or service "
                    "line the till sends without a "
                    "quantity: it earns on its amount, price is then not checked, and a refund returns it whole"
                ),
            },
            "price": nullable(MONEY),
            "discount": MONEY,
            "amount": {**MONEY, "description": "what the customer pays for the line: price x quantity - discount"},
            "extra": FREE,
        },
        ("amount",),
    ),
    "QuoteRequest": obj(
        {
            "receipt_id": RECEIPT_ID,
            "at": {**TIME, "description": "with a UTC offset"},
            "customer": nullable(ref("CustomerRef")),
            "lines": {"type": "array", "minItems": 1, "maxItems": MAX_LINES, "items": ref("ReceiptLine")},
            "redeem": {**POINTS, "minimum": 0, "maximum": MAX_REDEEM},
            "total": {**MONEY, "description": "if given, must equal the sum of the line amounts"},
            "terminal": nullable(text(100)),
            "cashier": nullable(text(100)),
            "extra": FREE,
            "promo_codes": nullable(
                {
                    "type": "array",
                    "maxItems": 10,
                    "items": text(64),
                    "description": "promo codes the customer presents; spaces, dashes and case are ignored",
                }
            ),
            "confirmation": nullable(
                obj(
                    {
                        "id": {**text(64), "description": "confirmation_id from POST /v1/redemptions/code"},
                        "code": {**text(20), "description": "the digits the customer received"},
                    },
                    ("id", "code"),
                    description="a redemption's confirmation code, when the program requires one",
                )
            ),
        },
        ("at", "lines"),
    ),
    "RedeemCodeRequest": obj(
        {"customer": ref("CustomerRef"), "redeem": {**POINTS, "minimum": 1, "maximum": MAX_REDEEM}},
        ("customer", "redeem"),
    ),
    "RedeemCodeResult": obj(
        {
            "customer_id": TEXT,
            "confirmation_id": TEXT,
            "channel": {"enum": ["sms", "telegram", "push", "email", "voice"]},
            "expires_at": TIME,
            "attempts": {**INT, "description": "wrong codes allowed"},
            "redeem": POINTS,
        },
        ("customer_id", "confirmation_id", "channel", "expires_at", "attempts", "redeem"),
    ),
    "Receipt": {"allOf": [ref("QuoteRequest")], "required": ["receipt_id", "at", "lines"]},
    "LineResult": LINE_RESULT,
    "QuoteResult": obj(
        {
            **_QUOTE_FIELDS,
            "promo_codes_checked": {
                "enum": ["central", "local"],
                "description": "online, with codes: `central` when the central server said each code is still "
                "available (a refusal is in promo_code_problems; nothing reserved), `local` when it did not answer "
                "in time (the agent's own check stands). Absent offline or without codes",
            },
        },
        _QUOTE_REQUIRED,
    ),
    "CommitResult": obj(
        {**_QUOTE_FIELDS, "receipt_id": TEXT, "committed_at": TIME},
        (*_QUOTE_REQUIRED, "receipt_id", "committed_at"),
    ),
    "RefundRequest": obj(
        {
            "refund_id": nullable(
                {**text(100), "description": "the till's return id; a retry with it returns the first answer"}
            ),
            "at": nullable(TIME),
            "reason": nullable(text(500)),
            "lines": {
                "type": "array",
                "minItems": 1,
                "items": obj(
                    {
                        "index": {**INT, "minimum": 0, "maximum": 10**6, "description": "each line at most once"},
                        "quantity": nullable({**REFUND_QUANTITY, "description": "default: all that is left"}),
                    },
                    ("index",),
                ),
            },
        },
        ("lines",),
    ),
    "RefundResult": obj(
        {
            "refund_id": TEXT,
            "receipt_id": TEXT,
            "amount": MONEY,
            "accrued": POINTS,
            "redeemed": POINTS,
            "lines": {
                "type": "array",
                "items": obj(
                    {"index": INT, "quantity": TEXT, "amount": MONEY, "accrued": POINTS, "redeemed": POINTS},
                    ("index", "quantity", "amount", "accrued", "redeemed"),
                ),
            },
            **_BALANCE,
        },
        ("refund_id", "receipt_id", "amount", "accrued", "redeemed", "lines", "balance", "available"),
    ),
    "CancelRequest": {
        **obj({"at": nullable(TIME), "reason": nullable(text(500))}),
        "type": ["object", "null"],
        "description": "Optional: no body, null and {} are the same.",
    },
    "CancelResult": obj(
        {
            "receipt_id": TEXT,
            "status": {"const": "cancelled"},
            "amount": MONEY,
            "accrued": POINTS,
            "redeemed": POINTS,
            **_BALANCE,
        },
        ("receipt_id", "status", "amount", "accrued", "redeemed", "balance", "available"),
    ),
    "Message": obj({"id": TEXT, "kind": {"enum": ["custom", "birthday"]}, "text": TEXT}, ("id", "kind", "text")),
    "Customer": obj(
        {
            "customer_id": TEXT,
            "name": nullable(TEXT),
            "phone": nullable({**TEXT, "description": "masked"}),
            "phone_verified": {"type": "boolean"},
            "level": nullable(TEXT),
            "balance": POINTS,
            "available": POINTS,
            "held": {**POINTS, "description": "not spendable yet"},
            "card": nullable(TEXT),
            "card_status": nullable({"enum": ["active", "blocked", "reassigned"]}),
            "card_blocked": {"type": "boolean"},
            "blocked": {"type": "boolean"},
            "registered": {
                "type": "boolean",
                "description": (
                    "false: a card of the chain's ranges this store does not know yet "
                    "(registered at another store and not "
                    "yet come down, or never registered): its points accrue, none can be "
                    "redeemed until it is registered"
                ),
            },
            "consents": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "messages": {"type": "array", "items": ref("Message")},
        },
        (
            "customer_id",
            "name",
            "phone",
            "phone_verified",
            "level",
            "balance",
            "available",
            "held",
            "card",
            "card_status",
            "card_blocked",
            "blocked",
            "registered",
            "consents",
            "messages",
        ),
    ),
    "Registration": obj(
        {
            "phone": text(40),
            "card": nullable(text(64)),
            "name": nullable(text(200)),
            "birthday": nullable(
                {
                    "type": "string",
                    "maxLength": 10,
                    "examples": ["1990-05-17", "--05-17"],
                    "pattern": r"^(?:[0-9]{4}|-)-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])$",
                    "description": "a date, or --MM-DD when the year is unknown",
                }
            ),
            "consents": obj(
                {k: {"const": True} if k == "personal_data" else {"type": "boolean"} for k in CONSENTS},
                ("personal_data",),
                description="personal_data: true is required (152-FZ)",
            ),
            "language": nullable(
                {"enum": ["ru", "en"], "description": "the language of the customer's messages (absent: Russian)"}
            ),
        },
        ("phone", "consents"),
    ),
    "RegistrationResult": obj(
        {
            "customer_id": TEXT,
            "confirmation": obj(
                {"required": {"type": "boolean"}, "expires_at": TIME, "attempts": INT},
                ("required", "expires_at", "attempts"),
            ),
            "customer": ref("Customer"),
        },
        ("customer_id", "confirmation", "customer"),
    ),
    "CardReplacement": obj(
        {
            "new_card": {**text(64), "description": "the new card's number (of the chain's card ranges)"},
            "status": {
                "enum": ["replaced", "lost"],
                "default": "replaced",
                "description": "what the old card becomes (both refused at every till afterwards)",
            },
            "reason": nullable(text(200)),
        },
        ("new_card",),
    ),
    "CardReplacementResult": obj(
        {
            "customer_id": TEXT,
            "old_card": TEXT,
            "old_status": {"enum": ["replaced", "lost"]},
            "new_card": TEXT,
            "customer": ref("Customer"),
        },
        ("customer_id", "old_card", "old_status", "new_card", "customer"),
    ),
    "Confirmation": obj(
        {
            "code": {
                "type": "string",
                "maxLength": 20,
                "pattern": rf"^[{WHITESPACE}]*[0-9]{{6}}[{WHITESPACE}]*$",
                "description": "the 6 digits of the SMS code",
            }
        },
        ("code",),
    ),
    "ConfirmationResult": obj(
        {"customer_id": TEXT, "phone_verified": {"type": "boolean"}}, ("customer_id", "phone_verified")
    ),
    "ShiftClosed": obj(
        {"terminal": TEXT, "closed_at": TIME, "opened_at": nullable(TIME), "receipts": INT},
        ("terminal", "closed_at", "opened_at", "receipts"),
    ),
    "Terminal": obj({"terminal": TEXT, "name": nullable(TEXT)}, ("terminal", "name")),
    "Health": obj(
        {
            "status": {"const": "ok"},
            "version": TEXT,
            "store_id": TEXT,
            "agent_id": TEXT,
            "rules_version": nullable(INT),
            "link": {"enum": ["standalone", "online", "offline"]},
            "last_sync_at": nullable(TIME),
            "outbox_depth": INT,
            "oldest_outbox_age_seconds": nullable({"type": "number"}),
            "engine": {"enum": ["native", "python"]},
            "time": TIME,
        },
        (
            "status",
            "version",
            "store_id",
            "agent_id",
            "rules_version",
            "link",
            "last_sync_at",
            "outbox_depth",
            "oldest_outbox_age_seconds",
            "engine",
            "time",
        ),
    ),
    "Problem": obj(
        {
            "type": TEXT,
            "title": TEXT,
            "status": INT,
            "detail": TEXT,
            "code": {**TEXT, "description": "stable machine code"},
            "errors": {"type": "array", "items": obj({"path": TEXT, "message": TEXT}, ("path", "message"))},
        },
        ("type", "title", "status", "detail", "code"),
        closed=False,
        description="RFC 9457 problem document; some codes add fields (max_redeemable, attempts_left, ...).",
    ),
}


_CUSTOMER = SCHEMAS["Customer"]
SCHEMAS["Identification"] = obj(
    {
        **_CUSTOMER["properties"],
        "link": {"enum": ["standalone", "online", "offline"]},
        "redeemable_now": {**POINTS, "description": "available points, bounded while offline"},
    },
    (*_CUSTOMER["required"], "link", "redeemable_now"),
)

SCHEMAS["RecentReceipts"] = obj(
    {
        "terminal": TEXT,
        "receipts": {
            "type": "array",
            "items": obj(
                {
                    "receipt_id": TEXT,
                    "at": TIME,
                    "committed_at": TIME,
                    "status": {"enum": ["committed", "cancelled"]},
                    "customer_id": nullable(TEXT),
                    "customer_name": nullable(TEXT),
                    "card": nullable(TEXT),
                    "total": MONEY,
                    "accrued": POINTS,
                    "redeemed": POINTS,
                    "refunded_amount": {**MONEY, "description": "money returned by refunds so far"},
                    "offline": {"type": "boolean"},
                    "cancellable": {"type": "boolean", "description": "the shift is open: POST .../cancel is possible"},
                    "lines": {
                        "type": "array",
                        "items": obj(
                            {
                                "index": INT,
                                "sku": nullable(TEXT),
                                "name": nullable(TEXT),
                                "category": nullable(TEXT),
                                "quantity": TEXT,
                                "refunded_quantity": TEXT,
                                "price": nullable(MONEY),
                                "discount": MONEY,
                                "amount": MONEY,
                                "accrued": POINTS,
                                "redeemed": POINTS,
                            },
                            (
                                "index",
                                "sku",
                                "name",
                                "category",
                                "quantity",
                                "refunded_quantity",
                                "price",
                                "discount",
                                "amount",
                                "accrued",
                                "redeemed",
                            ),
                        ),
                    },
                },
                (
                    "receipt_id",
                    "at",
                    "committed_at",
                    "status",
                    "customer_id",
                    "customer_name",
                    "card",
                    "total",
                    "accrued",
                    "redeemed",
                    "refunded_amount",
                    "offline",
                    "cancellable",
                    "lines",
                ),
            ),
        },
    },
    ("terminal", "receipts"),
)

# -- devices: identifications offered to the tills, printer and reader state, reprints (agent/api/devices.py)

_EVENT_FIELDS = {
    "source": {
        **TEXT,
        "description": "the card reader's id (reader_id setting), or \"api\" for the terminal's own identify call",
    },
    "at": TIME,
    "event_id": {
        **TEXT,
        "description": "increases with every identification, also across agent restarts (the stream's id:)",
    },
}
SCHEMAS["IdentifiedEvent"] = obj(
    {**SCHEMAS["Identification"]["properties"], **_EVENT_FIELDS},
    (*SCHEMAS["Identification"]["required"], *_EVENT_FIELDS),
    description=(
        "A customer identified: the POST /v1/identify answer (card_blocked/blocked say whether points can be used)."
    ),
)
SCHEMAS["ProblemEvent"] = obj(
    {**SCHEMAS["Problem"]["properties"], **_EVENT_FIELDS},
    (*SCHEMAS["Problem"]["required"], *_EVENT_FIELDS),
    closed=False,
    description=(
        "A read that names nobody (unknown card, a number of no card range): the "
        "problem, as POST /v1/identify would answer it."
    ),
)
SCHEMAS["IdentificationEvent"] = {
    "oneOf": [ref("IdentifiedEvent"), ref("ProblemEvent")],
    "description": "The data of an identification: an event with `code` is a problem, else a customer.",
}
_READER_STATES = ["stopped", "connecting", "connected", "disconnected"]
_PRINTER_STATES = [
    "stopped",
    "unknown",
    "ok",
    "printer_unreachable",
    "no_status_answer",
    "paper_out",
    "cover_open",
    "offline",
    "printer_error",
]
SCHEMAS["Devices"] = obj(
    {
        "reader": nullable(
            obj(
                {
                    "id": TEXT,
                    "kind": {"enum": ["serial", "usb-hid"]},
                    "device": nullable(TEXT),
                    "terminal": nullable(TEXT),
                    "state": {"enum": _READER_STATES},
                    "reads": INT,
                    "discarded": {**INT, "description": "frames refused as noise"},
                },
                ("id", "kind", "device", "terminal", "state", "reads", "discarded"),
            )
        ),
        "printer": nullable(
            obj(
                {
                    "kind": {"enum": ["serial", "network", "usb"]},
                    "device": nullable(TEXT),
                    "state": {"enum": _PRINTER_STATES, "description": "ok, or why the last slip could not be printed"},
                    "slips_waiting": INT,
                },
                ("kind", "device", "state", "slips_waiting"),
            )
        ),
        "identification_streams": {**INT, "description": "identification streams open now"},
    },
    ("reader", "printer", "identification_streams"),
    description="Card reader and receipt printer (null: not configured).",
)
SCHEMAS["Health"]["properties"]["devices"] = ref("Devices")
SCHEMAS["Health"]["required"].append("devices")
SCHEMAS["ReprintResult"] = obj(
    {
        "receipt_id": TEXT,
        "slip_id": TEXT,
        "status": {"const": "queued"},
        "slips_waiting": {**INT, "description": "slips in the queue, this one included"},
        "printer_state": {"enum": _PRINTER_STATES},
    },
    ("receipt_id", "slip_id", "status", "slips_waiting", "printer_state"),
)
