"""Console pages: the home page (points liability, what needs attention) and the audit log."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from ..services import audit, reports
from ..storage.db import get_db
from .common import actor, console_blueprint, render

bp = console_blueprint("home")


@bp.get("/")
def index() -> ResponseReturnValue:
    db, who = get_db(), actor()
    return render("console/home.html", liability=reports.liability(db, who), attention=reports.attention(db, who))


@bp.get("/audit")
def audit_log() -> ResponseReturnValue:
    before = request.args.get("before", type=int)
    rows = audit.entries(get_db(), actor(), entity=request.args.get("entity") or None,
                         entity_id=request.args.get("id") or None, before_id=before, limit=100)
    return render("console/audit.html", rows=rows)
