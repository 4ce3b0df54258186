"""Console pages: imports."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from .common import console_blueprint, render

bp = console_blueprint("imports", "/imports")


@bp.get("/")
def index() -> ResponseReturnValue:
    return render("console/error.html", 404, title_code=404, detail="")
