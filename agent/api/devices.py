"""Identifications offered to the tills (the last one, a server-sent-events stream) and slip reprints.

The stream is ``text/event-stream``: ``retry:``, then for every new
identification of the calling terminal ``id: <event_id>``, ``event:
identification`` and ``data: <JSON>`` (the identify answer or the problem
document, plus ``source``, ``at``, ``event_id``), and a ``: keep-alive``
comment every ``stream_keepalive_seconds``. A stream holds one server thread,
so at most ``stream_max_clients`` run at once and each ends after
``stream_max_seconds`` (the browser reconnects with ``Last-Event-ID`` and
gets what it missed); a client that went away is found at the next
keep-alive, when the write fails, and its thread is free again.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, g, request, stream_with_context

from shared.errors import Problem

from ..device_manager import Hardware, hardware_of
from ..errors import NoIdentification, TooManyStreams
from ..i18n import LANGUAGES
from ..identifications import Identification
from ..requests import RequestError
from ..service import Result
from .customers import render_messages
from .problems import loyalty_document
from .routes import operation, query_arg, respond

bp = Blueprint("devices", __name__, url_prefix="/v1")

#: how soon a browser reconnects after a stream ended (EventSource's retry:)
RETRY_MS = 1000

_LANG = {
    "name": "lang",
    "in": "query",
    "required": False,
    "schema": {"enum": list(LANGUAGES)},
    "description": "Language of problems and cashier messages (EventSource cannot set Accept-Language).",
}
_LAST_EVENT_ID = (
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "Sent by a reconnecting EventSource: a newer identification is sent at once.",
    },
    {
        "name": "last_event_id",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "The same as a query parameter.",
    },
)


def hardware() -> Hardware:
    return hardware_of(current_app)  # type: ignore[arg-type]


def _language() -> None:
    lang = query_arg("lang")
    if lang is None:
        return
    if lang not in LANGUAGES:
        raise RequestError([Problem("lang", f"must be one of {', '.join(LANGUAGES)}, got {lang[:20]!r}")])
    g.locale = lang


def event_json(event: Identification) -> dict[str, Any]:
    """An identification as its clients see it, in the request's language."""
    if event.problem is not None:
        body: dict[str, Any] = loyalty_document(event.problem)
    else:
        assert event.answer is not None
        body = render_messages(copy.deepcopy(event.answer))  # rendered on a copy, per client
    return {**body, "source": event.source, "at": event.at, "event_id": str(event.id)}


@operation(
    bp,
    "/identifications/last",
    "GET",
    summary="The last identification at this terminal (card reader or identify call)",
    responses={200: "IdentificationEvent"},
    codes=("no_identification", "validation_error"),
    parameters=(_LANG,),
    tag="Devices",
)
def last_identification() -> Response:
    """For tills that poll: compare event_id (or at) with the one already shown."""
    _language()
    event = hardware().hub.last(g.terminal)
    if event is None:
        raise NoIdentification(terminal=g.terminal)
    return respond(Result(200, event_json(event)))


def _last_event_id() -> int | None:
    text = request.headers.get("Last-Event-ID") or query_arg("last_event_id") or ""
    return int(text) if text.isdigit() and len(text) < 20 else None


@operation(
    bp,
    "/identifications/stream",
    "GET",
    summary="Identifications at this terminal as they happen (server-sent events)",
    responses={200: "IdentificationEvent"},
    codes=("too_many_streams", "validation_error"),
    media="text/event-stream",
    token_query=True,
    parameters=(_LANG, *_LAST_EVENT_ID),
    tag="Devices",
)
def identification_stream() -> Response:
    """`event: identification` with `data:` the JSON of an IdentificationEvent; `: keep-alive` comments between."""
    _language()
    hw = hardware()
    config = hw.config
    terminal = g.terminal
    after = _last_event_id()
    if after is None:  # a new client wants what happens from now on
        current = hw.hub.last(terminal)
        after = current.id if current is not None else 0
    if not hw.hub.open_stream(config.stream_max_clients):
        raise TooManyStreams(limit=config.stream_max_clients)

    def events(last: int) -> Iterator[str]:
        yield f"retry: {RETRY_MS}\n: identifications of terminal {terminal}\n\n"
        deadline = time.monotonic() + config.stream_max_seconds
        while (left := deadline - time.monotonic()) > 0:
            event = hw.hub.wait(terminal, last, min(config.stream_keepalive_seconds, left))
            if event is None:
                yield ": keep-alive\n\n"  # a gone client makes this write fail: the thread is freed
                continue
            last = event.id
            data = json.dumps(event_json(event), ensure_ascii=False)
            yield f"id: {event.id}\nevent: identification\ndata: {data}\n\n"

    response = Response(stream_with_context(events(after)), mimetype="text/event-stream")
    response.call_on_close(hw.hub.close_stream)  # also when the client left before the first byte
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # a reverse proxy in front must not buffer the stream
    return response


@operation(
    bp,
    "/receipts/<receipt_id>/reprint",
    "POST",
    summary="Print the receipt's loyalty slip again",
    responses={202: "ReprintResult"},
    codes=("receipt_not_found", "no_printer", "no_slip"),
    tag="Devices",
)
def reprint(receipt_id: str) -> Response:
    """Queued at once; printed as a copy ("КОПИЯ") when it was printed before. A printer fault keeps it queued."""
    return respond(Result(202, hardware().reprint(receipt_id)))
