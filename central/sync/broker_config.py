"""Mosquitto password file and ACL for the chain: each agent only under its own store's topics.

The password file holds Mosquitto 2's ``$7$`` PBKDF2-SHA512 hashes. They are
made at enrollment (central/storage/store.py ``mosquitto_hash``) and kept instead of
passwords, so the central server never stores an agent's password and this
file can be rewritten at any time without ``mosquitto_passwd`` (which needs the
plain password). Mosquitto re-reads both files on SIGHUP.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from shared import wire

from ..storage.store import mosquitto_hash


def password_file(agents: Iterable[tuple[str, str, str, str]], central_user: str, central_password: str) -> str:
    """``user:$7$...`` lines: the central server, then each enrolled agent."""
    lines = [f"{central_user}:{mosquitto_hash(central_password)}"]
    lines += [f"{username}:{password_hash}" for username, password_hash, _, _ in agents]
    return "\n".join(lines) + "\n"


def acl_file(agents: Iterable[tuple[str, str, str, str]], central_user: str) -> str:
    """An ACL where the central user has every loyalty topic and each agent only its own."""
    out = [
        "# Written by loyalty-central broker-config; do not edit (it is rewritten).",
        "# Anything not allowed here is denied.",
        "",
        f"user {central_user}",
        f"topic readwrite {wire.TOPIC_ROOT}/#",
    ]
    for username, _, store, agent in agents:
        out += ["", f"user {username}"]
        out += [f"topic write {wire.agent_topic(store, agent, channel)}" for channel in wire.AGENT_UP_CHANNELS]
        out += [f"topic read {wire.agent_topic(store, agent, channel)}" for channel in wire.AGENT_DOWN_CHANNELS]
        out += [f"topic read {wire.store_topic(store, channel)}" for channel in wire.STORE_DOWN_CHANNELS]
    return "\n".join(out) + "\n"


#: QoS 1 messages the broker queues per client (Mosquitto's default is 1,000, global: Mosquitto 2.0 has
#: no per-client limit). The ingest's session must hold what every agent sends while the ingest
#: reconnects after a broker restart (hellos, statuses, and events batches resent from each agent's
#: last ack): 100,000 messages is about a minute of a hundred stores at full speed. The bytes
#: limit bounds the memory an offline agent's queue of customer pages can take (docs/sync.md).
MAX_QUEUED_MESSAGES = 100_000
MAX_QUEUED_BYTES = 256 * 1024 * 1024


def nats_subject(topic: str) -> str:
    """An MQTT topic or filter as the NATS subject NATS's MQTT interface maps it to (``/`` -> ``.``,
    ``+`` -> ``*``, ``#`` -> ``>``). :raises ValueError: a level with a dot, which NATS cannot keep apart."""
    levels = topic.split("/")
    if any("." in level for level in levels):
        raise ValueError(f"topic {topic!r} has a dot in a level: NATS subjects cannot express it")
    return ".".join({"+": "*", "#": ">"}.get(level, level) for level in levels)


#: NATS delivers an MQTT QoS 1 subscription through a JetStream consumer on ``$MQTT.sub.<random id>``, a
#: subject the client itself must be allowed to subscribe to (nats-server 2.9 refuses the subscription
#: otherwise)
NATS_QOS1_DELIVERY = "$MQTT.sub.>"


def nats_authorization(
    agents: Iterable[tuple[str, str | None, str, str]], central_user: str, central_hash: str
) -> tuple[str, list[str]]:
    """NATS's ``authorization`` block with the same rights as :func:`acl_file`: the central server every
    loyalty subject, each agent publishing only its own up channels and subscribing only to its own and its
    store's down channels. Passwords are the bcrypt hashes enrollment keeps (``agents.nats_hash``).

    Returns (the block, the usernames left out: enrolled before bcrypt hashes were kept, or with a dot in
    their store or agent id)."""
    root = nats_subject(wire.TOPIC_ROOT) + ".>"
    users = [_nats_user(central_user, central_hash, [root], [root, NATS_QOS1_DELIVERY])]
    left_out = []
    for username, bcrypt_hash, store, agent in agents:
        try:
            publish = [nats_subject(wire.agent_topic(store, agent, c)) for c in wire.AGENT_UP_CHANNELS]
            subscribe = [nats_subject(wire.agent_topic(store, agent, c)) for c in wire.AGENT_DOWN_CHANNELS]
            subscribe += [nats_subject(wire.store_topic(store, c)) for c in wire.STORE_DOWN_CHANNELS]
            subscribe.append(NATS_QOS1_DELIVERY)
        except ValueError:
            bcrypt_hash = None
        if bcrypt_hash is None:
            left_out.append(username)
            continue
        users.append(_nats_user(username, bcrypt_hash, publish, subscribe))
    head = (
        "# Written by loyalty-central broker-config --nats; do not edit (it is rewritten).\n"
        "# Anything not allowed here is denied. nats-server.conf: include ./nats-auth.conf\n"
        "# then reload: nats-server --signal reload\n"
    )
    return head + "authorization {\n  users: [\n" + "".join(users) + "  ]\n}\n", left_out


def _nats_user(user: str, password_hash: str, publish: list[str], subscribe: list[str]) -> str:
    permissions = {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}}
    return (
        f"    {{user: {json.dumps(user)}, password: {json.dumps(password_hash)},"
        f" permissions: {json.dumps(permissions)}}}\n"
    )


def broker_settings(passwd_path: str, acl_path: str) -> str:
    """The mosquitto.conf lines the chain needs (no listener: that is the site's), as broker-config writes them."""
    return (
        '# Written by loyalty-central broker-config (docs/central.md, "The broker").\n'
        "allow_anonymous false\n"
        f"password_file {passwd_path}\n"
        f"acl_file {acl_path}\n"
        "# a client's id is its username: one store's login cannot take over another's session\n"
        "use_username_as_clientid true\n"
        "persistence true\n"
        "# the ingest's queue must hold a backlog while it reconnects (the protocol never relies on it)\n"
        f"max_queued_messages {MAX_QUEUED_MESSAGES}\n"
        f"max_queued_bytes {MAX_QUEUED_BYTES}\n"
    )


def mosquitto_conf(passwd_path: str, acl_path: str, port: int = 1883) -> str:
    """A minimal mosquitto.conf that uses the two files (printed as a hint)."""
    return f"listener {port}\n" + broker_settings(passwd_path, acl_path)
