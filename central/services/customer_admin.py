"""Head office's customer base: create a customer with the full questionnaire, data completeness, block and
unblock a customer, card statuses and replacement, erasure at the customer's request, bulk actions on a
filtered list, the list's columns per user (docs/web-card.md, "Head office").

Each write checks the actor, validates first (:class:`FormError`, nothing written), then writes in one
transaction with its audit row; changes the stores must know give the customer a new version (the delta
carries ``blocked`` and the cards' statuses down, so the till refuses a blocked customer or card).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from shared.identifiers import InvalidIdentifier, normalize_phone
from shared.numbers import is_whole

from ..marketing import engine as segments
from ..messages.templates import LANGUAGES
from ..points.ledger import LedgerBatch
from ..points.versions import VersionCounter, bump_versions
from ..storage import triggers as trigger_store
from ..storage.cards import mark_card_replaced
from ..storage.clock import now_utc
from ..storage.messages import record_consents
from ..storage.store import NotFound, Store
from . import accounts, audit
from .access import Actor, Forbidden, FormError
from .cards import issue_card
from .customers import check_customer, count_customers, iter_customers
from .fields import definitions, parse_custom
from .filters import CustomerQuery
from .text import N_, _

GENDERS = ("female", "male")
MARITAL = {
    "single": N_("single"),
    "married": N_("married"),
    "divorced": N_("divorced"),
    "widowed": N_("widowed"),
}
CONSENTS = ("personal_data", "sms", "email", "voice", "push")
_EMAIL = re.compile(r"\A[^@\s]+@[^@\s]+\.[^@\s]+\Z")
#: the questionnaire's fields data completeness counts (besides head office's own fields)
COMPLETENESS = (
    "last_name",
    "first_name",
    "middle_name",
    "gender",
    "birthday",
    "phone",
    "email",
    "address",
    "marital_status",
    "children",
)
FIELD_LABELS = {
    "last_name": N_("Last name"),
    "first_name": N_("First name"),
    "middle_name": N_("Middle name"),
    "gender": N_("Gender"),
    "birthday": N_("Birthday"),
    "phone": N_("Phone"),
    "email": N_("Email"),
    "address": N_("Address"),
    "marital_status": N_("Marital status"),
    "children": N_("Children"),
}
CARD_STATUSES = {
    "active": N_("active"),
    "blocked": N_("blocked"),
    "lost": N_("lost"),
    "replaced": N_("replaced"),
}
audit.ACTIONS.update(
    {
        "customer.create": N_("Customer created"),
        "customer.questionnaire": N_("Questionnaire changed"),
        "customer.block": N_("Customer blocked"),
        "customer.unblock": N_("Customer unblocked"),
        "customer.erase": N_("Personal data erased"),
        "customer.level": N_("Level set"),
        "customer.bulk": N_("Bulk action"),
        "card.status": N_("Card status changed"),
        "card.replace": N_("Card replaced"),
    }
)
#: bulk actions run synchronously on at most this many customers (a larger set: narrow the filter)
BULK_MAX = 10_000


def _full_name(first: str | None, middle: str | None, last: str | None) -> str | None:
    return " ".join(p for p in (first, middle, last) if p) or None


def _questionnaire(data: Mapping[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("last_name", "first_name", "middle_name"):
        value = (data.get(key) or "").strip()
        if len(value) > 100:
            errors[key] = _("At most 100 characters.")
        out[key] = value or None
    if not out["first_name"] and not out["last_name"]:
        errors["first_name"] = _("Write the first or the last name.")
    gender = data.get("gender") or ""
    if gender and gender not in GENDERS:
        errors["gender"] = _("Choose from the list.")
    out["gender"] = gender or None
    birthday = (data.get("birthday") or "").strip() or None
    if birthday:
        try:
            if not dt.date(1900, 1, 1) <= dt.date.fromisoformat(birthday) <= dt.date.today():
                raise ValueError
        except ValueError:
            errors["birthday"] = _("Write a past date as YYYY-MM-DD.")
    out["birthday"] = birthday
    email = (data.get("email") or "").strip().lower() or None
    if email and not _EMAIL.match(email):
        errors["email"] = _("This is not an email address.")
    out["email"] = email
    address = (data.get("address") or "").strip()
    if len(address) > 300:
        errors["address"] = _("At most 300 characters.")
    out["address"] = address or None
    marital = data.get("marital_status") or ""
    if marital and marital not in MARITAL:
        errors["marital_status"] = _("Choose from the list.")
    out["marital_status"] = marital or None
    children = (data.get("children") or "").strip()
    if children and not (is_whole(children) and int(children) <= 30):
        errors["children"] = _("Write a number from 0 to 30.")
    out["children"] = int(children) if is_whole(children) else None
    out["name"] = _full_name(out["first_name"], out["middle_name"], out["last_name"])
    return out


def completeness(db: Store, customer: Mapping[str, Any]) -> dict[str, Any]:
    """How much of the questionnaire is filled: percent and the missing fields' labels."""
    custom = customer.get("custom") or {}
    if isinstance(custom, str):
        custom = json.loads(custom or "{}")
    missing = [str(FIELD_LABELS[k]) for k in COMPLETENESS if customer.get(k) in (None, "")]
    fields = definitions(db)
    missing += [f["label"] for f in fields if custom.get(f["name"]) in (None, "")]
    total = len(COMPLETENESS) + len(fields)
    return {"percent": (total - len(missing)) * 100 // total, "missing": missing}


def create_customer(db: Store, actor: Actor, data: Mapping[str, Any]) -> str:
    """A customer made by head office: the full questionnaire, consents, a home store, optionally a card."""
    actor.require("customers.write")
    errors: dict[str, str] = {}
    fields = _questionnaire(data, errors)
    phone = None
    if (data.get("phone") or "").strip():
        try:
            phone = normalize_phone(data["phone"])
        except InvalidIdentifier as exc:
            errors["phone"] = _(exc.template, **exc.params)
    store = (data.get("store") or "").strip() or None
    known = {s["id"] for s in db.stores()}
    if store is not None and store not in known:
        errors["store"] = _("Choose a store from the list.")
    if actor.scoped and store not in actor.stores:
        errors["store"] = _("Choose one of your stores.")
    consents = {key: bool(data.get(f"consent_{key}")) for key in CONSENTS}
    custom = parse_custom(db, data, errors, {})
    if errors:
        raise FormError(errors)
    customer_id = uuid.uuid4().hex
    with db.transaction() as conn:
        if phone and db.customer_by_phone(phone):
            raise FormError({"phone": _("This phone belongs to another customer: open that customer instead.")})
        at = now_utc()
        db.add_console_customer(customer_id, store, phone, fields, consents, custom, None, at)
        record_consents(conn, customer_id, consents, "console", actor.username)
        bump_versions(conn, [customer_id])
        audit.record(
            conn,
            actor,
            "customer.create",
            "customer",
            customer_id,
            None,
            {**fields, "phone": phone, "store": store, "consents": consents, "custom": custom},
            store=store,
        )
        segments.customer_changed(conn, [customer_id], "profile")
    if data.get("category"):
        issue_card(db, actor, customer_id, {"category": data["category"], "main": "1"})
    return customer_id


def update_questionnaire(db: Store, actor: Actor, customer_id: str, data: Mapping[str, Any]) -> None:
    """Name parts, gender, birthday, email, address, marital status, children (the rest: the profile form)."""
    customer = accounts._writable(db, actor, customer_id)  # noqa: SLF001 - the same write rule as the profile
    if customer["erased_at"]:
        raise FormError({"first_name": _("This customer's data was erased.")})
    errors: dict[str, str] = {}
    fields = _questionnaire(data, errors)
    if errors:
        raise FormError(errors)
    before = {k: customer.get(k) for k in fields}
    with db.transaction() as conn:
        db.set_questionnaire(customer_id, fields, now_utc())
        bump_versions(conn, [customer_id])
        audit.record(
            conn, actor, "customer.questionnaire", "customer", customer_id, before, fields, store=customer["home_store"]
        )
        segments.customer_changed(conn, [customer_id], "profile")


#: what a customer may change of their own questionnaire on the web card (docs/web-card.md, "Own data")
OWN_FIELDS = ("last_name", "first_name", "middle_name", "email", "birthday", "gender")


def update_own_questionnaire(db: Store, actor: Actor, customer_id: str, data: Mapping[str, Any]) -> list[str]:
    """The customer's own change from the web card: name parts, email, gender, and the birthday only while it
    is empty (set once: a birthday brings gifts, so a change goes through the store). Validated as head office's
    form is (:class:`FormError` with the field's message, nothing written); the other questionnaire fields stay.
    Audited as the customer's own change, a new version (the tills get the name and birthday). The custom fields
    head office flagged "customer may edit" are read and validated as on head office's form; any other custom
    field posted is ignored (its value kept). Returns the fields that changed (``custom_<name>`` for custom
    ones; none: nothing written)."""
    customer = db.customer(customer_id)
    if customer["erased_at"] or customer["merged_into"]:
        raise FormError({"first_name": _("This customer's data was erased.")})
    errors: dict[str, str] = {}
    keep = {k: customer.get(k) for k in ("address", "marital_status", "children")}
    given = {k: data.get(k) or "" for k in OWN_FIELDS}
    if customer["birthday"]:
        given["birthday"] = customer["birthday"]
        typed = (data.get("birthday") or "").strip()
        if typed and typed != customer["birthday"]:
            errors["birthday"] = _("Your birthday is set already: to correct it, ask at a store.")
    fields = _questionnaire({**given, **{k: "" if v is None else str(v) for k, v in keep.items()}}, errors)
    before_custom = json.loads(customer["custom"] or "{}")
    # only the fields head office lets the customer edit (docs/web-card.md): others posted are ignored
    custom = parse_custom(db, data, errors, before_custom, customer_only=True)
    # the language of the messages we send (customers.language, docs/messages.md); not given: as it was
    language = (data.get("language") or "").strip() or customer.get("language") or "ru"
    if language not in LANGUAGES:
        errors["language"] = _("Choose a language from the list.")
    if errors:
        raise FormError(errors)
    fields.update(keep)
    changed = [k for k in (*OWN_FIELDS, "name") if fields.get(k) != customer.get(k)]
    changed_custom = sorted(k for k in set(custom) | set(before_custom) if custom.get(k) != before_custom.get(k))
    language_changed = language != (customer.get("language") or "ru")
    if not changed and not changed_custom and not language_changed:
        return []
    with db.transaction() as conn:
        at = now_utc()
        before: dict[str, Any] = {k: customer.get(k) for k in changed}
        after: dict[str, Any] = {k: fields[k] for k in changed}
        if changed:
            db.set_questionnaire(customer_id, fields, at)
        if changed_custom:
            db.set_customer_custom(customer_id, custom)
            before["custom"] = {k: before_custom.get(k) for k in changed_custom}
            after["custom"] = {k: custom.get(k) for k in changed_custom}
        if language_changed:  # the messages' language: the tills do not show it, so no new version for it alone
            db.set_message_language(customer_id, language)
            before["language"], after["language"] = customer.get("language") or "ru", language
        if changed or changed_custom:
            bump_versions(conn, [customer_id])
        audit.record(
            conn,
            actor,
            "customer.questionnaire",
            "customer",
            customer_id,
            before,
            after,
            store=customer["home_store"],
        )
        segments.customer_changed(conn, [customer_id], "profile")
    return changed + [f"custom_{k}" for k in changed_custom] + (["language"] if language_changed else [])


# -- blocking a customer, card statuses ------------------------------------------------------------


def block_customer(db: Store, actor: Actor, customer_id: str, reason: str) -> None:
    """Block every card of the customer at once (the till refuses them: "customer blocked"), with a reason."""
    customer = accounts._writable(db, actor, customer_id)  # noqa: SLF001
    reason = (reason or "").strip()
    if not reason or len(reason) > 200:
        raise FormError({"block_reason": _("Say why the customer is blocked (1 to 200 characters).")})
    if customer["blocked"]:
        raise FormError({"block_reason": _("The customer is already blocked.")})
    with db.transaction() as conn:
        db.set_customer_blocked(customer_id, True, reason, now_utc())
        bump_versions(conn, [customer_id])
        trigger_store.record_changes(conn, [customer_id], "card", now_utc(), detail="blocked")
        audit.record(
            conn,
            actor,
            "customer.block",
            "customer",
            customer_id,
            {"blocked": False},
            {"blocked": True, "reason": reason},
            store=customer["home_store"],
        )


def unblock_customer(db: Store, actor: Actor, customer_id: str) -> None:
    customer = accounts._writable(db, actor, customer_id)  # noqa: SLF001
    if not customer["blocked"]:
        raise FormError({"block_reason": _("The customer is not blocked.")})
    if customer["erased_at"]:
        raise FormError({"block_reason": _("This customer's data was erased: the account stays blocked.")})
    with db.transaction() as conn:
        db.set_customer_blocked(customer_id, False, None, now_utc())
        bump_versions(conn, [customer_id])
        trigger_store.record_changes(conn, [customer_id], "card", now_utc(), detail="unblocked")
        audit.record(
            conn,
            actor,
            "customer.unblock",
            "customer",
            customer_id,
            {"blocked": True, "reason": customer["block_reason"]},
            {"blocked": False},
            store=customer["home_store"],
        )


def set_card_status(db: Store, actor: Actor, number: str, status: str, reason: str) -> None:
    """A card's status: active, blocked, lost (both refused at the till; while no card of the customer is
    active, no marketing reaches them), or replaced (see :func:`replace_card`)."""
    actor.require("cards.write")
    card = db.card(number)
    customer = check_customer(db, actor, card["customer_id"], write=True)
    if status not in ("active", "blocked", "lost"):
        raise FormError({"status": _("Choose a status from the list.")})
    reason = (reason or "").strip()
    if status != "active" and (not reason or len(reason) > 200):
        raise FormError({"reason": _("Say why (1 to 200 characters).")})
    if card["status"] == status:
        raise FormError({"status": _("The card already has this status.")})
    if card["status"] == "replaced" or customer["erased_at"]:
        raise FormError({"status": _("A replaced card stays replaced: use the new card.")})
    with db.transaction() as conn:
        db.set_card_state(number, status, reason if status != "active" else None, now_utc())
        bump_versions(conn, [card["customer_id"]])
        segments.follow(conn, [card["customer_id"]], {"card"}, "card")
        trigger_store.record_changes(conn, [card["customer_id"]], "card", now_utc(), ref=number, detail=status)
        audit.record(
            conn,
            actor,
            "card.status",
            "card",
            number,
            {"status": card["status"], "reason": card["reason"]},
            {"status": status, "reason": reason or None, "customer_id": card["customer_id"]},
            store=customer["home_store"],
        )


def replace_card(db: Store, actor: Actor, number: str, data: Mapping[str, Any]) -> str:
    """A new card (next number of a category, or typed) for the same customer; the old one becomes
    ``replaced`` and the new one main. The balance is the customer's, so it stays as it was."""
    actor.require("cards.write")
    card = db.card(number)
    customer = check_customer(db, actor, card["customer_id"], write=True)
    if card["status"] == "replaced":
        raise FormError({"category": _("This card was already replaced.")})
    if customer["erased_at"]:
        raise FormError({"category": _("This customer's data was erased.")})
    new = issue_card(db, actor, card["customer_id"], {**data, "main": "1"})
    with db.transaction() as conn:
        mark_card_replaced(conn, number, new, "replaced", now_utc())
        bump_versions(conn, [card["customer_id"]])
        segments.follow(conn, [card["customer_id"]], {"card"}, "card")
        audit.record(
            conn,
            actor,
            "card.replace",
            "card",
            number,
            {"status": card["status"]},
            {"status": "replaced", "new_card": new, "customer_id": card["customer_id"]},
            store=customer["home_store"],
        )
    return new


# -- erasure at the customer's request ---------------------------------------------------------------


def erase_customer(db: Store, actor: Actor, customer_id: str, confirm: str) -> None:
    """Erase the customer's personal data (the personal-data law) and close the account.

    The ledger, receipts and totals stay under the customer's random id, which names nobody once the
    data is gone; the points left are written off with an ``admin`` ledger entry per program (so the
    liability and the ledger stay equal); cards are blocked; the audit keeps who erased and when, and
    the values of the customer's earlier audit rows are removed. Head office only (not a store manager).
    """
    customer = accounts._writable(db, actor, customer_id)  # noqa: SLF001
    if actor.scoped:
        raise Forbidden("only head office erases a customer's data")
    if customer["erased_at"]:
        raise FormError({"confirm": _("This customer's data is already erased.")})
    if (confirm or "").strip().upper() not in ("ERASE", "УДАЛИТЬ"):
        raise FormError({"confirm": _("Type ERASE to confirm: this cannot be undone.")})
    at = now_utc()
    with db.transaction() as conn:
        batch = LedgerBatch(conn)
        written_off: dict[str, int] = {}
        for program in db.customer_program_balances(customer_id, at):
            points = accounts.available(batch, customer_id, at, program["id"])
            if points > 0:
                op = {"id": f"erase-{secrets.token_hex(12)}", "at": at, "store": None, "program": program["id"]}
                reason = "erased at the customer's request"
                batch.adjust(customer_id, -points, "admin", op, reason=reason, operator=actor.username)
                batch.receipts.operation(
                    "admin",
                    customer_id,
                    -points,
                    at,
                    event_id=op["id"],
                    detail={"reason": reason, "operator": actor.username, "program": program["id"]},
                )
                written_off[str(program["id"])] = points
        counter = VersionCounter(conn)
        batch.flush(counter)
        counter.save()
        db.erase_customer(customer_id, at)
        bump_versions(conn, [customer_id])
        audit.record(
            conn,
            actor,
            "customer.erase",
            "customer",
            customer_id,
            None,
            {"erased_at": at, "points_written_off": written_off},
            store=customer["home_store"],
        )
        segments.customer_changed(conn, [customer_id], "profile")
        segments.follow(conn, [customer_id], {"card", "points"}, "profile")  # cards blocked, points written off


# -- bulk actions on a filtered list -----------------------------------------------------------------

BULK_ACTIONS = {
    "points": N_("Accrue or debit points"),
    "temporary": N_("Give temporary points"),
    "message": N_("Cashier message"),
    "level": N_("Set the level"),
    "block": N_("Block"),
    "unblock": N_("Unblock"),
}


def bulk_preview(db: Store, actor: Actor, query: CustomerQuery, zone: str) -> int:
    """How many customers the action would touch (what the confirmation shows)."""
    actor.require("customers.write")
    return count_customers(db, actor, query, zone)


def set_level(db: Store, actor: Actor, customer_id: str, level: str) -> None:
    customer = accounts._writable(db, actor, customer_id)  # noqa: SLF001
    with db.transaction() as conn:
        db.set_customer_level(customer_id, level or None, now_utc())
        bump_versions(conn, [customer_id])
        segments.follow(conn, [customer_id], {"level"}, "level")
        trigger_store.record_changes(conn, [customer_id], "level", now_utc(), ref=level or None, detail="console")
        audit.record(
            conn,
            actor,
            "customer.level",
            "customer",
            customer_id,
            {"level": customer["level"]},
            {"level": level or None},
            store=customer["home_store"],
        )


def _bulk_one(db: Store, actor: Actor, action: str, data: Mapping[str, Any], zone: str) -> Callable[[str], Any]:
    if action == "points":
        return lambda cid: accounts.adjust_points(db, actor, cid, data)
    if action == "temporary":
        return lambda cid: accounts.give_temporary(db, actor, cid, data, zone)
    if action == "message":
        return lambda cid: accounts.add_message(db, actor, cid, data, zone)
    if action == "level":
        level = (data.get("level") or "").strip()
        if level and level not in {lv["name"] for lv in db.level_thresholds()}:
            raise FormError({"level": _("Choose a level from the list.")})
        return lambda cid: set_level(db, actor, cid, level)
    if action == "block":
        reason = (data.get("reason") or "").strip()
        if not reason or len(reason) > 200:
            raise FormError({"reason": _("Say why the customers are blocked (1 to 200 characters).")})
        return lambda cid: block_customer(db, actor, cid, reason)
    if action == "unblock":
        return lambda cid: unblock_customer(db, actor, cid)
    raise FormError({"action": _("Choose an action from the list.")})


def _bulk_input(action: str, data: Mapping[str, Any]) -> None:
    """What every customer would refuse alike is refused once, before anything runs."""
    errors: dict[str, str] = {}
    if action not in BULK_ACTIONS:
        errors["action"] = _("Choose an action from the list.")
    elif action in ("points", "temporary"):
        accounts._points(data.get("points") or "", "points", errors, positive=action == "temporary")  # noqa: SLF001
        accounts._reason(data, errors)  # noqa: SLF001
        if action == "temporary" and not (data.get("expires") or "").strip():
            errors["expires"] = _("Write the date as YYYY-MM-DD or YYYY-MM-DD HH:MM.")
    elif action == "message" and not (data.get("text") or "").strip():
        errors["text"] = _("Write the message.")
    if errors:
        raise FormError(errors)


def bulk_check(
    db: Store, actor: Actor, query: CustomerQuery, zone: str, action: str, data: Mapping[str, Any], confirmed: str
) -> int:
    """Check the action before it runs; returns how many customers it will touch.

    ``confirmed`` must be the count the preview showed: if the set changed meanwhile, nothing is done and
    the new count is asked for again."""
    actor.require("customers.write")
    _bulk_input(action, data)
    _bulk_one(db, actor, action, data, zone)  # the level and the block reason
    count = bulk_preview(db, actor, query, zone)
    if count > BULK_MAX:
        raise FormError({"action": _("At most %(n)s customers at once: narrow the filter.", n=f"{BULK_MAX:,}")})
    if str(count) != (confirmed or "").strip():
        raise FormError({"confirm": _("The list now has %(n)d customers: check and confirm again.", n=count)})
    return count


def bulk_run(
    db: Store,
    actor: Actor,
    query: CustomerQuery,
    zone: str,
    action: str,
    data: Mapping[str, Any],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the action on every customer the filter finds, each with its own audit row, plus one for the whole.

    Customers the action refuses (a debit larger than the balance, already blocked) are counted and named,
    the others done. ``progress(done, total)`` is told every 50 customers."""
    run = _bulk_one(db, actor, action, data, zone)
    ids = [row["id"] for row in iter_customers(db, actor, query, zone)]
    done, refused = 0, []
    for i, cid in enumerate(ids, 1):
        try:
            run(cid)
            done += 1
        except (FormError, Forbidden, NotFound) as exc:
            refused.append({"customer": cid, "why": str(exc)})
        if progress is not None and (i % 50 == 0 or i == len(ids)):
            progress(i, len(ids))
    with db.transaction() as conn:
        audit.record(
            conn,
            actor,
            "customer.bulk",
            "customer_list",
            action,
            None,
            {
                "action": action,
                "query": query.query_string()[:2000],
                "segment": query.segment_id,
                "count": len(ids),
                "done": done,
                "refused": len(refused),
                "values": {k: v for k, v in data.items() if k in BULK_VALUES},
            },
        )
    return {"count": len(ids), "done": done, "refused": refused[:200]}


#: the form's values an action uses (what the audit row keeps)
BULK_VALUES = ("points", "reason", "program", "starts", "expires", "text", "until", "level")


def bulk_apply(
    db: Store, actor: Actor, query: CustomerQuery, zone: str, action: str, data: Mapping[str, Any], confirmed: str
) -> dict[str, Any]:
    """:func:`bulk_check` then :func:`bulk_run` (the console runs the second as a background job)."""
    bulk_check(db, actor, query, zone, action, data, confirmed)
    return bulk_run(db, actor, query, zone, action, data)


# -- the list's columns per user ---------------------------------------------------------------------

LIST_COLUMNS = {
    "phone": N_("Phone"),
    "card": N_("Card"),
    "level": N_("Level"),
    "balance": N_("Balance"),
    "spend": N_("Spend"),
    "visits": N_("Visits"),
    "store": N_("Store"),
    "created": N_("Registered"),
    "last_purchase": N_("Last purchase"),
    "email": N_("Email"),
}
DEFAULT_COLUMNS = ("phone", "card", "level", "balance", "spend", "visits", "store", "created", "last_purchase")


def list_columns(db: Store, actor: Actor) -> list[str]:
    """The columns the user chose for the customer list, in their order (the default set without a choice)."""
    if actor.id is None:
        return list(DEFAULT_COLUMNS)
    stored = db.console_preference(actor.id, "customers.columns")
    chosen = [c for c in (stored or "").split(",") if c in LIST_COLUMNS]
    return chosen or list(DEFAULT_COLUMNS)


def set_list_columns(
    db: Store, actor: Actor, columns: list[str], positions: Mapping[str, str] | None = None
) -> list[str]:
    """Remember the user's columns (unknown names dropped, each once), in the order of their ``positions``
    (a number per column; without one, as given)."""
    chosen = [c for c in dict.fromkeys(columns) if c in LIST_COLUMNS]
    if positions:

        def place(item: tuple[int, str]) -> tuple[int, int]:
            text = str(positions.get(item[1]) or "").strip()
            return (int(text) if is_whole(text, 4) else 9999, item[0])

        chosen = [c for _i, c in sorted(enumerate(chosen), key=place)]
    if not chosen:
        raise FormError({"columns": _("Choose at least one column.")})
    if actor.id is not None:
        with db.transaction():
            db.set_console_preference(actor.id, "customers.columns", ",".join(chosen))
    return chosen


def list_sort(db: Store, actor: Actor, sort: str | None = None, direction: str | None = None) -> tuple[str, bool]:
    """The list's sort (column, descending): the one asked for (then remembered for the user), else the user's."""
    from .customers import SORT_FIELDS

    if sort in SORT_FIELDS:
        descending = direction != "asc"
        if actor.id is not None:
            with db.transaction():
                db.set_console_preference(actor.id, "customers.sort", f"{sort}:{'desc' if descending else 'asc'}")
        return sort, descending
    stored = db.console_preference(actor.id, "customers.sort") if actor.id is not None else None
    name, _sep, how = (stored or "").partition(":")
    if name in SORT_FIELDS:
        return name, how != "asc"
    return "created", True


# -- the web card's sign-up per store ------------------------------------------------------------------


def web_card_stores(db: Store, actor: Actor) -> list[dict[str, Any]]:
    """Each store with the electronic range its web sign-ups take card numbers from."""
    actor.require("cards.read")
    out = []
    for store in db.stores():
        if actor.scoped and store["id"] not in actor.stores:
            continue
        category = db.web_card_category(store["id"])
        out.append({**store, "category_id": category["id"] if category else None})
    return out


def set_web_card_category(db: Store, actor: Actor, store: str, category: str) -> None:
    """Which electronic range a store's web sign-ups use (default: the first electronic category)."""
    actor.require("cards.manage")
    if store not in {s["id"] for s in db.stores()}:
        raise FormError({"store": _("Choose a store from the list.")})
    electronic = {str(c["id"]) for c in db.card_categories() if c["electronic"]}
    if category not in electronic:
        raise FormError({"category": _("Choose an electronic card category.")})
    with db.transaction() as conn:
        before = db.setting(f"web_card_category.{store}")
        db.replace_setting(f"web_card_category.{store}", category)
        audit.record(
            conn, actor, "store.web_card", "store", store, {"category": before}, {"category": category}, store=store
        )
