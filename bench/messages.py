"""Messages: queueing a mailing, emails/s into a local SMTP server, SMS/s into a local HTTP gateway,
and a sender killed in the middle and restarted (sent once each, counted).

    PYTHONPATH=. python bench/messages.py                # 100,000 queued, 5,000 sent per channel
    PYTHONPATH=. python bench/messages.py --queue 20000 --send 2000

The SMTP server (aiosmtpd) and the gateway (http.server) run in this process on loopback, so
the figures include their cost on the same cores. The kill is a real one: a child process runs
the sender and gets SIGKILL half way.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller  # noqa: E402

from central.messages.rules import Policy  # noqa: E402
from central.messages.sender import Sender  # noqa: E402
from central.services import messages as svc  # noqa: E402
from central.services.access import SYSTEM  # noqa: E402
from central.storage.store import Store  # noqa: E402

NO_QUIET = Policy(quiet_start=0, quiet_end=0)


class Sink:
    def __init__(self) -> None:
        self.count = 0
        self.keys: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.count += 1
        for line in envelope.original_content.split(b"\r\n"):
            if line.startswith(b"X-Loyalty-Key:"):
                self.keys.append(line.split(b":", 1)[1].strip().decode())
                break
        return "250 OK"


def customers(db: Store, n: int) -> list[str]:
    ids = [f"b{i:06d}" for i in range(n)]
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO customers (id, home_store, phone, name, email, consents, balance, version, created_at)"
            " VALUES (?, 'S1', ?, ?, ?, '{\"email\": true, \"sms\": true}', ?, 0, '2026-01-01T00:00:00+00:00')",
            [(cid, f"+7912{i:07d}", f"Клиент {i}", f"{cid}@example.com", i * 10) for i, cid in enumerate(ids)],
        )
    return ids


def gateway() -> tuple[ThreadingHTTPServer, list[str]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body["key"])
            out = json.dumps({"id": str(len(seen))}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def drain(db_path: str) -> None:
    s = Sender(db_path, policy=NO_QUIET, batch=500)
    while s.run_once():
        pass
    s.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queue", type=int, default=100_000)
    parser.add_argument("--send", type=int, default=5_000)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-messages-")
    path = os.path.join(folder, "central.sqlite")
    db = Store(path)
    db.add_store("S1", "Bench", "Europe/Moscow")
    ids = customers(db, max(args.queue, args.send))
    svc.set_channel(db, SYSTEM, "cashier", {})
    cashier = svc.save_template(
        db, SYSTEM, name="q", channel="cashier", language="ru", body="{{ name }}: {{ balance }}"
    )
    started = time.perf_counter()
    big = svc.create_mailing(db, SYSTEM, name="queue", template_id=cashier, recipients=ids[: args.queue])
    queued = time.perf_counter() - started
    print(f"queue a mailing to {args.queue:,} customers: {queued:.2f} s")
    svc.pause_mailing(db, SYSTEM, big)  # it stays queued while the other channels are measured

    sink = Sink()
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    svc.set_channel(
        db, SYSTEM, "email", {"host": "127.0.0.1", "port": port, "security": "none", "sender": "club@shop.example"}
    )
    email = svc.save_template(
        db,
        SYSTEM,
        name="e",
        channel="email",
        language="ru",
        subject="{{ first_name }}",
        body="Здравствуйте, {{ name }}! Баланс {{ balance }}.",
    )
    svc.create_mailing(db, SYSTEM, name="email", template_id=email, recipients=ids[: args.send])
    started = time.perf_counter()
    drain(path)
    took = time.perf_counter() - started
    print(f"emails into a local SMTP server: {sink.count:,} in {took:.2f} s = {sink.count / took:,.0f}/s")

    server, seen = gateway()
    svc.set_channel(
        db,
        SYSTEM,
        "sms",
        {
            "url": f"http://127.0.0.1:{server.server_port}/send",
            "body_format": "json",
            "body": '{"to": "{phone}", "text": "{text}", "key": "{key}"}',
            "id_field": "id",
        },
    )
    sms = svc.save_template(db, SYSTEM, name="s", channel="sms", language="ru", body="{{ first_name }}: {{ balance }}")
    svc.create_mailing(db, SYSTEM, name="sms", template_id=sms, recipients=ids[: args.send])
    started = time.perf_counter()
    drain(path)
    took = time.perf_counter() - started
    print(f"SMS into a local HTTP gateway: {len(seen):,} in {took:.2f} s = {len(seen) / took:,.0f}/s")

    # killed in the middle: a child process sends, gets SIGKILL, a new sender finishes
    mailing = svc.create_mailing(db, SYSTEM, name="kill", template_id=sms, recipients=ids[: args.send])
    before = len(seen)
    child = multiprocessing.get_context("fork").Process(target=drain, args=(path,))
    child.start()
    while len(seen) - before < args.send // 2:
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    killed_at = len(seen) - before
    time.sleep(1)  # nothing more arrives from the dead one
    Store(path).conn.execute("DELETE FROM message_lease")  # the dead sender's lease: skip its 30 s
    drain(path)
    keys = seen[before:]
    counts = svc.mailing_progress(db, SYSTEM, mailing)["counts"]
    doubled = len(keys) - len(set(keys))
    lost = args.send - len(set(keys))
    print(
        f"killed after {killed_at:,} SMS, restarted: {len(set(keys)):,} distinct received, {lost} lost, "
        f"{doubled} doubled (at-least-once: a row killed between send and mark is resent with its key); "
        f"outbox: {counts['sent']:,} sent"
    )
    controller.stop()
    server.shutdown()


if __name__ == "__main__":
    main()
