"""The JSON API: agent enrollment and the per-store sync status (for the console)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from shared import wire
from shared.errors import LoyaltyError

from ..services import status as sync_status
from ..storage.db import get_db

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.errorhandler(LoyaltyError)
def loyalty_error(exc: LoyaltyError) -> ResponseReturnValue:
    return jsonify(exc.to_dict()), exc.status


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
    agent, password = db.enroll(body["token"], agent_id)
    store = db.get_store(agent["store"])
    config = current_app.config
    url = config.get("MQTT_PUBLIC_URL") or config.get("MQTT_URL") or config.get("EMBEDDED_URL", "")
    rules = db.latest_rules().get(store["id"])
    return jsonify({
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
    }), 201


@bp.get("/stores/status")
def stores_status() -> ResponseReturnValue:
    """Every store with its agents' presence and sync state (what the console shows)."""
    return jsonify({"stores": sync_status.stores_status(get_db())})
