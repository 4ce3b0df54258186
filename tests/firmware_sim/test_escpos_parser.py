"""The ESC/POS parser: every command, any chunking, garbage never breaks it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from firmware_sim.escpos import Command, EscPosParser


def parse(data: bytes, chunk: int | None = None) -> list[Command]:
    out: list[Command] = []
    parser = EscPosParser(out.append)
    if chunk is None:
        parser.data_received(data)
    else:
        for i in range(0, len(data), chunk):
            parser.data_received(data[i : i + chunk])
    return out


STREAM = (
    b"\x1b@\x1bt\x11" + "Привет".encode("cp866") + b"\n"
    b"\x1bE\x01\x1d!\x11\x1ba\x01X\n"
    b"\x1dh\x50\x1dw\x02\x1dH\x00\x1dk\x49\x12{B7700000000000017"
    b"\x1dk\x02460123456789\x00"
    b"\x1d(k\x04\x001A2\x00\x1d(k\x03\x001C\x06\x1d(k\x03\x001E0"
    b"\x1d(k\x13\x001P07700000000000017\x1d(k\x03\x001Q0"
    b"\x1dv0\x00\x01\x00\x02\x00\xff\x00"
    b"\x1b*\x00\x02\x00\x81\x42"
    b"\x10\x04\x01\x10\x04\x04\x1dr\x01\x1dI\x42"
    b"\x1bd\x03\x1dVA\x10\x1dV\x00"
)


def test_each_command_is_recognised():
    names = [c.name for c in parse(STREAM)]
    assert names == [
        "init",
        "codepage",
        "text",
        "lf",
        "bold",
        "char_size",
        "align",
        "text",
        "lf",
        "barcode_height",
        "barcode_width",
        "hri_position",
        "barcode",
        "barcode",
        "code2d",
        "code2d",
        "code2d",
        "code2d",
        "code2d",
        "raster",
        "bit_image",
        "rt_status",
        "rt_status",
        "transmit_status",
        "transmit_id",
        "feed_lines",
        "cut",
        "cut",
    ]
    commands = parse(STREAM)
    assert commands[2].data.decode("cp866") == "Привет"
    assert commands[12] == Command("barcode", (73,), b"{B7700000000000017")
    assert commands[13] == Command("barcode", (2,), b"460123456789")
    assert commands[17].args == (49, 80) and commands[17].data == b"07700000000000017"
    assert commands[19] == Command("raster", (0, 1, 2), b"\xff\x00")
    assert commands[-2].args == (65, 0x10) and commands[-1].args == (0,)


def merged(commands: list[Command]) -> list[Command]:
    """Adjacent text runs joined (text is emitted as it arrives, so chunks split it)."""
    out: list[Command] = []
    for c in commands:
        if out and c.name == "text" and out[-1].name == "text":
            out[-1] = Command("text", data=out[-1].data + c.data)
        else:
            out.append(c)
    return out


@given(st.integers(min_value=1, max_value=len(STREAM)))
def test_chunking_does_not_matter(chunk):
    assert merged(parse(STREAM, chunk)) == parse(STREAM)


def test_incomplete_command_waits_for_the_rest():
    out: list[Command] = []
    parser = EscPosParser(out.append)
    parser.data_received(b"\x1d(k\x13\x001P0770")
    assert out == [] and parser.pending() == 11
    parser.data_received(b"0000000000017")
    assert out[0].name == "code2d" and parser.pending() == 0


def test_unknown_escape_is_skipped_and_the_stream_stays_in_sync():
    commands = parse(b"\x1b\xfeabc\n")
    assert [c.name for c in commands] == ["unknown", "text", "lf"]
    assert commands[1].data == b"abc"


def test_a_huge_length_field_is_treated_as_garbage():
    commands = parse(b"\x1dv0\x00\xff\xff\xff\xffok\n")
    assert commands[0].name == "unknown"
    # the length bytes are printable (CP437 box characters): they print, and "ok" follows
    assert commands[-2:] == [Command("text", data=b"\xff\xff\xff\xffok"), Command("lf")]


@given(st.binary(max_size=300))
def test_garbage_never_raises(data):
    out: list[Command] = []
    parser = EscPosParser(out.append)
    for i in range(len(data)):
        parser.data_received(data[i : i + 1])
    assert parser.pending() <= len(data)
