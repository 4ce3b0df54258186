"""GET /v1/health and the terminal's own identity."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g

from ..device_manager import hardware_of
from ..service import Result
from .routes import operation, respond, service

bp = Blueprint("health", __name__, url_prefix="/v1")


@operation(
    bp,
    "/health",
    "GET",
    summary="Liveness, version, rule-set version, link state, outbox depth",
    responses={200: "Health"},
    auth=False,
    tag="Agent",
)
def health() -> Response:
    """Public (no key): for monitoring and for the till to check the agent is up."""
    return respond(Result(200, {**service().health(), "devices": hardware_of(current_app).health()}))


@operation(bp, "/terminal", "GET", summary="The terminal the key belongs to", responses={200: "Terminal"}, tag="Agent")
def terminal() -> Response:
    """Lets a till (or the cashier page) check its key once when it is entered."""
    with service().store.read() as tx:
        row = next((t for t in tx.terminals() if t["id"] == g.terminal), None)
    return respond(Result(200, {"terminal": g.terminal, "name": row["name"] if row else None}))
