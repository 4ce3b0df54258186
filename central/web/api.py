"""The JSON API: agent enrollment; the per-store sync status, totals, flags and dead letters.

Everything but enrollment needs an API token (``Authorization: Bearer ...``,
central/services/tokens.py) or a signed-in console session (the console's own
pages). A token reads the whole chain; a session reads what its user sees (a
store manager: their stores' status, and no chain-wide totals).
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from shared import wire
from shared.errors import LoyaltyError

from ..services import status as sync_status
from ..storage.db import get_db
from ..sync.dynsec import enrollment_grant

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class Unauthorized(LoyaltyError):
    code = "unauthorized"
    status = 401


#: endpoints open without a token (agents enroll with their one-time enrollment token)
_OPEN = {"api.enroll"}


@bp.before_request
def authenticate() -> ResponseReturnValue | None:
    """A live API token or a signed-in console session; 401 otherwise (``g.reader``: None for a token)."""
    from ..services.tokens import check_token
    from .common import load_actor

    if request.endpoint in _OPEN:
        return None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and check_token(get_db(), token.strip()) is not None:
            g.reader = None
            return None
        return _unauthorized("this API token is unknown or revoked")
    who = load_actor()
    if who is None:
        return _unauthorized("send an API token: Authorization: Bearer <token> (loyalty-central tokens add NAME)")
    g.reader = who
    return None


def _unauthorized(detail: str) -> ResponseReturnValue:
    response = jsonify({"code": "unauthorized", "detail": detail})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="loyalty-central"'
    return response


def _chain_reader() -> None:
    """Totals, flags and dead letters are chain-wide: a token, or a console user who sees every store."""
    from ..services.access import Forbidden

    who = g.get("reader")
    if who is not None:
        who.require("stores.read")
        if who.scoped:
            raise Forbidden(f"{who.username} sees only some stores; chain-wide totals need an API token")


@bp.errorhandler(LoyaltyError)
def loyalty_error(exc: LoyaltyError) -> ResponseReturnValue:
    return jsonify(exc.to_dict()), exc.status


def init_app(app: Flask) -> None:
    """Under ``/api/`` werkzeug's own errors (no such path, a method not allowed, a body too large) answer
    JSON ``{"code", "detail"}`` like the API's, not an HTML page; elsewhere they stay as they are. (The API's
    answers say ``Cache-Control: no-store`` as every answer but static files: ``central._security_headers``.)"""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        if not request.path.startswith("/api/") or exc.code is None:
            return exc
        code = (exc.name or "error").lower().replace(" ", "_")
        response = exc.get_response()
        response.set_data(jsonify({"code": code, "detail": exc.description}).get_data())
        response.content_type = "application/json"
        return response


def _problem(code: str, detail: str, status: int = 400) -> ResponseReturnValue:
    return jsonify({"code": code, "detail": detail}), status


@bp.post("/enroll")
def enroll() -> ResponseReturnValue:
    """Trade a one-time enrollment token for the agent's broker credentials and store config."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("token"), str) or not body["token"]:
        return _problem("validation_error", 'send a JSON object {"token": "..."} with the enrollment token', 422)
    if not (body["token"].isascii() and body["token"].isprintable()) or len(body["token"]) > 200:
        # tokens are URL-safe ASCII; this also keeps a lone surrogate away from the hash
        return _problem("validation_error", "token: not an enrollment token (printable ASCII, at most 200)", 422)
    agent_id = body.get("agent")
    if agent_id is not None:
        try:
            wire.check_id(agent_id, "agent")
        except wire.WireError as exc:
            return _problem("validation_error", str(exc).removeprefix("invalid: "), 422)
    db = get_db()
    config = current_app.config
    # with BROKER_SECURITY = dynsec the broker grants the login and ACL before the enrollment commits
    agent, password = db.enroll(body["token"], agent_id, enrollment_grant(db, config))
    store = db.get_store(agent["store"])
    url = config.get("MQTT_PUBLIC_URL") or config.get("MQTT_URL") or config.get("EMBEDDED_URL", "")
    rules = db.latest_rules().get(store["id"])
    return jsonify(
        {
            "store": {"id": store["id"], "name": store["name"], "timezone": store["timezone"]},
            "agent": agent["id"],
            "mqtt": {
                "url": url,
                "username": agent["username"],
                "password": password,
                "client_id": f"agent-{store['id']}-{agent['id']}",
                "protocol": config["MQTT_PROTOCOL"],
                "topic_root": f"{wire.TOPIC_ROOT}/stores/{store['id']}",
            },
            "wire_version": wire.WIRE_VERSION,
            "rules_version": rules[0] if rules else None,
        }
    ), 201


@bp.get("/stores/status")
def stores_status() -> ResponseReturnValue:
    """Every store with its agents' presence and sync state (what the console shows)."""
    db, who = get_db(), g.get("reader")
    only = None
    if who is not None:
        who.require("stores.read")
        only = who.visible_stores([s["id"] for s in db.stores()]) if who.scoped else None
    return jsonify({"stores": sync_status.stores_status(db, only)})


@bp.get("/totals/stores")
def totals_stores() -> ResponseReturnValue:
    """Per store: customers registered there and their balance, ledger sums by kind, sales by kind."""
    from ..services import totals

    _chain_reader()
    return jsonify(totals.store_totals(get_db()))


@bp.get("/totals/customers")
def totals_customers() -> ResponseReturnValue:
    """Customers by id, ``limit`` (1..1000, default 500) per page after the id ``after``."""
    from ..services import totals

    _chain_reader()
    limit = totals.limit_of(request.args.get("limit"))
    return jsonify(totals.customer_totals(get_db(), request.args.get("after"), limit))


def _review_list(kind: str) -> ResponseReturnValue:
    from ..services import totals

    _chain_reader()
    state = request.args.get("state", "open")
    if state not in ("open", "all"):
        return _problem("bad_request", "state must be open or all", 400)
    fetch = totals.flags if kind == "flags" else totals.dead_letters
    return jsonify(
        fetch(
            get_db(),
            include_resolved=state == "all",
            after=totals.id_after(request.args.get("after")),
            limit=totals.limit_of(request.args.get("limit"), 200),
        )
    )


@bp.get("/flags")
def flags() -> ResponseReturnValue:
    """Flags (restored agents, conflicts): ``state`` open (default) or all, paged by ``after`` id."""
    return _review_list("flags")


@bp.get("/dead-letters")
def dead_letters() -> ResponseReturnValue:
    """Dead letters (without their payload): ``state`` open (default) or all, paged by ``after`` id."""
    return _review_list("dead_letters")
