"""Console pages: the home page (points liability, what needs attention) and the audit log."""

from __future__ import annotations

from flask import current_app, request
from flask.typing import ResponseReturnValue

from ..services import audit, reports
from ..services.access import FormError
from ..storage.db import get_db
from .common import actor, console_blueprint, render

bp = console_blueprint("home")


@bp.get("/")
def index() -> ResponseReturnValue:
    """The dashboard (docs/reports.md), then the liability by store and what needs attention."""
    from .reports import dashboard_context

    db, who = get_db(), actor()
    board = dashboard_context(db, who)
    return render(
        "console/home.html",
        400 if board["board_errors"] else 200,
        liability=reports.liability(db, who),
        attention=reports.attention(db, who),
        **board,
    )


@bp.get("/audit")
def audit_log() -> ResponseReturnValue:
    """The audit log with filters by user, action and dates; paged by key."""
    db, who = get_db(), actor()
    args = {key: value.strip() for key, value in request.args.items()}
    errors: dict[str, str] = {}
    try:
        page = audit.search(db, who, args, current_app.config["CONSOLE_TIMEZONE"])
    except FormError as exc:
        errors, page = exc.errors, audit.AuditPage([], None, None)
    filters = {k: v for k, v in args.items() if k in ("user", "action", "from", "to", "entity", "id") and v}
    actions = sorted(((code, str(label)) for code, label in audit.ACTIONS.items()), key=lambda item: item[1])
    return render(
        "console/audit.html",
        400 if errors else 200,
        page=page,
        filters=filters,
        errors=errors,
        users=audit.users(db),
        actions=actions,
    )
