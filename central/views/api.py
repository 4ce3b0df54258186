"""The JSON API: agent enrollment and the per-store sync status (for the console)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from shared import wire
from shared.errors import LoyaltyError

from ..db import get_db

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
    agent_id = body.get("agent")
    if agent_id is not None:
        try:
            wire.check_id(agent_id, "agent")
        except wire.WireError as exc:
            return _problem("validation_error", str(exc).removeprefix("invalid: "), 422)
    db = get_db()
    config = current_app.config
    agent, password = db.enroll(body["token"], agent_id, _broker_grant(db, config))
    store = db.get_store(agent["store"])
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


def _broker_grant(db: Any, config: Any) -> Any:
    """With BROKER_SECURITY = dynsec: what gives the new agent its broker login and ACL at once."""
    if config.get("BROKER_SECURITY", "files") != "dynsec":
        return None
    from ..dynsec import BrokerUnavailable, DynSec
    from ..store import EnrollmentError

    central_user = config.get("MQTT_USERNAME") or db.central_credentials()[0]
    admin_user, admin_password = db.dynsec_admin_credentials(central_user)
    url = config.get("MQTT_URL") or ""
    if not url:
        raise EnrollmentError("broker_unavailable", "BROKER_SECURITY is dynsec but no MQTT_URL is set", 503)

    def grant(username: str, password: str, store: str, agent: str) -> None:
        try:
            DynSec(url, admin_user, admin_password, protocol=int(config.get("MQTT_PROTOCOL", 5))).grant_agent(
                username, password, store, agent)
        except BrokerUnavailable as exc:
            raise EnrollmentError("broker_unavailable", f"{exc}; nothing was enrolled, try again", 503) from None

    return grant


def _status(db: Any) -> list[dict[str, Any]]:
    open_dead = {row[0]: row[1] for row in db.conn.execute(
        "SELECT store, COUNT(*) FROM dead_letters WHERE resolved_at IS NULL GROUP BY store")}
    debts = {row[0]: row[1] for row in db.conn.execute(
        "SELECT store, COUNT(*) FROM debts WHERE resolved_at IS NULL GROUP BY store")}
    rules = db.latest_rules()
    stores = []
    for store in db.stores():
        agents = [
            {key: agent[key] for key in ("id", "state", "last_seen", "status_at", "outbox_depth", "rules_version",
                                          "customers_version", "last_sync", "applied_seq", "restored_at", "software")}
            | {"enrolled": bool(agent["enrolled"])}
            for agent in db.agents(store["id"])
        ]
        stores.append({
            "id": store["id"], "name": store["name"], "agents": agents,
            "rules_version": rules.get(store["id"], (None,))[0],
            "dead_letters": open_dead.get(store["id"], 0), "debts": debts.get(store["id"], 0),
        })
    return stores


@bp.get("/stores/status")
def stores_status() -> ResponseReturnValue:
    """Every store with its agents' presence and sync state (what the console shows)."""
    return jsonify({"stores": _status(get_db())})
