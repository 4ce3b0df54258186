"""gettext for the agent's user-facing text (Flask-Babel, catalogs in agent/translations).

The language of a request: ``g.locale`` if a view forces one, else the best
of ``Accept-Language`` among :data:`LANGUAGES`, else ``g.default_locale`` (a
blueprint's default: the cashier page sets "ru"), else the app's
``BABEL_DEFAULT_LOCALE`` ("en" for the POS API).

Outside a request (the print worker laying out a slip in the ``slip_language``
setting, the CLI) :func:`translations` gives the same compiled catalogs,
loaded by Babel exactly as Flask-Babel loads them: one mechanism, one
domain (``messages``), one set of files for the whole agent.

Catalogs: ``scripts/i18n`` extracts messages (``N_``, ``_``, ``gettext``)
into ``agent/translations/messages.pot``, updates the ``.po`` files and
compiles the ``.mo`` files that ship in the package.
"""

from __future__ import annotations

import threading
from pathlib import Path

from babel import support
from flask import Flask, g, has_request_context, request
from flask_babel import Babel, get_locale, gettext

LANGUAGES = ("en", "ru")
TRANSLATIONS = Path(__file__).resolve().parent / "translations"

__all__ = ["LANGUAGES", "TRANSLATIONS", "current_language", "init_app", "translate", "translations"]

_loaded: dict[str, support.NullTranslations] = {}
_loaded_lock = threading.Lock()


def select_locale() -> str:
    """The request's language (see the module docstring)."""
    if not has_request_context():
        return "en"
    forced = g.get("locale")
    if forced in LANGUAGES:
        return forced
    best = request.accept_languages.best_match(LANGUAGES)
    return best or g.get("default_locale") or "en"


def init_app(app: Flask) -> None:
    """Attach Flask-Babel with our catalogs and locale selector."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    Babel(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS))


def translate(template: str, params: dict | None = None) -> str:
    """A gettext template in the request's language, formatted with ``params``."""
    text = gettext(template)
    return text % params if params else text


def current_language() -> str:
    locale = get_locale()
    return str(locale.language) if locale is not None else "en"


def translations(language: str) -> support.NullTranslations:
    """The catalog of ``language`` for text made outside a request (slips, CLI); unknown: Russian."""
    if language not in LANGUAGES:
        language = "ru"
    with _loaded_lock:
        if language not in _loaded:
            _loaded[language] = support.Translations.load(str(TRANSLATIONS), [language], domain="messages")
        return _loaded[language]
