"""The one place that sets up paho-mqtt: a client that stays connected.

:class:`MqttLink` is shared by the central server's ingest and the store
agent's sync client: it connects with MQTT v5 (or 3.1.1 when the broker only
speaks that, like the embedded amqtt broker), keeps a persistent session
(clean start off, a session expiry), reconnects forever with exponential
backoff and full jitter, subscribes again on every connect, and hands each
message to a callback. The protocol itself (what is sent, acks, resends) is
not here: it is in shared/wire.py and the two sides' sync modules.

Nothing here is trusted to hold data: paho keeps unacknowledged QoS 1
messages in memory only, and the broker may drop queued ones (docs/sync.md).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)

#: MQTT protocol levels we speak: 5 (MQTT v5) and 4 (MQTT 3.1.1)
PROTOCOLS = {5: paho.MQTTv5, 4: paho.MQTTv311}


@dataclass
class LinkConfig:
    """Where and how to connect; ``url`` is ``mqtt://host:port`` or ``mqtts://host:port``."""

    url: str
    client_id: str
    username: str | None = None
    password: str | None = None
    protocol: int = 5
    #: how long the broker keeps our session (subscriptions, queued QoS 1) while we are away
    session_expiry: int = 7 * 24 * 3600
    keepalive: int = 30
    backoff_min: float = 0.2
    backoff_max: float = 30.0
    max_inflight: int = 100
    #: (topic, payload) published retained by the broker if we vanish (the last will)
    will: tuple[str, bytes] | None = None
    #: MQTT v5: the will waits this long, so a quick reconnect does not flap "offline"
    will_delay: int = 5
    ca_file: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def host_port_tls(self) -> tuple[str, int, bool]:
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"broker URL must start with mqtt:// or mqtts://, got {self.url!r}")
        tls = parsed.scheme in ("mqtts", "ssl")
        return parsed.hostname or "127.0.0.1", parsed.port or (8883 if tls else 1883), tls


def backoff_delay(attempt: int, low: float, high: float) -> float:
    """Exponential backoff with full jitter: uniform in [low, min(high, low * 2**attempt)]."""
    return random.uniform(low, min(high, low * 2 ** min(attempt, 20)))


class MqttLink:
    """A paho client on its own thread that reconnects until stopped.

    ``on_message(topic, payload)`` runs on the link's thread: keep it short (queue the work).
    ``on_connect(session_present)`` runs after every successful (re)connect and subscribe.
    """

    def __init__(
        self,
        config: LinkConfig,
        subscriptions: Sequence[str],
        on_message: Callable[[str, bytes], None],
        on_connect: Callable[[bool], None] | None = None,
    ) -> None:
        if config.protocol not in PROTOCOLS:
            raise ValueError(f"MQTT protocol must be 5 or 4 (3.1.1), got {config.protocol}")
        self.config = config
        self.subscriptions = list(subscriptions)
        self._subs_lock = threading.Lock()
        self._live = False  # connected and subscribed to ``subscriptions`` (under _subs_lock)
        self._on_message = on_message
        self._on_connect = on_connect
        self.connected = threading.Event()
        #: set once the broker has acknowledged our subscriptions on this connection
        self.subscribed = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.v5 = config.protocol == 5
        self.client = self._build()
        self.connects = 0
        #: time.monotonic() of the last successful connect
        self.connected_at: float | None = None
        #: connection attempts the broker refused (wrong login, not authorised), and the last reason
        self.refusals = 0
        self.refused_reason: str | None = None
        self._attempt = 0

    def _build(self) -> paho.Client:
        cfg = self.config
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=PROTOCOLS[cfg.protocol],
            # 3.1.1: a persistent session is clean_session=False; v5 uses clean_start below
            clean_session=None if self.v5 else False,
            reconnect_on_failure=False,  # our own loop reconnects, with jitter
        )
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        _, _, tls = cfg.host_port_tls
        if tls:
            client.tls_set(ca_certs=cfg.ca_file)
        client.max_inflight_messages_set(cfg.max_inflight)
        if cfg.will is not None:
            props = None
            if self.v5:
                props = Properties(PacketTypes.WILLMESSAGE)
                props.WillDelayInterval = cfg.will_delay
                props.ContentType = "application/msgpack"
            client.will_set(cfg.will[0], cfg.will[1], qos=1, retain=True, properties=props)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_message = self._message
        client.on_subscribe = self._subscribed
        # Only the link thread writes to the socket. Without a registered write callback, paho driven by our
        # own loop (not loop_start) also writes from the thread that publishes: a small message published while
        # the link thread was still sending a big one went out in the middle of its bytes, and the broker
        # closed the connection as malformed. With one, publish only queues and wakes the loop.
        client.on_socket_register_write = _queued_only
        return client

    # -- paho callbacks (on the link thread) ------------------------------------------------------

    def _connected(
        self, client: paho.Client, userdata: object, flags: paho.ConnectFlags, reason: object, props: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("broker %s refused the connection: %s", self.config.url, reason)
            self.refused_reason = str(reason)
            self.refusals += 1
            return
        with self._subs_lock:  # set_subscriptions from now on changes this connection's too
            topics = list(self.subscriptions)
            if topics:
                client.subscribe([(topic, 1) for topic in topics])
            self._live = True
        if not topics:
            self.subscribed.set()
        self.connects += 1
        self.connected_at = time.monotonic()
        self._attempt = 0
        self.connected.set()
        log.info("connected to %s (session present: %s)", self.config.url, flags.session_present)
        if self._on_connect is not None:
            try:
                self._on_connect(flags.session_present)
            except Exception:
                log.exception("on_connect handler failed")

    def _disconnected(
        self, client: paho.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        with self._subs_lock:
            self._live = False
        self.connected.clear()
        self.subscribed.clear()

    def _subscribed(self, client: paho.Client, userdata: object, mid: int, reasons: object, props: object) -> None:
        self.subscribed.set()

    def _message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        try:
            self._on_message(message.topic, bytes(message.payload))
        except Exception:
            log.exception("message handler failed on %s", message.topic)

    # -- running -----------------------------------------------------------------------------------

    def start(self) -> MqttLink:
        """Start connecting (and reconnecting) on a daemon thread."""
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.config.client_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnect cleanly (no will) and stop the thread."""
        self._stop.set()
        try:
            self.client.disconnect()
        except Exception:  # already gone
            pass
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.client.loop_write()  # the DISCONNECT, if the link thread stopped before it sent it
        except Exception:
            pass

    def _run(self) -> None:
        host, port, _ = self.config.host_port_tls
        self._attempt = 0
        first = True
        while not self._stop.is_set():
            try:
                if first:
                    if self.v5:
                        props = Properties(PacketTypes.CONNECT)
                        props.SessionExpiryInterval = self.config.session_expiry
                        self.client.connect(host, port, self.config.keepalive, clean_start=False, properties=props)
                    else:
                        self.client.connect(host, port, self.config.keepalive)
                    first = False
                else:
                    self.client.reconnect()
            except (OSError, paho.WebsocketConnectionError) as exc:
                self._wait_before_retry(f"cannot reach {self.config.url}: {exc}")
                continue
            while not self._stop.is_set():
                rc = self.client.loop(timeout=0.05)
                if rc != paho.MQTT_ERR_SUCCESS:
                    break
            with self._subs_lock:
                self._live = False
            self.connected.clear()
            self.subscribed.clear()
            if not self._stop.is_set():
                self._wait_before_retry(f"connection to {self.config.url} lost")

    def _wait_before_retry(self, why: str) -> None:
        delay = backoff_delay(self._attempt, self.config.backoff_min, self.config.backoff_max)
        self._attempt += 1
        log.info("%s; retrying in %.1f s", why, delay)
        self._stop.wait(delay)

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        expiry: int | None = None,
        kind: str | None = None,
    ) -> paho.MQTTMessageInfo:
        """Publish (thread-safe); v5 adds message expiry and the kind/schema as user properties."""
        props = None
        if self.v5:
            props = Properties(PacketTypes.PUBLISH)
            props.ContentType = "application/msgpack"
            if expiry:
                props.MessageExpiryInterval = expiry
            if kind:
                props.UserProperty = [("kind", kind), ("wire", "1")]
        return self.client.publish(topic, payload, qos=qos, retain=retain, properties=props)

    def set_subscriptions(self, topics: Sequence[str], *, forget: Sequence[str] = ()) -> None:
        """Change the topic filters (thread-safe): subscribe the new ones, unsubscribe those gone and the
        ``forget`` ones (filters a persistent session may still hold from an earlier run); every reconnect
        subscribes the current list again."""
        with self._subs_lock:
            new, old = list(dict.fromkeys(topics)), set(self.subscriptions)
            added = [t for t in new if t not in old]
            gone = [t for t in self.subscriptions if t not in set(new)] + [t for t in forget if t not in set(new)]
            self.subscriptions = new
            if not self._live:
                return  # the next connect subscribes the list
            if gone:
                self.client.unsubscribe(gone)
            if added:
                self.client.subscribe([(topic, 1) for topic in added])

    def wait_connected(self, timeout: float) -> bool:
        """Wait until connected and subscribed."""
        return self.connected.wait(timeout) and self.subscribed.wait(timeout)


def _queued_only(client: paho.Client, userdata: object, sock: object) -> None:
    """paho's ``on_socket_register_write``: nothing to do, the link thread's ``loop()`` writes what is queued."""
