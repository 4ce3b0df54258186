"""shared/wire.py: topics, framing and validation (pure, no broker)."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared import wire
from tests.sync.fakes import FakeAgent


@pytest.mark.parametrize(
    "topic,store,agent,channel",
    [
        ("loyalty/v1/stores/S1/agents/a1/events", "S1", "a1", "events"),
        ("loyalty/v1/stores/S-2/agents/pos.3/requests", "S-2", "pos.3", "requests"),
        ("loyalty/v1/stores/S1/rules", "S1", None, "rules"),
        ("loyalty/v1/stores/S1/customers", "S1", None, "customers"),
    ],
)
def test_parse_topic(topic, store, agent, channel):
    assert wire.parse_topic(topic) == wire.Topic(store, agent, channel)


@pytest.mark.parametrize(
    "topic",
    [
        "loyalty/v2/stores/S1/rules",
        "loyalty/v1/stores/S1/agents/a1/other",
        "loyalty/v1/stores/S+/rules",
        "loyalty/v1/stores/S1/agents/a1",
        "x",
    ],
)
def test_parse_topic_refuses_foreign_topics(topic):
    with pytest.raises(wire.WireError):
        wire.parse_topic(topic)


def test_builders_refuse_wildcards_in_ids():
    with pytest.raises(wire.WireError, match="store must be"):
        wire.store_topic("S/1", "rules")
    with pytest.raises(wire.WireError):
        wire.agent_topic("S1", "#", "events")


def test_subscriptions_cover_both_sides():
    assert "loyalty/v1/stores/+/agents/+/events" in wire.central_subscriptions()
    subs = wire.agent_subscriptions("S1", "a1")
    assert "loyalty/v1/stores/S1/agents/a1/acks" in subs and "loyalty/v1/stores/S1/rules" in subs


def test_event_batch_round_trip():
    fake = FakeAgent("S1", "a1")
    events = [
        fake.registration("c1"),
        fake.purchase("c1", redeemed=100),
        fake.manual("c1", -5),
        fake.refund("c1", "R1", 1000, 50, 20),
    ]
    data = wire.encode("events", {"store": "S1", "agent": "a1", "events": events})
    msg = wire.decode(data, channel="events")
    assert msg.kind == "events" and msg["v"] == wire.WIRE_VERSION
    assert [wire.check_event(e, "S1", "a1")["seq"] for e in msg["events"]] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"\xc1", "malformed"),
        (msgpack.packb([1, 2]), "malformed"),
        (msgpack.packb({"v": 2, "k": "ack"}), "unknown_version"),
        (msgpack.packb({"v": True, "k": "ack", "through": 1, "id": None}), "unknown_version"),
        (msgpack.packb({"v": 1.0, "k": "ack", "through": 1, "id": None}), "unknown_version"),
        (msgpack.packb({"v": 1, "k": "gossip"}), "unknown_kind"),
        (msgpack.packb({"v": 1, "k": "ack", "through": -1, "id": None}), "invalid"),
        (b"\x00" * (wire.MAX_MESSAGE_BYTES + 1), "oversized"),
    ],
)
def test_decode_names_the_problem(data, reason):
    with pytest.raises(wire.WireError) as err:
        wire.decode(data)
    assert err.value.reason == reason and err.value.to_dict()["reason"] == reason


def test_decode_refuses_a_kind_on_the_wrong_channel():
    data = wire.encode("ack", {"through": 3, "id": None})
    with pytest.raises(wire.WireError, match="does not belong on the 'events' channel"):
        wire.decode(data, channel="events")


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda e: e["body"].update(accrued=1.5), "body.accrued: must be an integer"),
        (lambda e: e["body"].update(accrued=-1), "body.accrued: must be an integer 0.."),
        (lambda e: e["body"].pop("total"), "body.total: is required"),
        (lambda e: e["body"]["lines"][0].update(quantity=2), "body.lines[0].quantity"),
        (lambda e: e.update(at="2026-11-21 12:00"), "at: must carry a UTC offset"),
        (lambda e: e.update(at="0001-01-01T00:00:00+14:00"), "at: must be between the years 1 and 9999 in UTC"),
        (lambda e: e["body"].update(at="9999-12-31T23:59:59-12:00"), "body.at: must be between the years 1 and 9999"),
        (lambda e: e.update(seq=0), "seq: must be an integer 1.."),
        (lambda e: e.update(kind="gift"), "unknown event kind"),
        (lambda e: e.update(id="a/b"), "id: must be 1..64"),
    ],
)
def test_check_event_names_the_field(change, message):
    env = FakeAgent("S1", "a1").purchase("c1")
    change(env)
    with pytest.raises(wire.WireError, match=message.replace("[", r"\[").replace("]", r"\]")):
        wire.check_event(env, "S1", "a1")


def test_check_event_store_and_agent_must_match_the_topic():
    env = FakeAgent("S2", "a1").purchase("c1")
    with pytest.raises(wire.WireError) as err:
        wire.check_event(env, "S1", "a1")
    assert err.value.reason == "wrong_store"
    env = FakeAgent("S1", "a9").purchase("c1")
    with pytest.raises(wire.WireError) as err:
        wire.check_event(env, "S1", "a1")
    assert err.value.reason == "wrong_agent"


def test_unknown_fields_are_tolerated_for_newer_agents():
    env = FakeAgent("S1", "a1").purchase("c1")
    env["body"]["loyalty_tier_hint"] = "gold"
    env["trace"] = "x"
    assert wire.check_event(env, "S1", "a1") is env


def test_event_version_is_checked_apart_from_the_frame():
    env = FakeAgent("S1", "a1").purchase("c1")
    env["v"] = 2
    with pytest.raises(wire.WireError) as err:
        wire.check_event(env)
    assert err.value.reason == "unknown_version"
    assert wire.event_key(env) == (env["id"], env["seq"])  # still enough to consume its seq
    assert wire.event_key({"id": 3}) is None
    for equal_but_not_an_int in (True, 1.0):
        env["v"] = equal_but_not_an_int
        with pytest.raises(wire.WireError, match="unknown_version"):
            wire.check_event(env)


def test_batches_are_cut_by_count_and_size():
    fake = FakeAgent("S1", "a1")
    events = [fake.purchase("c1") for _ in range(25)]
    assert [len(b) for b in wire.batch_events(events, max_events=10)] == [10, 10, 5]
    one = len(msgpack.packb(events[0]))
    assert all(len(b) <= 3 for b in wire.batch_events(events, max_bytes=one * 3 + 1))


def test_encode_refuses_what_the_receiver_would_refuse():
    with pytest.raises(wire.WireError, match="through"):
        wire.encode("ack", {"through": "3", "id": None})
    with pytest.raises(ValueError, match="unknown message kind"):
        wire.encode("gossip", {})


@given(st.binary(max_size=200))
def test_decode_never_crashes_on_garbage(data):
    try:
        wire.decode(data)
    except wire.WireError:
        pass


# -- one contract (shared/events.py): the messages name the field and say why ------------------------


def _delta(**changes):
    delta = {
        "customer_id": "c1",
        "version": 3,
        "name": None,
        "phone": "+79120000000",
        "phone_verified": True,
        "level": None,
        "network_percent": None,
        "store_percent": "1.5",
        "blocked": False,
        "cards": [{"number": "7700", "status": "active"}],
        "lots": [{"id": "c1:permanent", "points": 100, "expires_at": None}],
        "applied": {"a1": 4},
        "messages": [],
        "consents": {"sms": True},
    }
    delta.update(changes)
    return delta


@pytest.mark.parametrize(
    ("delta", "message"),
    [
        (
            _delta(lots=[{"id": "l1", "points": 5, "expires_at": "2026-12-01T00:00:00"}]),
            "delta.lots[0].expires_at: must carry a UTC offset, got '2026-12-01T00:00:00'",
        ),
        (
            _delta(cards=[{"number": "7700", "status": "lost"}]),
            "delta.cards[0].status: must be active, blocked or reassigned",
        ),
        (_delta(applied={"a/1": 4}), "delta.applied.key: must be 1..64 characters"),
        (_delta(applied={"a1": -1}), "delta.applied[...]: must be an integer 0.."),
        (_delta(consents={"sms": "yes"}), "delta.consents[...]: must be true or false"),
        (_delta(store_percent=1.5), 'delta.store_percent: must be a decimal string like "1.5", got 1.5'),
        ({k: v for k, v in _delta().items() if k != "blocked"}, "delta.blocked: is required"),
    ],
)
def test_delta_errors_name_the_field(delta, message):
    with pytest.raises(wire.WireError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        wire.check_delta(delta)


def test_frame_errors_name_the_field():
    hello = {"store": "S1", "agent": "a1", "next_seq": 0, "customers_version": 0, "at": "2026-12-01T00:00:00Z"}
    with pytest.raises(wire.WireError, match=r"next_seq: must be an integer 1\.\..*, got 0"):
        wire.encode("hello", hello)
    with pytest.raises(wire.WireError, match="state: must be online or offline, got 'away'"):
        wire.encode("status", {"store": "S1", "agent": "a1", "state": "away", "at": "2026-12-01T00:00:00Z"})
    with pytest.raises(wire.WireError, match="events: must be a non-empty list"):
        wire.encode("events", {"store": "S1", "agent": "a1", "events": []})


def test_a_body_struct_encodes_as_the_map_it_replaces():
    """The agent's outbox keeps a Struct's bytes and sends them as they are: same map on the wire."""
    import msgspec

    from shared import events

    body = events.PhoneConfirmedBody(customer_id="c1", phone="+79120000000", at="2026-12-01T10:00:00+03:00")
    raw = events.encode_body(body)
    assert msgpack.unpackb(raw) == {"customer_id": "c1", "phone": "+79120000000", "at": "2026-12-01T10:00:00+03:00"}
    env = {
        "v": 1,
        "id": "e1",
        "seq": 1,
        "store": "S1",
        "agent": "a1",
        "kind": "phone_confirmed",
        "at": "2026-12-01T10:00:00+03:00",
        "body": msgspec.Raw(raw),
    }
    frame = wire.encode("events", {"store": "S1", "agent": "a1", "events": [env], "acked": 0}, validate=False)
    assert raw in frame
    msg = wire.decode(frame, channel="events")
    assert wire.check_event(msg["events"][0], "S1", "a1")["body"] == msgpack.unpackb(raw)


def test_cashier_message_print_flag_is_optional_and_unknown_fields_pass():
    # a newer central server's flag, an older one's message without it, and a field nobody knows yet
    messages = [
        {"id": "m1", "text": "x", "print": True},
        {"id": "m2", "text": "y"},
        {"id": "m3", "text": "z", "colour": "red"},
    ]
    assert wire.check_delta(_delta(messages=messages))["messages"] == messages
    with pytest.raises(wire.WireError, match=r"delta\.messages\[0\]\.print"):
        wire.check_delta(_delta(messages=[{"id": "m1", "text": "x", "print": "yes"}]))


def test_cashier_message_read_event_is_checked():
    agent = FakeAgent("S1", "a1")
    body = {"message_id": "m1", "customer_id": "c1", "terminal": "P01", "at": "2026-12-01T00:00:00+00:00"}
    wire.check_event(agent.envelope("cashier_message_read", body), "S1", "a1")
    with pytest.raises(wire.WireError, match="body.message_id: must be a non-empty string"):
        wire.check_event(agent.envelope("cashier_message_read", {**body, "message_id": None}), "S1", "a1")


def test_a_code_release_goes_up_on_requests_only():
    release = {"store": "S1", "agent": "a1", "request": "q1", "code": "SPR-ABC", "receipt_id": "R1"}
    assert wire.decode(wire.encode("code_release", release), channel="requests")["receipt_id"] == "R1"
    with pytest.raises(wire.WireError, match="does not belong"):
        wire.decode(wire.encode("code_release", release), channel="answers")


def test_a_quotes_code_check_and_its_status():
    check = {"store": "S1", "agent": "a1", "request": "q1", "code": "SPR-ABC", "customer_id": None}
    assert wire.decode(wire.encode("code_check", check), channel="requests")["code"] == "SPR-ABC"
    status = {"request": "q1", "code": "SPR-ABC", "ok": False, "problem": "used_up"}
    assert wire.decode(wire.encode("code_status", status), channel="answers")["problem"] == "used_up"
    with pytest.raises(wire.WireError, match="does not belong"):
        wire.decode(wire.encode("code_status", status), channel="requests")


def test_redemption_code_questions_and_answers():
    """The till's online questions (docs/sync.md, "Answers"): up on requests, the answer down on answers."""
    ask = {"store": "S1", "agent": "a1", "request": "q1", "customer_id": "c1", "points": 500}
    assert wire.decode(wire.encode("redeem_code_request", ask), channel="requests")["points"] == 500
    check = {**ask, "confirmation": "abc", "code": "012345", "receipt_id": "R1"}
    assert wire.decode(wire.encode("redeem_code_check", check), channel="requests")["code"] == "012345"
    with pytest.raises(wire.WireError, match="code: must be 4..8 digits"):
        wire.encode("redeem_code_check", {**check, "code": "12a456"})
    answer = {"request": "q1", "ok": True, "confirmation": "abc", "expires_at": "2026-12-06T12:05:00+00:00"}
    assert wire.decode(wire.encode("redeem_code_answer", answer), channel="answers")["ok"] is True
    with pytest.raises(wire.WireError, match="does not belong"):
        wire.decode(wire.encode("redeem_code_answer", answer), channel="acks")
    with pytest.raises(wire.WireError, match="expires_at"):
        wire.encode("redeem_code_answer", {**answer, "expires_at": "2026-12-06T12:05:00"})
    assert "loyalty/v1/stores/S1/agents/a1/answers" in wire.agent_subscriptions("S1", "a1")
