"""Cards: categories with number ranges, issuing the next free number, block, unblock, reassign, main card.

A category's cards are the numbers ``first_number + i`` for i in 0..count-1,
zero-padded to the length of ``first_number``; with ``luhn`` each gets a
Luhn check digit appended (so the printed number is one digit longer). The
next free number skips numbers already used (imported, or registered at a
till). Every change to a card gives its customer (both customers, for a
reassignment: the old owner first) a new version, so the agents learn it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.identifiers import luhn_check_digit, luhn_valid
from shared.numbers import is_whole

from ..marketing import engine as segments
from ..points.versions import bump_versions
from ..storage.clock import now_utc
from ..storage.store import NotFound, Store
from . import audit
from .access import Actor, FormError
from .customers import check_customer
from .text import _

MAX_RANGE = 10**9


def categories(db: Store, actor: Actor) -> list[dict[str, Any]]:
    actor.require("cards.read")
    rows = db.card_categories()
    used = db.cards_issued_per_category()
    for row in rows:
        row["issued"] = used.get(row["id"], 0)
        row["last_number"] = make_number(row, row["count"] - 1)
        row["next_number"] = make_number(row, row["next_offset"]) if row["next_offset"] < row["count"] else None
    return rows


def make_number(category: Mapping[str, Any], offset: int) -> str:
    first = category["first_number"]
    body = str(int(first) + offset).zfill(len(first))
    return body + luhn_check_digit(body) if category["luhn"] else body


def category_of(categories_: list[Mapping[str, Any]], number: str) -> Mapping[str, Any] | None:
    """The category whose range holds this card number (None: a number from no range)."""
    for category in categories_:
        body = number[:-1] if category["luhn"] else number
        first = category["first_number"]
        if len(body) == len(first) and is_whole(body, 32) and int(first) <= int(body) < int(first) + category["count"]:
            if not category["luhn"] or luhn_valid(number):
                return category
    return None


def add_category(db: Store, actor: Actor, data: Mapping[str, Any]) -> int:
    """A card category: name, first number, how many numbers, electronic or plastic, Luhn check digit."""
    actor.require("cards.manage")
    errors: dict[str, str] = {}
    name = (data.get("name") or "").strip()
    first = re.sub(r"[\s-]", "", data.get("first_number") or "")
    count_text = (data.get("count") or "").strip()
    luhn = bool(data.get("luhn"))
    if not name or len(name) > 100:
        errors["name"] = _("Write a name of 1 to 100 characters.")
    elif db.card_category_exists(name):
        errors["name"] = _("A category with this name exists.")
    if not is_whole(first, 32) or not 4 <= len(first) + luhn <= 32:
        errors["first_number"] = _("Write the first number: 4 to 32 digits in all.")
    if not is_whole(count_text) or not 1 <= int(count_text) <= MAX_RANGE:
        errors["count"] = _("Write how many cards: 1 to 1,000,000,000.")
    elif "first_number" not in errors and len(str(int(first) + int(count_text) - 1)) > len(first):
        errors["count"] = _("The range runs past %(n)d digits; start lower or make it smaller.", n=len(first))
    if not errors:
        for other in db.card_ranges():
            if len(other["first_number"]) == len(first) and bool(other["luhn"]) == luhn:
                lo, hi = int(first), int(first) + int(count_text)
                o_lo, o_hi = int(other["first_number"]), int(other["first_number"]) + other["count"]
                if lo < o_hi and o_lo < hi:
                    errors["first_number"] = _("The range overlaps category %(name)s.", name=other["name"])
    if errors:
        raise FormError(errors)
    with db.transaction() as conn:
        ident = db.add_card_category(name, first, int(count_text), bool(data.get("electronic")), luhn, now_utc())
        audit.record(
            conn,
            actor,
            "card_category.add",
            "card_category",
            ident,
            None,
            {
                "name": name,
                "first_number": first,
                "count": int(count_text),
                "electronic": bool(data.get("electronic")),
                "luhn": luhn,
            },
        )
    return ident


def _card_state(card: Mapping[str, Any]) -> dict[str, Any]:
    return {k: card[k] for k in ("number", "customer_id", "status", "reason", "main", "category_id")}


def issue_card(db: Store, actor: Actor, customer_id: str, data: Mapping[str, Any]) -> str:
    """Give the customer a card: the next free number of a category, or a number typed in."""
    actor.require("cards.write")
    customer = check_customer(db, actor, customer_id, write=True)
    all_categories = db.card_ranges()
    typed = re.sub(r"[\s-]", "", data.get("number") or "")
    category_id = data.get("category") or ""
    if not typed and not category_id:
        raise FormError({"category": _("Choose a category or type a card number.")})
    with db.transaction() as conn:
        if typed:
            if not is_whole(typed, 32) or not 4 <= len(typed) <= 32:
                raise FormError({"number": _("A card number has 4 to 32 digits.")})
            if db.card_exists(typed):
                raise FormError({"number": _("Card %(number)s is already issued; reassign it instead.", number=typed)})
            category = category_of(all_categories, typed)
            number = typed
        else:
            rows = [c for c in all_categories if str(c["id"]) == str(category_id)]
            if not rows:
                raise FormError({"category": _("Choose a category.")})
            category = rows[0]
            offset = db.next_card_offset(category["id"])
            while offset < category["count"]:
                number = make_number(category, offset)
                offset += 1
                if not db.card_exists(number):
                    break
            else:
                raise FormError(
                    {"category": _("Every number of %(name)s is used; add a new range.", name=category["name"])}
                )
            db.set_next_card_offset(category["id"], offset)
        main = not db.has_cards(customer_id) or bool(data.get("main"))
        db.add_card(number, customer_id, category["id"] if category else None, main, now_utc())
        bump_versions(conn, [customer_id])
        segments.follow(conn, [customer_id], {"card"}, "card")  # kind, card: the dynamic segments follow now
        audit.record(
            conn,
            actor,
            "card.issue",
            "card",
            number,
            None,
            {"customer_id": customer_id, "category": category["name"] if category else None, "main": main},
            store=customer["home_store"],
        )
    return number


def _change(db: Store, actor: Actor, number: str) -> tuple[dict[str, Any], dict[str, Any]]:
    actor.require("cards.write")
    card = db.card(number)
    return card, check_customer(db, actor, card["customer_id"], write=True)


def block_card(db: Store, actor: Actor, number: str, reason: str) -> None:
    card, customer = _change(db, actor, number)
    reason = reason.strip()
    if not reason or len(reason) > 200:
        raise FormError({"reason": _("Say why the card is blocked (1 to 200 characters).")})
    if card["status"] == "blocked":
        raise FormError({"reason": _("The card is already blocked.")})
    with db.transaction() as conn:
        db.block_card(number, reason, now_utc())
        bump_versions(conn, [card["customer_id"]])
        segments.follow(conn, [card["customer_id"]], {"card"}, "card")
        audit.record(
            conn,
            actor,
            "card.block",
            "card",
            number,
            _card_state(card),
            {**_card_state(card), "status": "blocked", "reason": reason},
            store=customer["home_store"],
        )


def unblock_card(db: Store, actor: Actor, number: str) -> None:
    card, customer = _change(db, actor, number)
    if card["status"] != "blocked":
        raise FormError({"reason": _("The card is not blocked.")})
    with db.transaction() as conn:
        db.unblock_card(number, now_utc())
        bump_versions(conn, [card["customer_id"]])
        segments.follow(conn, [card["customer_id"]], {"card"}, "card")
        audit.record(
            conn,
            actor,
            "card.unblock",
            "card",
            number,
            _card_state(card),
            {**_card_state(card), "status": "active", "reason": None},
            store=customer["home_store"],
        )


def set_main(db: Store, actor: Actor, number: str) -> None:
    card, customer = _change(db, actor, number)
    with db.transaction() as conn:
        previous = db.main_card(card["customer_id"])
        db.make_main_card(card["customer_id"], number)
        audit.record(
            conn, actor, "card.main", "card", number, {"main": previous}, {"main": number}, store=customer["home_store"]
        )


def reassign_card(db: Store, actor: Actor, number: str, target: str) -> None:
    """Move a card to another customer (a card given to the wrong person, a family card)."""
    card, customer = _change(db, actor, number)
    target = target.strip()
    if not target:
        raise FormError({"target": _("Choose the customer who gets the card.")})
    try:
        new_owner = check_customer(db, actor, target, write=True)
    except NotFound:
        raise FormError({"target": _("There is no customer %(id)s.", id=target)}) from None
    if new_owner["id"] == card["customer_id"]:
        raise FormError({"target": _("The card already belongs to this customer.")})
    if new_owner["merged_into"]:
        raise FormError({"target": _("This customer was merged into %(id)s.", id=new_owner["merged_into"])})
    with db.transaction() as conn:
        db.move_card(number, target, not db.has_cards(target), now_utc())
        if card["main"]:
            db.promote_next_main_card(card["customer_id"])
        # the old owner first: an agent applying both in version order never sees the card twice
        bump_versions(conn, [card["customer_id"], target])
        segments.follow(conn, [card["customer_id"], target], {"card"}, "card")
        audit.record(
            conn,
            actor,
            "card.reassign",
            "card",
            number,
            _card_state(card),
            {**_card_state(card), "customer_id": target},
            store=customer["home_store"],
        )
