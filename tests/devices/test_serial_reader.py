"""SerialCardReader against the reader simulator as a real process on a real pty."""

from __future__ import annotations

import queue

import pytest

from agent.devices.readers import CardRead, SerialCardReader
from tests.firmware_sim.procs import simulator
from tests.polling import wait_for

CARD = "7700000000000017"


@pytest.fixture
def reads():
    return queue.Queue()


def send(proc, *lines: str) -> None:  # type: ignore[no-untyped-def]
    proc.stdin.write("".join(line + "\n" for line in lines))
    proc.stdin.flush()


def next_read(reads: queue.Queue, timeout: float = 10) -> CardRead:
    return reads.get(timeout=timeout)


@pytest.mark.parametrize("framing", ["line", "stx-etx-lrc"])
def test_swipe_on_the_wire_is_read_and_parsed(tmp_path, reads, framing):
    link = tmp_path / "ttyREADER"
    with simulator(
        "reader", "--pty", "--link", str(link), "--framing", framing, "--tracks", "12", "--stdin", stdin=True
    ) as (proc, (path,)):
        reader = SerialCardReader(path, reads.put, reader_id="till-1", framing=framing)
        reader.start()
        try:
            assert reader.wait_state("connected", 10)
            send(proc, "wait-open", f"swipe {CARD}", "scan 4601234567893", "qr loyalty:abc-123")
            swipe, scan, qr = next_read(reads), next_read(reads), next_read(reads)
        finally:
            reader.stop()
    assert (swipe.kind, swipe.number, swipe.track, swipe.reader_id) == ("track", CARD, 2, "till-1")
    assert swipe.raw.startswith("%B" + CARD) and swipe.identify_body() == {"card": CARD}
    assert swipe.at.tzinfo is not None
    assert (scan.kind, scan.number, scan.identify_body()) == ("barcode", "4601234567893", {"barcode": "4601234567893"})
    assert (qr.kind, qr.token, qr.identify_body()) == ("qr", "loyalty:abc-123", {"qr": "loyalty:abc-123"})


def test_noise_and_partial_frames_are_discarded_without_a_false_read(tmp_path, reads, caplog):
    link = tmp_path / "ttyREADER"
    with simulator("reader", "--pty", "--link", str(link), "--stdin", "--seed", "7", stdin=True) as (proc, (path,)):
        reader = SerialCardReader(path, reads.put)
        reader.start()
        try:
            assert reader.wait_state("connected", 10)
            send(
                proc,
                "wait-open",
                "noise 300",
                "sleep 0.8",
                f"partial {CARD}",
                "sleep 0.8",
                "raw 3b37373030300d",
                "scan 12345",
                "raw ff8f9a0d",
                f"swipe {CARD}",
            )
            read = next_read(reads)
            assert wait_for(lambda: reader.stats.discarded >= 3, 5)
        finally:
            reader.stop()
    assert read.number == CARD and reads.empty() and reader.stats.reads == 1
    assert "discarded" in caplog.text
    assert CARD not in caplog.text  # a discarded frame's content is never logged


def test_reader_unplugged_and_plugged_back_is_picked_up_again(tmp_path, reads):
    link = tmp_path / "ttyREADER"
    states: list[str] = []
    with simulator("reader", "--pty", "--link", str(link), "--stdin", stdin=True) as (proc, (path,)):
        reader = SerialCardReader(path, reads.put, on_state=lambda rid, state: states.append(state))
        reader.start()
        try:
            assert reader.wait_state("connected", 10)
            send(proc, "wait-open", f"swipe {CARD}")
            assert next_read(reads).number == CARD
            send(proc, "unplug")
            assert reader.wait_state("disconnected", 10)
            send(proc, "sleep 1", "plug", "wait-open 20", "swipe 7700000000000025")
            assert next_read(reads, 20).number == "7700000000000025"
        finally:
            reader.stop()
    assert states.count("connected") == 2 and "disconnected" in states
    assert reader.stats.connects == 2


def test_a_failing_callback_does_not_stop_the_reader(tmp_path, reads):
    calls = []

    def flaky(read: CardRead) -> None:
        calls.append(read)
        if len(calls) == 1:
            raise RuntimeError("identification crashed")
        reads.put(read)

    with simulator("reader", "--pty", "--link", str(tmp_path / "r"), "--stdin", stdin=True) as (proc, (path,)):
        reader = SerialCardReader(path, flaky)
        reader.start()
        try:
            assert reader.wait_state("connected", 10)
            send(proc, "wait-open", f"swipe {CARD}", f"swipe {CARD}")
            assert next_read(reads).number == CARD
        finally:
            reader.stop()
    assert len(calls) == 2
