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

import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import msgspec

from . import events
from .errors import LoyaltyError
from .events import EVENT_KINDS, ID_PATTERN, SCHEMA_VERSION

#: version of the frame (the map around the payload); events carry their own ``v``
WIRE_VERSION = 1
TOPIC_ROOT = "loyalty/v1"
#: a message larger than this is dead-lettered unread (one 10,000-line receipt fits)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
#: senders cut batches at about this size (several events per MQTT message)
TARGET_BATCH_BYTES = 256 * 1024
MAX_BATCH_EVENTS = events.MAX_BATCH_EVENTS
MAX_SEQ = events.MAX_SEQ
MAX_POINTS = events.MAX_POINTS

#: channel (last topic level) -> the kinds allowed on it
AGENT_UP_CHANNELS = {
    "events": ("events",),
    "status": ("status",),
    "requests": (
        "hello",
        "snapshot_request",
        "redeem_code_request",
        "redeem_code_check",
        "code_reserve",
        "code_release",
        "code_check",
    ),
}
#: ``answers``: the central server's answers to an agent's online questions (a redemption code)
AGENT_DOWN_CHANNELS = {
    "acks": ("ack",),
    "resend": ("resend",),
    "snapshot": ("snapshot",),
    "answers": ("redeem_code_answer", "code_reservation", "code_status"),
}
STORE_DOWN_CHANNELS = {"rules": ("rules",), "customers": ("customers",), "messages": ("messages",)}

#: message kinds by direction (what the channels above allow)
UP_KINDS = tuple(kind for kinds in AGENT_UP_CHANNELS.values() for kind in kinds)
DOWN_KINDS = tuple(
    kind for table in (AGENT_DOWN_CHANNELS, STORE_DOWN_CHANNELS) for kinds in table.values() for kind in kinds
)
KINDS = UP_KINDS + DOWN_KINDS

_ID = re.compile(ID_PATTERN)


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


_PACK = msgspec.msgpack.Encoder().encode


def encode(kind: str, payload: Mapping[str, Any], *, validate: bool = True) -> bytes:
    """Frame and pack one message; with ``validate`` the payload is checked as ``decode`` would.

    :raises WireError: the payload would be refused by the receiver (invalid, oversized).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r} (known: {', '.join(KINDS)})")
    frame = {**payload, "v": WIRE_VERSION, "k": kind}
    if validate:
        _check_kind(kind, frame)
    data = _PACK(frame)  # msgspec.Raw values (the agent's stored event bodies) go in as they are
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
    if type(version) is not int or version != WIRE_VERSION:  # not true or 1.0, which equal 1 in Python
        raise WireError("unknown_version", f"frame version {version!r} (this side speaks {WIRE_VERSION})")
    kind = obj.get("k")
    if kind not in KINDS:
        raise WireError("unknown_kind", f"message kind {kind!r} (known: {', '.join(KINDS)})")
    if channel is not None and kind not in kinds_for_channel(channel):
        raise WireError("invalid", f"a {kind} message does not belong on the {channel!r} channel")
    _check_kind(kind, obj)
    return Message(kind, obj)


def batch_events(
    envelopes: Sequence[Mapping[str, Any]], *, max_bytes: int = TARGET_BATCH_BYTES, max_events: int = MAX_BATCH_EVENTS
) -> Iterator[list[Mapping[str, Any]]]:
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


# -- field checks: the types of shared/events.py, and clear messages when a value does not fit ----------

_CONVERT = msgspec.convert


def _warm() -> None:
    """Build msgspec's type information of every contract type once, here, at import: msgspec builds it on a type's
    first use, and two threads doing that at once (an MQTT link's thread and another decoding their first messages)
    crashed a process with a segmentation fault in a test run."""
    for cls in vars(events).values():
        if isinstance(cls, type) and issubclass(cls, msgspec.Struct):
            try:
                _CONVERT({}, cls)
            except msgspec.ValidationError:
                pass


_warm()


def _check(value: Any, cls: type[events.Contract], path: str) -> None:
    """Validate a map against a contract type; :class:`WireError` ``invalid`` naming the field and why."""
    if type(value) is not dict:
        raise WireError("invalid", f"{path or 'message'}: must be a map, got {_short(value)}")
    try:
        _CONVERT(value, cls)
    except msgspec.ValidationError as exc:
        raise WireError("invalid", explain(str(exc), value, cls, path)) from None


_AT = re.compile(r" - at `([^`]*)`(?: in `([^`]*)`)?\Z")
_MISSING_FIELD = re.compile(r"\AObject missing required field `(.*)`\Z")
_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+|\.\.\.)\]")


def explain(error: str, value: Any, cls: Any, path: str = "") -> str:
    """Rewrite a msgspec validation error as ``path.to.field: why, got VALUE`` from the contract's Meta."""
    found = _AT.search(error)
    reason, where = (error[: found.start()], found.group(2) or found.group(1)) if found else (error, "$")
    is_key = bool(found and found.group(2))
    parts: list[str | int | None] = []
    for name, index in _SEGMENT.findall(where[1:] if where.startswith("$") else ""):
        parts.append(name if name else (None if index == "..." else int(index)))
    if reason.startswith(events.FIELD_MARK):  # a Struct's own check: the field is named in the reason
        field, _, why = reason[1:].partition(": ")
        return f"{_join(path, parts + [field])}: {why}"
    missing = _MISSING_FIELD.match(reason)
    if missing:
        return f"{_join(path, parts + [missing.group(1)])}: is required"
    tp, item = cls, value
    for part in parts:
        tp = _child_type(tp, part)
        item = _child_value(item, part)
    if is_key:
        tp, parts = _dict_key_type(tp), parts + ["key"]
    described = _description(tp)
    if described is None:
        return f"{_join(path, parts)}: {reason[:1].lower()}{reason[1:]}"
    shown = "" if item is _UNKNOWN or is_key else f", got {_short(item)}"
    return f"{_join(path, parts)}: {described}{shown}"


_UNKNOWN: Any = object()


def _join(path: str, parts: list[str | int | None]) -> str:
    text = path
    for part in parts:
        if isinstance(part, int):
            text = f"{text}[{part}]"
        elif part is None:
            text = f"{text}[...]"
        else:
            text = f"{text}.{part}" if text else part
    return text or "message"


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """(the bare type, its Metas) of an Annotated and/or optional type."""
    metas: list[Any] = []
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            metas.extend(m for m in tp.__metadata__ if isinstance(m, msgspec.Meta))
            tp = tp.__origin__
        elif origin in (types.UnionType, typing.Union):
            options = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(options) != 1:
                return tp, metas
            tp = options[0]
        else:
            return tp, metas


def _child_type(tp: Any, part: str | int | None) -> Any:
    bare, _ = _unwrap(tp)
    if isinstance(part, str) and isinstance(bare, type) and issubclass(bare, msgspec.Struct):
        return _hints(bare).get(part, Any)
    args = typing.get_args(bare)
    if typing.get_origin(bare) is list and args:
        return args[0]
    if typing.get_origin(bare) is dict and len(args) == 2:
        return args[1]
    return Any


def _dict_key_type(tp: Any) -> Any:
    args = typing.get_args(_unwrap(tp)[0])
    return args[0] if len(args) == 2 else Any


def _child_value(value: Any, part: str | int | None) -> Any:
    try:
        if part is None:
            return _UNKNOWN
        return value[part]
    except (KeyError, IndexError, TypeError):
        return _UNKNOWN


def _description(tp: Any) -> str | None:
    bare, metas = _unwrap(tp)
    for meta in metas:
        if meta.description:
            return str(meta.description)
    if bare is bool:
        return "must be true or false"
    if isinstance(bare, type) and issubclass(bare, msgspec.Struct):
        return "must be a map"
    return None


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls, include_extras=True)
    return hints


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_event(env: Any, store: str | None = None, agent: str | None = None) -> Mapping[str, Any]:
    """Validate one event envelope and its body (shared/events.py); store/agent are the topic's (must match).

    :raises WireError: unknown_version, invalid, wrong_store or wrong_agent.
    """
    if not isinstance(env, dict):
        raise WireError("invalid", f"an event must be a map, got {_short(env)}")
    if type(env.get("v")) is not int or env["v"] != SCHEMA_VERSION:  # not true or 1.0
        raise WireError("unknown_version", f"event schema version {env.get('v')!r} (this side speaks {SCHEMA_VERSION})")
    _check(env, events.Envelope, "")
    body = events.BODIES.get(env["kind"])
    if body is None:
        raise WireError("invalid", f"kind: unknown event kind {_short(env['kind'])} (known: {', '.join(EVENT_KINDS)})")
    _check(env["body"], body, "body")
    if store is not None and env["store"] != store:
        raise WireError(
            "wrong_store", f"event {env['id']} says store {env['store']!r} but came on store {store!r}'s topic"
        )
    if agent is not None and env["agent"] != agent:
        raise WireError(
            "wrong_agent", f"event {env['id']} says agent {env['agent']!r} but came on agent {agent!r}'s topic"
        )
    return env


def event_key(env: Any) -> tuple[str, int] | None:
    """(id, seq) of an envelope if at least those two can be read, else None (for dead letters)."""
    if isinstance(env, dict):
        ident, seq = env.get("id"), env.get("seq")
        if isinstance(ident, str) and _ID.match(ident) and type(seq) is int and 1 <= seq <= MAX_SEQ:
            return ident, seq
    return None


def check_delta(delta: Any, path: str = "delta") -> Mapping[str, Any]:
    """Validate one CustomerDelta (shared/events.py)."""
    if type(delta) is not dict:
        raise WireError("invalid", f"{path}: must be a map, got {_short(delta)}")
    _check(delta, events.CustomerDelta, path)
    return delta


def _check_kind(kind: str, obj: Mapping[str, Any]) -> None:
    _check(obj, events.MESSAGES[kind], "")
