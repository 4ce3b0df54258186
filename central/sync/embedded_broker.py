"""The embedded MQTT broker (amqtt) for the demo: no broker to install.

amqtt 0.12 speaks MQTT 3.1.1 only (it refuses protocol level 5), so on the
embedded broker both sides connect with 3.1.1 and the protocol does without
the v5 extras (session expiry, message expiry, user properties, will delay);
everything it needs — QoS 1, retained messages, last will, persistent
sessions — is in 3.1.1, and every field the protocol relies on is inside the
MessagePack payload (docs/sync.md). It listens on loopback only and lets any
client in: it is for a demo on one machine, not for stores (use Mosquitto
with ``loyalty-central broker-config``).
"""

from __future__ import annotations

import asyncio
import logging
import threading

#: MQTT protocol level the embedded broker speaks (3.1.1)
PROTOCOL = 4


class EmbeddedBroker:
    """amqtt on its own thread and event loop, on 127.0.0.1:port."""

    def __init__(self, port: int = 1883) -> None:
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="embedded-broker", daemon=True)
        self._broker = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        """Start listening; raises OSError if the port is taken."""
        from amqtt.broker import Broker

        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._thread.start()

        async def boot() -> None:
            self._broker = Broker(config, loop=self._loop)
            await self._broker.start()

        asyncio.run_coroutine_threadsafe(boot(), self._loop).result(timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._broker is not None:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
