"""GET /v1/identifications/stream served by waitress (the production server), over real sockets.

What must hold: events arrive at once (no buffering); a client that went away
or never reads frees its server thread; streams are limited so the POS API
keeps its threads; a reconnecting browser gets what it missed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from waitress import wasyncore
from waitress.server import create_server

from agent.auth import add_terminal
from agent.device_manager import hardware_of
from agent.devices.readers import CardRead
from agent.testing import request
from tests.agent.conftest import CARD, delta
from tests.polling import wait_for
from tests.sse import SseClient

STREAMS = {"threads": 3, "stream_max_clients": 2, "stream_keepalive_seconds": 1, "stream_max_seconds": 3}


@contextlib.contextmanager
def waitress_serving(app, threads: int) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """The app on waitress in this process, on a free loopback port."""
    server = create_server(app, host="127.0.0.1", port=0, threads=threads)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.effective_port
    finally:
        server.task_dispatcher.shutdown()
        # closed on the loop's own thread: closing its sockets under a running select() fails it (EBADF)
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(10)


@pytest.fixture
def served(make_app):
    app = make_app(**STREAMS)
    store = app.extensions["loyalty_agent"].store
    store.apply_customer_delta(delta("c1", points=10_000))
    key = add_terminal(store, "P01")
    hardware = hardware_of(app)
    with waitress_serving(app, STREAMS["threads"]) as port:
        yield port, key, hardware
        wait_for(lambda: hardware.hub.streams == 0)  # closed clients are found at their next keep-alive


def swipe(hardware, number: str = CARD) -> None:
    hardware.on_read(CardRead("track", f";{number}?", number, None, "reader-1", dt.datetime.now(dt.UTC)))


def streams(port: int) -> int:
    return request(port, "GET", "/v1/health", None, None)[1]["devices"]["identification_streams"]


def test_events_arrive_at_once_with_header_or_query_key(served):
    port, key, hardware = served
    with (
        contextlib.closing(SseClient(port, "/v1/identifications/stream", {"Authorization": f"Bearer {key}"})) as a,
        contextlib.closing(SseClient(port, f"/v1/identifications/stream?access_token={key}&lang=ru")) as b,
    ):
        assert a.status == b.status == 200 and a.response.getheader("Content-Type").startswith("text/event-stream")
        assert a.block().fields == {"retry": "1000"} and b.block().fields == {"retry": "1000"}
        started = time.monotonic()
        swipe(hardware)
        event = a.event()
        assert event.data["customer_id"] == "c1" and event.data["source"] == "reader-1"
        assert event.fields["id"] == event.data["event_id"]
        assert b.event().data["customer_id"] == "c1"
        swipe(hardware, "7700000000000024")
        holder = b.event().data  # a card of the ranges not known here: its holder, not registered yet
        assert holder["registered"] is False and holder["card"] == "7700000000000024"
        assert time.monotonic() - started < 3  # well below a keep-alive period or a buffer flush


def test_keep_alives_and_the_stream_ends_for_a_reconnect(served):
    port, key, _ = served
    client = SseClient(port, f"/v1/identifications/stream?access_token={key}")
    blocks = []
    with pytest.raises(EOFError):
        while True:
            blocks.append(client.block())
    assert sum("keep-alive" in b.comments for b in blocks) >= 2  # one a second, the stream lasted 3 s
    client.close()
    assert wait_for(lambda: streams(port) == 0)


def test_a_gone_client_frees_its_thread(served):
    port, key, _ = served
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"GET /v1/identifications/stream?access_token={key} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert b"200 OK" in sock.recv(1000)
    assert streams(port) == 1
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset, no goodbye
    sock.close()
    assert wait_for(lambda: streams(port) == 0, timeout=4)  # found at a keep-alive, well before the 3 s end


def test_a_client_that_never_reads_cannot_hold_a_thread_longer_than_the_stream_lasts(served):
    port, key, _ = served
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sock.sendall(f"GET /v1/identifications/stream?access_token={key} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert wait_for(lambda: streams(port) == 1)
    assert wait_for(lambda: streams(port) == 0, timeout=8)
    sock.close()


def test_streams_are_limited_and_the_pos_api_keeps_answering(served):
    port, key, _ = served
    clients = [SseClient(port, f"/v1/identifications/stream?access_token={key}") for _ in range(2)]
    try:
        assert [c.status for c in clients] == [200, 200]
        status, body = request(port, "GET", f"/v1/identifications/stream?access_token={key}", None, None)
        assert status == 503 and body["code"] == "too_many_streams"
        assert request(port, "POST", "/v1/identify", {"card": CARD}, key)[0] == 200  # a thread is left for the tills
    finally:
        for c in clients:
            c.close()
    assert wait_for(lambda: streams(port) == 0)


def test_a_reconnect_with_last_event_id_gets_what_it_missed(served):
    port, key, hardware = served
    first = SseClient(port, f"/v1/identifications/stream?access_token={key}")
    first.block()
    swipe(hardware)
    seen = first.event().fields["id"]
    first.close()
    swipe(hardware, "7700000000000024")  # while the browser is away
    again = SseClient(port, f"/v1/identifications/stream?access_token={key}", {"Last-Event-ID": seen})
    assert again.event().data["registered"] is False
    again.close()
    assert wait_for(lambda: streams(port) == 0)  # both found gone at their next keep-alive
    fresh = SseClient(port, f"/v1/identifications/stream?access_token={key}")  # a new page: from now on only
    assert [fresh.block().comments for _ in range(3)][1:] == [["keep-alive"], ["keep-alive"]]  # no old event
    fresh.close()


def test_a_bad_key_is_refused(served):
    port, _, _ = served
    status, body = request(port, "GET", "/v1/identifications/stream?access_token=lk_nope", None, None)
    assert status == 401 and body["code"] == "unauthorized"
