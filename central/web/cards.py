"""Console pages: card categories and ranges, and the card actions of a customer's account."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ..services import cards, customers
from ..services.access import FormError
from ..services.text import _
from ..storage.db import get_db
from .common import actor, console_blueprint, form_data, render
from .customers import _tab_context

bp = console_blueprint("cards", "/cards")


@bp.route("/", methods=["GET", "POST"])
def categories() -> ResponseReturnValue:
    db, who = get_db(), actor()
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            cards.add_category(db, who, form_data())
            flash(_("The card category is created."))
            return redirect(url_for("cards.categories"))
        except FormError as exc:
            errors = exc.errors
    return render(
        "console/cards/categories.html",
        422 if errors else 200,
        errors=errors,
        form=form_data() if errors else {},
        categories=cards.categories(db, who),
    )


def _card_action(
    customer_id: str, action: Callable[[dict[str, str]], Any], done: str, form_name: str
) -> ResponseReturnValue:
    data = form_data()
    try:
        action(data)
    except FormError as exc:
        return render(
            "console/customers/account.html",
            422,
            errors=exc.errors,
            form=data,
            active_form=form_name,
            **_tab_context(customer_id, "cards"),
        )
    flash(done)
    return redirect(url_for("customers.account", customer_id=customer_id, tab="cards"))


@bp.post("/issue/<customer_id>")
def issue(customer_id: str) -> ResponseReturnValue:
    return _card_action(
        customer_id, lambda d: cards.issue_card(get_db(), actor(), customer_id, d), _("The card is issued."), "issue"
    )


@bp.post("/<number>/block")
def block(number: str) -> ResponseReturnValue:
    owner = _owner(number)
    return _card_action(
        owner,
        lambda d: cards.block_card(get_db(), actor(), number, d.get("reason", "")),
        _("Card %(number)s is blocked.", number=number),
        f"block-{number}",
    )


@bp.post("/<number>/unblock")
def unblock(number: str) -> ResponseReturnValue:
    owner = _owner(number)
    return _card_action(
        owner,
        lambda d: cards.unblock_card(get_db(), actor(), number),
        _("Card %(number)s is unblocked.", number=number),
        f"block-{number}",
    )


@bp.post("/<number>/main")
def main(number: str) -> ResponseReturnValue:
    owner = _owner(number)
    return _card_action(
        owner,
        lambda d: cards.set_main(get_db(), actor(), number),
        _("Card %(number)s is the main card.", number=number),
        f"main-{number}",
    )


@bp.post("/<number>/reassign")
def reassign(number: str) -> ResponseReturnValue:
    owner = _owner(number)
    db = get_db()

    def run(d: dict[str, str]) -> None:
        cards.reassign_card(db, actor(), number, customers.resolve_target(db, d.get("target", "")))

    return _card_action(
        owner, run, _("Card %(number)s is given to another customer.", number=number), f"reassign-{number}"
    )


def _owner(number: str) -> str:
    """The card's customer, whom the actor may change (403 before the form is read: a viewer, or a store manager
    with another store's card, reassigning it to a customer who is no customer was told so, a 422, not refused)."""
    actor().require("cards.write")
    owner = get_db().card_owner(number)
    customers.check_customer(get_db(), actor(), owner, write=True)
    return owner
