"""Reader framings and card decoding fed byte by byte: valid frames read, garbage never does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.devices.framing import FRAMINGS, MAX_FRAME, make_framing
from firmware_sim import cards
from shared.cardreads import Rejected, decode_payload

CARD = "7700000000000017"  # pos-api.md's example card: no Luhn digit
LUHN_CARD = "7700000000000016"


def run(framing: str, data: bytes, idle_every: int | None = None, check: str = "auto") -> tuple[list[str], list[str]]:
    """Feed ``data`` one byte at a time; return (numbers read, discard reasons)."""
    numbers: list[str] = []
    discards: list[str] = []

    def on_frame(payload: bytes) -> None:
        try:
            numbers.append(decode_payload(payload, check).number or "")
        except Rejected as exc:
            discards.append(str(exc))

    protocol = make_framing(framing, on_frame, lambda reason, data: discards.append(reason))
    for i in range(len(data)):
        protocol.data_received(data[i : i + 1])
        if idle_every and i % idle_every == idle_every - 1:
            protocol.idle()
    protocol.connection_lost(None)
    return numbers, discards


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("tracks", ["1", "2", "12"])
@pytest.mark.parametrize("lrc", [False, True])
def test_a_swipe_reads_in_every_framing(framing, tracks, lrc):
    numbers, discards = run(framing, cards.swipe_bytes(CARD, framing, tracks, lrc))
    assert numbers == [CARD] and discards == []


def test_scanner_lines_with_crlf_read_once():
    numbers, discards = run("line", cards.scan_bytes(CARD) + cards.scan_bytes("4601234567893", "ean13"))
    assert numbers == [CARD, "4601234567893"] and discards == []


def test_partial_frame_is_dropped_at_the_pause_and_the_next_swipe_reads():
    whole = cards.swipe_bytes(CARD)
    numbers: list[str] = []
    discards: list[str] = []
    protocol = make_framing(
        "line", lambda p: numbers.append(decode_payload(p).number or ""), lambda reason, data: discards.append(reason)
    )
    protocol.data_received(whole[:10])
    protocol.idle()
    protocol.data_received(whole)
    assert numbers == [CARD] and discards == ["partial frame (no terminator before the pause)"]


def test_stx_framing_resyncs_on_a_new_stx_and_checks_the_lrc():
    good = cards.swipe_bytes(CARD, "stx-etx-lrc")
    bad_lrc = good[:-1] + bytes([good[-1] ^ 0x01])
    numbers, discards = run("stx-etx-lrc", b"\x02;77000" + b"noise" + bad_lrc + good)
    assert numbers == [CARD]
    assert any("new STX" in d for d in discards) and any("LRC mismatch" in d for d in discards)


def test_oversized_frames_are_dropped():
    numbers, discards = run("line", b"7" * 5000 + b"\r" + cards.swipe_bytes(CARD))
    assert numbers == [CARD] and any("longer than" in d for d in discards)


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("length", [1025, 1030, 1040, 5000])
def test_the_tail_of_an_endless_frame_is_never_a_read(framing, length):
    # a reader streaming digits with no terminator: the bytes after the 1024th were read as a card
    digits = (b"1234567890" * 600)[:length]
    frame = {"line": digits + b"\r", "stx-etx": b"\x02" + digits + b"\x03"}.get(framing, b"\x02" + digits + b"\x03\x03")
    numbers, discards = run(framing, frame + cards.swipe_bytes(CARD, framing=framing))
    assert numbers == [CARD] and discards.count(f"frame longer than {MAX_FRAME} bytes") == 1


@settings(max_examples=300)
@given(st.binary(max_size=400), st.sampled_from(FRAMINGS), st.one_of(st.none(), st.integers(1, 50)))
def test_random_garbage_never_yields_a_read(data, framing, idle_every):
    numbers, _ = run(framing, data, idle_every)
    assert numbers == []


@settings(max_examples=300)
@given(st.data(), st.sampled_from(FRAMINGS), st.sampled_from(["1", "2", "12"]), st.booleans())
def test_a_corrupted_byte_never_yields_another_card(data, framing, tracks, lrc):
    # A single track without an LRC has no redundancy of its own: a changed digit
    # is still a well-formed track. There, only a check digit (check="luhn", a card
    # issued with a Luhn digit) catches it; every other layout catches it by itself.
    redundant = lrc or tracks == "12" or framing == "stx-etx-lrc"
    card, check = (CARD, "auto") if redundant else (LUHN_CARD, "luhn")
    frame = bytearray(cards.swipe_bytes(card, framing, tracks, lrc))
    index = data.draw(st.integers(0, len(frame) - 1))
    frame[index] = data.draw(st.integers(0, 255).filter(lambda b: b != frame[index]))
    numbers, _ = run(framing, bytes(frame), check=check)
    assert set(numbers) <= {card}


@given(st.binary(max_size=60).filter(lambda b: b"\r" not in b and b"\n" not in b))
def test_noise_glued_before_a_swipe_is_skipped_or_loses_the_swipe_never_misreads(noise):
    numbers, _ = run("line", noise + cards.swipe_bytes(CARD))
    assert numbers in ([CARD], [])
