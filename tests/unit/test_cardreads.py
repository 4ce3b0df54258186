"""shared/cardreads.py: what a reader's frame means (tracks, barcodes, QR codes) and what is refused."""

from __future__ import annotations

import pytest

from firmware_sim import cards
from shared.cardreads import Rejected, check_number, decode_scan, decode_tracks
from shared.identifiers import ean_valid, luhn_valid, track_lrc

CARD = "7700000000000017"


@pytest.mark.parametrize(
    "text, number, track",
    [
        (";7700000000000017=4912101000000?", CARD, 2),
        (";7700000000000017?", CARD, 2),
        ("%B7700000000000017^IVANOV/IVAN^4912101?", CARD, 1),
        ("%E?;7700000000000017=49?", CARD, 2),  # unreadable track 1, good track 2
        (cards.swipe_text(CARD, "12", lrc=True), CARD, 2),
        (";7700000000000017=49?;0123456789?", CARD, 2),  # track 3 after track 2
    ],
)
def test_tracks(text, number, track):
    decoded = decode_tracks(text)
    assert (decoded.kind, decoded.number, decoded.track) == ("track", number, track)


@pytest.mark.parametrize(
    "text, reason",
    [
        (";7700000000000017=4912", "end sentinel"),
        (";77000?", "6-19"),
        (";0000000000000000=?", "repeated"),
        (";77000000A0000017?", "character outside"),
        ("%B7700000000000017^A/B^49?;7700000000000025?", "different numbers"),
        ("%E?;E?", "no readable track"),
        (cards.track2(CARD, lrc=True)[:-1] + "0", "LRC"),
        ("%BXYZ^A/B^49?", "not all digits"),
    ],
)
def test_refused_tracks(text, reason):
    with pytest.raises(Rejected, match=reason):
        decode_tracks(text)


def test_luhn_mode_refuses_a_wrong_check_digit():
    assert decode_tracks(";7700000000000016?", "luhn").number == "7700000000000016"
    with pytest.raises(Rejected, match="Luhn"):
        decode_tracks(";7700000000000017?", "luhn")


@pytest.mark.parametrize(
    "text, kind, number, token, symbology",
    [
        (CARD, "barcode", CARD, None, None),
        ("]C07700000000000017", "barcode", CARD, None, "code128"),
        ("]E04601234567893", "barcode", "4601234567893", None, "ean13"),
        ("]Q1hello world", "qr", None, "hello world", "qr"),
        ("]Q17700000000000017", "qr", CARD, CARD, "qr"),
        ("loyalty:abc-123", "qr", None, "loyalty:abc-123", "qr"),
        ("https://example.org/c?card=1", "qr", None, "https://example.org/c?card=1", "qr"),
    ],
)
def test_scans(text, kind, number, token, symbology):
    decoded = decode_scan(text)
    assert (decoded.kind, decoded.number, decoded.token, decoded.symbology) == (kind, number, token, symbology)


@pytest.mark.parametrize("text", ["]E04601234567890", "ABC", "12345", "hello world", "x\x07y", ""])
def test_refused_scans(text):
    with pytest.raises(Rejected):
        decode_scan(text)


def test_check_none_accepts_short_and_alphanumeric_codes():
    assert check_number("1234", "none") == "1234"
    assert decode_scan("AB12CD", "none").number == "AB12CD"


def test_check_digit_helpers_agree_with_the_simulator():
    # the simulator computes them from the standards on its own (firmware_sim/cards.py)
    for body in ["770000000000001", "123456789012345", "4"]:
        assert luhn_valid(body + cards.luhn_digit(body))
    for body in ["460123456789", "1234567", "03600029145"]:
        assert ean_valid(body + cards.ean_digit(body))
        assert not ean_valid(body + str((int(cards.ean_digit(body)) + 1) % 10))
    for track in (cards.track1(CARD, lrc=True), cards.track2(CARD, lrc=True)):
        body, lrc = track[:-1], track[-1]
        assert track_lrc(body, 1 if body.startswith("%") else 2) == lrc
