"""Changing a customer account: profile, phone, points, temporary points, cashier messages, comments, tags.

Each write checks the actor (``customers.write`` and, for a store manager,
that the customer is one of their stores'), validates everything first
(:class:`FormError`, nothing written), then writes in one transaction with
its audit row. Changes the stores must know (profile fields the agent shows,
phone, points, messages) give the customer a new version, so the publisher
sends the new state down as a customer delta.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any

from shared.identifiers import InvalidIdentifier, normalize_phone
from shared.numbers import is_whole

from ..marketing import engine as segments
from ..points.ledger import LedgerBatch
from ..points.versions import VersionCounter, bump_versions
from ..storage import triggers as trigger_store
from ..storage.clock import now_utc, utc
from ..storage.messages import record_consents
from ..storage.store import Store
from . import audit
from .access import Actor, Forbidden, FormError
from .customers import check_customer
from .fields import parse_custom
from .formats import parse_local, parse_minor
from .text import _

GENDERS = ("", "female", "male")
CONSENTS = ("personal_data", "sms", "email")
_EMAIL = re.compile(r"\A[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_TAG = re.compile(r"\A[\w-]{1,40}\Z")
MAX_POINTS_OP = 10**12
_PROFILE = ("name", "email", "birthday", "gender", "consents", "custom")


def _writable(db: Store, actor: Actor, customer_id: str) -> dict[str, Any]:
    actor.require("customers.write")
    customer = check_customer(db, actor, customer_id, write=True)
    if customer["merged_into"]:
        # its points, cards and history live on the customer it was merged into: change that one
        raise Forbidden(f"customer {customer_id} was merged into {customer['merged_into']}; change that customer")
    return customer


def _profile_of(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: row.get(k) for k in _PROFILE}
    for key in ("consents", "custom"):
        if isinstance(out[key], str):
            out[key] = json.loads(out[key] or "{}")
    return out


def update_profile(db: Store, actor: Actor, customer_id: str, data: Mapping[str, Any]) -> None:
    """The questionnaire: name, email, birthday, gender, consents, and head office's custom fields."""
    customer = _writable(db, actor, customer_id)
    errors: dict[str, str] = {}
    name = (data.get("name") or "").strip() or None
    if name and len(name) > 200:
        errors["name"] = _("At most 200 characters.")
    email = (data.get("email") or "").strip().lower() or None
    if email and not _EMAIL.match(email):
        errors["email"] = _("This is not an email address.")
    birthday = (data.get("birthday") or "").strip() or None
    if birthday:
        try:
            day = dt.date.fromisoformat(birthday)
            if not dt.date(1900, 1, 1) <= day <= dt.date.today():
                raise ValueError
        except ValueError:
            errors["birthday"] = _("Write a past date as YYYY-MM-DD.")
    gender = data.get("gender") or ""
    if gender not in GENDERS:
        errors["gender"] = _("Choose from the list.")
    consents = json.loads(customer["consents"] or "{}")
    for key in CONSENTS:
        consents[key] = bool(data.get(f"consent_{key}"))
    custom = parse_custom(db, data, errors, json.loads(customer["custom"] or "{}"))
    if errors:
        raise FormError(errors)
    after = {
        "name": name,
        "email": email,
        "birthday": birthday,
        "gender": gender or None,
        "consents": consents,
        "custom": custom,
    }
    with db.transaction() as conn:
        before = _profile_of(db.customer(customer_id))
        db.set_customer_profile(customer_id, name, email, birthday, gender or None, consents, custom)
        # the consent history (central/storage/messages.py): every consent the profile changed
        record_consents(
            conn,
            customer_id,
            {k: consents[k] for k in CONSENTS if bool(before["consents"].get(k)) != consents[k]},
            "console",
            actor.username,
        )
        bump_versions(conn, [customer_id])
        audit.record(
            conn, actor, "customer.profile", "customer", customer_id, before, after, store=customer["home_store"]
        )
        segments.customer_changed(conn, [customer_id], "profile")


def change_phone(db: Store, actor: Actor, customer_id: str, phone_text: str) -> str:
    """A new phone (unconfirmed until the customer confirms it at a till); returns it in E.164."""
    customer = _writable(db, actor, customer_id)
    try:
        phone = normalize_phone(phone_text)
    except InvalidIdentifier as exc:
        raise FormError({"phone": _(exc.template, **exc.params)}) from None
    with db.transaction() as conn:
        if db.phone_taken_by_other(phone, customer_id):
            raise FormError({"phone": _("This phone belongs to another customer; merge the two accounts instead.")})
        db.set_customer_phone(customer_id, phone)
        bump_versions(conn, [customer_id])
        audit.record(
            conn,
            actor,
            "customer.phone",
            "customer",
            customer_id,
            {"phone": customer["phone"], "phone_verified": customer["phone_verified"]},
            {"phone": phone, "phone_verified": 0},
            store=customer["home_store"],
        )
    return phone


def _points(text: str, field: str, errors: dict[str, str], *, positive: bool = False) -> int:
    try:
        points = parse_minor(text)
    except ValueError:
        errors[field] = _("Write points like 150 or 150,50.")
        return 0
    if points == 0 or (positive and points < 0):
        errors[field] = _("Write a positive number of points.") if positive else _("Write a non-zero number of points.")
    elif abs(points) > MAX_POINTS_OP:
        errors[field] = _("That is too many points for one operation.")
    return points


def _reason(data: Mapping[str, Any], errors: dict[str, str]) -> str:
    reason = (data.get("reason") or "").strip()
    if not reason:
        errors["reason"] = _("Say why: it is kept in the bonus history.")
    elif len(reason) > 500:
        errors["reason"] = _("At most 500 characters.")
    return reason


def _op(prefix: str) -> dict[str, Any]:
    return {"id": f"{prefix}-{secrets.token_hex(12)}", "at": now_utc(), "store": None}


def available(batch: LedgerBatch, customer_id: str, at: str, program: int | None = None) -> int:
    """Points the customer can spend now in a program (default: the default one): its active lots
    (started, not expired), the permanent one included."""
    state = batch.state(customer_id)
    if state is None:
        return 0
    program = batch.default_program if program is None else program
    return sum(
        lot.points
        for lot in state.lots
        if lot.program == program
        and (lot.starts_at is None or lot.starts_at <= at)
        and (lot.expires_at is None or lot.expires_at > at)
    )


def program_choices(db: Store, actor: Actor) -> tuple[list[dict[str, Any]], int | None]:
    """(programs the actor may move points in, the one preselected).

    A store manager may use only the programs of their stores; everyone else any program. The
    default program is preselected when allowed, else the first allowed one.
    """
    every = db.bonus_programs()
    stores, default = db.programs_of_stores()
    if actor.scoped:
        allowed = {stores[s] for s in actor.stores if s in stores}
        every = [p for p in every if p["id"] in allowed]
    chosen = default if any(p["id"] == default for p in every) else (every[0]["id"] if every else None)
    return every, chosen


def _program(db: Store, actor: Actor, data: Mapping[str, Any], errors: dict[str, str]) -> int:
    """The program a form names (``program``; empty: the preselected one), checked against the actor's."""
    choices, chosen = program_choices(db, actor)
    text = str(data.get("program") or "").strip()
    if not text:
        if chosen is None:
            errors["program"] = _("None of your stores is in a bonus program.")
            return 0
        return chosen
    if is_whole(text) and any(p["id"] == int(text) for p in choices):
        return int(text)
    errors["program"] = _("Choose a program from the list.")
    return 0


class AlreadyApplied(Exception):
    """The operation id (``op_id``) is already in the customer's ledger: nothing was written again."""


def _once(db: Store, customer_id: str, op_id: str | None) -> None:
    """In the write transaction (writers take turns): refuse an operation id the ledger already holds."""
    if op_id is not None and db.ledger_has_entry(customer_id, op_id):
        raise AlreadyApplied(op_id)


def adjust_points(
    db: Store, actor: Actor, customer_id: str, data: Mapping[str, Any], *, op_id: str | None = None
) -> int:
    """Accrue (positive) or debit (negative) points by hand: a ledger entry ``admin``; returns the new balance.

    A debit may not exceed what the customer can spend now: head office does
    not create debts by hand. ``op_id`` (default: a random one) is the ledger entry's operation id; one the
    customer's ledger already holds raises :class:`AlreadyApplied` and writes nothing (a targeting's key).
    """
    customer = _writable(db, actor, customer_id)
    errors: dict[str, str] = {}
    points = _points(data.get("points") or "", "points", errors)
    reason = _reason(data, errors)
    program = _program(db, actor, data, errors)
    if errors:
        raise FormError(errors)
    op = {**_op("admin"), "program": program}
    if op_id is not None:
        op["id"] = op_id
    with db.transaction() as conn:
        _once(db, customer_id, op_id)
        batch = LedgerBatch(conn)
        spendable = available(batch, customer_id, op["at"], program)
        if points < 0 and -points > spendable:
            raise FormError(
                {
                    "points": _(
                        "The customer can spend %(n)s points of this program now; a debit cannot be larger.",
                        n=_shown(spendable),
                    )
                }
            )
        before = batch.state(customer_id).balance  # type: ignore[union-attr]
        batch.adjust(customer_id, points, "admin", op, reason=reason, operator=actor.username)
        batch.receipts.operation(
            "admin",
            customer_id,
            points,
            op["at"],
            event_id=op["id"],
            detail={"reason": reason, "operator": actor.username, "program": program},
        )
        counter = VersionCounter(conn)
        batch.flush(counter)
        counter.save()
        segments.customer_changed(conn, [customer_id], "points")
        trigger_store.record_changes(
            conn,
            [customer_id],
            "points",
            op["at"],
            amount=abs(points),
            ref="admin",
            detail="credited" if points > 0 else "debited",
        )
        balance = before + points
        audit.record(
            conn,
            actor,
            "customer.points",
            "customer",
            customer_id,
            {"balance": before},
            {"balance": balance, "points": points, "program": program, "reason": reason, "operation": op["id"]},
            store=customer["home_store"],
        )
    return balance


def _shown(points: int) -> str:
    from .formats import format_minor

    return format_minor(points, "en")


def give_temporary(
    db: Store, actor: Actor, customer_id: str, data: Mapping[str, Any], zone: str, *, op_id: str | None = None
) -> str:
    """Temporary points: a lot active from ``starts`` (default now) until ``expires``; returns the lot id.
    ``op_id``: as in :func:`adjust_points`."""
    customer = _writable(db, actor, customer_id)
    errors: dict[str, str] = {}
    points = _points(data.get("points") or "", "points", errors, positive=True)
    reason = _reason(data, errors)
    program = _program(db, actor, data, errors)
    now = dt.datetime.now(dt.UTC)
    starts = now
    if data.get("starts"):
        try:
            starts = parse_local(data["starts"], zone)
        except ValueError:
            errors["starts"] = _("Write the date as YYYY-MM-DD or YYYY-MM-DD HH:MM.")
    expires = None
    try:
        expires = parse_local(data.get("expires") or "", zone)
    except ValueError:
        errors["expires"] = _("Write the date as YYYY-MM-DD or YYYY-MM-DD HH:MM.")
    if expires is not None and "starts" not in errors:
        if expires <= max(starts, now):
            errors["expires"] = _("The expiry must be later than the start and than now.")
    if errors:
        raise FormError(errors)
    assert expires is not None
    op = {**_op("promo"), "program": program}
    if op_id is not None:
        op["id"] = op_id
    lot_id = f"{customer_id}:promo:{op['id'][-12:]}"
    start_text = utc(starts.isoformat()) if starts > now else None
    expiry_text = utc(expires.isoformat())
    with db.transaction() as conn:
        _once(db, customer_id, op_id)
        batch = LedgerBatch(conn)
        before = batch.state(customer_id).balance  # type: ignore[union-attr]
        batch.add_lot(
            customer_id, lot_id, points, start_text, expiry_text, "promo", op, reason=reason, operator=actor.username
        )
        batch.receipts.operation(
            "promo",
            customer_id,
            points,
            op["at"],
            event_id=op["id"],
            detail={
                "reason": reason,
                "operator": actor.username,
                "starts_at": start_text,
                "expires_at": expiry_text,
                "program": program,
            },
        )
        counter = VersionCounter(conn)
        batch.flush(counter)
        counter.save()
        segments.customer_changed(conn, [customer_id], "points")
        trigger_store.record_changes(
            conn, [customer_id], "points", op["at"], amount=points, ref="promo", detail="credited"
        )
        audit.record(
            conn,
            actor,
            "customer.temporary_points",
            "customer",
            customer_id,
            {"balance": before},
            {
                "balance": before + points,
                "lot": lot_id,
                "points": points,
                "program": program,
                "starts_at": start_text,
                "expires_at": expiry_text,
                "reason": reason,
            },
            store=customer["home_store"],
        )
    return lot_id


def add_message(db: Store, actor: Actor, customer_id: str, data: Mapping[str, Any], zone: str) -> str:
    """A message the cashier sees when this customer is identified (until an optional end)."""
    customer = _writable(db, actor, customer_id)
    errors: dict[str, str] = {}
    text = (data.get("text") or "").strip()
    if not text:
        errors["text"] = _("Write the message.")
    elif len(text) > 500:
        errors["text"] = _("At most 500 characters.")
    until = None
    if data.get("until"):
        try:
            moment = parse_local(data["until"], zone, end_of_day=len(data["until"].strip()) == 10)
            if moment <= dt.datetime.now(dt.UTC):
                errors["until"] = _("The end must be in the future.")
            until = utc(moment.isoformat())
        except ValueError:
            errors["until"] = _("Write the date as YYYY-MM-DD or YYYY-MM-DD HH:MM.")
    if errors:
        raise FormError(errors)
    # printed on the customer's next slip too (once), when head office asks for it
    print_ = str(data.get("print") or "").lower() in ("1", "on", "true", "yes")
    ident = secrets.token_hex(8)
    with db.transaction() as conn:
        db.add_customer_message(ident, customer_id, text, until, now_utc(), actor.username, print_)
        bump_versions(conn, [customer_id])
        audit.record(
            conn,
            actor,
            "customer.message",
            "customer",
            customer_id,
            None,
            {"message": ident, "text": text, "until": until, "print": print_},
            store=customer["home_store"],
        )
    return ident


def delete_message(db: Store, actor: Actor, customer_id: str, message_id: str) -> None:
    customer = _writable(db, actor, customer_id)
    with db.transaction() as conn:
        row = db.live_customer_message(customer_id, message_id)
        if row is None:
            raise FormError({"message": _("This message is already gone.")})
        db.delete_customer_message(message_id, now_utc())
        bump_versions(conn, [customer_id])
        audit.record(
            conn,
            actor,
            "customer.message_delete",
            "customer",
            customer_id,
            {"message": message_id, "text": row["text"], "until": row["until"]},
            None,
            store=customer["home_store"],
        )


def add_comment(db: Store, actor: Actor, customer_id: str, text: str) -> None:
    """A note for head office (not sent to the stores)."""
    customer = _writable(db, actor, customer_id)
    text = text.strip()
    if not text or len(text) > 2000:
        raise FormError({"comment": _("Write 1 to 2000 characters.")})
    with db.transaction() as conn:
        db.add_customer_comment(customer_id, actor.username, text, now_utc())
        audit.record(
            conn, actor, "customer.comment", "customer", customer_id, None, {"text": text}, store=customer["home_store"]
        )


def parse_tags(text: str) -> list[str]:
    """Tags typed as "vip, birthday-club sushi" -> sorted, lower case; ValueError naming a bad one."""
    tags = sorted({t.strip().lower() for t in re.split(r"[,\s]+", text or "") if t.strip()})
    for tag in tags:
        if not _TAG.match(tag):
            raise ValueError(tag)
    if len(tags) > 30:
        raise ValueError("30")
    return tags


def set_tags(db: Store, actor: Actor, customer_id: str, text: str) -> list[str]:
    customer = _writable(db, actor, customer_id)
    try:
        tags = parse_tags(text)
    except ValueError as exc:
        raise FormError(
            {"tags": _("Tags are words of letters, digits and dashes (at most 30); not %(tag)s.", tag=str(exc))}
        ) from None
    with db.transaction() as conn:
        before = db.customer_tags(customer_id)
        if before == tags:
            return tags
        db.replace_customer_tags(customer_id, tags)
        audit.record(
            conn,
            actor,
            "customer.tags",
            "customer",
            customer_id,
            {"tags": before},
            {"tags": tags},
            store=customer["home_store"],
        )
        segments.customer_changed(conn, [customer_id], "tags")
    return tags
