"""gettext catalogs of the device texts (slips, printer states): Russian default, English.

The catalogs are the ``.po`` files under ``agent/devices/locale``; they are
compiled in memory with Babel when first used, so there is no binary ``.mo``
to keep in step with its source.
"""

from __future__ import annotations

import gettext
import io
import threading
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "devices"
LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"

_cache: dict[str, gettext.NullTranslations] = {}
_lock = threading.Lock()


def translations(language: str = DEFAULT_LANGUAGE) -> gettext.NullTranslations:
    """The catalog of ``language`` (``ru`` or ``en``); unknown languages get Russian."""
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    with _lock:
        if language not in _cache:
            _cache[language] = _load(language)
        return _cache[language]


def _load(language: str) -> gettext.NullTranslations:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)
