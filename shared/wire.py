"""The sync protocol's wire format: topics, MessagePack framing, validation.

Pure (no I/O): both the store agent's sync client and the central server's
ingest build and read every MQTT message through this module, so the two can
never disagree on a topic name or a field. docs/sync.md is the prose version.

Every payload is a MessagePack map ``{"v": WIRE_VERSION, "k": kind, ...}``.
``decode()`` checks the frame (size, MessagePack, version, kind, the fields of
that kind) and raises :class:`WireError` whose ``reason`` is a stable code
(``oversized``, ``malformed``, ``unknown_version``, ``unknown_kind``,
``invalid``, ``wrong_store``, ``wrong_agent``): the central server files the
message under that reason in its dead-letter table and goes on.

The events inside an ``events`` batch are checked one by one with
:func:`check_event` so that one bad event is set aside without its neighbours.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from .errors import LoyaltyError
from .events import EVENT_KINDS, SCHEMA_VERSION

#: version of the frame (the map around the payload); events carry their own ``v``
WIRE_VERSION = 1
TOPIC_ROOT = "loyalty/v1"
#: a message larger than this is dead-lettered unread (one 10,000-line receipt fits)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
#: senders cut batches at about this size (several events per MQTT message)
TARGET_BATCH_BYTES = 256 * 1024
MAX_BATCH_EVENTS = 1000
MAX_SEQ = 2**63 - 1
MAX_POINTS = 2**63 - 1

#: message kinds by direction
UP_KINDS = ("events", "status", "hello", "snapshot_request")
DOWN_KINDS = ("ack", "resend", "rules", "customers", "snapshot", "messages")
KINDS = UP_KINDS + DOWN_KINDS

#: channel (last topic level) -> the kinds allowed on it
AGENT_UP_CHANNELS = {"events": ("events",), "status": ("status",), "requests": ("hello", "snapshot_request")}
AGENT_DOWN_CHANNELS = {"acks": ("ack",), "resend": ("resend",), "snapshot": ("snapshot",)}
STORE_DOWN_CHANNELS = {"rules": ("rules",), "customers": ("customers",), "messages": ("messages",)}

_ID = re.compile(r"\A[A-Za-z0-9_.-]{1,64}\Z")


class WireError(LoyaltyError, ValueError):
    """A message that cannot be accepted; ``reason`` is the dead-letter code."""

    code = "wire_invalid"

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {message}")

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "reason": self.reason, "detail": str(self)}


# -- topics ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic: the store, the agent (None on store-wide topics) and the channel."""

    store: str
    agent: str | None
    channel: str


def check_id(value: object, what: str = "id") -> str:
    """A store or agent id: 1..64 of A-Z a-z 0-9 _ . - (no MQTT wildcard or separator)."""
    if not isinstance(value, str) or not _ID.match(value):
        raise WireError("invalid", f"{what} must be 1..64 characters of A-Z a-z 0-9 _ . -, got {value!r}")
    return value


def agent_topic(store: str, agent: str, channel: str) -> str:
    """``loyalty/v1/stores/{store}/agents/{agent}/{channel}``."""
    if channel not in AGENT_UP_CHANNELS and channel not in AGENT_DOWN_CHANNELS:
        raise ValueError(f"unknown agent channel {channel!r}")
    return f"{TOPIC_ROOT}/stores/{check_id(store, 'store')}/agents/{check_id(agent, 'agent')}/{channel}"


def store_topic(store: str, channel: str) -> str:
    """``loyalty/v1/stores/{store}/{channel}`` (rules, customers, messages)."""
    if channel not in STORE_DOWN_CHANNELS:
        raise ValueError(f"unknown store channel {channel!r}")
    return f"{TOPIC_ROOT}/stores/{check_id(store, 'store')}/{channel}"


def parse_topic(topic: str) -> Topic:
    """Split a sync topic into store, agent and channel; :class:`WireError` if it is not one."""
    parts = topic.split("/")
    if parts[:3] != ["loyalty", "v1", "stores"] or len(parts) not in (5, 7):
        raise WireError("invalid", f"not a loyalty/v1 store topic: {topic!r}")
    store = check_id(parts[3], "store")
    if len(parts) == 5:
        if parts[4] not in STORE_DOWN_CHANNELS:
            raise WireError("invalid", f"unknown store channel in {topic!r}")
        return Topic(store, None, parts[4])
    if parts[4] != "agents" or (parts[6] not in AGENT_UP_CHANNELS and parts[6] not in AGENT_DOWN_CHANNELS):
        raise WireError("invalid", f"unknown agent channel in {topic!r}")
    return Topic(store, check_id(parts[5], "agent"), parts[6])


def central_subscriptions() -> list[str]:
    """Topic filters the central server subscribes to (everything agents send up)."""
    return [f"{TOPIC_ROOT}/stores/+/agents/+/{channel}" for channel in AGENT_UP_CHANNELS]


def agent_subscriptions(store: str, agent: str) -> list[str]:
    """Topic filters one agent subscribes to (its own down channels and its store's)."""
    return [agent_topic(store, agent, c) for c in AGENT_DOWN_CHANNELS] + [
        store_topic(store, c) for c in STORE_DOWN_CHANNELS
    ]


def kinds_for_channel(channel: str) -> tuple[str, ...]:
    """The message kinds that may travel on a channel."""
    for table in (AGENT_UP_CHANNELS, AGENT_DOWN_CHANNELS, STORE_DOWN_CHANNELS):
        if channel in table:
            return table[channel]
    return ()


# -- framing -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded, validated message: its kind and its whole map (``v`` and ``k`` included)."""

    kind: str
    payload: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.payload[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.payload.get(key, default)


def encode(kind: str, payload: Mapping[str, Any], *, validate: bool = True) -> bytes:
    """Frame and pack one message; with ``validate`` the payload is checked as ``decode`` would.

    :raises WireError: the payload would be refused by the receiver (invalid, oversized).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r} (known: {', '.join(KINDS)})")
    frame = {**payload, "v": WIRE_VERSION, "k": kind}
    if validate:
        _check_kind(kind, frame)
    data: bytes = msgpack.packb(frame, use_bin_type=True)
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError("oversized", f"{kind} message is {len(data)} bytes (limit {MAX_MESSAGE_BYTES})")
    return data


def decode(data: bytes, *, channel: str | None = None) -> Message:
    """Unpack and validate one message; ``channel`` restricts the kinds accepted.

    :raises WireError: with reason oversized, malformed, unknown_version, unknown_kind or invalid.
    """
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError("oversized", f"message is {len(data)} bytes (limit {MAX_MESSAGE_BYTES})")
    try:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise WireError("malformed", f"not MessagePack: {type(exc).__name__}: {exc}") from None
    if not isinstance(obj, dict):
        raise WireError("malformed", f"a message must be a map, not {type(obj).__name__}")
    version = obj.get("v")
    if version != WIRE_VERSION:
        raise WireError("unknown_version", f"frame version {version!r} (this side speaks {WIRE_VERSION})")
    kind = obj.get("k")
    if kind not in KINDS:
        raise WireError("unknown_kind", f"message kind {kind!r} (known: {', '.join(KINDS)})")
    if channel is not None and kind not in kinds_for_channel(channel):
        raise WireError("invalid", f"a {kind} message does not belong on the {channel!r} channel")
    _check_kind(kind, obj)
    return Message(kind, obj)


def batch_events(envelopes: Sequence[Mapping[str, Any]], *, max_bytes: int = TARGET_BATCH_BYTES,
                 max_events: int = MAX_BATCH_EVENTS) -> Iterator[list[Mapping[str, Any]]]:
    """Cut envelopes (in seq order) into batches of at most max_events and about max_bytes."""
    batch: list[Mapping[str, Any]] = []
    size = 0
    for env in envelopes:
        item = len(msgpack.packb(env, use_bin_type=True))
        if batch and (size + item > max_bytes or len(batch) >= max_events):
            yield batch
            batch, size = [], 0
        batch.append(env)
        size += item
    if batch:
        yield batch


# -- field checks --------------------------------------------------------------------------------

# A field spec is a check function taking (value, path) and raising WireError. The path is
# built lazily — a tuple (parent, name or index) — because it is needed only for the error
# message, and formatting it for every field of every event would cost more than the checks.

Path = Any


def path_text(path: Path) -> str:
    """The dotted text of a lazy path: ("body", "lines"), 0) -> "body.lines[0]"."""
    if isinstance(path, tuple):
        base = path_text(path[0])
        part = path[1]
        if isinstance(part, int):
            return f"{base}[{part}]"
        return f"{base}.{part}" if base else str(part)
    return str(path)


def _fail(path: Path, message: str) -> None:
    raise WireError("invalid", f"{path_text(path)}: {message}")


# Fast paths: a check may carry ``fast = (code, a, b)`` so that check_fields accepts the
# common, valid value inline without a call; the check itself runs only to explain a failure.
_INT, _STR, _BOOL, _MATCH = 0, 1, 2, 3


def _str(value: Any, path: str, max_length: int = 200) -> None:
    if not isinstance(value, str) or not value or len(value) > max_length:
        _fail(path, f"must be a non-empty string of at most {max_length} characters, got {_short(value)}")


_str.fast = (_STR, 200, False)  # type: ignore[attr-defined]


def _text(value: Any, path: str) -> None:
    _str(value, path, 4000)


_text.fast = (_STR, 4000, False)  # type: ignore[attr-defined]


def _opt(check: Any) -> Any:
    def optional(value: Any, path: str) -> None:
        if value is not None:
            check(value, path)

    fast = getattr(check, "fast", None)
    if fast is not None:
        optional.fast = (*fast[:2], True)  # type: ignore[attr-defined]
    return optional


def _int(lo: int, hi: int) -> Any:
    def integer(value: Any, path: str) -> None:
        if type(value) is not int or not lo <= value <= hi:
            _fail(path, f"must be an integer {lo}..{hi}, got {_short(value)}")

    integer.fast = (_INT, (lo, hi), False)  # type: ignore[attr-defined]
    return integer


def _bool(value: Any, path: str) -> None:
    if type(value) is not bool:
        _fail(path, f"must be true or false, got {_short(value)}")


_bool.fast = (_BOOL, None, False)  # type: ignore[attr-defined]


def _time(value: Any, path: str) -> None:
    if not isinstance(value, str) or len(value) > 40:
        _fail(path, f"must be an ISO 8601 time string, got {_short(value)}")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        _fail(path, f"must be an ISO 8601 time string, got {value!r}")
        return
    if moment.tzinfo is None:
        _fail(path, f"must carry a UTC offset, got {value!r}")


def _decimal(value: Any, path: str) -> None:
    if not isinstance(value, str) or not _DECIMAL.match(value):
        _fail(path, f'must be a decimal string like "1.5", got {_short(value)}')


_DECIMAL = re.compile(r"\A-?[0-9]{1,12}(\.[0-9]{1,3})?\Z")
_decimal.fast = (_MATCH, _DECIMAL.match, False)  # type: ignore[attr-defined]


def _id(value: Any, path: str) -> None:
    if not isinstance(value, str) or not _ID.match(value):
        _fail(path, f"must be 1..64 characters of A-Z a-z 0-9 _ . -, got {_short(value)}")


_id.fast = (_MATCH, _ID.match, False)  # type: ignore[attr-defined]


def _bool_map(value: Any, path: str) -> None:
    if not isinstance(value, dict) or len(value) > 50:
        _fail(path, "must be a map of names to true/false")
    for key, item in value.items():
        if not isinstance(key, str) or type(item) is not bool:
            _fail((path, key), "must be true or false")


def _list(item_spec: Mapping[str, Any], max_items: int) -> Any:
    def items(value: Any, path: str) -> None:
        if not isinstance(value, list) or len(value) > max_items:
            _fail(path, f"must be a list of at most {max_items} items, got {_short(value)}")
        for index, item in enumerate(value):
            check_fields(item, item_spec, (path, index))

    return items


def check_fields(value: Any, spec: Mapping[str, Any], path: Path, optional: Mapping[str, Any] = {}) -> None:
    """Check a map against a spec (field -> check); unknown fields are tolerated (newer senders)."""
    if type(value) is not dict:
        _fail(path or "message", f"must be a map, got {_short(value)}")
    compiled = _COMPILED.get(id(spec))
    if compiled is None:
        compiled = _COMPILED[id(spec)] = (spec, [(n, c, *getattr(c, "fast", (None, None, False))) for n, c in spec.items()])
    get = value.get
    for name, check, code, arg, nullable in compiled[1]:
        item = get(name, _MISSING)
        # the inline fast path; anything it does not accept goes to the check for its message
        if nullable and item is None:
            continue
        kind = type(item)
        if code == _INT:
            if kind is int and arg[0] <= item <= arg[1]:
                continue
        elif code == _STR:
            if kind is str and 0 < len(item) <= arg:
                continue
        elif code == _MATCH:
            if kind is str and arg(item):
                continue
        elif code == _BOOL:
            if kind is bool:
                continue
        if item is _MISSING:
            _fail((path, name), "is required")
        check(item, (path, name))
    for name, check in optional.items():
        if name in value:
            check(value[name], (path, name))


#: id(spec) -> (spec, [(name, check, fast code, fast arg, nullable)]); the spec is kept alive
_COMPILED: dict[int, tuple[Mapping[str, Any], list[tuple[Any, ...]]]] = {}
_MISSING: Any = object()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


POINTS = _int(0, MAX_POINTS)
SIGNED_POINTS = _int(-MAX_POINTS, MAX_POINTS)
MONEY = _int(0, 10**12)
SEQ = _int(1, MAX_SEQ)
CURSOR = _int(0, MAX_SEQ)
VERSION = _int(0, MAX_SEQ)

# -- event bodies (shared/events.py) --------------------------------------------------------------

PURCHASE_LINE = {
    "sku": _opt(_str), "name": _opt(_str), "category": _opt(_str), "quantity": _decimal,
    "price": _opt(MONEY), "discount": MONEY, "amount": MONEY, "accrued": POINTS, "redeemed": POINTS,
}
REFUND_LINE = {"index": _int(0, 10_000), "quantity": _decimal, "amount": MONEY, "accrued": POINTS, "redeemed": POINTS}
BODIES: dict[str, dict[str, Any]] = {
    "purchase": {
        "receipt_id": _str, "terminal": _str, "customer_id": _opt(_id), "card": _opt(_str), "at": _time,
        "rules_version": VERSION, "total": MONEY, "accrued": POINTS, "redeemed": POINTS, "offline": _bool,
        "lines": _list(PURCHASE_LINE, 10_000),
    },
    "refund": {
        "refund_id": _str, "receipt_id": _str, "terminal": _str, "customer_id": _opt(_id), "at": _time,
        "amount": MONEY, "accrued": POINTS, "redeemed": POINTS, "lines": _list(REFUND_LINE, 10_000),
    },
    "cancel": {
        "receipt_id": _str, "terminal": _str, "customer_id": _opt(_id), "at": _time,
        "amount": MONEY, "accrued": POINTS, "redeemed": POINTS,
    },
    "registration": {
        "customer_id": _id, "phone": _str, "card": _opt(_str), "name": _opt(_str), "consents": _bool_map,
        "confirmation_code": _opt(_str), "terminal": _str, "at": _time,
    },
    "phone_confirmed": {"customer_id": _id, "phone": _str, "at": _time},
    "manual": {
        "operation_id": _str, "customer_id": _id, "points": SIGNED_POINTS, "reason": _text,
        "operator": _str, "at": _time,
    },
}
assert set(BODIES) == set(EVENT_KINDS)

ENVELOPE = {"v": None, "id": _id, "seq": SEQ, "store": _id, "agent": _id, "kind": None, "at": _time, "body": None}


def check_event(env: Any, store: str | None = None, agent: str | None = None) -> Mapping[str, Any]:
    """Validate one event envelope and its body; store/agent are the topic's (must match).

    :raises WireError: unknown_version, invalid, wrong_store or wrong_agent.
    """
    if not isinstance(env, dict):
        raise WireError("invalid", f"an event must be a map, got {_short(env)}")
    if env.get("v") != SCHEMA_VERSION:
        raise WireError("unknown_version", f"event schema version {env.get('v')!r} (this side speaks {SCHEMA_VERSION})")
    for name, check in ENVELOPE.items():
        if name not in env:
            _fail(name, "is required")
        if check is not None:
            check(env[name], name)
    kind = env["kind"]
    if kind not in BODIES:
        _fail("kind", f"unknown event kind {_short(kind)} (known: {', '.join(EVENT_KINDS)})")
    check_fields(env["body"], BODIES[kind], "body")
    if store is not None and env["store"] != store:
        raise WireError("wrong_store", f"event {env['id']} says store {env['store']!r} but came on store {store!r}'s topic")
    if agent is not None and env["agent"] != agent:
        raise WireError("wrong_agent", f"event {env['id']} says agent {env['agent']!r} but came on agent {agent!r}'s topic")
    return env


def event_key(env: Any) -> tuple[str, int] | None:
    """(id, seq) of an envelope if at least those two can be read, else None (for dead letters)."""
    if isinstance(env, dict):
        ident, seq = env.get("id"), env.get("seq")
        if isinstance(ident, str) and _ID.match(ident) and type(seq) is int and 1 <= seq <= MAX_SEQ:
            return ident, seq
    return None


# -- down: customer deltas ----------------------------------------------------------------------

LOT = {"id": _str, "points": SIGNED_POINTS, "expires_at": _opt(_time)}
CARD = {"number": _str, "status": None}
CASHIER_MESSAGE = {"id": _str, "text": _text}


def _card_status(value: Any, path: str) -> None:
    if value not in ("active", "blocked", "reassigned"):
        _fail(path, f"must be active, blocked or reassigned, got {_short(value)}")


CARD["status"] = _card_status


def _applied(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        _fail(path, "must be a map of agent id to sequence number")
    for key, seq in value.items():
        _id(key, (path, "key"))
        CURSOR(seq, (path, key))


DELTA = {
    "customer_id": _id, "version": VERSION, "name": _opt(_str), "phone": _opt(_str), "phone_verified": _bool,
    "level": _opt(_str), "network_percent": _opt(_decimal), "store_percent": _opt(_decimal), "blocked": _bool,
    "cards": _list(CARD, 1000), "lots": _list(LOT, 10_000), "applied": _applied,
    "messages": _list(CASHIER_MESSAGE, 100), "consents": _bool_map,
}
DELTA_OPTIONAL = {"birthday": _opt(_str)}


def check_delta(delta: Any, path: Path = "delta") -> Mapping[str, Any]:
    """Validate one CustomerDelta (shared/events.py)."""
    check_fields(delta, DELTA, path, DELTA_OPTIONAL)
    return delta


def _deltas(value: Any, path: str) -> None:
    if not isinstance(value, list) or len(value) > 100_000:
        _fail(path, "must be a list of customer deltas")
    for index, delta in enumerate(value):
        check_delta(delta, (path, index))


# -- message kinds ----------------------------------------------------------------------------------


def _events_list(value: Any, path: str) -> None:
    # the events themselves are checked one by one (check_event) so one bad event is set aside alone
    if not isinstance(value, list) or not value or len(value) > MAX_BATCH_EVENTS * 10:
        _fail(path, f"must be a non-empty list of at most {MAX_BATCH_EVENTS * 10} events")


def _state(value: Any, path: str) -> None:
    if value not in ("online", "offline"):
        _fail(path, f"must be online or offline, got {_short(value)}")


def _map(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        _fail(path, f"must be a map, got {_short(value)}")


SCHEMAS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # kind: (required fields, optional fields)
    # acked: the highest seq the agent has seen acknowledged (its outbox holds what follows)
    "events": ({"store": _id, "agent": _id, "events": _events_list}, {"acked": _opt(CURSOR)}),
    "status": (
        {"store": _id, "agent": _id, "state": _state, "at": _time},
        {"outbox_depth": _opt(CURSOR), "rules_version": _opt(VERSION), "customers_version": _opt(CURSOR),
         "last_sync": _opt(_time), "next_seq": _opt(SEQ), "software": _opt(_str)},
    ),
    "hello": ({"store": _id, "agent": _id, "next_seq": SEQ, "customers_version": CURSOR, "at": _time},
              # last_id: the id of the agent's event at next_seq - 1 (a stale hello is known by it)
              {"rules_version": _opt(VERSION), "last_id": _opt(_id)}),
    "snapshot_request": ({"store": _id, "agent": _id, "after": CURSOR}, {"limit": _opt(_int(1, 10_000))}),
    "ack": ({"through": CURSOR, "id": _opt(_id)}, {}),
    "resend": ({"from_seq": SEQ}, {}),
    "rules": ({"store": _id, "version": VERSION, "rules": _map}, {}),
    "customers": ({"store": _id, "after": CURSOR, "upto": CURSOR, "more": _bool, "deltas": _deltas}, {}),
    "snapshot": ({"store": _id, "after": CURSOR, "upto": CURSOR, "more": _bool, "deltas": _deltas}, {}),
    "messages": ({"store": _id, "version": VERSION, "messages": _list(CASHIER_MESSAGE, 100)}, {}),
}
assert set(SCHEMAS) == set(KINDS)


def _check_kind(kind: str, obj: Mapping[str, Any]) -> None:
    required, optional = SCHEMAS[kind]
    check_fields(obj, required, "", optional)
