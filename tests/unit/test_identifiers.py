"""shared/identifiers.py: card numbers, tracks, barcodes, Russian phones, QR tokens (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.identifiers import (
    CardRange,
    InvalidIdentifier,
    TrackData,
    ean13_check_digit,
    ean13_valid,
    luhn_check_digit,
    luhn_valid,
    normalize_card,
    normalize_phone,
    normalize_phone_ru,
    parse_barcode,
    parse_track,
    qr_token,
    track2_lrc,
    verify_qr,
)

RANGES = (CardRange("7700", 16, luhn=True), CardRange("2000", 13, luhn=False))
CARD = "7700000000000016"  # Luhn-valid


# -- card numbers


@pytest.mark.parametrize("digits", ["79927398713", "4111111111111111", CARD, "0"])
def test_luhn_valid(digits):
    assert luhn_valid(digits)


@pytest.mark.parametrize("digits", ["79927398710", "4111111111111112", "7700000000000018", "", "12a4"])
def test_luhn_invalid(digits):
    assert not luhn_valid(digits)


@given(st.text("0123456789", min_size=1, max_size=30))
def test_luhn_check_digit_completes_any_body(body):
    assert luhn_valid(body + luhn_check_digit(body))


@given(st.text("0123456789", min_size=2, max_size=30), st.data())
def test_luhn_catches_every_single_digit_error(number, data):
    number = number[:-1] + luhn_check_digit(number[:-1])
    i = data.draw(st.integers(0, len(number) - 1))
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != number[i]]))
    assert not luhn_valid(number[:i] + wrong + number[i + 1 :])


@pytest.mark.parametrize(
    "typed",
    [CARD, "7700 0000 0000 0016", "7700-0000-0000-0016", " 7700 0000-0000 0016 ", "7700\u00a00000\u00a00000\u00a00016"],
)
def test_card_normalised(typed):
    assert normalize_card(typed, RANGES) == CARD


@pytest.mark.parametrize(
    "typed, fragment",
    [
        ("7700000000000017", "wrong check digit"),
        ("7700 0000 0000 001", "not a card of this program"),
        ("9900000000000016", "not a card of this program"),
        ("7700-0000-0000-001X", "only digits"),
        ("", "empty"),
        ("  - ", "empty"),
        ("123", "has 3 digits"),
    ],
)
def test_card_refused_with_reason(typed, fragment):
    with pytest.raises(InvalidIdentifier) as info:
        normalize_card(typed, RANGES)
    assert info.value.code == "invalid_card"
    assert fragment in str(info.value)


def test_card_range_without_luhn_and_no_ranges():
    assert normalize_card("2000 0000 0000 1", RANGES) == "2000000000001"
    assert normalize_card("12345") == "12345"  # no ranges configured: any 4..32 digits


def test_longest_prefix_decides_luhn():
    ranges = (CardRange("77", 16, luhn=True), CardRange("7701", 16, luhn=False))
    assert normalize_card("7701000000000000", ranges) == "7701000000000000"
    with pytest.raises(InvalidIdentifier):
        normalize_card("7702000000000000", ranges)


# -- magnetic tracks


def with_lrc(track: str) -> str:
    return track + track2_lrc(track)


@pytest.mark.parametrize(
    "raw, expected",
    [
        (";7700000000000016=2812101?", TrackData(CARD, "2812")),
        (";7700000000000016=28121010000000000000?\r\n", TrackData(CARD, "2812")),
        ("7700000000000016=2812", TrackData(CARD, "2812")),
        (";7700000000000016?", TrackData(CARD, None)),
        ("7700000000000016", TrackData(CARD, None)),
        (";7700000000000016D2812?", TrackData(CARD, "2812")),
        (with_lrc(";7700000000000016=2812101?"), TrackData(CARD, "2812")),
        ("ж7700000000000016=2812101,", TrackData(CARD, "2812")),  # Russian keyboard layout
        ("%B7700000000000016^IVANOV/IVAN^2812101?", TrackData(CARD, "2812", "IVANOV IVAN")),
        ("%И7700000000000016:IVANOV/IVAN:2812101,", TrackData(CARD, "2812", "IVANOV IVAN")),
        ("%B7700000000000016^IVANOV/IVAN^2812101?;7700000000000016=2812101?", TrackData(CARD, "2812", "IVANOV IVAN")),
    ],
)
def test_track_parsed(raw, expected):
    assert parse_track(raw) == expected


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ("", "empty"),
        (";77000000000000160000=2812?", "could not be read"),  # PAN longer than 19 digits
        (";7700000000000016=2812101?0", "LRC"),
        ("%B7700000000000016IVANOV?", "could not be read"),
        ("hello", "could not be read"),
    ],
)
def test_track_refused(raw, fragment):
    with pytest.raises(InvalidIdentifier) as info:
        parse_track(raw)
    assert info.value.code == "invalid_track"
    assert fragment in str(info.value)


@given(st.text("0123456789", min_size=1, max_size=19), st.text("0123456789", min_size=4, max_size=20))
def test_track2_round_trip(pan, tail):
    track = f";{pan}={tail}?"
    assert parse_track(track).pan == pan
    assert parse_track(with_lrc(track)).pan == pan


# -- barcodes


@pytest.mark.parametrize("code", ["4006381333931", "4600051000057", "0000000000000"])
def test_ean13_valid(code):
    assert ean13_valid(code)


@pytest.mark.parametrize("code", ["4006381333932", "400638133393", "40063813339310", "40063813339a1"])
def test_ean13_invalid(code):
    assert not ean13_valid(code)


@given(st.text("0123456789", min_size=12, max_size=12))
def test_ean13_check_digit(body):
    assert ean13_valid(body + ean13_check_digit(body))


def test_barcode():
    assert parse_barcode(" 4006381333931\n") == "4006381333931"
    assert parse_barcode(CARD) == CARD  # not 13 digits: no EAN check, the card number itself
    with pytest.raises(InvalidIdentifier, match="EAN-13"):
        parse_barcode("4006381333932")
    with pytest.raises(InvalidIdentifier, match="not a card barcode"):
        parse_barcode("ABC-123")


# -- Russian phone numbers


@pytest.mark.parametrize(
    "typed",
    [
        "8 912 345-67-89",
        "+7 (912) 345-67-89",
        "912 345 67 89",
        "79123456789",
        "89123456789",
        "+79123456789",
        "9123456789",
        "+7 912 345 67 89",
        "8(912)345-67-89",
        "+7-912-345-67-89",
        " 8 912 345 67 89 ",
        "8.912.345.67.89",
    ],
)
def test_phone_forms(typed):
    assert normalize_phone_ru(typed) == "+79123456789"


def test_landline_and_toll_free():
    assert normalize_phone_ru("8 (495) 123-45-67") == "+74951234567"
    assert normalize_phone_ru("8 800 555 35 35") == "+78005553535"


@pytest.mark.parametrize(
    "typed, fragment",
    [
        ("+380 44 12", "not a valid number"),
        ("+1 212 555", "not a valid number"),
        ("+999 123 45 67", "not a valid number"),  # no such country code
        ("+7 601 123 45 67", "not a valid number"),  # +7 6xx is Kazakhstan's, and this is none of its numbers
        ("00 44 12", "not a valid number"),
        ("8 912 345-67", "has 9 digits"),
        ("8 912 345-67-890", "10 digits"),
        ("912 345 67", "10 digits"),
        ("+7 912 345 67 8", "has 9 digits after +7"),
        ("8 912 ABC-67-89", "only digits"),
        ("", "empty"),
        ("+", "empty"),
        ("123 456 78 90", "not a Russian number"),
    ],
)
def test_phone_refused(typed, fragment):
    with pytest.raises(InvalidIdentifier) as info:
        normalize_phone_ru(typed)
    assert info.value.code == "invalid_phone"
    assert fragment in str(info.value)


@given(st.sampled_from("3489"), st.text("0123456789", min_size=9, max_size=9), st.sampled_from(["+7 ", "8", "7", ""]))
def test_phone_round_trip(first, rest, prefix):
    national = first + rest
    formatted = f"{prefix}({national[:3]}) {national[3:6]}-{national[6:8]}-{national[8:]}"
    assert normalize_phone_ru(formatted) == "+7" + national
    assert normalize_phone_ru(normalize_phone_ru(formatted)) == "+7" + national


# -- QR tokens

SECRET = b"chain-secret-0123456789"
CID = "3f2a9c0d1e4b4c5d8e7f6a5b4c3d2e1f"


def test_qr_accepts_current_and_adjacent_step():
    token = qr_token(SECRET, CID, now=1_000_000)
    for now in (1_000_000, 1_000_000 - 30, 1_000_000 + 30, 1_000_000 + 29):
        assert verify_qr(SECRET, token, now) == CID


@pytest.mark.parametrize("later", [61, 90, 3600, -61])
def test_qr_screenshot_stops_working(later):
    # 1_000_020 is in step 33334; a minute on the token is two steps away.
    token = qr_token(SECRET, CID, now=1_000_020)
    with pytest.raises(InvalidIdentifier) as info:
        verify_qr(SECRET, token, 1_000_020 + later)
    assert info.value.code == "qr_expired"


def test_qr_other_chain_secret_refused():
    token = qr_token(b"another chain", CID, now=1_000_000)
    with pytest.raises(InvalidIdentifier) as info:
        verify_qr(SECRET, token, 1_000_000)
    assert info.value.code == "qr_expired"


@pytest.mark.parametrize(
    "token", ["", "hello", f"LE1.{CID}", f"LE2.{CID}.AAAAAAAAAAAAAAAA", f"LE1.{CID}.aaaaaaaaaaaaaaaa"]
)
def test_qr_malformed(token):
    with pytest.raises(InvalidIdentifier) as info:
        verify_qr(SECRET, token, 1_000_000)
    assert info.value.code == "invalid_qr"


def test_qr_tampered_customer_refused():
    token = qr_token(SECRET, CID, now=1_000_000)
    forged = token.replace(CID, "0" * 32)
    with pytest.raises(InvalidIdentifier):
        verify_qr(SECRET, forged, 1_000_000)


@given(st.text("abcdef0123456789", min_size=1, max_size=64), st.integers(0, 2**40))
def test_qr_round_trip(customer_id, now):
    assert verify_qr(SECRET, qr_token(SECRET, customer_id, now), now) == customer_id


@pytest.mark.parametrize(
    "typed, e164",
    [
        ("+44 20 7946 0958", "+442079460958"),
        ("+375 29 123-45-67", "+375291234567"),
        ("+375 (29) 123 45 67", "+375291234567"),
        ("00 375 29 123 45 67", "+375291234567"),
        ("+380 44 123 4567", "+380441234567"),
        ("+1 212 555 1234", "+12125551234"),
        ("+7 701 123 45 67", "+77011234567"),  # Kazakhstan shares +7
        ("+49 30 901820", "+4930901820"),
    ],
)
def test_phone_international(typed, e164):
    assert normalize_phone(typed) == e164
    assert normalize_phone(e164) == e164  # stored E.164 parses to itself


def test_phone_old_name_is_the_same_parser():
    assert normalize_phone_ru is normalize_phone


def test_error_template_is_translatable():
    with pytest.raises(InvalidIdentifier) as info:
        normalize_phone_ru("+1 212 555")
    assert info.value.template % info.value.params == str(info.value)
    assert info.value.to_dict()["code"] == "invalid_phone"
