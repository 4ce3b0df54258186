"""Real peers for the messages tests: an SMTP server (aiosmtpd, STARTTLS or TLS, login) and an HTTP
SMS gateway, both started by the test on free ports; a central database with a few customers."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from central.services import messages as svc
from central.services.access import SYSTEM
from central.storage.store import Store

SMTP_USER, SMTP_PASSWORD = "mailer", "s3cret-пароль"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


class Inbox:
    """What the SMTP server received: parsed messages with their envelopes."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []
        self.raws: list[bytes] = []  # as received, byte for byte
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.arrived:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
            self.raws.append(envelope.original_content)
            self.arrived.notify_all()
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.startswith("bounce"):
            return "550 5.1.1 no such user"
        if address.startswith("later"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def wait(self, count: int, timeout: float = 10) -> list:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
        return self.messages


def _auth(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok)


@pytest.fixture
def smtp_server(tls_files):
    """An SMTP server that requires STARTTLS and a login."""
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=_auth,
        auth_require_tls=True,
    )
    controller.start()
    inbox.port = port
    yield inbox
    controller.stop()


class Gateway:
    """A small SMS gateway: JSON in, {"status": "OK", "id": ...} out; scripted failures; request log."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[int] = []  # statuses to answer next (then 200)
        self.lock = threading.Condition()
        self.times: list[float] = []

    def wait(self, count: int, timeout: float = 10) -> list[dict]:
        with self.lock:
            self.lock.wait_for(lambda: len(self.requests) >= count, timeout)
        return self.requests


@pytest.fixture
def gateway():
    gw = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with gw.lock:
                status = gw.script.pop(0) if gw.script else 200
                gw.times.append(time.monotonic())
                record = {"path": self.path, "headers": dict(self.headers), "body": json.loads(body), "status": status}
                if status == 200:
                    gw.requests.append(record)
                gw.lock.notify_all()
            if status != 200:
                payload = json.dumps({"status": "ERROR", "error": f"scripted {status}"}).encode()
            else:
                payload = json.dumps({"status": "OK", "sms": {"id": f"gw-{len(gw.requests)}"}}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    gw.url = f"http://127.0.0.1:{server.server_port}"
    yield gw
    server.shutdown()
    server.server_close()


def add_customer(
    db: Store, cid: str, *, name="Анна Иванова", email=None, phone=None, consents=None, store="S1", balance=0, blocked=0
):
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO customers (id, home_store, phone, name, email, consents, balance, blocked, version,"
            " created_at) VALUES (?,?,?,?,?,?,?,?,0,'2026-01-01T00:00:00+00:00')",
            (cid, store, phone, name, email, json.dumps(consents or {}), balance, blocked),
        )


@pytest.fixture
def db(central_database):
    store = Store(central_database)
    store.add_store("S1", "Тверская 7", "Europe/Moscow")
    store.add_store("S2", "Vladivostok", "Asia/Vladivostok")
    yield store
    store.close()


@pytest.fixture
def email_channel(db, smtp_server):
    return svc.set_channel(
        db,
        SYSTEM,
        "email",
        {
            "host": "127.0.0.1",
            "port": smtp_server.port,
            "security": "starttls",
            "username": SMTP_USER,
            "sender": "club@shop.example",
            "sender_name": "Клуб покупателей",
            "verify_tls": False,
        },
        {"password": SMTP_PASSWORD},
    )


@pytest.fixture
def sms_channel(db, gateway):
    return svc.set_channel(
        db,
        SYSTEM,
        "sms",
        {
            "method": "POST",
            "url": gateway.url + "/sms/send",
            "body_format": "json",
            "headers": {"Authorization": "Bearer {secret:api_key}"},
            "body": '{"to": "{phone}", "msg": "{text}", "from": "{sender}", "partner_id": "{key}"}',
            "sender": "SHOP",
            "id_field": "sms.id",
            "error_field": "error",
        },
        {"api_key": "gw-key-123", "webhook_token": "hook-tok"},
    )


@pytest.fixture
def app_client():
    """A test client of the central app on a given database."""
    from central import create_app

    def make(db):
        app = create_app(
            {"TESTING": True, "DATABASE": db.path, "MQTT_URL": "mqtt://broker.example:1883", "SECRET_KEY": "test"}
        )
        return app.test_client()

    return make
