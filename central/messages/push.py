"""Web Push (RFC 8030) with VAPID (RFC 8292) and an aes128gcm payload (RFC 8291), to a customer's browser
or installed web card.

The channel's settings hold ``subject`` (the VAPID contact: ``mailto:`` or ``https:``), ``public_key``
(base64url, uncompressed P-256 point: what a page passes to ``pushManager.subscribe``) and ``ttl``;
its secret ``private_key`` (base64url, the raw 32-byte P-256 scalar) is made when the channel is first
saved without one. A customer's subscription (``{"endpoint", "keys": {"p256dh", "auth"}}``, as the
browser's ``PushSubscription.toJSON()`` gives it) lives in ``customer_channels`` (channel ``push``).

The payload is JSON ``{"title", "body", "tag"}``: the web card's service worker shows it. The push
service answers 201; 404 and 410 mean the subscription is gone (a permanent failure); 429 and 5xx
are temporary. ``Topic`` is derived from the idempotency key, so a resend after a crash replaces the
first copy while it is still undelivered in the push service (RFC 8030 5.4).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import http_ece
import py_vapid
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .adapters import Adapter, ChannelSettingsError, Outgoing, PermanentFailure, TemporaryFailure


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    text = str(text).strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_private_key() -> str:
    """A new VAPID private key, base64url of the raw scalar."""
    key = ec.generate_private_key(ec.SECP256R1())
    return b64u(key.private_numbers().private_value.to_bytes(32, "big"))


def _private(text: str) -> ec.EllipticCurvePrivateKey:
    raw = unb64u(text)
    if len(raw) != 32:
        raise ValueError("a VAPID private key is 32 bytes")
    return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())


def public_key_of(private_key: str) -> str:
    """The application server key (base64url, uncompressed point) a page subscribes with."""
    point = (
        _private(private_key)
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return b64u(point)


def check_push(settings: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """Checked push settings; the public key is derived from the private one (never typed)."""
    errors = []
    subject = str(settings.get("subject") or "").strip()
    if not re.fullmatch(r"mailto:[^@\s]+@[^@\s]+|https://\S+", subject):
        errors.append("subject: a contact for the push services, mailto:club@shop.example or https://...")
    public = ""
    try:
        public = public_key_of(secrets.get("private_key", ""))
    except (ValueError, TypeError):
        errors.append("private_key: a base64url P-256 private key (leave it empty to make one)")
    try:
        ttl = int(settings.get("ttl") or 86400)
        if not 0 <= ttl <= 2419200:
            raise ValueError
    except (TypeError, ValueError):
        errors.append("ttl: seconds the push service keeps an undelivered message, 0..2419200")
        ttl = 86400
    if errors:
        raise ChannelSettingsError("; ".join(errors))
    return {
        "subject": subject,
        "public_key": public,
        "ttl": ttl,
        "timeout": float(settings.get("timeout") or 30),
        "local_endpoints": bool(settings.get("local_endpoints", False)),
    }


def _public_address(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_global
    except ValueError:
        return False


def check_endpoint(endpoint: str, local_endpoints: bool = False, resolve: bool = False) -> None:
    """ValueError unless the central server may POST to this subscription's endpoint. Browsers' push services
    are public https:// addresses; anything else (http://, a loopback, private or link-local address, a name
    that resolves to one) would let whoever subscribes make the server send requests inside its network, so
    it is refused unless the channel's ``local_endpoints`` setting allows it (a push relay inside the
    network; the tests' local push service). ``resolve``: also look the host name up (at send time)."""
    if local_endpoints:
        return
    parts = urllib.parse.urlsplit(endpoint)
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme != "https" or not host:
        raise ValueError("the subscription's endpoint is not an https:// address")
    literal = True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        literal = False
    if (literal and not _public_address(host)) or host == "localhost" or host.endswith((".localhost", ".local")):
        raise ValueError("the subscription's endpoint is not a public address")
    if resolve and not literal:
        try:
            found = {info[4][0] for info in socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)}
        except (OSError, UnicodeError):
            return  # not resolvable now: the send fails (and is retried) as any unreachable push service
        if not found or not all(_public_address(str(a)) for a in found):
            raise ValueError("the subscription's endpoint is not a public address")


def check_subscription(subscription: Any) -> dict[str, Any]:
    """A browser's PushSubscription JSON, checked; ValueError with why."""
    if not isinstance(subscription, dict):
        raise ValueError("a subscription is a JSON object")
    endpoint = str(subscription.get("endpoint") or "")
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme not in ("https", "http") or not parts.netloc or len(endpoint) > 2000:
        raise ValueError("the subscription's endpoint is not an https:// address")
    keys = subscription.get("keys") or {}
    try:
        p256dh, auth = unb64u(keys["p256dh"]), unb64u(keys["auth"])
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    except (KeyError, TypeError, ValueError):
        raise ValueError("the subscription's keys (p256dh, auth) are missing or broken") from None
    if len(auth) != 16:
        raise ValueError("the subscription's auth secret is not 16 bytes")
    return {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}


def encrypt(payload: bytes, subscription: dict[str, Any]) -> bytes:
    """The aes128gcm body for one subscription (a fresh sender key and salt each time)."""
    keys = subscription["keys"]
    return bytes(
        http_ece.encrypt(
            payload,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            dh=unb64u(keys["p256dh"]),
            auth_secret=unb64u(keys["auth"]),
            version="aes128gcm",
        )
    )


class SubscriptionGone(PermanentFailure):
    """404/410 from the push service: the browser's subscription no longer exists (the sender deletes it)."""


class PushAdapter(Adapter):
    channel = "push"

    def __init__(self, settings: dict[str, Any], secrets: dict[str, str]):
        self.settings = check_push(settings, secrets)
        self.vapid = py_vapid.Vapid02(private_key=_private(secrets["private_key"]))
        self._public_hosts: set[str] = set()  # hosts looked up and found public (a mailing has a few services)

    def request(self, message: Outgoing) -> urllib.request.Request:
        s = self.settings
        try:
            subscription = check_subscription(json.loads(message.to))
            host = urllib.parse.urlsplit(subscription["endpoint"]).hostname or ""
            check_endpoint(subscription["endpoint"], s["local_endpoints"], resolve=host not in self._public_hosts)
            self._public_hosts.add(host)
        except ValueError as exc:
            raise PermanentFailure(f"push subscription: {exc}") from None
        payload = json.dumps(
            {"title": message.subject, "body": message.body, "tag": f"m{message.id}"}, ensure_ascii=False
        ).encode()
        parts = urllib.parse.urlsplit(subscription["endpoint"])
        claims = {"aud": f"{parts.scheme}://{parts.netloc}", "exp": int(time.time()) + 12 * 3600, "sub": s["subject"]}
        headers = dict(self.vapid.sign(claims))
        headers.update(
            {
                "TTL": str(s["ttl"]),
                "Content-Encoding": "aes128gcm",
                "Content-Type": "application/octet-stream",
                "Urgency": "high" if message.kind == "service" else "normal",
                # the same message replaces an undelivered copy of itself (a resend after a crash)
                "Topic": b64u(hashlib.sha256(message.key.encode()).digest()[:24]),
            }
        )
        return urllib.request.Request(
            subscription["endpoint"], data=encrypt(payload, subscription), headers=headers, method="POST"
        )

    def send(self, message: Outgoing) -> str | None:
        request = self.request(message)
        try:
            with urllib.request.urlopen(request, timeout=self.settings["timeout"]) as response:
                response.read(1 << 16)
                return response.headers.get("Location") or None
        except urllib.error.HTTPError as exc:
            text = exc.read(500).decode(errors="replace")
            if exc.code in (404, 410):
                raise SubscriptionGone(f"push subscription gone ({exc.code})") from None
            if exc.code == 429 or exc.code >= 500:
                raise TemporaryFailure(f"push service HTTP {exc.code}: {text}") from None
            raise PermanentFailure(f"push service HTTP {exc.code}: {text}") from None
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            raise TemporaryFailure(f"push service: {exc}") from None
