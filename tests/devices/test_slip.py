"""The slip layout and its catalogs: Russian by default, English, CP866-safe."""

from __future__ import annotations

import ast
import re
import unicodedata
from datetime import datetime
from pathlib import Path

import pytest

from agent.devices.slip_layout import (
    Code,
    Cut,
    Line,
    SlipData,
    format_points,
    layout,
    mask_card,
    printer_test_layout,
)
from agent.i18n import translations

ROOT = Path(__file__).resolve().parents[2]


def marked_strings(path: Path) -> set[str]:
    """The literal arguments of ``_()`` and ``N_()`` calls in a source file."""
    return {
        node.args[0].value
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("_", "N_")
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def texts(ops) -> list[str]:  # type: ignore[no-untyped-def]
    return [op.text for op in ops if isinstance(op, Line)]


def test_russian_slip(slip):
    ops = layout(slip)
    lines = texts(ops)
    assert lines[0] == "Магазин на Лесной" and ops[0].double and ops[0].bold
    assert "Дата                      21.11.2026 17:30" in lines
    assert "Карта                  **** **** **** 0017" in lines
    assert "Начислено баллов                    101,25" in lines
    assert "Списано баллов                        0,00" in lines
    assert "Баланс                            1 234,56" in lines
    assert "Уровень" + " " * 29 + "Золото" in lines
    assert Code("barcode", "7700000000000017") in ops and isinstance(ops[-1], Cut)
    assert all(len(line) <= 42 for line in lines)


def test_english_qr_copy_and_narrow_paper(slip):
    ops = layout(slip, columns=32, language="en", code="qr", copy=True)
    lines = texts(ops)
    assert (
        lines[0] == "COPY"
        and "Points accrued            101.25" in lines
        and "Balance                 1,234.56" in lines
    )
    assert Code("qr", "7700000000000017") in ops
    assert all(len(line) <= 32 for line in lines)
    assert not any(isinstance(op, Code) for op in layout(slip, code="none"))


def test_text_outside_cp866_is_replaced(slip):
    odd = SlipData(**{**slip.to_json(), "at": slip.at, "messages": ("Скидка 5 ₽ 😀",)})
    assert "Скидка 5 ? ?" in texts(layout(odd))


def test_control_characters_from_central_never_reach_the_printer(slip):
    # ESC p 0 25 25 opens the cash drawer, GS V 0 cuts: text from central must stay text
    odd = SlipData(
        **{
            **slip.to_json(),
            "at": slip.at,
            "messages": ("Подарок\x1bp\x00\x19\x19",),
            "promotions": (("Две\nстроки\x1dV\x00", 100, 0),),
            "store_name": "Лесная\x1b@",
            "level": "Gold\r",
        }
    )
    lines = texts(layout(odd))
    assert not [line for line in lines if any(unicodedata.category(c) == "Cc" for c in line)]
    assert "Подарок?p???" in lines and "Две строки?V?" in lines and lines[0] == "Лесная?@"


@pytest.mark.parametrize(
    "minor, ru, en",
    [
        (0, "0,00", "0.00"),
        (5, "0,05", "0.05"),
        (123456789, "1 234 567,89", "1,234,567.89"),
        (-2550, "-25,50", "-25.50"),
    ],
)
def test_format_points(minor, ru, en):
    assert format_points(minor, "ru") == ru and format_points(minor, "en") == en


@pytest.mark.parametrize(
    "number, masked", [("7700000000000017", "**** **** **** 0017"), ("123456789", "* **** 6789"), ("1234", "1234")]
)
def test_mask_card(number, masked):
    assert mask_card(number) == masked


def test_payload_round_trip_and_refusal(slip):
    assert SlipData.from_json(slip.to_json()) == slip
    with pytest.raises(TypeError, match="integer"):
        SlipData.from_json({**slip.to_json(), "balance": 1.5})


def test_printer_test_slip_has_a_cyrillic_line_in_both_languages():
    for language in ("ru", "en"):
        lines = texts(printer_test_layout("Магазин", datetime(2026, 1, 1), language=language))
        assert any(re.search("[а-я]{4}", line) for line in lines[1:])


def test_every_printed_text_has_a_russian_translation_that_fits_cp866():
    """Slip texts live in the agent's one catalog (agent/translations); a printer prints CP866 only."""
    sources = [ROOT / "agent" / "devices" / name for name in ("slip_layout.py", "printers.py")]
    printed = {text for path in sources for text in marked_strings(path)}
    ru = translations("ru")
    assert len(printed) >= 20
    for text in printed:
        russian = ru.gettext(text)
        assert russian != text, f"no Russian for {text!r}"
        russian.encode("cp866")


def test_the_web_card_link_ends_the_slip_as_a_qr_code(slip):
    link = "https://crm.shop.example/card/"
    ops = layout(slip, link=link)
    at = ops.index(Code("qr", link))
    assert "Ваша карта в телефоне: отсканируйте код" in texts(ops[at:])
    assert Code("qr", link) not in layout(slip)  # no link set: nothing more on the slip


def test_the_slip_link_setting_reaches_the_print_worker(tmp_path):
    from agent.config import load_device_settings
    from agent.devices.wiring import build_print_worker

    settings = load_device_settings({"slip_link": " https://crm.shop.example/card/join/S1 "})
    assert settings.printer.slip_link == "https://crm.shop.example/card/join/S1"

    class Printer:
        name = "p"

    worker = build_print_worker(settings, queue=None, printer=Printer())  # type: ignore[arg-type]
    assert worker.layout_options["link"] == "https://crm.shop.example/card/join/S1"
