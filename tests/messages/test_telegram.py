"""Telegram: a start link with a one-time token links the chat (through the central's webhook), then
messages go through a local Bot API fake; /stop withdraws consent; a blocked bot is a permanent failure."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from central.messages import rules
from central.messages.sender import Sender
from central.services import messages as svc
from central.services.access import SYSTEM, FormError

from .conftest import add_customer

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345"


@pytest.fixture
def bot_api():
    sent: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != f"/bot{TOKEN}/sendMessage":
                status, out = 404, {"ok": False, "description": "Not Found"}
            elif body["chat_id"] == "403":
                status, out = (
                    403,
                    {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
                )
            else:
                sent.append(body)
                status, out = 200, {"ok": True, "result": {"message_id": len(sent), "chat": {"id": body["chat_id"]}}}
            data = json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", sent
    server.shutdown()
    server.server_close()


def test_start_link_then_messages(db, bot_api, app_client):
    api, sent = bot_api
    with pytest.raises(FormError, match="token"):
        svc.set_channel(db, SYSTEM, "telegram", {"bot_name": "ShopClubBot", "api_url": api}, {"token": "nope"})
    channel = svc.set_channel(
        db,
        SYSTEM,
        "telegram",
        {"bot_name": "ShopClubBot", "api_url": api},
        {"token": TOKEN, "webhook_token": "tg-secret"},
    )
    assert channel["secrets"] == {"token": svc.MASK, "webhook_token": svc.MASK}
    add_customer(db, "c1")
    add_customer(db, "c2", name="Boris")
    link = svc.telegram_link(db, SYSTEM, "c1")
    assert link["url"] == f"https://t.me/ShopClubBot?start={link['token']}"
    template = svc.save_template(
        db, SYSTEM, name="tg", channel="telegram", language="ru", body="Привет, {{ first_name }}!"
    )
    early = svc.send_one(db, SYSTEM, template, "c1", cause="before-link")

    client = app_client(db)
    start = {"update_id": 1, "message": {"message_id": 5, "text": f"/start {link['token']}", "chat": {"id": 777}}}
    assert client.post("/hooks/telegram", json=start).status_code == 403  # no secret header
    latin = {"X-Telegram-Bot-Api-Secret-Token": "tg-secr\u00e9t"}  # a byte past ASCII: compare_digest raised (500)
    assert client.post("/hooks/telegram", json=start, headers=latin).status_code == 403
    headers = {"X-Telegram-Bot-Api-Secret-Token": "tg-secret"}
    assert client.post("/hooks/telegram", json=start, headers=headers).json["result"] == "linked"
    assert client.post("/hooks/telegram", json=start, headers=headers).json["result"] == "expired"  # one-time
    assert svc.consent_history(db, SYSTEM, "c1")[-1] | {"at": None} == {
        "channel": "telegram",
        "granted": 1,
        "source": "customer",
        "actor": None,
        "at": None,
    }

    later = svc.send_one(db, SYSTEM, template, "c1", cause="after-link")
    unlinked = svc.send_one(db, SYSTEM, template, "c2", cause="after-link")
    s = Sender(db.path, policy=rules.Policy(quiet_start=0, quiet_end=0))
    while s.run_once():
        pass
    assert svc.outbox_row(db, early)["state"] == "sent"  # consent is checked when sending, not queueing
    assert svc.outbox_row(db, later)["state"] == "sent"
    assert svc.outbox_row(db, unlinked)["why"] == "no consent for telegram"
    assert sent == [{"chat_id": "777", "text": "Привет, Анна!"}] * 2

    stop = {"update_id": 2, "message": {"message_id": 6, "text": "/stop", "chat": {"id": 777}}}
    assert client.post("/hooks/telegram", json=stop, headers=headers).json["result"] == "stopped"
    assert svc.send_one(db, SYSTEM, template, "c1", cause="after-stop")
    while s.run_once():
        pass
    assert db.outbox("cause = 'after-stop'")[0]["state"] == "skipped"

    # a customer who blocked the bot: failed for good, with Telegram's words
    with db.transaction() as conn:
        conn.execute("UPDATE customer_channels SET address = '403'")
    svc.set_consent(db, SYSTEM, "c1", "telegram", True)
    blocked = svc.send_one(db, SYSTEM, template, "c1", cause="blocked")
    while s.run_once():
        pass
    s.close()
    row = svc.outbox_row(db, blocked)
    assert row["state"] == "failed" and "blocked by the user" in row["why"]
