"""The POS API: every blueprint is registered here, in one place."""

from __future__ import annotations

from flask import Flask

from .. import till
from . import customers, devices, health, openapi, problems, receipts

BLUEPRINTS = (health.bp, customers.bp, receipts.bp, openapi.bp, devices.bp, till.bp)


def init_app(app: Flask) -> None:
    """Register the API's blueprints and its problem-document error handlers."""
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
    problems.init_app(app)
