"""GET /health: is the web app up and its database reachable."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from ..storage.db import get_db

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> ResponseReturnValue:
    db = get_db()
    return jsonify({"status": "ok", "stores": db.count("stores"), "schema": db.migrate()})
