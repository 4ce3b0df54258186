"""``loyalty-central serve`` runs the message sender: a message queued by the service API reaches a real
SMTP server, with the unsubscribe link built from PUBLIC_URL; the serve process's stop releases the lease."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from central.services import messages as svc
from central.services.access import SYSTEM
from central.storage.store import Store

from .conftest import SMTP_PASSWORD, SMTP_USER, add_customer, free_port

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

ROOT = Path(__file__).resolve().parents[2]


def test_serve_sends_what_the_services_queue(tmp_path, smtp_server, central_database):
    db_file = central_database
    db = Store(db_file)
    db.add_store("S1", "Demo", "Europe/Moscow")
    svc.set_channel(
        db,
        SYSTEM,
        "email",
        {
            "host": "127.0.0.1",
            "port": smtp_server.port,
            "security": "starttls",
            "username": SMTP_USER,
            "sender": "club@shop.example",
            "verify_tls": False,
        },
        {"password": SMTP_PASSWORD},
    )
    add_customer(db, "c1", email="anna@example.com", consents={"email": True})
    template = svc.save_template(
        db, SYSTEM, name="t", channel="email", language="en", subject="Hi {{ name }}", body="Balance {{ balance }}"
    )
    env = {
        **os.environ,
        "LOYALTY_CENTRAL_DATABASE": json.dumps(db_file),
        "LOYALTY_CENTRAL_EMBEDDED_BROKER_PORT": str(free_port()),
        "LOYALTY_CENTRAL_INGEST": "false",
        "LOYALTY_CENTRAL_MESSAGES_QUIET_HOURS": json.dumps("0-0"),
        "LOYALTY_CENTRAL_PUBLIC_URL": json.dumps("https://crm.example.com"),
    }
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "central.cli", "serve", "--port", str(free_port())],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        row = svc.send_one(db, SYSTEM, template, "c1")
        got = smtp_server.wait(1, timeout=30)
        assert len(got) == 1, (tmp_path / "serve.log").read_text()
        mail = got[0][2]
        assert str(mail["Subject"]) == "Hi Анна Иванова"
        assert str(mail["List-Unsubscribe"]).startswith("<https://crm.example.com/messages/unsubscribe/")
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()
    assert svc.outbox_row(db, row)["state"] == "sent"
    assert db.count("message_lease") == 0  # a stopped sender lets the next one start at once
    db.close()
