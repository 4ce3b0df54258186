"""The cashier page's pieces one by one: money and quantity arithmetic, what a scan is, texts, the --till link.

The JavaScript modules run in the real browser (imported from the agent),
on tables of cases; the answers are compared in Python.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from click.testing import CliRunner

from agent.cli import cli
from agent.i18n import TRANSLATIONS
from agent.till.texts import TEXTS
from tests.agent.till_helpers import till  # noqa: F401  (fixture)

STATIC = Path(__file__).resolve().parents[2] / "agent" / "till" / "static"
TEMPLATE = STATIC.parent / "templates" / "till" / "index.html"

MONEY_CASES = {
    "123,45": 12345,
    "123.45": 12345,
    "0,5": 50,
    "7": 700,
    " 1 234,50 ": 123450,
    "1\u00a0234": 123400,
    "99999999,99": 9999999999,
    "100₽": 10000,
    "": "empty",
    "  ": "empty",
    "12,345": "error",
    "1,2,3": "error",
    "-5": "error",
    "1e3": "error",
    "abc": "error",
    ",50": "error",
    "123,": "error",
    "123456789": "error",
    "0x10": "error",
    "１２": "error",
}
QUANTITY_CASES = {"1": 1000, "0,455": 455, "2.5": 2500, "0": "error", "0,0001": "error", "1,": "error", "": "empty"}
CLASSIFY_CASES = {
    ";7700000000000016=28121010000000000000?": {"track": ";7700000000000016=28121010000000000000?"},
    "ж7700000000000016=2812101,": {"track": "ж7700000000000016=2812101,"},
    "%B7700000000000016^IVANOV/I^2812?": {"track": "%B7700000000000016^IVANOV/I^2812?"},
    "7700000000000016=2812?": {"track": "7700000000000016=2812?"},
    "7700 0000 0000 0016": {"card": "7700000000000016"},
    "7700-0000-0000-0016": {"card": "7700000000000016"},
    "4006381333931": {"barcode": "4006381333931"},
    "+7 (912) 345-67-89": {"phone": "+7 (912) 345-67-89"},
    "8 912 345 67 89": {"phone": "8 912 345 67 89"},
    "89123456789": {"phone": "89123456789"},
    "9123456789": {"phone": "9123456789"},
    "74951234567": {"phone": "74951234567"},
    "LE1.c1.abcdef": {"qr": "LE1.c1.abcdef"},
    "hello": {"card": "hello"},
    "   ": None,
}


def run_js(till, module: str, expression: str):
    """Evaluate ``expression`` with ``m`` = the page's module ``module`` (a function body returning JSON)."""
    till.open(with_key=False)
    return till.page.evaluate(f"async () => {{ const m = await import('/till/static/{module}'); {expression} }}")


def test_money_is_parsed_and_formatted_exactly(till):
    got = run_js(
        till,
        "money.js",
        f"""
        const out = {{}};
        for (const text of {list(MONEY_CASES)!r}) {{
          const r = m.parseMinor(text);
          out[text] = r.empty ? "empty" : r.error ? "error" : Number(r.value);
        }}
        out.format = [0, 5, 99, 100, 12345, 123456789, -1050, 9007199254740993n].map(
          (n) => m.formatMinor(n, {{ group: " ", decimal: "," }}));
        out.editable = m.editableMinor(123456, {{ group: " ", decimal: "," }});
        out.quantities = {{}};
        for (const text of {list(QUANTITY_CASES)!r}) {{
          const r = m.parseQuantity(text);
          out.quantities[text] = r.empty ? "empty" : r.error ? "error" : Number(r.value);
        }}
        out.strings = [1000n, 1500n, 455n, 2000n, 1n].map((n) => m.quantityString(n));
        // price x quantity - discount, the half kopeck rounded up; exact far beyond 2**53
        out.amounts = [[12050n, 2000n, 1000n], [999n, 455n, 0n], [1n, 500n, 0n], [1n, 499n, 0n],
                       [10000000000n, 1000000000n, 0n]].map(([p, q, d]) => m.lineAmount(p, q, d).toString());
        return out;
    """,
    )
    assert {k: got[k] for k in MONEY_CASES} == MONEY_CASES
    assert got["format"] == [
        "0,00",
        "0,05",
        "0,99",
        "1,00",
        "123,45",
        "1 234 567,89",
        "\u221210,50",
        "90 071 992 547 409,93",
    ]
    assert got["editable"] == "1234,56"
    assert got["quantities"] == QUANTITY_CASES
    assert got["strings"] == ["1", "1.5", "0.455", "2", "0.001"]
    assert got["amounts"] == ["23100", "455", "1", "0", "10000000000000000"]


def test_what_a_scan_or_typed_text_is(till):
    got = run_js(till, "scanner.js", f"return {list(CLASSIFY_CASES)!r}.map((text) => m.classify(text));")
    assert dict(zip(CLASSIFY_CASES, got, strict=True)) == CLASSIFY_CASES
    cards = run_js(
        till,
        "scanner.js",
        "return [';7700000000000016=2812?', 'ж7700000000000016=28,', '%B7700000000000016^X^?', "
        "'7700 0000 0000 0016'].map(m.cardNumberOf);",
    )
    assert cards == ["7700000000000016"] * 4


def test_birthdays_typed_as_a_cashier_would(till):
    cases = {
        "17.05": "--05-17",
        "1.2": "--02-01",
        "17.05.1990": "1990-05-17",
        "29.02": "--02-29",
        "29.02.2001": None,
        "31.04": None,
        "00.05": None,
        "17/05/1990": "1990-05-17",
        "": "",
        "май": None,
        "17.05.1850": None,
    }
    got = run_js(till, "register.js", f"return {list(cases)!r}.map(m.parseBirthday);")
    assert dict(zip(cases, got, strict=True)) == cases


def test_every_text_of_the_page_is_used_and_translated():
    used = set()
    for path in STATIC.glob("*.js"):
        source = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'\bt\("([a-z_]+)"', source))
        used |= {f"line_{field}" for field in re.findall(r"input\(\"([a-z]+)\"", source)}
    used |= {"link_online", "link_offline", "no_rules"}  # chosen by the agent's link state (till.js)
    used |= {f"channel_{c}" for c in ("sms", "voice", "email", "push", "telegram")}  # a code's channel (sale.js)
    assert used == set(TEXTS), "texts.py and the JavaScript disagree"
    ast.parse((STATIC.parent / "texts.py").read_text(encoding="utf-8"))
    with (TRANSLATIONS / "ru" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        ru = {m.id: m.string for m in read_po(handle, locale="ru") if m.id}
    template_texts = set(re.findall(r"""_\((?:"([^"]+)"|'([^']+)')\)""", TEMPLATE.read_text(encoding="utf-8")))
    wanted = set(TEXTS.values()) | {a or b for a, b in template_texts}
    assert sorted(m for m in wanted if not ru.get(m)) == []
    for message in wanted:  # the page fills {name} placeholders: a translation keeps them all
        assert set(re.findall(r"\{\w+\}", ru[message])) == set(re.findall(r"\{\w+\}", message)), message


def test_terminals_add_till_prints_the_link_and_its_qr(tmp_path):
    config = tmp_path / "agent.toml"
    runner = CliRunner()
    setup = runner.invoke(
        cli,
        [
            "setup",
            "--no-input",
            "--config",
            str(config),
            "--store-id",
            "S001",
            "--database",
            str(tmp_path / "agent.sqlite"),
            "--terminals",
            "P03",
        ],
    )
    assert setup.exit_code == 0, setup.output
    result = runner.invoke(cli, ["terminals", "add", "P03", "--till", "--config", str(config)])
    assert result.exit_code == 0, result.output
    key = result.stdout.splitlines()[1]
    assert f"http://127.0.0.1:8765/till/#key={key}" in result.stdout
    assert "█" in result.stdout or "▀" in result.stdout  # the QR code
    assert "listens on 127.0.0.1 only" in result.stderr
    lan = runner.invoke(
        cli, ["terminals", "add", "P03", "--till-url", "http://192.168.1.10:8765/", "--config", str(config)]
    )
    assert "http://192.168.1.10:8765/till/#key=lk_" in lan.stdout and "listens on" not in lan.stderr


@pytest.mark.parametrize("lang, word", [("ru", "Продажа"), ("en", "Sale")])
def test_the_page_renders_in_each_language_whatever_the_browser_asks(app, lang, word):
    client = app.test_client()
    page = client.get(f"/till/?lang={lang}", headers={"Accept-Language": "de"})
    assert page.status_code == 200 and word in page.get_data(as_text=True)
    assert f'<html lang="{lang}">' in page.get_data(as_text=True)
    default = app.test_client().get("/till/", headers={"Accept-Language": "en-US"})
    assert '<html lang="ru">' in default.get_data(as_text=True)  # Russian unless the cashier switches


def test_names_from_central_and_customers_can_only_ever_be_text(app):
    # customer names, messages, promotion and product names reach the page as JSON and go into the DOM
    # through ui.js el() as text nodes; nothing in the page turns a string into HTML or code
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setHTMLUnsafe")
    for path in STATIC.glob("*.js"):
        assert not sinks.findall(path.read_text(encoding="utf-8")), path.name
    assert "|safe" not in TEMPLATE.read_text(encoding="utf-8") and "Markup" not in (
        STATIC.parent / "__init__.py"
    ).read_text(encoding="utf-8")
    page = app.test_client().get("/till/")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Cache-Control"] == "no-store"
