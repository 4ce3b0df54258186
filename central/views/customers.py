"""Console pages: customers."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from .common import console_blueprint, render

bp = console_blueprint("customers", "/customers")


@bp.get("/")
def index() -> ResponseReturnValue:
    return render("console/error.html", 404, title_code=404, detail="")
