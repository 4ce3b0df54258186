"""The simulated printer: paper, status answers like an Epson TM-T88, faults, rendering."""

from __future__ import annotations

from PIL import Image

from firmware_sim.paper import Barcode, Code2D, Slip, TextLine
from firmware_sim.printer import SimulatedPrinter
from firmware_sim.render import render_text, save_slip

RT1, RT2, RT4 = b"\x10\x04\x01", b"\x10\x04\x02", b"\x10\x04\x04"


def printer_with_slips() -> tuple[SimulatedPrinter, list[Slip], list[bytes]]:
    slips: list[Slip] = []
    answers: list[bytes] = []
    printer = SimulatedPrinter(on_slip=slips.append)
    printer.data_received(b"", answers.append)
    return printer, slips, answers


def test_cp866_text_styles_and_codes_land_on_the_slip():
    printer, slips, _ = printer_with_slips()
    printer.data_received(
        b"\x1b@\x1bt\x11\x1ba\x01\x1b!\x38"
        + "Баланс".encode("cp866")
        + b"\n\x1b!\x00\x1ba\x00"
        + "Начислено 101,25".encode("cp866")
        + b"\n\x1dk\x49\x12{B7700000000000017"
        + b"\x1d(k\x13\x001P07700000000000017\x1d(k\x03\x001Q0\x1dV\x00"
    )
    (slip,) = slips
    title, line, barcode, qr = slip.blocks
    assert isinstance(title, TextLine) and title.text == "Баланс" and title.align == "center"
    assert title.spans[0].bold and title.spans[0].width == 2 and title.spans[0].height == 2
    assert isinstance(line, TextLine) and line.text == "Начислено 101,25" and not line.spans[0].bold
    assert barcode == Barcode("CODE128", "7700000000000017", "left", 162, 3, "none")
    assert isinstance(qr, Code2D) and qr.symbology == "QR" and qr.data == "7700000000000017"
    assert slip.cut and not slip.partial and "cp866" in slip.codepages


def test_status_answers_follow_the_faults():
    printer, _, answers = printer_with_slips()
    printer.data_received(RT1 + RT2 + RT4)
    assert answers == [b"\x12", b"\x12", b"\x12"]
    for fault, expected in [
        ({"paper": "near_end"}, [b"\x12", b"\x12", b"\x1e"]),
        ({"paper": "out"}, [b"\x1a", b"\x32", b"\x7e"]),
        ({"cover_open": True}, [b"\x1a", b"\x16", b"\x12"]),
        ({"offline": True}, [b"\x1a", b"\x12", b"\x12"]),
    ]:
        printer.set_fault(paper="ok", cover_open=False, offline=False)
        printer.set_fault(**fault)
        answers.clear()
        printer.data_received(RT1 + RT2 + RT4)
        assert answers == expected, fault


def test_switched_off_printer_answers_nothing():
    printer, _, answers = printer_with_slips()
    printer.set_fault(powered=False)
    printer.data_received(RT1 + b"text\n")
    assert answers == [] and printer.discarded > 0


def test_paper_running_out_interrupts_the_slip_and_discards_the_rest():
    printer, slips, answers = printer_with_slips()
    printer.set_fault(paper_lines_left=2)
    printer.data_received(b"one\ntwo\nthree\nfour\n\x1dV\x00" + RT4)
    (slip,) = slips
    assert slip.partial and [b.text for b in slip.blocks] == ["one", "two"]
    assert answers == [b"\x7e"] and printer.discarded >= 2
    printer.set_fault(paper="ok")
    printer.data_received(b"\x1b@again\n\x1dV\x00")
    assert [b.text for b in slips[1].blocks] == ["again"] and slips[1].cut


def test_long_lines_wrap_at_the_paper_width():
    printer, slips, _ = printer_with_slips()
    printer.data_received(b"x" * 50 + b"\n\x1dV\x00")
    assert [b.text for b in slips[0].blocks] == ["x" * 42, "x" * 8]


def test_rendering_writes_text_and_png(tmp_path):
    printer, slips, _ = printer_with_slips()
    printer.data_received(
        b"\x1bt\x11\x1ba\x01"
        + "Спасибо".encode("cp866")
        + b"\n\x1dk\x49\x12{B7700000000000017"
        + b"\x1d(k\x06\x001P0abc\x1d(k\x03\x001Q0\x1dv0\x00\x02\x00\x02\x00\xff\xff\x00\x00\x1dV\x00"
    )
    text_path, png_path = save_slip(slips[0], 42, tmp_path)
    text = text_path.read_text(encoding="utf-8")
    assert "Спасибо" in text and "[BARCODE CODE128 7700000000000017]" in text and "[QR abc]" in text
    assert text.splitlines()[0] == " " * 17 + "Спасибо"
    with Image.open(png_path) as image:
        assert image.width == 42 * 12 and image.height > 100
    assert render_text(Slip(9, partial=True), 42).strip().endswith("offline]")
