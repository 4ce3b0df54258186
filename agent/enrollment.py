"""Enrollment: trade head office's one-time token for this agent's broker credentials.

``loyalty-agent setup --enroll TOKEN --central URL`` calls the central
server's ``POST /api/v1/enroll`` (docs/central.md) and turns the answer into
agent settings (store, agent id, time zone, broker URL and login). The token
works once: a used, expired or unknown token is refused by the central server
and nothing is written here.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

from shared import wire

#: what each refusal means for the technician, by the central server's code
_ADVICE = {
    "enroll_token_used": "ask head office for a new token (loyalty-central stores token STORE)",
    "enroll_token_expired": "ask head office for a new token (loyalty-central stores token STORE)",
    "enroll_token_invalid": "check the token (copy it whole) or ask head office for a new one",
    "agent_exists": "this agent id is already enrolled in the store; leave --agent-id out to get a new one",
}


class EnrollmentError(Exception):
    """Enrollment failed; ``code`` is the central server's (or ``unreachable``, ``bad_answer``)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def enroll(central_url: str, token: str, agent: str | None = None, *, timeout: float = 15.0) -> dict[str, Any]:
    """POST the token to the central server; the answer of docs/central.md (201) or EnrollmentError."""
    if not re.match(r"\Ahttps?://[^\s/]+", central_url):
        raise EnrollmentError("bad_url", f"--central should look like https://central.example.com, got {central_url!r}")
    url = central_url.rstrip("/") + "/api/v1/enroll"
    body: dict[str, Any] = {"token": token.strip()}
    if agent:
        body["agent"] = agent
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            status, raw = res.status, res.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EnrollmentError("unreachable", f"cannot reach the central server at {central_url}: {reason}") from None
    try:
        answer = json.loads(raw)
    except ValueError:
        raise EnrollmentError(
            "bad_answer",
            f"{url} answered HTTP {status} with something that is not JSON: is this the central server's address?",
        ) from None
    if status != 201:
        code = answer.get("code", "error") if isinstance(answer, dict) else "error"
        detail = answer.get("detail", "") if isinstance(answer, dict) else ""
        advice = _ADVICE.get(code)
        raise EnrollmentError(
            code,
            f"the central server refused the enrollment ({code}, HTTP {status}): {detail}"
            + (f"; {advice}" if advice else ""),
        )
    _check_answer(answer, url)
    return answer  # type: ignore[no-any-return]


def _check_answer(answer: Any, url: str) -> None:
    try:
        mqtt = answer["mqtt"]
        wire.check_id(answer["store"]["id"], "store")
        wire.check_id(answer["agent"], "agent")
        for key in ("url", "username", "password", "client_id"):
            if not isinstance(mqtt[key], str) or not mqtt[key]:
                raise KeyError(key)
        if mqtt["protocol"] not in (4, 5):
            raise KeyError("protocol")
    except (KeyError, TypeError, wire.WireError) as exc:
        raise EnrollmentError(
            "bad_answer", f"{url} answered without a usable {exc}: is the central server up to date?"
        ) from None


def settings_from_answer(answer: dict[str, Any], central_url: str) -> dict[str, Any]:
    """The agent settings an enrollment answer gives (they replace what the config had)."""
    mqtt = answer["mqtt"]
    settings = {
        "store_id": answer["store"]["id"],
        "agent_id": answer["agent"],
        "broker_url": mqtt["url"],
        "broker_username": mqtt["username"],
        "broker_password": mqtt["password"],
        "broker_protocol": mqtt["protocol"],
        "broker_client_id": mqtt["client_id"],
        "central_url": central_url.rstrip("/"),
    }
    if answer["store"].get("timezone"):
        settings["timezone"] = answer["store"]["timezone"]
    return settings
