"""Blueprints of the central web app, split by area: the agents' API and health, and the console's pages."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

#: the largest row id: SQLite's and PostgreSQL's bigint
MAX_ROW_ID = 2**63 - 1


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in a URL: ASCII digits up to :data:`MAX_ROW_ID` (werkzeug's own takes any length, and the
    database refuses a number past int64 with an error, a 500); a larger one is no such page (404)."""

    regex = r"[0-9]{1,19}"

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(map, *args, **kwargs)


def install_converters(app: Flask) -> None:
    """Before any blueprint: the routes' ``<int:...>`` parts are row ids (:class:`RowIdConverter`)."""
    app.url_map.converters["int"] = RowIdConverter


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
