"""gettext for the console (Flask-Babel, catalogs in central/translations), as the agent does it.

The language of a page: the one the user chose (kept in the session and on
their account), else Russian -- the console's default, whatever the
browser's Accept-Language says. ``scripts/i18n-central`` extracts, updates and
compiles the catalogs.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, g, has_request_context, session
from flask_babel import Babel, get_locale

LANGUAGES = ("ru", "en")
DEFAULT = "ru"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def select_locale() -> str:
    """The request's language (see the module docstring)."""
    if not has_request_context():
        return "en"
    chosen = session.get("lang") or g.get("user_language")
    return chosen if chosen in LANGUAGES else DEFAULT


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    Babel(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS))


def current_language() -> str:
    locale = get_locale()
    return str(locale.language) if locale is not None else DEFAULT
