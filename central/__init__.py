"""The central server: the chain's ledger, sync ingest and head-office console."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .config import DEFAULTS, check_settings

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The central web app (flaskr-style factory): defaults, instance file, env, then ``config``."""
    # here, not at the top: the command line starts without Flask
    from flask import Flask

    app = Flask(__name__, instance_relative_config=True)
    app.json = _json_provider(app)
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("central.cfg", silent=True)
    app.config.from_prefixed_env("LOYALTY_CENTRAL")
    if config is not None:
        app.config.update(config)
    check_settings(app.config)
    if app.config["DATABASE_URL"]:
        app.config["DATABASE"] = app.config["DATABASE_URL"]  # the rest of the code reads DATABASE
    _session_settings(app)

    from flask_wtf.csrf import CSRFProtect

    from . import i18n
    from .storage import db
    from .web import api, health, install_converters, message_hooks, register_console

    install_converters(app)
    db.init_app(app)
    i18n.init_app(app)
    csrf = CSRFProtect(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    api.init_app(app)
    csrf.exempt(api.bp)  # agents' JSON API: authenticated by enrollment tokens, not cookies
    app.register_blueprint(message_hooks.bp)
    csrf.exempt(message_hooks.bp)  # signed unsubscribe links and gateways' webhooks: no cookies
    register_console(app)
    _security_headers(app)
    if app.config["TRUSTED_PROXIES"] > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    return app


#: no inline scripts or handlers (console.js is the only script); style="" attributes are allowed
#: (style-src-attr), <style> elements and styles from elsewhere are not; nothing may frame the console
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:;"
    " object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _json_provider(app: Flask) -> Any:
    """Flask's JSON provider whose ``loads`` refuses a document nested too deeply as invalid JSON (a
    ``ValueError``): ``json.loads`` raises ``RecursionError`` there, which ``request.get_json(silent=True)``
    does not catch, so ``[[[...]]]`` posted to an open endpoint was a 500 instead of a 4xx."""
    from flask.json.provider import DefaultJSONProvider

    class Provider(DefaultJSONProvider):
        def loads(self, s: str | bytes, **kwargs: Any) -> Any:
            try:
                return super().loads(s, **kwargs)
            except RecursionError:
                raise ValueError("JSON nested too deeply") from None

    return Provider(app)


def _security_headers(app: Flask) -> None:
    """Security headers on every response (pages, the JSON API, static files; ``no-store`` but on static files)."""

    from flask import request

    @app.after_request
    def headers(response: Any) -> Any:
        if request.endpoint != "static":  # pages and answers carry personal data: no cache keeps them
            response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


def _session_settings(app: Flask) -> None:
    """Session cookies: signed with SECRET_KEY (made once and kept in the database when not set)."""
    if not app.config.get("SECRET_KEY"):
        import secrets

        from .storage.store import Store

        store = Store(app.config["DATABASE"])
        try:
            with store.transaction():  # two processes starting at once agree on the first key
                store.add_setting_if_missing("console_secret_key", secrets.token_hex(32))
            key = store.setting("console_secret_key")
        finally:
            store.close()
        app.config["SECRET_KEY"] = key
    # Flask defines SESSION_COOKIE_SAMESITE, SESSION_COOKIE_SECURE and MAX_CONTENT_LENGTH itself (as None/False),
    # so a setdefault would never take: they are settings (config.py), loaded over Flask's defaults.
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["PERMANENT_SESSION_LIFETIME"] = dt.timedelta(hours=int(app.config["SESSION_HOURS"]))
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the token lives as long as the session
