"""The cashier page ("virtual till"), served by the agent at ``/till/``.

For shops with no POS integration. One server-rendered page (Jinja, gettext)
and a few vanilla JavaScript modules served from the package: no CDN, no
build step, nothing fetched from outside the store. The page calls the POS
API with its terminal's key like any till; what the JavaScript shows in
words comes translated from here (:mod:`agent.till.texts`).

Language: ``?lang=ru|en`` switches and is remembered in a cookie; Russian by
default, whatever the browser says (a tablet's system language is often not
the cashier's).
"""

from __future__ import annotations

from typing import Any

from babel.numbers import get_decimal_symbol, get_group_symbol
from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for

from ..i18n import LANGUAGES, current_language
from .texts import translated_texts

bp = Blueprint("till", __name__, template_folder="templates", static_folder="static", static_url_path="/till/static")

LANG_COOKIE = "till_lang"
DEFAULT_LANGUAGE = "ru"
#: the switch: (code, short label, the language's name in itself)
LANGUAGE_LABELS = (("ru", "RU", "Русский"), ("en", "EN", "English"))

# the page runs only its own files: no inline script, nothing from elsewhere
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@bp.before_request
def choose_language() -> None:
    asked = request.args.get("lang")
    g.locale = asked if asked in LANGUAGES else request.cookies.get(LANG_COOKIE, DEFAULT_LANGUAGE)
    if g.locale not in LANGUAGES:
        g.locale = DEFAULT_LANGUAGE


@bp.after_request
def page_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.args.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, request.args["lang"], max_age=5 * 365 * 86400, samesite="Lax", httponly=True)
    return response


def page_config() -> dict[str, Any]:
    """What the page's JavaScript needs from the server: language, number format, time zone, texts."""
    lang = current_language()
    return {
        "lang": lang,
        "timezone": current_app.extensions["loyalty_agent"].config.timezone,
        "format": {"decimal": get_decimal_symbol(lang), "group": get_group_symbol(lang)},
        "texts": translated_texts(),
    }


@bp.get("/")
def root() -> Response:
    """The agent's address in a browser opens the till."""
    return redirect(url_for("till.index"))  # type: ignore[return-value]


@bp.get("/till/")
def index() -> Response:
    """The cashier page."""
    config = page_config()
    response = current_app.make_response(
        render_template(
            "till/index.html",
            lang=current_language(),
            languages=LANGUAGE_LABELS,
            page_config=config,
            zero=f"0{config['format']['decimal']}00",
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response
