"""Console pages: promotions (list with state and results, create and edit, start and stop) and promo-code
lists (generate or upload, export CSV/XLSX, statistics by store and day, offline conflicts): docs/promotions.md."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from shared.numbers import is_whole

from ..services import imports, messages, promotions, segments, targeting
from ..services.access import FormError
from ..services.text import _
from ..storage.db import get_db
from .common import actor, console_blueprint, form_data, render

bp = console_blueprint("promotions", "/promotions")

REWARD_FIELDS = {"multiplier": "k", "points": "points", "percent_off": "percent", "money_off": "amount"}


def _names(text: str) -> list[str] | None:
    items = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    return items or None


def _int(form: dict[str, str], name: str, errors: dict[str, str]) -> int | None:
    text = form.get(name, "")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        errors[name] = _("A whole number, please.")
        return None


def form_to_doc(form: dict[str, str]) -> dict[str, Any]:
    """The promotion document (shared/promotions.py) of the console's form; the service checks it."""
    errors: dict[str, str] = {}
    doc: dict[str, Any] = {"id": form.get("id", ""), "name": form.get("name", "")}
    kind = form.get("reward_kind", "points")
    value = form.get("reward_value", "")
    reward: dict[str, Any] = {"kind": kind}
    if kind in ("points", "money_off"):
        reward[REWARD_FIELDS[kind]] = _int(form, "reward_value", errors)
    else:
        reward[REWARD_FIELDS.get(kind, "k")] = value
    if kind == "points":
        if form.get("per_units"):
            reward["per_units"] = form["per_units"]
        if form.get("expires_days"):
            reward["expires_days"] = _int(form, "expires_days", errors)
    doc["reward"] = reward
    for name in ("stores",):
        if _names(form.get(name, "")):
            doc[name] = _names(form[name])
    for name in ("from", "to"):
        if form.get(name):
            doc[name] = form[name]
    if form.get("weekdays"):
        doc["weekdays"] = [int(d) if is_whole(d) else d for d in _names(form["weekdays"]) or []]
    if form.get("from_hour") or form.get("to_hour"):
        doc["from_hour"], doc["to_hour"] = _int(form, "from_hour", errors), _int(form, "to_hour", errors)
    doc["audience"] = form.get("audience", "all")
    if doc["audience"] == "segments":
        doc["segments"] = [int(s) if is_whole(s) else s for s in _names(form.get("segments", "")) or []]
    conditions: dict[str, Any] = {"match": form.get("match", "any")}
    if form.get("min_total"):
        conditions["min_total"] = _int(form, "min_total", errors)
    for name in ("skus", "categories"):
        if _names(form.get(name, "")):
            conditions[name] = _names(form[name])
    if form.get("min_quantity"):
        conditions["min_quantity"] = form["min_quantity"]
    if form.get("code_list"):
        conditions["code_list"] = form["code_list"]
    doc["conditions"] = conditions
    if form.get("limit_times"):
        doc["limit"] = {"times": _int(form, "limit_times", errors), "per": form.get("limit_per", "promotion")}
    if form.get("birthday"):
        doc["birthday"] = {
            "days_before": _int(form, "birthday_before", errors) or 0,
            "days_after": _int(form, "birthday_after", errors) or 0,
        }
    doc["priority"] = _int(form, "priority", errors) or 0
    doc["combinable"] = bool(form.get("combinable"))
    if errors:
        raise FormError(errors)
    return doc


def doc_to_form(doc: dict[str, Any]) -> dict[str, str]:
    reward = doc.get("reward", {})
    cond = doc.get("conditions", {})
    form = {
        "id": doc["id"],
        "name": doc["name"],
        "reward_kind": reward.get("kind", ""),
        "reward_value": str(reward.get(REWARD_FIELDS.get(reward.get("kind", ""), "k"), "")),
        "per_units": reward.get("per_units", ""),
        "expires_days": str(reward.get("expires_days", "")),
        "stores": ", ".join(doc.get("stores") or ()),
        "from": doc.get("from", ""),
        "to": doc.get("to", ""),
        "weekdays": ", ".join(str(d) for d in doc.get("weekdays") or ()),
        "from_hour": str(doc.get("from_hour", "")),
        "to_hour": str(doc.get("to_hour", "")),
        "audience": doc.get("audience", "all"),
        "segments": ", ".join(str(s) for s in doc.get("segments") or ()),
        "match": cond.get("match", "any"),
        "min_total": str(cond.get("min_total", "")),
        "skus": ", ".join(cond.get("skus") or ()),
        "categories": ", ".join(cond.get("categories") or ()),
        "min_quantity": cond.get("min_quantity", ""),
        "code_list": cond.get("code_list", ""),
        "limit_times": str((doc.get("limit") or {}).get("times", "")),
        "limit_per": (doc.get("limit") or {}).get("per", ""),
        "priority": str(doc.get("priority", 0)),
        "combinable": "1" if doc.get("combinable", True) else "",
    }
    if doc.get("birthday"):
        form.update(
            birthday="1",
            birthday_before=str(doc["birthday"]["days_before"]),
            birthday_after=str(doc["birthday"]["days_after"]),
        )
    return form


_FIELD_OF = {
    "reward.k": "reward_value",
    "reward.points": "reward_value",
    "reward.percent": "reward_value",
    "reward.amount": "reward_value",
    "reward.kind": "reward_kind",
    "reward.per_units": "per_units",
    "reward.expires_days": "expires_days",
    "limit.times": "limit_times",
    "limit.per": "limit_per",
    "birthday.days_before": "birthday_before",
    "birthday.days_after": "birthday_after",
}


def _form_errors(errors: dict[str, str]) -> dict[str, str]:
    """The service's error paths (the document's) as the form's field names."""
    out = {}
    for path, message in errors.items():
        name = _FIELD_OF.get(path) or path.removeprefix("conditions.").split("[")[0]
        out[name] = message
    return out


def _page(status: int = 200, errors: dict[str, str] | None = None, form: dict[str, str] | None = None, **extra: Any):
    db = get_db()
    return render(
        "console/promotions/index.html",
        status,
        errors=errors or {},
        form=form or {"combinable": "1"},
        promotions=promotions.listing(db),
        code_lists=db.code_lists(),
        **extra,
    )


@bp.route("/", methods=["GET", "POST"])
def index() -> ResponseReturnValue:
    if request.method == "POST":
        promotions.require_write(actor())  # 403 before the form is read (a viewer was told what was wrong in it)
        form = form_data()
        try:
            ident = promotions.save(get_db(), actor(), form_to_doc(form))
        except FormError as exc:
            return _page(422, _form_errors(exc.errors), form)
        flash(_("The promotion %(id)s is saved.", id=ident))
        return redirect(url_for("promotions.index"))
    edit = request.args.get("edit")
    if edit:
        row = get_db().promotion(edit)
        if row is not None:
            import json

            return _page(form=doc_to_form(json.loads(row["document"])), editing=edit)
    return _page()


@bp.post("/whatif")
def whatif() -> ResponseReturnValue:
    """The form's promotion (saved or not: a draft) over a store's last N days of receipts."""
    form = form_data()
    actor().require_store(form.get("whatif_store", ""))  # another store's receipts: 403 before the draft is read
    try:
        result = promotions.whatif(
            get_db(), actor(), form.get("whatif_store", ""), form_to_doc(form), int(form.get("whatif_days") or 30)
        )
    except FormError as exc:  # before ValueError: a FormError is one too
        return _page(422, _form_errors(exc.errors), form)
    except ValueError:
        return _page(422, {"whatif_days": _("A whole number, please.")}, form)
    return _page(form=form, whatif=result)


@bp.post("/<promotion_id>/state")
def state(promotion_id: str) -> ResponseReturnValue:
    try:
        promotions.set_state(get_db(), actor(), promotion_id, request.form.get("state", ""))
    except FormError as exc:
        flash("; ".join(exc.errors.values()))
    return redirect(url_for("promotions.index"))


@bp.route("/codes", methods=["GET", "POST"])
def codes() -> ResponseReturnValue:
    db = get_db()
    errors: dict[str, str] = {}
    form = form_data() if request.method == "POST" else {"length": "8", "count": "100", "check": "1"}
    if request.method == "POST":
        promotions.require_write(actor())  # 403 before the form and its file are read
        upload = request.files.get("upload")
        try:
            # UTF-8, UTF-16 (Excel's "Unicode text") or Windows-1251, as the customer import reads them
            text = imports.decode_text(upload.read()) if upload and upload.filename else None
            count = promotions.create_code_list(
                db,
                actor(),
                form.get("id", ""),
                name=form.get("name") or None,
                count=int(form.get("count") or 0),
                length=int(form.get("length") or 8),
                prefix=form.get("prefix", ""),
                kind=form.get("kind", "single"),
                max_uses=int(form.get("max_uses") or 1),
                starts=form.get("from") or None,
                ends=form.get("to") or None,
                offline=form.get("offline", "never"),
                offline_limit=int(form.get("offline_limit") or 0),
                check=bool(form.get("check")),
                stores=_names(form.get("stores", "")),
                upload=text,
            )
        except imports.ImportFileError as exc:
            errors = {"upload": exc.errors["file"]}
        except FormError as exc:  # before ValueError: a FormError is one too
            errors = exc.errors
        except ValueError:
            errors = {"count": _("Whole numbers, please.")}
        else:
            flash(_("The list %(id)s holds %(n)d codes.", id=form.get("id", ""), n=count))
            return redirect(url_for("promotions.codes"))
    return render(
        "console/promotions/codes.html", 422 if errors else 200, errors=errors, form=form, code_lists=db.code_lists()
    )


@bp.get("/codes/<list_id>")
def code_list(list_id: str) -> ResponseReturnValue:
    try:
        page = promotions.code_list_page(get_db(), list_id, actor())
    except FormError:
        return render("console/error.html", 404, title_code=404, detail=_("No such promo-code list."))
    return render("console/promotions/code_list.html", errors={}, form={}, **page, **_issue_context(page["list"]))


def _issue_context(row: dict[str, Any]) -> dict[str, Any]:
    """A personal list's page: the segments its codes may be issued to."""
    if row["kind"] != "personal":
        return {"segment_options": []}
    return {"segment_options": [(s["id"], s["name"]) for s in segments.list_segments(get_db(), actor())]}


@bp.post("/codes/<list_id>/issue")
def issue(list_id: str) -> ResponseReturnValue:
    """Issue a code of a personal list to every member of a segment that holds none of it yet."""
    db = get_db()
    text = request.form.get("segment") or ""
    try:
        if not is_whole(text):
            raise ValueError(text)
        result = promotions.issue_to_segment(db, actor(), list_id, int(text))
    except FormError as exc:  # before ValueError: a FormError is one too
        flash("; ".join(exc.errors.values()))
    except ValueError:
        flash(_("Choose a segment from the list."))
    else:
        flash(
            _(
                "%(issued)d codes issued; %(already)d members held one already; %(missing)d got none (the list ran out).",  # noqa: E501
                **result,
            )
        )
    return redirect(url_for("promotions.code_list", list_id=list_id))


@bp.get("/codes/<list_id>/export.<fmt>")
def export(list_id: str, fmt: str) -> ResponseReturnValue:
    try:
        content, media = promotions.export_codes(get_db(), actor(), list_id, "xlsx" if fmt == "xlsx" else "csv")
    except FormError:
        return render("console/error.html", 404, title_code=404, detail=_("No such promo-code list."))
    return Response(
        content,
        mimetype=media,
        headers={"Content-Disposition": f'attachment; filename="{list_id}.{"xlsx" if fmt == "xlsx" else "csv"}"'},
    )


@bp.route("/targeting", methods=["GET", "POST"])
def targeting_page() -> ResponseReturnValue:
    """Targeting: a segment, then points (optionally temporary) or a message to it now; a preview of the count,
    a confirmation with that count, the result. The form's ``targeting_id`` makes a double click harmless."""
    db, who = get_db(), actor()
    form = form_data() if request.method == "POST" else {"targeting_id": targeting.new_id(), "action": "points"}
    errors: dict[str, str] = {}
    reach = result = None
    status = 200
    if request.method == "POST":
        try:
            if form.get("step") == "preview":
                reach = targeting.preview(db, who, form)
            else:
                zone = current_app.config["CONSOLE_TIMEZONE"]
                result = targeting.run(db, who, form.get("targeting_id", ""), form, zone, form.get("confirm", ""))
        except FormError as exc:
            errors, status = exc.errors, 422
    return render(
        "console/promotions/targeting.html",
        status,
        errors=errors,
        form=form,
        reach=reach,
        result=result,
        segments=segments.list_segments(db, who),
        templates=messages.templates(db, who) if who.can("messages.write") else [],
        recent=targeting.recent(db, who),
    )
