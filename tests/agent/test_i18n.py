"""The ru and en catalogs: every marked message is translated to Russian and the .mo files are fresh."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from agent.i18n import TRANSLATIONS

ROOT = Path(__file__).resolve().parents[2]
# one catalog for the whole agent: the POS API, the devices (slips, printer states), the pages
SOURCES = [
    *sorted((ROOT / "agent").rglob("*.py")),
    ROOT / "shared" / "identifiers.py",
]
KEYWORDS = {"N_", "_", "gettext", "lazy_gettext"}


def marked_messages() -> set[str]:
    found = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in KEYWORDS:
                if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    found.add(node.args[0].value)
    return found


def catalog(lang: str, kind: str):
    path = TRANSLATIONS / lang / "LC_MESSAGES" / f"messages.{kind}"
    with path.open("rb") as handle:
        return read_po(handle, locale=lang) if kind == "po" else read_mo(handle)


def test_every_marked_message_has_a_russian_translation():
    ru = {m.id: m.string for m in catalog("ru", "po") if m.id}
    missing = sorted(m for m in marked_messages() if not ru.get(m))
    assert missing == [], "run scripts/i18n and translate these in agent/translations/ru/LC_MESSAGES/messages.po"


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_compiled_catalogs_match_the_po_files(lang):
    po = {m.id: m.string for m in catalog(lang, "po") if m.id and m.string}
    mo = {m.id: m.string for m in catalog(lang, "mo") if m.id and m.string}
    assert mo == po, "run scripts/i18n compile"


def test_placeholders_survive_translation():
    for message in catalog("ru", "po"):
        if message.id and message.string:
            params = {
                name: 1
                for name in (
                    "days",
                    "date",
                    "requested",
                    "max_redeemable",
                    "available",
                    "phone",
                    "customer_id",
                    "key",
                    "code",
                    "card",
                    "number",
                    "length",
                    "min",
                    "max",
                    "expected",
                    "attempts_left",
                    "raw",
                    "count",
                    "receipt_id",
                    "refund_id",
                    "error",
                    "problems",
                    "limit",
                    "terminal",
                )
            }
            assert (message.string % params) and (message.id % params)
