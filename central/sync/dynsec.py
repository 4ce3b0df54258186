"""Mosquitto's dynamic security plugin: enrollment grants an agent its login and ACL at once.

With ``BROKER_SECURITY = "dynsec"`` the broker loads ``mosquitto_dynamic_security.so``
(shipped with Mosquitto 2) and keeps its clients and roles in its own JSON file;
the central server manages them over MQTT on ``$CONTROL/dynamic-security/v1``
with an admin login of its own (``<central user>-admin``, password kept in the
database), which holds only the plugin's admin role: a separate login, because
with ``use_username_as_clientid`` a second connection as the central user would
take over the ingest's session. Enrollment then
creates the agent's client (its password, bound to its client id) and a role
with exactly the ACL of the file-based setup (central/sync/broker_config.py), in the
broker, before the enrollment is committed: the agent connects at once, with
no ``broker-config`` run and no SIGHUP. ``broker-config --dynsec`` writes the
plugin's first file (the central server's login and every agent enrolled so
far, from the password hashes the database keeps, which are the plugin's own
PBKDF2-SHA512) and the mosquitto.conf lines. ``BROKER_SECURITY = "files"``
keeps the password file and ACL (the fallback; docs/central.md).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from shared import wire

#: the plugin's command and response topics
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
#: the plugin as Debian/Ubuntu's mosquitto package installs it
PLUGIN_PATH = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"
#: the role the central server's login holds (every loyalty topic) and the plugin's admin role
CENTRAL_ROLE = "loyalty-central"
ADMIN_ROLE = "dynsec-admin"


def enrollment_grant(db: Any, config: Any) -> Callable[[str, str, str, str], None] | None:
    """With BROKER_SECURITY = dynsec: what gives a new agent its broker login and ACL, for ``db.enroll``."""
    if config.get("BROKER_SECURITY", "files") != "dynsec":
        return None
    from ..storage.enrollment import EnrollmentError

    central_user = config.get("MQTT_USERNAME") or db.central_credentials()[0]
    admin_user, admin_password = db.dynsec_admin_credentials(central_user)
    url = config.get("MQTT_URL") or ""
    if not url:
        raise EnrollmentError("broker_unavailable", "BROKER_SECURITY is dynsec but no MQTT_URL is set", 503)

    def grant(username: str, password: str, store: str, agent: str) -> None:
        try:
            DynSec(url, admin_user, admin_password, protocol=int(config.get("MQTT_PROTOCOL", 5))).grant_agent(
                username, password, store, agent
            )
        except BrokerUnavailable as exc:
            raise EnrollmentError("broker_unavailable", f"{exc}; nothing was enrolled, try again", 503) from None

    return grant


class BrokerUnavailable(Exception):
    """The broker could not be reached or refused a dynamic-security command."""


def agent_role(store: str, agent: str) -> str:
    return f"loyalty-agent-{store}-{agent}"


def agent_acls(store: str, agent: str) -> list[dict[str, Any]]:
    """The same rights as the file ACL: write the agent's up topics, read its down ones and its store's."""
    acls: list[dict[str, Any]] = []
    for channel in wire.AGENT_UP_CHANNELS:
        acls.append({"acltype": "publishClientSend", "topic": wire.agent_topic(store, agent, channel), "allow": True})
    down = [wire.agent_topic(store, agent, c) for c in wire.AGENT_DOWN_CHANNELS]
    down += [wire.store_topic(store, c) for c in wire.STORE_DOWN_CHANNELS]
    for topic in down:
        acls.append({"acltype": "subscribeLiteral", "topic": topic, "allow": True})
        acls.append({"acltype": "publishClientReceive", "topic": topic, "allow": True})
    return acls


def central_acls() -> list[dict[str, Any]]:
    pattern = f"{wire.TOPIC_ROOT}/#"
    return [
        {"acltype": kind, "topic": pattern, "allow": True}
        for kind in ("publishClientSend", "publishClientReceive", "subscribePattern", "unsubscribePattern")
    ]


def admin_acls() -> list[dict[str, Any]]:
    return [
        {"acltype": kind, "topic": "$CONTROL/dynamic-security/#", "allow": True}
        for kind in ("publishClientSend", "publishClientReceive", "subscribePattern", "unsubscribePattern")
    ]


def grant_commands(username: str, password: str, store: str, agent: str) -> list[dict[str, Any]]:
    """Commands that make (or remake, on re-enrollment) an agent's client and role."""
    role = agent_role(store, agent)
    return [
        {"command": "deleteClient", "username": username},
        {"command": "deleteRole", "rolename": role},
        {"command": "createRole", "rolename": role, "acls": agent_acls(store, agent)},
        # bound to its client id: another login cannot take over its session (issue 12)
        {
            "command": "createClient",
            "username": username,
            "password": password,
            "clientid": username,
            "roles": [{"rolename": role}],
        },
    ]


def _from_mosquitto_hash(value: str) -> dict[str, Any]:
    """``$7$iterations$salt$hash`` (mosquitto_passwd's PBKDF2-SHA512) as the plugin's client fields."""
    parts = value.split("$")
    if len(parts) != 5 or parts[1] != "7":
        raise ValueError("not a Mosquitto $7$ password hash")
    return {"password": parts[4], "salt": parts[3], "iterations": int(parts[2])}


def initial_config(
    agents: Iterable[tuple[str, str, str, str]], central_user: str, central_hash: str, admin_user: str, admin_hash: str
) -> dict[str, Any]:
    """The plugin's first JSON file: the central server (admin) and the agents enrolled so far.

    ``agents`` as ``Store.broker_users()``: (username, $7$ hash, store, agent). The plugin owns the
    file once it runs (it writes every change back), so this is written only when there is none.
    """
    clients = [
        {
            "username": central_user,
            "clientid": central_user,
            "textName": "loyalty central server",
            **_from_mosquitto_hash(central_hash),
            "roles": [{"rolename": CENTRAL_ROLE}],
        },
        {
            "username": admin_user,
            "textName": "loyalty central server: enrollment",
            **_from_mosquitto_hash(admin_hash),
            "roles": [{"rolename": ADMIN_ROLE}],
        },
    ]
    roles = [{"rolename": ADMIN_ROLE, "acls": admin_acls()}, {"rolename": CENTRAL_ROLE, "acls": central_acls()}]
    for username, password_hash, store, agent in agents:
        clients.append(
            {
                "username": username,
                "clientid": username,
                **_from_mosquitto_hash(password_hash),
                "roles": [{"rolename": agent_role(store, agent)}],
            }
        )
        roles.append({"rolename": agent_role(store, agent), "acls": agent_acls(store, agent)})
    return {
        "clients": clients,
        "roles": roles,
        "groups": [],
        # anything not granted is refused, receiving included
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
    }


def broker_settings(config_path: str, plugin_path: str = PLUGIN_PATH) -> str:
    """The mosquitto.conf lines for the plugin (after the listener line)."""
    return (
        '# Written by loyalty-central broker-config --dynsec (docs/central.md, "The broker").\n'
        "allow_anonymous false\n"
        f"plugin {plugin_path}\n"
        f"plugin_opt_config_file {config_path}\n"
        "# a client's id is its username: one store's login cannot take over another's session\n"
        "use_username_as_clientid true\n"
        "persistence true\n"
    )


#: one admin session at a time (two would take over each other's client id)
_LOCK = threading.Lock()


class DynSec:
    """A short MQTT session that sends dynamic-security commands and waits for their answers."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        protocol: int = 5,
        ca_file: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.url, self.username, self.password = url, username, password
        self.protocol, self.ca_file, self.timeout = protocol, ca_file, timeout

    def grant_agent(self, username: str, password: str, store: str, agent: str) -> None:
        """Create the agent's client and role (replacing any earlier ones); raises BrokerUnavailable."""
        self.run(grant_commands(username, password, store, agent), tolerate={"deleteClient", "deleteRole"})

    def run(self, commands: list[dict[str, Any]], tolerate: set[str] = frozenset()) -> list[dict[str, Any]]:  # type: ignore[assignment]
        """Send the commands in one message; raise BrokerUnavailable on an error not in ``tolerate``."""
        from transport.mqtt import LinkConfig, MqttLink

        token = uuid.uuid4().hex
        for n, command in enumerate(commands):
            command["correlationData"] = f"{token}-{n}"
        answers: list[dict[str, Any]] = []
        done = threading.Event()

        def received(topic: str, payload: bytes) -> None:
            try:
                responses = json.loads(payload).get("responses", [])
            except ValueError:
                return
            answers.extend(r for r in responses if str(r.get("correlationData", "")).startswith(token))
            if len(answers) >= len(commands):
                done.set()

        config = LinkConfig(
            url=self.url,
            client_id=self.username,
            username=self.username,
            password=self.password,
            protocol=self.protocol,
            ca_file=self.ca_file,
            session_expiry=0,
            backoff_max=1.0,
        )
        with _LOCK:
            answers = self._exchange(MqttLink(config, [RESPONSE_TOPIC], received), commands, done, answers)
        for answer in answers:
            error = answer.get("error")
            if error and answer.get("command") not in tolerate:
                raise BrokerUnavailable(f"the broker refused {answer.get('command')}: {error}")
        return answers

    def _exchange(
        self, link: Any, commands: list[dict[str, Any]], done: threading.Event, answers: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        link.start()
        try:
            if not link.wait_connected(self.timeout):
                why = f" ({link.refused_reason})" if link.refused_reason else ""
                raise BrokerUnavailable(f"cannot reach the broker at {self.url} as {self.username}{why}")
            info = link.client.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
            if not done.wait(self.timeout):
                raise BrokerUnavailable(
                    f"the broker at {self.url} did not answer the dynamic-security commands "
                    f"(is the plugin loaded, with {self.username} as its admin?)"
                )
            del info
        finally:
            link.stop()
        return answers
