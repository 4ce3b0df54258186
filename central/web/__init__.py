"""Blueprints of the central web app, split by area: the agents' API and health, and the console's pages."""

from __future__ import annotations

from flask import Flask


def register_console(app: Flask) -> None:
    """The head-office console's blueprints (each page needs a signed-in user but the sign-in page)."""
    from . import (
        auth,
        cards,
        common,
        customers,
        exports,
        home,
        imports,
        messages,
        promotions,
        reports,
        rules,
        segments,
        segments_api,
        stores,
        transactions,
        triggers,
    )

    common.init_app(app)
    for module in (
        auth,
        home,
        customers,
        cards,
        stores,
        rules,
        transactions,
        imports,
        exports,
        segments,
        segments_api,
        reports,
        messages,
        triggers,
        promotions,
    ):
        app.register_blueprint(module.bp)
    app.register_blueprint(reports.api)
    from . import card  # the customer's own web card (docs/web-card.md): no console sign-in

    app.register_blueprint(card.bp)
