"""Messages: queueing a mailing, emails/s into a local SMTP server, SMS/s into a local HTTP gateway,
and a sender killed in the middle and restarted (sent once each, counted).

    PYTHONPATH=. python bench/messages.py                # 100,000 queued, 5,000 sent per channel
    PYTHONPATH=. python bench/messages.py --queue 20000 --send 2000

The SMTP server (aiosmtpd) and the gateway (http.server, HTTP/1.1) run as separate processes on
loopback, as real peers do, so the figures include their cost on the same cores; each is followed by
the same run's baseline: bare clients (no database, no templates) into the same peer. The kill is a
real one: a child process runs the sender and gets SIGKILL half way.
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
    """The SMTP server's handler: each message's idempotency key appended to a file (one line each)."""

    def __init__(self, keyfile: str) -> None:
        self.out = open(keyfile, "a", buffering=1)  # noqa: SIM115 - lives as long as the server

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        for line in envelope.original_content.split(b"\r\n"):
            if line.startswith(b"X-Loyalty-Key:"):
                self.out.write(line.split(b":", 1)[1].strip().decode() + "\n")
                break
        return "250 OK"


def smtp_server(port: int, keyfile: str) -> None:
    """A separate process, as a real mail server is: aiosmtpd on loopback."""
    controller = Controller(Sink(keyfile), hostname="127.0.0.1", port=port)
    controller.start()
    signal.pause()


def gateway_server(port: int, keyfile: str) -> None:
    """A separate process, as a real SMS gateway is: HTTP/1.1 with kept-alive connections, JSON in and out.

    Idempotent like the gateways that take a client's message key: a key seen before is answered with its
    first id and not delivered again (each request's key goes to ``keyfile``, a repeat with a ``+`` in front)."""
    out = open(keyfile, "a", buffering=1)  # noqa: SIM115
    count = [0]
    given: dict[str, str] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 1 << 16  # the answer's head and body in one segment, as a real server writes them

        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            try:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            except ValueError:  # a request cut off by the killed sender
                self.send_error(400)
                return
            with lock:
                repeat = body["key"] in given
                if not repeat:
                    count[0] += 1
                    given[body["key"]] = str(count[0])
                out.write(("+" if repeat else "") + body["key"] + "\n")
                answer = json.dumps({"id": given[body["key"]]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_peer(target, keyfile: str) -> tuple[multiprocessing.Process, int]:
    import socket

    port = free_port()
    process = multiprocessing.get_context("spawn").Process(target=target, args=(port, keyfile), daemon=True)
    process.start()
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.02)
    return process, port


def ceiling_smtp(port: int, count: int, connections: int = 4) -> float:
    """The same run's baseline: bare smtplib clients, no database, against the same server (its ceiling here)."""
    import smtplib

    mail = b"From: a@shop.example\r\nTo: x@example.com\r\nSubject: hi\r\nX-Loyalty-Key: ceiling\r\n\r\nhello\r\n"

    def work() -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for _ in range(count // connections):
                smtp.sendmail("a@shop.example", ["x@example.com"], mail)

    return _timed(work, count, connections)


def ceiling_http(port: int, count: int, connections: int = 4) -> float:
    """The same run's baseline: bare kept-alive http.client clients against the same gateway."""
    import http.client

    body = json.dumps({"to": "+79120000000", "text": "x", "key": "ceiling"}).encode()

    def work() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        for _ in range(count // connections):
            conn.request("POST", "/send", body=body, headers={"Content-Type": "application/json"})
            conn.getresponse().read()
        conn.close()

    return _timed(work, count, connections)


def _timed(work, count: int, connections: int) -> float:
    import threading

    threads = [threading.Thread(target=work) for _ in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count / (time.perf_counter() - started)


def keys(keyfile: str) -> list[str]:
    with open(keyfile) as f:
        return f.read().split()


def customers(db: Store, n: int) -> list[str]:
    ids = [f"b{i:06d}" for i in range(n)]
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO customers (id, home_store, phone, name, email, consents, balance, version, created_at)"
            " VALUES (?, 'S1', ?, ?, ?, '{\"email\": true, \"sms\": true}', ?, 0, '2026-01-01T00:00:00+00:00')",
            [(cid, f"+7912{i:07d}", f"Клиент {i}", f"{cid}@example.com", i * 10) for i, cid in enumerate(ids)],
        )
    return ids


def drain(db_path: str, concurrency: int = 4) -> None:
    s = Sender(db_path, policy=NO_QUIET, batch=500, concurrency=concurrency)
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

    mail_keys = os.path.join(folder, "smtp.keys")
    smtp, port = start_peer(smtp_server, mail_keys)
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
    time.sleep(0.2)
    got = len(keys(mail_keys))
    print(f"emails into a local SMTP server: {got:,} in {took:.2f} s = {got / took:,.0f}/s (goal 500/s)")
    print(f"  baseline, same run: bare smtplib x4 into the same server: {ceiling_smtp(port, args.send):,.0f}/s")

    sms_keys = os.path.join(folder, "sms.keys")
    gw, gw_port = start_peer(gateway_server, sms_keys)
    svc.set_channel(
        db,
        SYSTEM,
        "sms",
        {
            "url": f"http://127.0.0.1:{gw_port}/send",
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
    got = len(keys(sms_keys))
    print(f"SMS into a local HTTP gateway: {got:,} in {took:.2f} s = {got / took:,.0f}/s (goal 1,000/s)")
    print(f"  baseline, same run: bare http.client x4 into the same gateway: {ceiling_http(gw_port, args.send):,.0f}/s")
    before_kill = len(keys(sms_keys))

    # killed in the middle: a child process sends, gets SIGKILL, a new sender finishes
    mailing = svc.create_mailing(db, SYSTEM, name="kill", template_id=sms, recipients=ids[: args.send])
    before = len(keys(sms_keys))
    assert before >= before_kill
    child = multiprocessing.get_context("fork").Process(target=drain, args=(path,))
    child.start()
    while len(keys(sms_keys)) - before < args.send // 2:
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    time.sleep(1)  # nothing more arrives from the dead one
    killed_at = len(keys(sms_keys)) - before
    Store(path).conn.execute("DELETE FROM message_lease")  # the dead sender's lease: skip its 30 s
    drain(path)
    time.sleep(0.2)
    seen = keys(sms_keys)[before:]
    delivered = [k for k in seen if not k.startswith("+")]
    repeats = len(seen) - len(delivered)
    counts = svc.mailing_progress(db, SYSTEM, mailing)["counts"]
    doubled = len(delivered) - len(set(delivered))
    lost = args.send - len(set(delivered))
    print(
        f"killed after {killed_at:,} SMS, restarted: {len(set(delivered)):,} delivered, {lost} lost, "
        f"{doubled} doubled; "
        f"{repeats} sent again with their key after the kill (in flight when it died) and answered by the gateway "
        f"with their first id, not delivered again; outbox: {counts['sent']:,} sent"
    )
    smtp.kill()
    gw.kill()


if __name__ == "__main__":
    main()
