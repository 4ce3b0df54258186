"""One declaration per endpoint: the Flask route and its OpenAPI operation come from it.

``@operation(bp, "/receipts", "POST", ...)`` registers the view on the
blueprint and records an :class:`Operation` in :data:`OPERATIONS`, from which
``openapi.py`` builds ``/openapi.json``; so the document cannot list a route
that is not served, nor miss one (tests/agent/test_openapi.py checks both).
It also applies terminal authentication (Bearer key) where ``auth`` is set.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from shared.errors import Problem

from ..auth import hash_key
from ..errors import Unauthorized
from ..requests import RequestError, text_problems
from ..service import Result, Service
from .problems import MalformedJson


@dataclass(frozen=True)
class Operation:
    """An endpoint as OpenAPI describes it."""

    method: str
    rule: str  # the Flask rule, e.g. /v1/receipts/<receipt_id>/refund
    endpoint: str
    summary: str
    description: str = ""
    request: str | None = None  # component schema name of the JSON body
    request_required: bool = True
    responses: dict[int, str] = field(default_factory=dict)  # status -> component schema name
    codes: tuple[str, ...] = ()  # problem codes this operation may answer with
    auth: bool = True
    idempotency_key: bool = False
    tag: str = "POS"
    media: str = "application/json"  # of the success responses (text/event-stream for a stream)
    token_query: bool = False  # the key may also come as ?access_token= (browsers' EventSource sends no headers)
    parameters: tuple[dict[str, Any], ...] = ()  # further OpenAPI parameters (query, header)


OPERATIONS: list[Operation] = []


def operation(
    bp: Blueprint,
    rule: str,
    method: str,
    *,
    summary: str,
    responses: dict[int, str],
    codes: tuple[str, ...] = (),
    request: str | None = None,
    request_required: bool = True,
    auth: bool = True,
    idempotency_key: bool = False,
    description: str = "",
    tag: str = "POS",
    media: str = "application/json",
    token_query: bool = False,
    parameters: tuple[dict[str, Any], ...] = (),
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Register a view on ``bp`` and document it (see the module docstring)."""

    def decorate(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapped(**kwargs: Any) -> Response:
            if auth:
                g.terminal = authenticate(token_query)
            return view(**kwargs)

        bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapped, methods=[method])
        OPERATIONS.append(
            Operation(
                method=method,
                rule=(bp.url_prefix or "") + rule,
                endpoint=f"{bp.name}.{view.__name__}",
                summary=summary,
                description=description or (view.__doc__ or "").strip(),
                request=request,
                request_required=request_required,
                responses=responses,
                codes=codes,
                auth=auth,
                idempotency_key=idempotency_key,
                tag=tag,
                media=media,
                token_query=token_query,
                parameters=parameters,
            )
        )
        return wrapped

    return decorate


def service() -> Service:
    """The agent's service layer (one per app)."""
    return current_app.extensions["loyalty_agent"].service  # type: ignore[no-any-return]


def authenticate(token_query: bool = False) -> str:
    """The terminal id of the request's ``Authorization: Bearer KEY`` (or ``?access_token=KEY``
    where ``token_query``); 401 otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if not header and token_query:
        scheme, key = "bearer", request.args.get("access_token", "")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized()
    with service().store.read() as tx:
        row = tx.terminal_by_key(hash_key(key.strip()))
    if row is None:
        raise Unauthorized()
    return str(row["id"])


def json_body() -> Any:
    """The request's JSON document (whatever the Content-Type); None for an empty body.

    A string holding a lone surrogate escape (``"\\ud800"``) is refused here, for
    every endpoint, with the JSON path of each (422 ``validation_error``).
    """
    data = request.get_data(cache=True)
    if not data.strip():
        return None
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJson(error=str(exc)[:200]) from None
    except RecursionError:
        raise MalformedJson(error="nested too deeply") from None
    problems = text_problems(doc) if _may_hold_surrogates(data, doc) else []
    if problems:
        raise RequestError(problems)
    return doc


#: a JSON escape of a UTF-16 surrogate (``\ud800``..``\udfff``): the only way a lone one gets into UTF-8 JSON text
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _may_hold_surrogates(data: bytes, doc: Any) -> bool:
    """Whether any string of ``doc`` (value or field name) may hold a lone surrogate. A UTF-8 body without a
    surrogate escape holds none (strict UTF-8 refuses encoded surrogates, which json.loads would let through);
    otherwise (escapes, UTF-16/32 bodies) ``doc``'s JSON text is encoded to UTF-8 (the C encoder checks every
    string at once). Most bodies skip :func:`text_problems`' walk, which builds the path of every string (a
    tenth of a commit's time)."""
    if b"\x00" not in data[:4] and not _SURROGATE_ESCAPE.search(data):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return False
    try:
        json.dumps(doc, ensure_ascii=False, check_circular=False).encode("utf-8")
    except (UnicodeEncodeError, TypeError, ValueError, RecursionError):
        return True
    return False


def idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not key.strip() or len(key) > 200:
        raise RequestError([Problem("Idempotency-Key", "must be 1..200 characters")])
    return key.strip()


def query_arg(name: str) -> str | None:
    """A query parameter given at most once (a repeated one is ambiguous: 422)."""
    values = request.args.getlist(name)
    if len(values) > 1:
        raise RequestError([Problem(name, "must be given once")])
    return values[0] if values else None


def respond(result: Result) -> Response:
    """A service Result as a JSON response (``Idempotent-Replayed: true`` on a replay)."""
    if result.text is not None:  # encoded once by the operation (the commit's stored answer)
        response = current_app.response_class(result.text + "\n", mimetype=current_app.json.mimetype)  # type: ignore[attr-defined]
    else:
        response = current_app.json.response(result.body)
    response.status_code = result.status
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
