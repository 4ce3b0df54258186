"""Console pages: the customer list (search, filters, saved filters, export) and a customer's account tabs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ..services import (
    accounts,
    audit,
    customer_admin,
    customers,
    exports,
    fields,
    level_program,
    merge,
    percents,
    saved,
    segments,
)
from ..services.access import FormError
from ..services.cards import categories as card_categories
from ..services.filters import OPS, CustomerQuery, field_choices
from ..services.text import _
from ..services.triggers import customer_triggers
from ..storage.db import get_db
from .common import actor, console_blueprint, form_data, int_arg, list_url, render
from .exports import export_response

bp = console_blueprint("customers", "/customers")

TABS = ("profile", "cards", "history", "purchases", "notes", "actions", "messages", "log")


def _zone() -> str:
    return current_app.config["CONSOLE_TIMEZONE"]  # type: ignore[no-any-return]


@bp.get("/")
def index() -> ResponseReturnValue:
    db, who = get_db(), actor()
    query = CustomerQuery.from_args(request.args)
    errors: dict[str, str] = {}
    page, status = None, 200
    sort, descending = customer_admin.list_sort(db, who, request.args.get("sort"), request.args.get("dir"))
    try:
        page = customers.list_customers(
            db,
            who,
            query,
            _zone(),
            after=request.args.get("after"),
            before=request.args.get("before"),
            sort=sort,
            descending=descending,
        )
    except FormError as exc:
        errors, status = exc.errors, exc.status
    elsewhere = page is not None and not page.rows and customers.outside_scope(db, who, query.q)
    return render(
        "console/customers/list.html",
        status,
        page=page,
        query=query,
        errors=errors,
        elsewhere=elsewhere,
        choices=field_choices(fields.definitions(db)),
        ops=OPS,
        stores=db.stores(),
        saved_filters=saved.list_filters(db, who, "customers"),
        levels=level_program.levels(db),
        columns=customer_admin.list_columns(db, who),
        column_labels=customer_admin.LIST_COLUMNS,
        sort=sort,
        descending=descending,
        sortable=customers.SORT_FIELDS,
    )


@bp.get("/export.<fmt>")
def export(fmt: str) -> ResponseReturnValue:
    db, who = get_db(), actor()
    who.require("export")
    query = CustomerQuery.from_args(request.args)
    try:
        customers.list_customers(db, who, query, _zone(), limit=1, with_count=False)  # checks the filter first
    except FormError:
        return redirect(list_url("customers.index", request.query_string.decode("utf-8", "replace")))
    zone = _zone()
    response = export_response(
        fmt,
        "customers",
        exports.CUSTOMER_COLUMNS,
        lambda own: customers.iter_customers(own, who, query, zone),
        lambda own: customers.count_customers(own, who, query, zone),
    )
    return response if response is not None else redirect(url_for("customers.index"))


@bp.post("/filters")
def save_filter() -> ResponseReturnValue:
    data = form_data()
    try:
        saved.save_filter(
            get_db(), actor(), "customers", data.get("name", ""), data.get("query", ""), bool(data.get("shared"))
        )
        flash(_("The filter is saved."))
    except FormError as exc:
        flash(next(iter(exc.errors.values())))
    return redirect(list_url("customers.index", data.get("query", "")))


@bp.post("/filters/<int:filter_id>/delete")
def delete_filter(filter_id: int) -> ResponseReturnValue:
    saved.delete_filter(get_db(), actor(), filter_id)
    return redirect(url_for("customers.index"))


@bp.route("/fields", methods=["GET", "POST"])
def custom_fields() -> ResponseReturnValue:
    """Head office's own questionnaire fields."""
    db, who = get_db(), actor()
    who.require("fields.write")
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            if request.form.get("remove"):
                fields.remove(db, who, request.form["remove"])
            elif request.form.get("customer_edit_field"):
                fields.set_customer_edit(
                    db, who, request.form["customer_edit_field"], request.form.get("customer_edit") == "1"
                )
            else:
                fields.define(db, who, form_data())
            return redirect(url_for("customers.custom_fields"))
        except FormError as exc:
            errors = exc.errors
    return render(
        "console/customers/fields.html",
        422 if errors else 200,
        errors=errors,
        form=form_data() if errors else {},
        definitions=fields.definitions(db),
        types=fields.TYPES,
    )


@bp.get("/find")
def find() -> ResponseReturnValue:
    """Straight to the account when the search is a phone, card or id that names one customer."""
    db, who = get_db(), actor()
    found = customers.resolve(db, request.args.get("q", ""))
    if found:
        customers.check_customer(db, who, found)
        return redirect(url_for("customers.account", customer_id=found))
    return redirect(url_for("customers.index", q=request.args.get("q", "")))


def _tab_context(customer_id: str, tab: str) -> dict[str, Any]:
    db, who = get_db(), actor()
    context: dict[str, Any] = {"c": customers.account(db, who, customer_id), "tab": tab, "tabs": TABS}
    if tab == "profile":
        context["definitions"] = fields.definitions(db)
        context["completeness"] = customer_admin.completeness(db, context["c"])
        context["marital"] = customer_admin.MARITAL
        context["percents"] = percents.percents(db, who, customer_id)
        context.update(segments.profile_context(db, who, customer_id))
        context["triggers"] = customer_triggers(db, who, customer_id)
    elif tab == "cards":
        context["categories"] = card_categories(db, who)
        context["card_statuses"] = customer_admin.CARD_STATUSES
    elif tab == "history":
        context["history"] = customers.bonus_history(db, who, customer_id, before_id=int_arg("before"))
    elif tab == "purchases":
        context["purchases"] = customers.purchases(db, who, customer_id, before_id=int_arg("before"))
    elif tab == "notes":
        context["comments"] = customers.comments(db, who, customer_id)
    elif tab == "actions":
        choices, context["program_chosen"] = accounts.program_choices(db, who)
        context["program_options"] = [(p["id"], p["name"]) for p in choices]
        context["promo_codes"] = db.customer_codes(customer_id)
        context["personal_lists"] = [(r["id"], r["name"]) for r in db.personal_lists()]
    elif tab == "messages":
        from .messages import customer_tab

        context.update(customer_tab(customer_id))
    elif tab == "log":
        context["log"] = audit.history(db, entity="customer", entity_id=customer_id, limit=200)
    return context


@bp.get("/<customer_id>")
def account(customer_id: str) -> ResponseReturnValue:
    merged_into = customers.check_customer(get_db(), actor(), customer_id)["merged_into"]
    if merged_into:
        flash(_("Customer %(old)s was merged into this one.", old=customer_id))
        return redirect(url_for("customers.account", customer_id=merged_into))
    tab = request.args.get("tab", "profile")
    if tab not in TABS:
        tab = "profile"
    return render("console/customers/account.html", **_tab_context(customer_id, tab))


def _post(
    customer_id: str,
    tab: str,
    action: Callable[[Mapping[str, str]], Any],
    done: str,
    rename: Mapping[str, str] | None = None,
    form_name: str | None = None,
) -> ResponseReturnValue:
    """Run a write; on success back to the tab with a message, on error the tab again with errors in place."""
    data = form_data()
    rename = rename or {}
    service_data = {rename.get(k, k): v for k, v in data.items()}
    try:
        action(service_data)
    except FormError as exc:
        back = {v: k for k, v in rename.items()}
        errors = {back.get(k, k): v for k, v in exc.errors.items()}
        return render(
            "console/customers/account.html",
            422,
            errors=errors,
            form=data,
            active_form=form_name,
            **_tab_context(customer_id, tab),
        )
    flash(done)
    return redirect(url_for("customers.account", customer_id=customer_id, tab=tab))


@bp.post("/<customer_id>/profile")
def profile(customer_id: str) -> ResponseReturnValue:
    return _post(
        customer_id,
        "profile",
        lambda d: accounts.update_profile(get_db(), actor(), customer_id, d),
        _("The profile is saved."),
        form_name="profile",
    )


@bp.post("/<customer_id>/percents")
def personal_percents(customer_id: str) -> ResponseReturnValue:
    return _post(
        customer_id,
        "profile",
        lambda d: percents.set_percents(get_db(), actor(), customer_id, d),
        _("The personal percents are saved; the stores get them with the next sync."),
        form_name="percents",
    )


@bp.post("/<customer_id>/promo_code")
def issue_code(customer_id: str) -> ResponseReturnValue:
    """Issue a code of a personal promo-code list to the customer (docs/promotions.md, "Personal codes")."""
    from ..services import promotions

    customers.check_customer(get_db(), actor(), customer_id)
    return _post(
        customer_id,
        "actions",
        lambda d: flash(
            _("Code %(code)s issued.", code=promotions.issue_code(get_db(), actor(), d.get("list", ""), customer_id))
        ),
        _("The stores get it with the next sync."),
        form_name="promo_code",
    )


@bp.post("/<customer_id>/phone")
def phone(customer_id: str) -> ResponseReturnValue:
    return _post(
        customer_id,
        "actions",
        lambda d: accounts.change_phone(get_db(), actor(), customer_id, d.get("phone", "")),
        _("The phone is changed; the customer confirms it at the next visit."),
        form_name="phone",
    )


@bp.post("/<customer_id>/points")
def points(customer_id: str) -> ResponseReturnValue:
    return _post(
        customer_id,
        "actions",
        lambda d: accounts.adjust_points(get_db(), actor(), customer_id, d),
        _("The points are recorded."),
        form_name="points",
    )


@bp.post("/<customer_id>/temporary")
def temporary(customer_id: str) -> ResponseReturnValue:
    return _post(
        customer_id,
        "actions",
        lambda d: accounts.give_temporary(get_db(), actor(), customer_id, d, _zone()),
        _("The temporary points are given."),
        rename={"t_points": "points", "t_reason": "reason", "t_program": "program"},
        form_name="temporary",
    )


@bp.post("/<customer_id>/messages")
def add_message(customer_id: str) -> ResponseReturnValue:
    return _post(
        customer_id,
        "actions",
        lambda d: accounts.add_message(get_db(), actor(), customer_id, d, _zone()),
        _("The cashiers will see the message."),
        form_name="message",
    )


@bp.post("/<customer_id>/messages/<message_id>/delete")
def delete_message(customer_id: str, message_id: str) -> ResponseReturnValue:
    return _post(
        customer_id,
        "actions",
        lambda d: accounts.delete_message(get_db(), actor(), customer_id, message_id),
        _("The message is removed."),
        form_name="message",
    )


@bp.post("/<customer_id>/comments")
def comment(customer_id: str) -> ResponseReturnValue:
    return _post(
        customer_id,
        "notes",
        lambda d: accounts.add_comment(get_db(), actor(), customer_id, d.get("comment", "")),
        _("The comment is added."),
        form_name="comment",
    )


@bp.post("/<customer_id>/tags")
def tags(customer_id: str) -> ResponseReturnValue:
    return _post(
        customer_id,
        "notes",
        lambda d: accounts.set_tags(get_db(), actor(), customer_id, d.get("tags", "")),
        _("The tags are saved."),
        form_name="tags",
    )


@bp.post("/<customer_id>/merge")
def merge_into(customer_id: str) -> ResponseReturnValue:
    """Merge this customer into another (found by id, phone or card)."""
    db = get_db()

    def run(d: Mapping[str, str]) -> None:
        who = actor()
        who.require("customers.write")  # refused (403) before the target is looked up (a 422 when not found)
        customers.check_customer(db, who, customer_id, write=True)
        target = customers.resolve_target(db, d.get("target", ""))
        merge.merge(db, who, customer_id, target)
        run.target = target  # type: ignore[attr-defined]

    response = _post(customer_id, "actions", run, _("The customers are merged."), form_name="merge")
    target = getattr(run, "target", None)
    if target and getattr(response, "status_code", 200) == 302:
        return redirect(url_for("customers.account", customer_id=target, tab="profile"))
    return response


# -- head office's customer base (docs/web-card.md): create, questionnaire, block, card statuses, erase, bulk ---


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    """Create a customer with the full questionnaire."""
    db, who = get_db(), actor()
    who.require("customers.write")
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            customer_id = customer_admin.create_customer(db, who, form_data())
            flash(_("The customer is created."))
            return redirect(url_for("customers.account", customer_id=customer_id))
        except FormError as exc:
            errors = exc.errors
    return render(
        "console/customers/new.html",
        422 if errors else 200,
        errors=errors,
        form=form_data() if errors else {},
        definitions=fields.definitions(db),
        stores=[s for s in db.stores() if not who.scoped or s["id"] in who.stores],
        categories=card_categories(db, who) if who.can("cards.read") else [],
        marital=customer_admin.MARITAL,
        consent_keys=customer_admin.CONSENTS,
    )


@bp.post("/<customer_id>/questionnaire")
def questionnaire(customer_id: str) -> ResponseReturnValue:
    return _post(
        customer_id,
        "profile",
        lambda d: customer_admin.update_questionnaire(get_db(), actor(), customer_id, d),
        _("The questionnaire is saved."),
        form_name="questionnaire",
    )


@bp.post("/<customer_id>/block")
def block(customer_id: str) -> ResponseReturnValue:
    return _post(
        customer_id,
        "actions",
        lambda d: customer_admin.block_customer(get_db(), actor(), customer_id, d.get("block_reason", "")),
        _("The customer is blocked: the stores refuse every card of theirs after the next sync."),
        form_name="block",
    )


@bp.post("/<customer_id>/unblock")
def unblock(customer_id: str) -> ResponseReturnValue:
    return _post(
        customer_id,
        "actions",
        lambda d: customer_admin.unblock_customer(get_db(), actor(), customer_id),
        _("The customer is unblocked."),
        form_name="block",
    )


@bp.post("/<customer_id>/erase")
def erase(customer_id: str) -> ResponseReturnValue:
    return _post(
        customer_id,
        "actions",
        lambda d: customer_admin.erase_customer(get_db(), actor(), customer_id, d.get("confirm", "")),
        _("The customer's personal data is erased; the history stays under an anonymous id."),
        form_name="erase",
    )


@bp.post("/<customer_id>/cards/<number>/status")
def card_status(customer_id: str, number: str) -> ResponseReturnValue:
    return _post(
        customer_id,
        "cards",
        lambda d: customer_admin.set_card_status(get_db(), actor(), number, d.get("status", ""), d.get("reason", "")),
        _("The card's status is changed."),
        rename={"status_reason": "reason"},
        form_name=f"status-{number}",
    )


@bp.post("/<customer_id>/cards/<number>/replace")
def card_replace(customer_id: str, number: str) -> ResponseReturnValue:
    return _post(
        customer_id,
        "cards",
        lambda d: customer_admin.replace_card(get_db(), actor(), number, d),
        _("The card is replaced; the balance stays with the customer."),
        form_name=f"replace-{number}",
    )


@bp.route("/bulk", methods=["GET", "POST"])
def bulk() -> ResponseReturnValue:
    """An action on every customer of the filtered list: preview the count, confirm it, run as a job, audit."""
    db, who = get_db(), actor()
    who.require("customers.write")
    args = request.args if request.method == "GET" else request.form
    query = CustomerQuery.from_args(args)
    errors: dict[str, str] = {}
    count = None
    try:
        count = customer_admin.bulk_preview(db, who, query, _zone())
        if request.method == "POST":
            data = form_data()
            action = request.form.get("action", "")
            customer_admin.bulk_check(db, who, query, _zone(), action, data, request.form.get("confirm", ""))
            return redirect(url_for("customers.bulk_job", ident=_start_bulk(who, query, action, data, count)))
    except FormError as exc:
        errors = exc.errors
    choices, chosen = accounts.program_choices(db, who)
    return render(
        "console/customers/bulk.html",
        422 if errors else 200,
        segment=_bulk_segment(db, who, query),
        query=query,
        total=count,
        errors=errors,
        form=form_data() if request.method == "POST" else {},
        actions=customer_admin.BULK_ACTIONS,
        levels=db.level_thresholds(),
        program_options=[(p["id"], p["name"]) for p in choices],
        program_chosen=chosen,
        bulk_max=customer_admin.BULK_MAX,
    )


def _bulk_segment(db: Any, who: Any, query: CustomerQuery) -> dict[str, Any] | None:
    """The saved segment a bulk action runs on (from the segment's page: docs/segments.md), or None."""
    from ..services import segments
    from ..storage.store import NotFound

    if query.segment_id is None:
        return None
    try:
        return segments.segment(db, who, query.segment_id)
    except NotFound:
        return None


def _start_bulk(who: Any, query: CustomerQuery, action: str, data: dict[str, str], count: int) -> str:
    """The bulk action as a background job (its own connection, the user's language); the job's id."""
    from contextlib import ExitStack

    from flask_babel import force_locale

    from ..i18n import current_language
    from ..services import jobs

    detail = {"action": action, "count": count, "query": query.query_string(), "segment": query.segment_id}
    ident = jobs.create(get_db(), who, "bulk", detail)
    app, language, zone = current_app._get_current_object(), current_language(), _zone()  # type: ignore[attr-defined]

    def context() -> Any:
        stack = ExitStack()
        stack.enter_context(app.app_context())
        stack.enter_context(force_locale(language))
        return stack

    def work(db: Any, progress: Any) -> None:
        jobs.update(db, ident, state="working", done=0, total=count)
        result = customer_admin.bulk_run(db, who, query, zone, action, data, progress=progress)
        jobs.update(
            db,
            ident,
            state="done",
            done=result["count"],
            total=result["count"],
            detail={"action": action, "query": query.query_string(), "segment": query.segment_id, **result},
        )

    jobs.start(current_app.config["DATABASE"], ident, work, context)
    return ident


@bp.get("/bulk/<ident>")
def bulk_job(ident: str) -> ResponseReturnValue:
    from ..services import jobs

    row = jobs.get(get_db(), actor(), ident)
    if row["kind"] != "bulk":
        from ..storage.store import NotFound

        raise NotFound(f"no bulk action {ident}")
    return render("console/customers/bulk_job.html", job=row, actions=customer_admin.BULK_ACTIONS)


@bp.get("/bulk/<ident>.json")
def bulk_status(ident: str) -> ResponseReturnValue:
    """What the progress bar polls."""
    from flask import jsonify

    from ..services import jobs
    from ..services.formats import format_count
    from .common import JOB_STATES

    row = jobs.get(get_db(), actor(), ident)
    lang = current_language_code()
    text = (
        _(
            "%(done)s of %(total)s customers",
            done=format_count(row["done"], lang),
            total=format_count(row["total"], lang),
        )
        if row["state"] == "working"
        else str(JOB_STATES.get(row["state"], ""))
    )
    return jsonify({**jobs.status(row), "text": text})


def current_language_code() -> str:
    from ..i18n import current_language

    return current_language()


@bp.post("/columns")
def columns() -> ResponseReturnValue:
    """The user's columns of the customer list (remembered on their account)."""
    try:
        positions = {k[4:]: v for k, v in request.form.items() if k.startswith("pos_")}
        customer_admin.set_list_columns(get_db(), actor(), request.form.getlist("column"), positions)
    except FormError as exc:
        flash(next(iter(exc.errors.values())))
    return redirect(list_url("customers.index", request.form.get("query", "")))


@bp.route("/web-card", methods=["GET", "POST"])
def web_card() -> ResponseReturnValue:
    """The web card's sign-up per store: its link, poster, and the electronic range its cards come from."""
    db, who = get_db(), actor()
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            customer_admin.set_web_card_category(
                db, who, request.form.get("store", ""), request.form.get("category", "")
            )
            flash(_("Saved."))
            return redirect(url_for("customers.web_card"))
        except FormError as exc:
            errors = exc.errors
    from .card import join_url

    stores = customer_admin.web_card_stores(db, who)
    for store in stores:
        store["link"] = join_url(store["id"])
    return render(
        "console/customers/web_card.html",
        422 if errors else 200,
        errors=errors,
        stores=stores,
        categories=[c for c in db.card_categories() if c["electronic"]],
    )
