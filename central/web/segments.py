"""Console pages: segments (list, segmenter, a segment's page, static members, uploads), RFM, bulk tags.

The segmenter is one form (central/services/segment_form.py names its fields); its buttons (add a
criterion, an audience, the excluded audience; count) post the form and the page comes back with the
draft as it was, so it works without a script. ``segments.js`` only asks ``/segments/preview`` for the
live size and sample while the draft is typed. docs/segments.md tells the rest.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from flask import current_app, flash, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue

from ..config import data_folder
from ..services import customers, fields, level_program, segment_form, segments, tags
from ..services.access import FormError
from ..services.cards import categories as card_categories
from ..services.filters import OPS, CustomerQuery, field_choices
from ..services.text import _
from ..storage.db import get_db
from .common import actor, console_blueprint, int_arg, render

bp = console_blueprint("segments", "/segments")


@bp.app_context_processor
def segment_helpers() -> dict[str, Any]:
    """``static_segments()`` for the customer list's tools: (id, name) of the static segments, by name."""
    return {"static_segments": lambda: segments.static_segments(get_db(), actor())}


def _zone() -> str:
    return current_app.config["CONSOLE_TIMEZONE"]  # type: ignore[no-any-return]


# -- list --------------------------------------------------------------------------------------------------------


@bp.get("/")
def index() -> ResponseReturnValue:
    db, who = get_db(), actor()
    q = request.args.get("q", "")
    return render("console/segments/list.html", rows=segments.list_segments(db, who, q), q=q)


# -- the segmenter --------------------------------------------------------------------------------------------


def _choices() -> dict[str, Any]:
    """What the criteria's pickers offer: stores, levels, categories, card categories, segments."""
    db, who = get_db(), actor()
    return {
        "stores": [(s["id"], f"{s['id']} · {s['name']}") for s in db.stores()],
        "levels": [(name, name) for name, *_rest in level_program.levels(db)],
        "categories": db.catalog_category_choices(),
        "card_categories": [(c["id"], c["name"]) for c in card_categories(db, who)],
        "segments": [(r["id"], r["name"]) for r in db.segment_list()],
        "scores": [(i, str(i)) for i in range(1, 6)],
        "months": [(i, str(i)) for i in range(1, 13)],
    }


def _editor(
    segment_id: int | None,
    draft: segment_form.Draft,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    preview: dict[str, Any] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    row = segments.segment(get_db(), actor(), segment_id) if segment_id is not None else None
    return render(
        "console/segments/edit.html",
        status,
        row=row,
        draft=draft,
        form=form,
        errors=errors or {},
        preview=preview,
        params=segment_form.PARAMS,
        criterion_labels=segment_form.CRITERION_LABELS,
        param_labels=segment_form.PARAM_LABELS,
        choices=segment_form.CHOICES,
        pickers=_choices(),
        widget=segment_form.widget,
        multi=segment_form.MULTI,
    )


def _preview(draft: segment_form.Draft, segment_id: int | None) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The draft's count and sample, or the errors that stop it."""
    db, who = get_db(), actor()
    doc, errors = segment_form.to_document(db, draft)
    if errors:
        return None, errors
    if doc is None:
        return None, {"audiences": _("Add a criterion.")}
    try:
        result = segments.preview(db, who, doc, segment_id)
    except FormError as exc:
        return None, segment_form.form_errors(exc.errors)
    result["sample"] = segments.sample_customers(db, who, result["sample"])
    return result, {}


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    return _edit_page(None)


@bp.route("/<int:segment_id>/edit", methods=["GET", "POST"])
def edit(segment_id: int) -> ResponseReturnValue:
    return _edit_page(segment_id)


def _edit_page(segment_id: int | None) -> ResponseReturnValue:
    db, who = get_db(), actor()
    if request.method == "GET":
        if segment_id is None:
            return _editor(None, segment_form.Draft(), {"kind": request.args.get("kind", "dynamic")})
        row = segments.segment(db, who, segment_id)
        return _editor(
            segment_id, segment_form.from_document(db, row["doc"]), {"name": row["name"], "kind": row["kind"]}
        )
    form = {k: v for k, v in request.form.items()}
    draft = segment_form.read_draft(request.form)
    action = request.form.get("action", "save")
    if segment_form.apply_action(draft, action, request.form):
        return _editor(segment_id, draft, form)
    if action == "count":
        preview, errors = _preview(draft, segment_id)
        return _editor(segment_id, draft, form, errors, preview, 422 if errors else 200)
    doc, errors = segment_form.to_document(db, draft)
    if errors:
        return _editor(segment_id, draft, form, errors, status=422)
    try:
        if segment_id is None:
            kind = form.get("kind", "dynamic")
            segment_id = segments.create(db, who, form.get("name", ""), kind, doc)
            flash(_("The segment is saved."))
        else:
            segments.edit(db, who, segment_id, name=form.get("name", ""), definition=doc)
            flash(_("The segment is saved."))
    except FormError as exc:
        return _editor(segment_id, draft, form, segment_form.form_errors(exc.errors), status=422)
    return redirect(url_for("segments.show", segment_id=segment_id))


@bp.post("/preview")
def preview() -> ResponseReturnValue:
    """The live size and sample of the posted draft (segments.js); nothing is saved."""
    draft = segment_form.read_draft(request.form)
    segment_id = request.form.get("segment_id")
    result, errors = _preview(
        draft, int(segment_id) if segment_id and segment_id.isascii() and segment_id.isdigit() else None
    )
    if errors:
        return jsonify({"errors": errors}), 422
    return jsonify(result)


# -- a segment's page ---------------------------------------------------------------------------------------


def chart(series: list[tuple[str, int]], width: int = 640, height: int = 160) -> dict[str, Any] | None:
    """An SVG line of the size by day (drawn here: no script, no chart library)."""
    if not series:
        return None
    pad_left, pad_bottom, pad_top = 48, 20, 8
    top = max(max(v for _d, v in series), 1)
    n = len(series)
    span_x = width - pad_left - 8
    span_y = height - pad_bottom - pad_top

    def x(i: int) -> float:
        return pad_left + (span_x * i / (n - 1) if n > 1 else span_x / 2)

    def y(v: int) -> float:
        return pad_top + span_y * (1 - v / top)

    points = []
    for i, (_day, value) in enumerate(series):
        if i and n > 1:  # a step: the size holds until the next day's change
            points.append(f"{x(i):.1f},{y(series[i - 1][1]):.1f}")
        points.append(f"{x(i):.1f},{y(value):.1f}")
    return {
        "width": width,
        "height": height,
        "points": " ".join(points),
        "dots": [(round(x(i), 1), round(y(v), 1), d, v) for i, (d, v) in enumerate(series)],
        "top": top,
        "y_top": pad_top,
        "y_base": pad_top + span_y,
        "x_left": pad_left,
        "x_right": width - 8,
        "first": series[0][0],
        "last": series[-1][0],
    }


@bp.get("/<int:segment_id>")
def show(segment_id: int) -> ResponseReturnValue:
    db, who = get_db(), actor()
    row = segments.segment(db, who, segment_id)
    own = CustomerQuery.from_args(request.args)  # the filters typed on this page
    query = CustomerQuery.from_args(request.args)
    query.conditions = [("segment", "is", str(segment_id)), *query.conditions]
    errors: dict[str, str] = {}
    page = None
    try:
        page = customers.list_customers(db, who, query, _zone(), after=request.args.get("after"))
    except FormError as exc:
        errors = exc.errors
    return render(
        "console/segments/show.html",
        row=row,
        chart=chart(segments.size_series(db, who, segment_id)),
        history=segments.history(db, who, segment_id, before_id=int_arg("before")),
        used_by=segments.used_by(db, segment_id),
        page=page,
        query=query,
        own=own,
        errors={k: v for k, v in _shift_conditions(errors).items()},
        choices=field_choices(fields.definitions(db)),
        ops=OPS,
    )


def _shift_conditions(errors: dict[str, str]) -> dict[str, str]:
    """The filter's errors keyed by the page's own conditions (the segment's condition is the first, c0)."""
    out = {}
    for key, message in errors.items():
        if key.startswith("c") and key[1:].isdigit():
            key = f"c{int(key[1:]) - 1}"
        out[key] = message
    return out


def _back(segment_id: int) -> ResponseReturnValue:
    return redirect(url_for("segments.show", segment_id=segment_id))


def _flash_error(exc: FormError) -> None:
    flash(" ".join(str(v) for v in exc.errors.values()))


@bp.post("/<int:segment_id>/copy")
def copy(segment_id: int) -> ResponseReturnValue:
    db, who = get_db(), actor()
    row = segments.segment(db, who, segment_id)
    name = (request.form.get("name") or "").strip() or _("%(name)s (copy)", name=row["name"])
    try:
        new_id = segments.copy(db, who, segment_id, name)
    except FormError as exc:
        _flash_error(exc)
        return _back(segment_id)
    flash(_("The segment is copied."))
    return _back(new_id)


@bp.post("/<int:segment_id>/delete")
def delete(segment_id: int) -> ResponseReturnValue:
    try:
        segments.delete(get_db(), actor(), segment_id)
    except FormError as exc:
        _flash_error(exc)
        return _back(segment_id)
    flash(_("The segment is deleted."))
    return redirect(url_for("segments.index"))


@bp.post("/<int:segment_id>/recompute")
def recompute(segment_id: int) -> ResponseReturnValue:
    try:
        entered, left = segments.recompute(get_db(), actor(), segment_id)
        flash(_("Recomputed: %(entered)d entered, %(left)d left.", entered=entered, left=left))
    except FormError as exc:
        _flash_error(exc)
    return _back(segment_id)


@bp.post("/<int:segment_id>/members")
def hand_members(segment_id: int) -> ResponseReturnValue:
    """Add or remove customers typed by id, phone or card (one per line or comma separated)."""
    db, who = get_db(), actor()
    segments.require_write(who)  # before the typed customers are looked up (a viewer was told which are unknown)
    text = request.form.get("customers", "")
    mode = request.form.get("mode", "add")
    wanted, unknown = [], []
    for item in [t.strip() for t in text.replace(",", "\n").splitlines() if t.strip()]:
        found = customers.resolve(db, item)
        (wanted if found else unknown).append(found or item)
    if unknown:
        flash(_("Unknown customers: %(ids)s. Nothing was changed.", ids=", ".join(unknown[:20])))
        return _back(segment_id)
    try:
        entered, left = segments.change_members(
            db, who, segment_id, add=wanted if mode == "add" else [], remove=wanted if mode != "add" else []
        )
        flash(_("Members changed: %(entered)d added, %(left)d removed.", entered=entered, left=left))
    except FormError as exc:
        _flash_error(exc)
    return _back(segment_id)


def _uploads() -> Path:
    """Where a checked file waits to be applied (a day at most: older ones go when another is checked)."""
    folder = Path(data_folder(current_app.config, current_app.instance_path)) / "segment-uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _keep_upload(data: bytes) -> str:
    folder = _uploads()
    for old in folder.iterdir():
        if old.stat().st_mtime < time.time() - 86400:
            old.unlink(missing_ok=True)
    token = secrets.token_hex(16)
    (folder / token).write_bytes(data)
    return token


@bp.post("/<int:segment_id>/upload")
def upload(segment_id: int) -> ResponseReturnValue:
    """A file of cards or phones: first the dry run (what is known, which rows are not), then apply."""
    db, who = get_db(), actor()
    segments.require_write(who)  # before the file is read and kept (a viewer's dry run was read, kept and shown)
    row = segments.segment(db, who, segment_id)
    mode = request.form.get("mode", "add")
    token = request.form.get("token", "")
    try:
        if token:  # apply the file checked before
            if not (token.isalnum() and len(token) == 32):
                raise FormError({"file": _("Upload the file again.")})
            path = _uploads() / token
            if not path.exists():
                raise FormError({"file": _("Upload the file again.")})
            data, filename = path.read_bytes(), request.form.get("filename", "")
            result = segments.apply_upload(db, who, segment_id, data, filename, mode)
            path.unlink(missing_ok=True)
            entered, left = result["changed"]
            flash(_("Members changed: %(entered)d added, %(left)d removed.", entered=entered, left=left))
            return _back(segment_id)
        if row["kind"] != "static":
            raise FormError({"file": _("Only a static segment's members are changed by hand.")})
        file = request.files.get("file")
        if file is None or not file.filename:
            raise FormError({"file": _("Choose a file.")})
        data = file.read()
        result = segments.read_upload(db, data, file.filename)
    except FormError as exc:
        _flash_error(exc)
        return _back(segment_id)
    token = _keep_upload(data)
    result.update(token=token, filename=file.filename, mode=mode)
    return render("console/segments/upload.html", row=row, upload=result)


@bp.post("/<int:segment_id>/tags")
def tag_members(segment_id: int) -> ResponseReturnValue:
    try:
        result = tags.tag_segment(
            get_db(), actor(), segment_id, request.form.get("tag", ""), request.form.get("mode", "add")
        )
        flash(_tag_message(result))
    except FormError as exc:
        _flash_error(exc)
    return _back(segment_id)


def _tag_message(result: dict[str, int]) -> str:
    text = _("Tag changed on %(changed)d customers (%(unchanged)d already so).", **result)
    if result["skipped"]:
        text += " " + _("%(skipped)d customers of other stores were left as they are.", skipped=result["skipped"])
    return text


# -- from the customer list -----------------------------------------------------------------------------------


@bp.post("/from-customers")
def from_customers() -> ResponseReturnValue:
    """ "Save these customers as a segment": a static segment of what the customer list's filter finds."""
    db, who = get_db(), actor()
    segments.require_write(who)  # 403 before the form is read
    query = CustomerQuery.from_args(request.form)
    back = url_for("customers.index") + ("?" + query.query_string() if query.query_string() else "")
    try:
        ids = _filtered_ids(query)
        segment_id = segments.save_customers(db, who, request.form.get("name", ""), ids)
    except FormError as exc:
        _flash_error(exc)
        return redirect(back)
    flash(_("The segment is saved with %(n)d customers.", n=len(ids)))
    return _back(segment_id)


@bp.post("/members-from-customers")
def members_from_customers() -> ResponseReturnValue:
    """Add (or remove) every customer the customer list's filter finds to (from) a static segment."""
    db, who = get_db(), actor()
    segments.require_write(who)  # 403 before the form is read
    query = CustomerQuery.from_args(request.form)
    back = url_for("customers.index") + ("?" + query.query_string() if query.query_string() else "")
    segment_id = request.form.get("segment_id", "")
    if not (segment_id.isascii() and segment_id.isdigit() and len(segment_id) < 12):
        flash(_("Choose a static segment."))
        return redirect(back)
    ids = _filtered_ids(query)
    add = request.form.get("mode") != "remove"
    try:
        entered, left = segments.change_members(
            db, who, int(segment_id), add=ids if add else [], remove=[] if add else ids
        )
    except FormError as exc:
        _flash_error(exc)
        return redirect(back)
    flash(_("Members changed: %(entered)d added, %(left)d removed.", entered=entered, left=left))
    return _back(int(segment_id))


def _filtered_ids(query: CustomerQuery) -> list[str]:
    return segments.filtered_customers(get_db(), actor(), query, _zone())


@bp.post("/tag-customers")
def tag_customers() -> ResponseReturnValue:
    """A tag added to (or removed from) every customer the customer list's filter finds."""
    query = CustomerQuery.from_args(request.form)
    try:
        result = tags.tag_filtered(
            get_db(), actor(), query, _zone(), request.form.get("tag", ""), request.form.get("mode", "add")
        )
        flash(_tag_message(result))
    except FormError as exc:
        _flash_error(exc)
    return redirect(url_for("customers.index") + ("?" + query.query_string() if query.query_string() else ""))


# -- RFM ----------------------------------------------------------------------------------------------------------


@bp.route("/rfm", methods=["GET", "POST"])
def rfm() -> ResponseReturnValue:
    db, who = get_db(), actor()
    errors: dict[str, str] = {}
    if request.method == "POST":
        window = request.form.get("window", "")
        if not (window.isascii() and window.isdigit() and len(window) < 6) or not 7 <= int(window) <= 3660:
            errors["window"] = _("Write the window in days, 7 to 3660.")
        else:
            try:
                scored = segments.compute_rfm(db, who, int(window))
                flash(_("RFM computed: %(n)d customers scored.", n=scored))
                return redirect(url_for("segments.rfm"))
            except FormError as exc:
                errors = exc.errors
    grid = segments.rfm_grid(db, who)
    return render(
        "console/segments/rfm.html",
        422 if errors else 200,
        grid=grid,
        window=db.setting("rfm_window") or "365",
        errors=errors,
        labels=segment_form.RFM_LABELS,
    )
