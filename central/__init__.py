"""The central server: the chain's ledger, sync ingest and head-office console."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from .config import DEFAULTS, check_settings


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The central web app (flaskr-style factory): defaults, instance file, env, then ``config``."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("central.cfg", silent=True)
    app.config.from_prefixed_env("LOYALTY_CENTRAL")
    if config is not None:
        app.config.update(config)
    check_settings(app.config)

    from . import db
    from .views import api, health

    db.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    return app
