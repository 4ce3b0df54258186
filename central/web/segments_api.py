"""The segments' JSON API (docs/segments.md): list, one definition, members paged, count.

Read-only, under the same authentication as the rest of ``/api/v1`` (central/web/api.py): an API token
(``Authorization: Bearer ...``) reads the whole chain; a signed-in console session reads what its user
sees (a store manager: their stores' customers only).
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from flask.typing import ResponseReturnValue

from shared.errors import LoyaltyError

from ..services import segments
from ..services.access import VIEWER, Actor, BadQuery
from ..storage.db import get_db
from . import api

bp = Blueprint("segments_api", __name__, url_prefix="/api/v1/segments")
bp.before_request(api.authenticate)

#: an API token reads every customer and changes nothing
TOKEN_READER = Actor(None, "api-token", VIEWER)


def _reader() -> Actor:
    who = g.get("reader")
    return TOKEN_READER if who is None else who  # type: ignore[no-any-return]


@bp.errorhandler(LoyaltyError)
def loyalty_error(exc: LoyaltyError) -> ResponseReturnValue:
    return jsonify(exc.to_dict()), exc.status


def _number(name: str, default: int, low: int, high: int) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit() and low <= int(value) <= high):
        raise BadQuery({name: f"a whole number from {low} to {high}"})
    return int(value)


def _summary(row: dict[str, object]) -> dict[str, object]:
    return {k: row[k] for k in ("id", "name", "kind", "size", "created_by", "created_at", "changed_by", "changed_at")}


@bp.get("")
def segment_list() -> ResponseReturnValue:
    """Every segment (``q``: name contains)."""
    rows = segments.list_segments(get_db(), _reader(), request.args.get("q", ""))
    return jsonify({"segments": [_summary(r) for r in rows]})


@bp.get("/<int:segment_id>")
def definition(segment_id: int) -> ResponseReturnValue:
    """One segment with its definition document."""
    row = segments.segment(get_db(), _reader(), segment_id)
    return jsonify({**_summary(row), "definition": row["doc"]})


@bp.get("/<int:segment_id>/count")
def count(segment_id: int) -> ResponseReturnValue:
    row = segments.segment(get_db(), _reader(), segment_id)
    return jsonify({"id": segment_id, "count": row["size"]})


@bp.get("/<int:segment_id>/members")
def members(segment_id: int) -> ResponseReturnValue:
    """Member customer ids, ``limit`` (1..5000, default 500) per page after the cursor ``after`` (the
    ``next`` of the previous page; absent at the end)."""
    page = segments.members(
        get_db(),
        _reader(),
        segment_id,
        after=_number("after", 0, 0, 2**62),
        limit=_number("limit", 500, 1, 5000),
    )
    return jsonify(page)
