"""Reports (docs/reports.md): the console's pages and the authenticated JSON/CSV API.

Pages: the dashboard is the console's home (central/web/home.py renders :func:`dashboard_context`); the pivot
builder, charts, cohorts and the program's effect are under ``/reports``. Tables are rendered on the server
(readable without JavaScript); charts are drawn in the browser by central/static/reports.js with the vendored
uPlot, from the JSON below -- the same numbers.

API: ``/api/v1/reports/<report>`` (``dashboard``, ``pivot``, ``cohorts``, ``effect``) with ``format=json``
(default) or ``csv`` (and ``xlsx`` for the pivot); an API token reads the whole chain, a console session what
its user sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from ..reports import pivot as pivots
from ..reports.definitions import DIMENSIONS, GRAINS, MEASURES, PRESET_LABELS, PRESETS, ReportError
from ..services import analytics, saved
from ..services.access import SYSTEM, Actor, FormError
from ..storage.db import get_db
from .common import actor, console_blueprint, list_url, render

bp = console_blueprint("reports", "/reports")
api = Blueprint("reports_api", __name__, url_prefix="/api/v1/reports")
#: cells a pivot shows on a page (more: the export)
PAGE_CELLS = 20_000


def _choices() -> dict[str, Any]:
    return {
        "presets": [(p, str(PRESET_LABELS[p])) for p in (*PRESETS, "custom")],
        "grains": list(GRAINS),
        "all_measures": {k: str(v) for k, v in MEASURES.items()},
        "all_dimensions": {k: str(v) for k, v in DIMENSIONS.items()},
    }


def _query() -> str:
    return request.query_string.decode("ascii", "replace")


def dashboard_context(db: Any, who: Actor) -> dict[str, Any]:
    """The dashboard for the home page (its errors beside the form, the default period instead)."""
    errors: dict[str, str] = {}
    try:
        board = analytics.dashboard(db, who, request.args)
    except FormError as exc:
        errors = exc.errors
        board = analytics.dashboard(db, who, {})
    return {
        "board": board,
        "board_errors": errors,
        "store_choices": analytics.visible_stores(db, who),
        "json_url": url_for("reports_api.report", name="dashboard", **_flat_args()),
        "csv_url": url_for("reports_api.report", name="dashboard", format="csv", **_flat_args()),
        **_choices(),
    }


def _flat_args() -> dict[str, Any]:
    return {k: request.args.getlist(k) for k in request.args if k != "format"}


# -- console pages ------------------------------------------------------------------------------------------------


@bp.get("/pivot")
def pivot_page() -> ResponseReturnValue:
    db, who = get_db(), actor()
    errors: dict[str, str] = {}
    table = context = None
    too_large = None
    if request.args.get("rows") or request.args.get("columns"):
        try:
            table, context = analytics.pivot(db, who, request.args, limit=PAGE_CELLS)
        except pivots.TooLarge as exc:
            too_large = exc.cells
            errors = exc.errors
        except FormError as exc:
            errors = exc.errors
    shown = table.to_dict(context["labels"]) if table is not None and context is not None else None
    return render(
        "console/report_pivot.html",
        400 if errors and too_large is None else 200,
        shown=shown,
        errors=errors,
        too_large=too_large,
        args=request.args,
        store_choices=analytics.visible_stores(db, who),
        saved_reports=saved.list_filters(db, who, "reports"),
        export_csv=url_for("reports_api.report", name="pivot", format="csv", **_flat_args()),
        export_xlsx=url_for("reports_api.report", name="pivot", format="xlsx", **_flat_args()),
        segments=db.report_segments(),
        **_choices(),
    )


@bp.post("/pivot/save")
def save_pivot() -> ResponseReturnValue:
    from flask import redirect

    db, who = get_db(), actor()
    query = request.form.get("query", "")
    try:
        saved.save_filter(db, who, "reports", request.form.get("name", ""), query, bool(request.form.get("shared")))
    except FormError as exc:
        return render("console/error.html", 422, title_code=422, detail=" ".join(exc.errors.values()))
    return redirect(list_url("reports.pivot_page", query))


@bp.get("/charts")
def charts_page() -> ResponseReturnValue:
    """Charts by transactions or by customers: a figure over time, split by a dimension (a pivot drawn)."""
    db, who = get_db(), actor()
    args = request.args
    grain = args.get("grain") or "day"
    split = args.get("split") or ""
    family = args.get("family") or "transactions"
    measure = args.get("measure") or ("customers" if family == "customers" else "sales")
    query = {k: args.getlist(k) for k in args if k not in ("rows", "columns", "measures")}
    query.update(rows=grain if grain in GRAINS else "day", measures=measure)
    if split:
        query["columns"] = split
    errors: dict[str, str] = {}
    shown = None
    try:
        table, context = analytics.pivot(db, who, _Multi(query), limit=PAGE_CELLS)
        shown = table.to_dict(context["labels"])
    except FormError as exc:
        errors = exc.errors
    data_url = url_for("reports_api.report", name="pivot", **query)
    return render(
        "console/report_charts.html",
        400 if errors else 200,
        shown=shown,
        errors=errors,
        args=args,
        data_url=data_url,
        csv_url=url_for("reports_api.report", name="pivot", format="csv", **query),
        store_choices=analytics.visible_stores(db, who),
        splits=["", "store", "level", "segment", "rfm", "category", "identified", "gender", "age_band"],
        family=family,
        measure=measure,
        **_choices(),
    )


def _report_page(template: str, name: str, compute: Any, **extra: Any) -> ResponseReturnValue:
    """A report page: the service's answer for the request's arguments, or its errors in place (400)."""
    db, who = get_db(), actor()
    errors: dict[str, str] = {}
    out = None
    try:
        out = compute(db, who, request.args)
    except FormError as exc:
        errors = exc.errors
    return render(
        template,
        400 if errors else 200,
        out=out,
        errors=errors,
        args=request.args,
        store_choices=analytics.visible_stores(db, who),
        csv_url=url_for("reports_api.report", name=name, format="csv", **_flat_args()),
        **extra,
        **_choices(),
    )


@bp.get("/cohorts")
def cohorts_page() -> ResponseReturnValue:
    return _report_page(
        "console/report_cohorts.html", "cohorts", analytics.cohorts, segments=get_db().report_segments()
    )


@bp.get("/effect")
def effect_page() -> ResponseReturnValue:
    return _report_page(
        "console/report_effect.html",
        "effect",
        analytics.effect,
        json_url=url_for("reports_api.report", name="effect", **_flat_args()),
    )


class _Multi(dict):  # type: ignore[type-arg]
    """A dict of lists that answers ``get`` with the first value and ``getlist`` with all (like request.args)."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        value = super().get(key)
        if isinstance(value, list):
            return value[0] if value else default
        return default if value is None else value

    def getlist(self, key: str) -> list[str]:
        value = super().get(key)
        if value is None:
            return []
        return list(value) if isinstance(value, list) else [value]


# -- the API ------------------------------------------------------------------------------------------------------


@api.before_request
def authenticate() -> ResponseReturnValue | None:
    from .api import authenticate as check

    return check()


def _reader() -> Actor:
    who = g.get("reader")
    return SYSTEM if who is None else who  # a token reads the whole chain


def _csv(records: Iterable[list[Any]], name: str) -> Response:
    return Response(
        pivots.to_csv(records),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


_REPORTS: dict[str, Callable[..., Any]] = {
    "dashboard": analytics.dashboard,
    "cohorts": analytics.cohorts,
    "effect": analytics.effect,
}
_RECORDS = {
    "dashboard": pivots.dashboard_records,
    "cohorts": pivots.cohort_records,
    "effect": pivots.effect_records,
}


@api.get("/<name>")
def report(name: str) -> ResponseReturnValue:
    """A report as JSON (default), CSV or (the pivot) XLSX."""
    db, who = get_db(), _reader()
    fmt = request.args.get("format") or "json"
    if fmt not in ("json", "csv", "xlsx") or (fmt == "xlsx" and name != "pivot"):
        raise ReportError({"format": "format is json or csv (xlsx for the pivot)"})
    if name == "pivot":
        table, context = analytics.pivot(db, who, request.args, limit=PAGE_CELLS if fmt == "json" else None)
        if fmt == "json":
            return jsonify({**table.to_dict(context["labels"]), **{k: context[k] for k in ("period", "stores")}})
        records = list(table.records(context["labels"]))
        if fmt == "csv":
            return _csv(records, "pivot")
        return Response(
            pivots.to_xlsx(records, "Pivot"),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": 'attachment; filename="pivot.xlsx"'},
        )
    if name not in _REPORTS:
        raise ReportError({"report": f"unknown report {name[:40]}: dashboard, pivot, cohorts or effect"})
    out = _REPORTS[name](db, who, request.args)
    if fmt == "csv":
        return _csv(_RECORDS[name](out), name)
    return jsonify(out)


@api.errorhandler(FormError)
def report_error(exc: FormError) -> ResponseReturnValue:
    return jsonify(exc.to_dict()), exc.status


@api.errorhandler(Exception)
def other_error(exc: Exception) -> ResponseReturnValue:
    from shared.errors import LoyaltyError

    if isinstance(exc, LoyaltyError):
        return jsonify(exc.to_dict()), exc.status
    raise exc
