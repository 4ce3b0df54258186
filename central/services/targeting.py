"""Targeting (docs/promotions.md, "Targeting"): a one-time credit of points, or a message, to a segment now.

A targeting has an id made when its form is shown (:func:`new_id`); the id is the operation id of every
ledger entry it makes (``target-<id>``), checked in the same write transaction as the entry
(:func:`accounts.adjust_points` ``op_id``), so a re-run or a double click credits each customer once. A
message goes through the mailing service once per targeting id (the audit row is its key). Everything
reuses the existing services: segment members (with a store manager's scope), points and temporary
points, mailings.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any

from shared.numbers import is_whole

from ..storage.store import NotFound, Store
from . import accounts, audit, messages
from . import segments as segment_service
from .access import Actor, Forbidden, FormError
from .customers import check_customer
from .text import _

#: a targeting reaches at most this many customers (the customer list's bulk limit)
MAX_CUSTOMERS = 10_000
ACTIONS = ("points", "message")
AUDIT_ACTION = "promotion.targeting"


def new_id() -> str:
    return secrets.token_hex(12)


def _check_id(targeting_id: str) -> str:
    text = (targeting_id or "").strip()
    if not (len(text) == 24 and all(c in "0123456789abcdef" for c in text)):
        raise FormError({"targeting_id": _("Open the targeting form again.")})
    return text


def members(db: Store, actor: Actor, segment_id: int) -> list[str]:
    """The segment's customers the actor may see (a store manager: their stores' customers)."""
    out: list[str] = []
    after = 0
    while True:
        try:
            page = segment_service.members(db, actor, segment_id, after=after, limit=1000)
        except NotFound:
            raise FormError({"segment": _("Choose a segment from the list.")}) from None
        out.extend(page["customers"])
        if page["next"] is None:
            return out
        after = page["next"]


def _segment(data: Mapping[str, Any]) -> int:
    text = str(data.get("segment") or "").strip()
    if not is_whole(text):
        raise FormError({"segment": _("Choose a segment from the list.")})
    return int(text)


def preview(db: Store, actor: Actor, data: Mapping[str, Any]) -> int:
    """How many customers the targeting would reach (what the confirmation shows)."""
    return len(members(db, actor, _segment(data)))


def done_before(db: Store, targeting_id: str) -> dict[str, Any] | None:
    """The audit row of a finished run of this targeting, if any."""
    rows = db.audit_rows([("action", AUDIT_ACTION), ("entity_id", targeting_id)], limit=1)
    return rows[0] if rows else None


def recent(db: Store, actor: Actor, limit: int = 20) -> list[dict[str, Any]]:
    """The last targetings (their audit rows' results), newest first."""
    actor.require("customers.read")
    return [
        {"id": r["entity_id"], "at": r["at"], "username": r["username"], **(r["after"] or {})}
        for r in db.audit_rows([("action", AUDIT_ACTION)], limit=limit)
    ]


def _credit_one(db: Store, actor: Actor, data: Mapping[str, Any], zone: str, op_id: str) -> Callable[[str], Any]:
    if (data.get("expires") or "").strip():
        return lambda cid: accounts.give_temporary(db, actor, cid, data, zone, op_id=op_id)
    return lambda cid: accounts.adjust_points(db, actor, cid, data, op_id=op_id)


def _check_input(db: Store, actor: Actor, data: Mapping[str, Any]) -> str:
    action = data.get("action") or ""
    errors: dict[str, str] = {}
    if action not in ACTIONS:
        errors["action"] = _("Choose an action from the list.")
    elif action == "points":
        actor.require("customers.write")
        accounts._points(data.get("points") or "", "points", errors, positive=True)  # noqa: SLF001
        accounts._reason(data, errors)  # noqa: SLF001
        accounts._program(db, actor, data, errors)  # noqa: SLF001
    else:
        actor.require("messages.send")
        if not is_whole(str(data.get("template") or "").strip()):
            errors["template"] = _("Choose a template.")
    if errors:
        raise FormError(errors)
    return action


def run(
    db: Store, actor: Actor, targeting_id: str, data: Mapping[str, Any], zone: str, confirmed: str
) -> dict[str, Any]:
    """Run the targeting once: credit ``points`` (with ``expires``: temporary) to every member, or send the
    ``template`` to them. ``confirmed`` must be the count the preview showed. Returns the result: customers
    reached, credited, already credited before (a re-run), skipped (blocked, erased, merged) and points."""
    if not actor.can("messages.send"):
        actor.require("customers.write")  # neither action is theirs: 403 before the form is read (was a 422)
    targeting_id = _check_id(targeting_id)
    action = _check_input(db, actor, data)
    segment_id = _segment(data)
    ids = members(db, actor, segment_id)
    if len(ids) > MAX_CUSTOMERS:
        raise FormError({"segment": _("At most %(n)s customers at once.", n=f"{MAX_CUSTOMERS:,}")})
    if str(len(ids)) != (confirmed or "").strip():
        raise FormError({"confirm": _("The segment now has %(n)d customers: check and confirm again.", n=len(ids))})
    result: dict[str, Any] = {
        "action": action,
        "segment": segment_id,
        "count": len(ids),
        "credited": 0,
        "already": 0,
        "skipped": 0,
        "points": 0,
    }
    if action == "message":
        if not ids:
            raise FormError({"segment": _("Nobody to send to: the segment is empty.")})
        claim = f"targeting.{targeting_id}"
        with db.transaction():  # writers take turns: of two clicks at once, one claims, the other is refused
            if db.setting(claim) or done_before(db, targeting_id) is not None:
                raise FormError({"confirm": _("This targeting was already sent.")})
            db.replace_setting(claim, "sending")
        try:
            mailing = messages.create_mailing(
                db, actor, name=f"Targeting {targeting_id}", template_id=int(data["template"]), recipients=ids
            )
        except BaseException:
            with db.transaction():  # not sent: the same form may be tried again
                db.replace_setting(claim, "")
            raise
        with db.transaction():
            db.replace_setting(claim, f"mailing {mailing}")
        result.update(mailing=mailing, sent=len(ids))
    else:
        points = accounts._points(data.get("points") or "", "points", {})  # noqa: SLF001
        one = _credit_one(db, actor, data, zone, f"target-{targeting_id}")
        for cid in ids:
            try:
                customer = check_customer(db, actor, cid, write=True)
                if customer["blocked"] or customer["erased_at"] or customer["merged_into"]:
                    result["skipped"] += 1
                    continue
                one(cid)
            except accounts.AlreadyApplied:
                result["already"] += 1
            except (Forbidden, NotFound):
                result["skipped"] += 1
            else:
                result["credited"] += 1
                result["points"] += points
        result.update(
            reason=data.get("reason"), expires=(data.get("expires") or "").strip() or None, per_customer=points
        )
    with db.transaction() as conn:
        audit.record(conn, actor, AUDIT_ACTION, "targeting", targeting_id, None, result)
    return result
