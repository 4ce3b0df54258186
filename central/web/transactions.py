"""Console pages: all transactions with filters, totals, saved filters and export."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ..services import saved, stores, transactions
from ..services.access import FormError
from ..services.text import _
from ..storage.db import get_db
from .common import actor, console_blueprint, form_data, list_url, render
from .exports import export_response

bp = console_blueprint("transactions", "/transactions")


def _zone() -> str:
    return current_app.config["CONSOLE_TIMEZONE"]  # type: ignore[no-any-return]


@bp.get("/")
def index() -> ResponseReturnValue:
    db, who = get_db(), actor()
    query = transactions.TxQuery.from_args(request.args)
    errors: dict[str, str] = {}
    page, status = None, 200
    try:
        page = transactions.list_transactions(db, who, query, _zone(), after=request.args.get("after"))
    except FormError as exc:
        errors, status = exc.errors, exc.status
    return render(
        "console/transactions/index.html",
        status,
        page=page,
        query=query,
        errors=errors,
        types=transactions.TYPES,
        type_of=transactions.type_of,
        stores=stores.list_stores(db, who),
        groups=stores.groups_list(db),
        saved_filters=saved.list_filters(db, who, "transactions"),
    )


@bp.get("/export.<fmt>")
def export(fmt: str) -> ResponseReturnValue:
    db, who = get_db(), actor()
    who.require("export")
    query = transactions.TxQuery.from_args(request.args)
    try:
        transactions.list_transactions(db, who, query, _zone(), limit=1, with_totals=False)
    except FormError:
        return redirect(list_url("transactions.index", request.query_string.decode("utf-8", "replace")))
    zone = _zone()
    response = export_response(
        fmt, "transactions", transactions.columns(), lambda own: transactions.iter_transactions(own, who, query, zone)
    )
    return response if response is not None else redirect(url_for("transactions.index"))


@bp.post("/filters")
def save_filter() -> ResponseReturnValue:
    data = form_data()
    try:
        saved.save_filter(
            get_db(), actor(), "transactions", data.get("name", ""), data.get("query", ""), bool(data.get("shared"))
        )
        flash(_("The filter is saved."))
    except FormError as exc:
        flash(next(iter(exc.errors.values())))
    return redirect(list_url("transactions.index", data.get("query", "")))
