"""One central-database connection per request (flaskr's get_db pattern)."""

from __future__ import annotations

from flask import Flask, current_app, g

from .store import Store


def get_db() -> Store:
    if "db" not in g:
        g.db = Store(current_app.config["DATABASE"])
    return g.db  # type: ignore[no-any-return]


def close_db(exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db)
