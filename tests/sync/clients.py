"""A raw MQTT client for tests: records what it receives, publishes what it is told."""

from __future__ import annotations

import threading

from shared import wire
from transport.mqtt import LinkConfig, MqttLink


class Listener:
    """A real paho client (through MqttLink) that records every message it receives."""

    def __init__(
        self,
        url: str,
        topics: list[str],
        name: str,
        *,
        username: str | None = None,
        password: str | None = None,
        protocol: int = 5,
        wait: bool = True,
    ) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.link = MqttLink(
            LinkConfig(
                url=url, client_id=name, username=username, password=password, protocol=protocol, backoff_max=1.0
            ),
            topics,
            self._got,
        ).start()
        if wait:
            assert self.link.wait_connected(10), f"{name} could not connect to {url}"

    def _got(self, topic: str, payload: bytes) -> None:
        with self.lock:
            self.messages.append((topic, payload))

    def decoded(self) -> list[tuple[str, wire.Message]]:
        with self.lock:
            return [(topic, wire.decode(payload)) for topic, payload in self.messages]

    def kinds(self, kind: str) -> list[wire.Message]:
        return [m for _, m in self.decoded() if m.kind == kind]

    def topics(self) -> set[str]:
        with self.lock:
            return {topic for topic, _ in self.messages}

    def send(self, store: str, agent: str, events: list) -> None:
        self.link.publish(
            wire.agent_topic(store, agent, "events"),
            wire.encode("events", {"store": store, "agent": agent, "events": events}),
        )

    def stop(self) -> None:
        self.link.stop()
