"""What every console page shares: the signed-in actor, error pages, template helpers.

Console blueprints are made with :func:`console_blueprint`: every request
to them needs a valid session (else a redirect to the sign-in page), and
``g.actor`` is the :class:`~central.services.access.Actor` the views hand to
the service layer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from ..i18n import LANGUAGES, current_language
from ..services import audit, formats
from ..services.access import ADMIN, MARKETER, STORE_MANAGER, VIEWER, Actor, BadQuery, Forbidden, FormError
from ..services.filters import channel_label
from ..services.text import N_
from ..storage.db import get_db
from ..storage.store import NotFound

ROLE_LABELS = {
    ADMIN: N_("Administrator"),
    MARKETER: N_("Marketer"),
    STORE_MANAGER: N_("Store manager"),
    VIEWER: N_("Viewer"),
}


JOB_STATES = {
    "queued": N_("Waiting…"),
    "checking": N_("Checking…"),
    "checked": N_("Checked"),
    "rechecking": N_("Checking again…"),
    "importing": N_("Importing…"),
    "exporting": N_("Exporting…"),
    "working": N_("Working…"),
    "done": N_("Done"),
    "failed": N_("Failed"),
    "interrupted": N_("Interrupted"),
}


def program_label(name: str | None) -> str:
    """A bonus program's name; the default one made by the migration ("Main program") in the user's language."""
    from ..points.programs import DEFAULT_NAME

    if name == DEFAULT_NAME:
        return str(N_("Main program"))
    return name or ""


AGENT_STATES = {"online": N_("online"), "offline": N_("offline"), "unknown": N_("never connected")}


def console_blueprint(name: str, url_prefix: str | None = None) -> Blueprint:
    """A blueprint whose every request needs a signed-in console user."""
    bp = Blueprint(name, __name__, url_prefix=url_prefix)
    bp.before_request(require_login)
    return bp


def load_actor() -> Actor | None:
    """The session's actor (cached in ``g``), or None."""
    if "actor" in g:
        return g.actor  # type: ignore[no-any-return]
    from ..services.users import actor_for, user_language

    actor = None
    from ..services.signin import session_valid

    uid, version = session.get("uid"), session.get("sv")
    if isinstance(uid, int) and isinstance(version, int) and session_valid(get_db(), session.get("sid"), uid):
        actor = actor_for(get_db(), uid, version, scope=current_app.config["STORE_MANAGER_SCOPE"])
        if actor is not None:
            g.user_language = user_language(get_db(), uid)
    g.actor = actor
    return actor


def client_address() -> str:
    """The client's address (behind TRUSTED_PROXIES reverse proxies: what they forwarded)."""
    return request.remote_addr or "unknown"


def require_login() -> ResponseReturnValue | None:
    if load_actor() is None:
        session.pop("uid", None)
        return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
    return None


def actor() -> Actor:
    found = load_actor()
    assert found is not None  # require_login ran first
    return found


def safe_next(target: str | None) -> str:
    """A redirect target only within this site (never another host). A backslash (which browsers read as a
    slash) or a control character sends home instead: a CR or LF in the ``Location`` header was a 500."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(c) < 32 or ord(c) == 127 for c in target)
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("home.index")


def list_url(endpoint: str, query: str) -> str:
    """The list page ``endpoint`` with a query string the client sent (a form's hidden ``query``, the export's
    own), encoded again: a CR or LF in it (a 500 in the ``Location`` header), a ``#`` or a reserved name of
    ``url_for`` (``_method``, ``endpoint``: 500s too) stays a query parameter's text."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return url_for(endpoint) + ("?" + urlencode(pairs) if pairs else "")


def int_arg(name: str) -> int | None:
    """A whole-number query parameter (a page's ``before`` id); :class:`BadQuery` (400) when it is not one."""
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        from ..services.text import _

        raise BadQuery({name: _("This page link is broken: start again from the first page.")})
    return int(value)


def form_data() -> dict[str, str]:
    """The posted form as a plain dict of stripped strings (first value of each field)."""
    return {key: (value or "").strip() for key, value in request.form.items()}


def render(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    return render_template(template, **context), status


def render_form(template: str, error: FormError, **context: Any) -> ResponseReturnValue:
    """The same form again with each message beside its field (422: nothing was changed)."""
    return render(template, 422, errors=error.errors, form=form_data(), **context)


def _forbidden(exc: Forbidden) -> ResponseReturnValue:
    return render("console/error.html", 403, title_code=403, detail=str(exc))


def _bad_query(exc: BadQuery) -> ResponseReturnValue:
    return render("console/error.html", 400, title_code=400, detail=" ".join(map(str, exc.errors.values())))


def _not_found(exc: NotFound) -> ResponseReturnValue:
    return render("console/error.html", 404, title_code=404, detail=str(exc))


def init_app(app: Flask) -> None:
    """Template helpers and error pages for the console."""
    app.register_error_handler(Forbidden, _forbidden)
    app.register_error_handler(NotFound, _not_found)
    app.register_error_handler(BadQuery, _bad_query)

    @app.context_processor
    def helpers() -> dict[str, Any]:
        lang = current_language()
        zone = current_app.config["CONSOLE_TIMEZONE"]
        who = load_actor() if request.blueprint not in (None, "api", "health") else None
        return {
            "me": who,
            "can": (lambda permission: who is not None and who.can(permission)),
            "lang": lang,
            "languages": LANGUAGES,
            "money": lambda v: formats.format_minor(v, lang),
            "points": lambda v: formats.format_minor(v, lang),
            "count": lambda v: formats.format_count(v, lang),
            "phone": formats.format_phone,
            "ltime": lambda v, seconds=False: formats.local_time(v, zone, seconds=seconds),
            "console_zone": zone,
            "role_labels": ROLE_LABELS,
            "job_states": JOB_STATES,
            "action_label": audit.action_label,
            "audit_changes": lambda row: audit.changes(row, lang),
            "agent_states": AGENT_STATES,
            "channel_label": channel_label,
            "program_label": program_label,
            "errors": {},
            "form": {},
        }
