"""Web Push for real: a local push service endpoint that checks the VAPID signature and decrypts the
aes128gcm payload with the subscriber's keys, as a browser's push service and the browser would."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import py_vapid
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from central.messages import push
from central.messages.sender import Sender
from central.services import messages as svc
from central.services.access import SYSTEM, FormError
from central.storage import secretbox

from .conftest import add_customer
from .test_sending import NO_QUIET, drain

pytestmark = pytest.mark.postgresql


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class PushService:
    """The browser's side: its P-256 key and auth secret, and an endpoint that decrypts what arrives."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        self.received: list[dict] = []
        self.script: list[int] = []
        self.lock = threading.Lock()
        self.vapid_key = ""

    def subscription(self, path: str = "/push/abc") -> dict:
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": self.url + path, "keys": {"p256dh": b64u(point), "auth": b64u(self.auth)}}


@pytest.fixture
def push_service():
    ps = PushService()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with ps.lock:
                status = ps.script.pop(0) if ps.script else 201
            if status == 201:
                # VAPID: "vapid t=<JWT>,k=<public key>"; the JWT must verify with k and carry our audience
                scheme, _, params = self.headers["Authorization"].partition(" ")
                fields = dict(p.split("=", 1) for p in params.split(","))
                assert scheme == "vapid" and fields["k"] == ps.vapid_key
                vapid = py_vapid.Vapid02.from_raw_public(fields["k"].encode())
                header, payload, signature = fields["t"].split(".")
                claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
                assert claims["aud"] == ps.url and claims["sub"] == "mailto:club@shop.example"
                sig = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
                from cryptography.hazmat.primitives import hashes
                from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

                der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
                vapid.public_key.verify(der, f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
                assert self.headers["Content-Encoding"] == "aes128gcm"
                plain = http_ece.decrypt(body, private_key=ps.key, auth_secret=ps.auth, version="aes128gcm")
                with ps.lock:
                    ps.received.append({"path": self.path, "headers": dict(self.headers), "payload": json.loads(plain)})
            self.send_response(status)
            if status == 201:
                self.send_header("Location", f"{ps.url}/messages/{len(ps.received)}")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ps.url = f"http://127.0.0.1:{server.server_port}"
    yield ps
    server.shutdown()
    server.server_close()


@pytest.fixture
def push_channel(db, push_service):
    # the tests' push service listens on http://127.0.0.1: an internal address, allowed by this setting only
    svc.set_channel(db, SYSTEM, "push", {"subject": "mailto:club@shop.example", "local_endpoints": True})
    push_service.vapid_key = svc.vapid_public_key(db)
    return push_service


def test_vapid_keys_are_made_once_and_the_private_one_is_never_shown(db):
    assert svc.vapid_public_key(db) is None
    shown = svc.set_channel(db, SYSTEM, "push", {"subject": "mailto:club@shop.example"})
    public = svc.vapid_public_key(db)
    assert public and len(base64.urlsafe_b64decode(public + "=")) == 65  # an uncompressed P-256 point
    assert shown["secrets"] == {"private_key": svc.MASK}
    # saved again with the mask: the same keys (subscriptions stay valid)
    svc.set_channel(db, SYSTEM, "push", {"subject": "https://shop.example/contact"}, {"private_key": svc.MASK})
    assert svc.vapid_public_key(db) == public
    stored = db.rows("SELECT secrets FROM message_channels WHERE channel = 'push'")[0]["secrets"]
    private = db.message_channel("push")["secrets"]["private_key"]
    assert private not in stored and "sealed" in stored  # not in clear in the database
    with pytest.raises(FormError):
        svc.set_channel(db, SYSTEM, "push", {"subject": "nobody"})


def test_a_push_arrives_encrypted_and_decrypts_in_the_browser(db, push_channel):
    add_customer(db, "c1", consents={})
    add_customer(db, "c2", name="Борис", consents={"push": True})  # consent, but no subscription
    svc.subscribe_push(db, "c1", push_channel.subscription())
    assert db.message_customer("c1")["consents"]["push"] is True
    assert db.consents_of("c1")[-1]["source"] == "customer"
    template = svc.save_template(
        db,
        SYSTEM,
        name="hi",
        channel="push",
        language="ru",
        subject="Привет, {{ first_name }}",
        body="У вас {{ balance }} баллов",
    )
    mailing = svc.create_mailing(db, SYSTEM, name="Push", template_id=template, recipients=["c1", "c2"])
    s = Sender(db.path, policy=NO_QUIET)
    drain(s)
    s.close()
    assert [r["payload"]["title"] for r in push_channel.received] == ["Привет, Анна"]
    assert push_channel.received[0]["payload"]["body"] == "У вас 0 баллов"
    assert push_channel.received[0]["headers"]["Topic"]
    progress = svc.mailing_progress(db, SYSTEM, mailing)
    assert progress["counts"]["sent"] == 1 and progress["counts"]["skipped"] == 1
    assert progress["reasons"] == {"skipped: no push subscription": 1}


def test_a_gone_subscription_fails_for_good(db, push_channel):
    add_customer(db, "c1")
    svc.subscribe_push(db, "c1", push_channel.subscription())
    template = svc.save_template(db, SYSTEM, name="t", channel="push", language="en", subject="Hi", body="Hello")
    row = svc.send_one(db, SYSTEM, template, "c1")
    push_channel.script = [410]
    s = Sender(db.path, policy=NO_QUIET)
    drain(s)
    s.close()
    out = svc.outbox_row(db, row)
    assert out["state"] == "failed" and "gone" in out["why"]
    # the dead subscription is deleted: the next message is not tried on it (consent stays, for a new one)
    assert "push_subscription" not in db.message_customer("c1")
    assert db.message_customer("c1")["consents"]["push"] is True
    again = svc.send_one(db, SYSTEM, template, "c1")
    drain(s)
    s.close()
    assert svc.outbox_row(db, again)["why"] == "no push subscription"
    assert push_channel.received == []


def test_a_gone_subscription_replaced_meanwhile_stays(db, push_channel):
    add_customer(db, "c1")
    svc.subscribe_push(db, "c1", push_channel.subscription("/push/old"))
    template = svc.save_template(db, SYSTEM, name="t", channel="push", language="en", subject="Hi", body="Hello")
    svc.send_one(db, SYSTEM, template, "c1")
    push_channel.script = [410]
    s = Sender(db.path, policy=NO_QUIET)
    # the customer subscribes again while the message to the old subscription is in flight
    s.after_send = lambda _ident: None
    original = s._record

    def record(db_, message, row, result, now):
        svc.subscribe_push(db, "c1", push_channel.subscription("/push/new"))
        return original(db_, message, row, result, now)

    s._record = record  # type: ignore[method-assign]
    drain(s)
    s.close()
    assert json.loads(db.message_customer("c1")["push_subscription"])["endpoint"].endswith("/push/new")


def test_broken_subscriptions_are_refused(db):
    add_customer(db, "c1")
    for bad in (
        {},
        {"endpoint": "ftp://x"},
        {"endpoint": "https://push.example/1", "keys": {"p256dh": "AAAA", "auth": "x"}},
    ):
        with pytest.raises(FormError):
            svc.subscribe_push(db, "c1", bad)


def test_secrets_are_unreadable_without_the_key_file(db, sms_channel, monkeypatch, tmp_path):
    assert db.message_channel("sms")["secrets"]["api_key"] == "gw-key-123"
    if "://" in db.path:  # a server database's key folder is the whole run's (LOYALTY_SECRETS_DIR): moved, not removed
        monkeypatch.setenv("LOYALTY_SECRETS_DIR", str(tmp_path / "moved"))
    else:
        secretbox.key_path(db.path).unlink()
    secretbox.key_for(db.path)  # a new key: the old box no longer opens
    row = db.message_channel("sms")
    assert row["secrets_unreadable"] and row["secrets"] == {"api_key": "", "webhook_token": ""}


def test_internal_endpoints_are_refused_unless_the_channel_allows_them(db, push_service):
    """A subscription names the address the server POSTs to: only public https:// push services, unless the
    channel allows internal ones (docs/security.md, SSRF)."""
    svc.set_channel(db, SYSTEM, "push", {"subject": "mailto:club@shop.example"})
    add_customer(db, "c1")
    good = push_service.subscription()
    for endpoint in (
        push_service.url + "/push/1",  # http://127.0.0.1:port
        "https://127.0.0.1/push",
        "https://10.1.2.3/push",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/push",
        "https://localhost/push",
        "https://printer.local/push",
        "http://push.example/push",
    ):
        with pytest.raises(FormError):
            svc.subscribe_push(db, "c1", dict(good, endpoint=endpoint))
    assert "push_subscription" not in db.message_customer("c1")
    svc.subscribe_push(db, "c1", dict(good, endpoint="https://push.example/x"))  # a public push service
    # one saved while internal addresses were allowed is not sent to once they are not
    svc.set_channel(db, SYSTEM, "push", {"subject": "mailto:club@shop.example", "local_endpoints": True}, {})
    svc.subscribe_push(db, "c1", good)
    svc.set_channel(db, SYSTEM, "push", {"subject": "mailto:club@shop.example"}, {"private_key": svc.MASK})
    template = svc.save_template(db, SYSTEM, name="t", channel="push", language="en", subject="Hi", body="Hello")
    row = svc.send_one(db, SYSTEM, template, "c1")
    s = Sender(db.path, policy=NO_QUIET)
    drain(s)
    s.close()
    out = svc.outbox_row(db, row)
    assert out["state"] == "failed" and "not an https:// address" in out["why"]
    assert push_service.received == []


def test_a_name_that_resolves_to_an_internal_address_is_refused_when_sending():
    push.check_endpoint("https://localhost./x", local_endpoints=True)  # allowed by the setting
    with pytest.raises(ValueError):
        push.check_endpoint("https://localhost./x")
    name = socket.gethostname()
    try:
        internal = not all(
            ipaddress.ip_address(i[4][0]).is_global for i in socket.getaddrinfo(name, 443, proto=socket.IPPROTO_TCP)
        )
    except OSError:
        pytest.skip("this machine's name does not resolve")
    if not internal:
        pytest.skip("this machine's name resolves to a public address")
    push.check_endpoint(f"https://{name}/x")  # a name: not looked up when the customer subscribes
    with pytest.raises(ValueError, match="not a public address"):
        push.check_endpoint(f"https://{name}/x", resolve=True)
