"""The sync contract: the events an agent sends up, the deltas sent down, and every message's fields.

This is the one contract between the store agent (which builds each event
body here and writes it into its outbox in the same transaction as its
effect), the wire checks (``shared/wire.py`` validates every message against
these types) and the central server (which applies each event exactly once,
in each agent's sequence order). The transport (MQTT topics, MessagePack
framing, acks, resync) is in docs/sync.md and ``shared/wire.py``.

The types are msgspec Structs: a field's type and ``Meta`` say what is
accepted, and the ``Meta`` description is the error message when a value is
not (``shared/wire.py`` puts the field's path in front of it). A Struct
encodes to the same MessagePack map as the dict it replaces. Unknown fields
are tolerated (a newer sender may add some); a field typed ``X | None``
without a default is required and may be null.

All money and points are int minor units; quantities are decimal strings
(accrual.md); times are ISO 8601 strings with offset; ids are strings.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, cast

import msgspec
from msgspec import Meta

#: bumped when a field changes meaning or a required field is added
SCHEMA_VERSION = 1

EventKind = Literal[
    "purchase",
    "refund",
    "cancel",
    "registration",
    "phone_confirmed",
    "manual",
    "cashier_message_read",
    "card_replacement",
]
EVENT_KINDS: tuple[str, ...] = (
    "purchase",
    "refund",
    "cancel",
    "registration",
    "phone_confirmed",
    "manual",
    "cashier_message_read",
    "card_replacement",
)

MAX_SEQ = 2**63 - 1
MAX_POINTS = 2**63 - 1
MAX_MONEY = 10**12

# -- field types: what is accepted, and the message when it is not ------------------------------------

ID_PATTERN = r"\A[A-Za-z0-9_.-]{1,64}\Z"
DECIMAL_PATTERN = r"\A-?[0-9]{1,12}(\.[0-9]{1,3})?\Z"

Id = Annotated[str, Meta(pattern=ID_PATTERN, description="must be 1..64 characters of A-Z a-z 0-9 _ . -")]
Str = Annotated[
    str, Meta(min_length=1, max_length=200, description="must be a non-empty string of at most 200 characters")
]
Text = Annotated[
    str, Meta(min_length=1, max_length=4000, description="must be a non-empty string of at most 4000 characters")
]
Decimal = Annotated[str, Meta(pattern=DECIMAL_PATTERN, description='must be a decimal string like "1.5"')]
#: an ISO 8601 time with a UTC offset (checked by the Struct's ``__post_init__``: see :class:`Contract`)
Time = Annotated[str, Meta(max_length=40, description="must be an ISO 8601 time string")]
Points = Annotated[int, Meta(ge=0, le=MAX_POINTS, description=f"must be an integer 0..{MAX_POINTS}")]
SignedPoints = Annotated[
    int, Meta(ge=-MAX_POINTS, le=MAX_POINTS, description=f"must be an integer {-MAX_POINTS}..{MAX_POINTS}")
]
Money = Annotated[int, Meta(ge=0, le=MAX_MONEY, description=f"must be an integer 0..{MAX_MONEY}")]
Seq = Annotated[int, Meta(ge=1, le=MAX_SEQ, description=f"must be an integer 1..{MAX_SEQ}")]
Cursor = Annotated[int, Meta(ge=0, le=MAX_SEQ, description=f"must be an integer 0..{MAX_SEQ}")]
Version = Cursor
LineIndex = Annotated[int, Meta(ge=0, le=10_000, description="must be an integer 0..10000")]
Consents = Annotated[dict[str, bool], Meta(max_length=50, description="must be a map of names to true/false")]


class Contract(msgspec.Struct):
    """Base of every contract type: checks its time fields (ISO 8601 with a UTC offset).

    ``_times`` names them; it is a plain class attribute, not a field.
    """

    _times = cast(tuple[str, ...], ())

    def __post_init__(self) -> None:
        for name in self._times:
            value = getattr(self, name)
            if value is None:
                continue
            try:
                moment = dt.datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"{FIELD_MARK}{name}: must be an ISO 8601 time string, got {value!r}") from None
            if moment.tzinfo is None:
                raise ValueError(f"{FIELD_MARK}{name}: must carry a UTC offset, got {value!r}")
            try:
                moment.astimezone(dt.UTC)  # "0001-01-01T00:00:00+14:00": before year 1 in UTC, no datetime holds it
            except OverflowError:
                raise ValueError(
                    f"{FIELD_MARK}{name}: must be between the years 1 and 9999 in UTC, got {value!r}"
                ) from None


#: marks an error raised by a Struct's own check (its path is the Struct's, the field named after the mark)
FIELD_MARK = "\x00"


# -- up: agent -> central ----------------------------------------------------------------------------


class Envelope(Contract):
    """One outbox event as it travels up; ``body`` is one of the *Body types below, by ``kind``."""

    _times = ("at",)

    v: int  # SCHEMA_VERSION
    id: Id  # stable unique id (uuid4 hex), the same on every resend
    seq: Seq  # the agent's sequence number: 1, 2, 3, ... without gaps
    store: Id  # store id; must match the MQTT topic it arrives on
    agent: Id  # agent id (one store may have several agents)
    kind: str  # an EventKind (an unknown one is refused with the known ones named)
    at: Time  # when it happened on the agent (ISO 8601)
    body: Annotated[dict[Any, Any], Meta(description="must be a map")]


class PurchaseLine(Contract):
    sku: Str | None
    name: Str | None
    category: Str | None
    quantity: Decimal  # decimal, e.g. "0.455"
    price: Money | None
    discount: Money
    amount: Money
    accrued: Points
    redeemed: Points


class PromotionGiven(Contract):
    """A promotion applied to a purchase (shared/promotions.py): its points (in the lines' ``accrued``)
    and money off (in the lines' ``discount``), the promo code that unlocked it, and for temporary
    points their lifetime in days."""

    id: Str
    name: Str
    points: Points
    discount: Money
    promo_code: Str | None = None
    expires_days: Annotated[int, Meta(ge=1, le=3660, description="must be 1..3660 days")] | None = None


class PurchaseBody(Contract, omit_defaults=True):
    _times = ("at",)

    receipt_id: Str
    terminal: Str
    customer_id: Id | None  # None: an anonymous receipt (nothing accrued)
    card: Str | None  # the card number used, if any
    at: Time  # the receipt's time (from the till)
    rules_version: Version
    total: Money
    accrued: Points
    redeemed: Points
    offline: bool  # the redemption was allowed while the agent was offline
    lines: Annotated[list[PurchaseLine], Meta(max_length=10_000, description="must be a list of at most 10000 items")]
    #: promotions applied (docs/sync.md, "Promotions"); absent from older agents
    promotions: Annotated[list[PromotionGiven], Meta(max_length=100, description="must be a list of at most 100")] = []


class RefundLine(Contract):
    index: LineIndex  # line index in the purchase
    quantity: Decimal
    amount: Money
    accrued: Points  # earned points taken back
    redeemed: Points  # redeemed points given back


class RefundBody(Contract):
    _times = ("at",)

    refund_id: Str
    receipt_id: Str
    terminal: Str
    customer_id: Id | None
    at: Time
    amount: Money
    accrued: Points
    redeemed: Points
    lines: Annotated[list[RefundLine], Meta(max_length=10_000, description="must be a list of at most 10000 items")]


class CancelBody(Contract):
    """A receipt voided before the shift closed: its whole effect is reversed."""

    _times = ("at",)

    receipt_id: Str
    terminal: Str
    customer_id: Id | None
    at: Time
    amount: Money
    accrued: Points  # points taken back
    redeemed: Points  # points given back


class RegistrationBody(Contract, omit_defaults=True):
    _times = ("at",)

    customer_id: Id  # generated by the agent (uuid4 hex); the central server keeps it
    phone: Str  # E.164, "+79121234567"
    card: Str | None
    name: Str | None
    consents: Consents  # e.g. {"sms": true, "email": false, "personal_data": true}
    confirmation_code: Str | None  # for the central server to send by SMS
    terminal: Str
    at: Time
    #: the language of the messages the customer gets, when the till asked (absent: as it was, Russian if new)
    language: Annotated[Literal["ru", "en"], Meta(description="must be ru or en")] | None = None


class PhoneConfirmedBody(Contract):
    _times = ("at",)

    customer_id: Id
    phone: Str
    at: Time


class ManualBody(Contract):
    """A points adjustment made at the store (by a manager, with a reason)."""

    _times = ("at",)

    operation_id: Str
    customer_id: Id
    points: SignedPoints  # signed
    reason: Text
    operator: Str
    at: Time


class CashierMessageReadBody(Contract):
    """A customer's cashier message was shown to the cashier here (docs/sync.md, "Cashier messages read"):
    the central server marks it read (time and store), so no store shows it again."""

    _times = ("at",)

    message_id: Str
    customer_id: Id
    terminal: Str
    at: Time


class CardReplacementBody(Contract):
    """A customer's lost or damaged card replaced at the till by a new number (docs/sync.md, "Card replacement"):
    the old card becomes ``replaced`` (or ``lost``), the new one active and main, the balance stays the
    customer's. The central server applies it once; a new number another customer holds there is a
    ``card_conflict`` flag (nothing changed, the event kept)."""

    _times = ("at",)

    customer_id: Id
    old_card: Str
    new_card: Str
    status: Annotated[Literal["replaced", "lost"], Meta(description="must be replaced or lost")]
    reason: str | None
    terminal: Str
    at: Time


#: event kind -> its body type
BODIES: dict[str, type[Contract]] = {
    "purchase": PurchaseBody,
    "refund": RefundBody,
    "cancel": CancelBody,
    "registration": RegistrationBody,
    "phone_confirmed": PhoneConfirmedBody,
    "manual": ManualBody,
    "cashier_message_read": CashierMessageReadBody,
    "card_replacement": CardReplacementBody,
}
assert tuple(BODIES) == EVENT_KINDS

_ENCODER = msgspec.msgpack.Encoder()


def encode_body(body: Contract) -> bytes:
    """The MessagePack bytes of an event body: what the agent's outbox keeps and sends as they are."""
    return _ENCODER.encode(body)


# -- down: central -> agents ------------------------------------------------------------------------


class Lot(Contract):
    """Points with one expiry. Permanent points are a lot with expires_at None."""

    _times = ("expires_at",)

    id: Str
    points: SignedPoints  # may be negative for a debt
    expires_at: Time | None
    starts_at: str | None = None


class CardState(Contract):
    number: Str
    status: Annotated[
        Literal["active", "blocked", "reassigned"], Meta(description="must be active, blocked or reassigned")
    ]
    reason: str | None = None


class CashierMessage(Contract, omit_defaults=True):
    id: Str
    text: Text
    until: str | None = None
    #: print the text on the customer's next slip too (once); absent from older central servers
    print: bool = False


class PromotionUse(Contract):
    """One reward a customer got from a promotion: its local day and receipt (per-customer limits)."""

    promotion: Str
    day: Str
    receipt_id: Str


class CustomerDelta(Contract):
    """The whole current state of one customer as the central server knows it.

    ``version`` grows with every change of the customer anywhere in the chain;
    an agent keeps a delta only if it is newer than what it holds.
    ``applied`` says, per agent id, the highest of that agent's event sequence
    numbers reflected in ``lots``: the agent's available balance is the sum of
    the active lots plus the effect of its own events with a higher sequence.
    ``lots`` are the customer's lots in the receiving store's bonus program
    only (docs/console.md, "Bonus programs"), so that sum is the program's balance.
    """

    _times = ("network_percent_ends_at", "store_percent_ends_at")

    customer_id: Id
    version: Version
    name: Str | None
    phone: Str | None
    phone_verified: bool
    level: Str | None
    network_percent: Decimal | None  # decimal percent
    store_percent: Decimal | None  # for the receiving store
    blocked: bool
    cards: Annotated[list[CardState], Meta(max_length=1000, description="must be a list of at most 1000 items")]
    lots: Annotated[list[Lot], Meta(max_length=10_000, description="must be a list of at most 10000 items")]
    applied: Annotated[dict[Id, Cursor], Meta(description="must be a map of agent id to sequence number")]
    messages: Annotated[list[CashierMessage], Meta(max_length=100, description="must be a list of at most 100 items")]
    consents: Consents
    birthday: Str | None = None
    #: the ids of the segments the customer is in (promotions' audiences, docs/sync.md "Segments down")
    segments: Annotated[list[Cursor], Meta(max_length=10_000, description="must be a list of segment ids")] = []
    #: the customer's rewards from promotions with a per-customer limit, in every store (the limits' count)
    promotion_uses: Annotated[
        list[PromotionUse], Meta(max_length=10_000, description="must be a list of at most 10000 uses")
    ] = []
    #: the personal promo codes issued to the customer (normalised): accepted at the till only for them
    promo_codes: Annotated[list[Str], Meta(max_length=1000, description="must be a list of at most 1000 codes")] = []
    #: when ``network_percent`` / ``store_percent`` stops applying (UTC; absent: it does not end): the agent
    #: ignores the percent from then on (docs/sync.md, "Personal percents with an end")
    network_percent_ends_at: Time | None = None
    store_percent_ends_at: Time | None = None


# -- the messages (docs/sync.md): the map around a payload, by kind ---------------------------------------
# Every message also carries "v" (the frame version) and "k" (its kind): shared/wire.py checks those first.

MAX_BATCH_EVENTS = 1000


class EventsMessage(Contract):
    store: Id
    agent: Id
    #: the events are checked one by one (shared/wire.py check_event) so one bad event is set aside alone
    events: Annotated[
        list[Any],
        Meta(
            min_length=1,
            max_length=MAX_BATCH_EVENTS * 10,
            description=f"must be a non-empty list of at most {MAX_BATCH_EVENTS * 10} events",
        ),
    ]
    #: the highest seq the agent has seen acknowledged (its outbox holds what follows)
    acked: Cursor | None = None


class StatusMessage(Contract):
    _times = ("at", "last_sync")

    store: Id
    agent: Id
    state: Annotated[Literal["online", "offline"], Meta(description="must be online or offline")]
    at: Time
    outbox_depth: Cursor | None = None
    rules_version: Version | None = None
    customers_version: Cursor | None = None
    last_sync: Time | None = None
    next_seq: Seq | None = None
    software: Str | None = None


class HelloMessage(Contract):
    _times = ("at",)

    store: Id
    agent: Id
    next_seq: Seq
    customers_version: Cursor
    at: Time
    rules_version: Version | None = None
    #: the id of the agent's event at next_seq - 1 (a stale hello is known by it)
    last_id: Id | None = None


class SnapshotRequestMessage(Contract):
    store: Id
    agent: Id
    after: Cursor
    limit: Annotated[int, Meta(ge=1, le=10_000, description="must be an integer 1..10000")] | None = None


RequestId = Annotated[
    str, Meta(pattern=r"\A[A-Za-z0-9_.-]{1,64}\Z", description="must be 1..64 characters of A-Z a-z 0-9 _ . -")
]
Code = Annotated[str, Meta(pattern=r"\A[0-9]{4,8}\Z", description="must be 4..8 digits")]
ProblemCode = Annotated[
    str, Meta(pattern=r"\A[a-z_]{1,64}\Z", description="must be a problem code like confirmation_failed")
]


class RedeemCodeRequestMessage(Contract):
    """The till wants to redeem ``points`` for ``customer_id``: send the customer a confirmation code."""

    store: Id
    agent: Id
    request: RequestId
    customer_id: Str
    points: Points


class RedeemCodeCheckMessage(Contract):
    """The till commits ``receipt_id`` redeeming ``points`` with the code the customer read out."""

    store: Id
    agent: Id
    request: RequestId
    customer_id: Str
    confirmation: RequestId
    code: Code
    points: Points
    receipt_id: Str


class RedeemCodeAnswerMessage(Contract):
    """The central server's answer to a request or a check (the ``request`` it answers)."""

    _times = ("expires_at",)

    request: RequestId
    ok: bool
    problem: ProblemCode | None = None
    confirmation: RequestId | None = None
    channel: Str | None = None
    expires_at: Time | None = None
    attempts: Annotated[int, Meta(ge=0, le=100, description="must be an integer 0..100")] | None = None
    attempts_left: Annotated[int, Meta(ge=0, le=100, description="must be an integer 0..100")] | None = None
    points: Points | None = None


class CodeReserveMessage(Contract):
    """A till's promo code, reserved at the central server before the commit (docs/sync.md, "Code reservations")."""

    store: Id
    agent: Id
    #: the agent's request id (uuid4 hex): the answer names it
    request: Id
    code: Str
    receipt_id: Str
    customer_id: Id | None = None


class CodeReleaseMessage(Contract):
    """A reservation given back at once: the commit that reserved ``code`` for ``receipt_id`` failed or did not
    use it (docs/sync.md, "Code reservations"). Fire-and-forget: nothing answers it."""

    store: Id
    agent: Id
    request: Id
    code: Str
    receipt_id: Str


class CodeCheckMessage(Contract):
    """A quote's question: is ``code`` still available at the central server (nothing reserved)?"""

    store: Id
    agent: Id
    request: Id
    code: Str
    customer_id: Id | None = None


class CodeReservationMessage(Contract):
    """The answer to a code_reserve: ``ok``, or why not (``used_up``, ``unknown``, ``personal``)."""

    request: Id
    code: Str
    ok: bool
    problem: Str | None = None


class CodeStatusMessage(CodeReservationMessage):
    """The answer to a code_check: ``ok`` (available now), or why not (``used_up``, ``unknown``, ``personal``)."""


class AckMessage(Contract):
    through: Cursor
    id: Id | None


class ResendMessage(Contract):
    from_seq: Seq


class RulesMessage(Contract):
    store: Id
    version: Version
    rules: Annotated[dict[Any, Any], Meta(description="must be a map")]
    #: the store's promotions and code lists (shared/promotions.py), versioned on their own
    promotions: Annotated[dict[Any, Any], Meta(description="must be a map")] | None = None
    #: the store's tills must confirm a redemption with a code from the central server (docs/messages.md)
    confirm_redemption: bool | None = None


class CustomersMessage(Contract):
    store: Id
    after: Cursor
    upto: Cursor
    more: bool
    deltas: Annotated[list[CustomerDelta], Meta(max_length=100_000, description="must be a list of customer deltas")]


class SnapshotMessage(CustomersMessage):
    pass


class MessagesMessage(Contract):
    store: Id
    version: Version
    messages: Annotated[list[CashierMessage], Meta(max_length=100, description="must be a list of at most 100 items")]


#: message kind -> its type
MESSAGES: dict[str, type[Contract]] = {
    "events": EventsMessage,
    "status": StatusMessage,
    "hello": HelloMessage,
    "snapshot_request": SnapshotRequestMessage,
    "code_reserve": CodeReserveMessage,
    "code_release": CodeReleaseMessage,
    "code_check": CodeCheckMessage,
    "code_status": CodeStatusMessage,
    "ack": AckMessage,
    "code_reservation": CodeReservationMessage,
    "resend": ResendMessage,
    "rules": RulesMessage,
    "customers": CustomersMessage,
    "snapshot": SnapshotMessage,
    "messages": MessagesMessage,
    "redeem_code_request": RedeemCodeRequestMessage,
    "redeem_code_check": RedeemCodeCheckMessage,
    "redeem_code_answer": RedeemCodeAnswerMessage,
}
