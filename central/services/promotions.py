"""Promotions and promo-code lists for the console (docs/promotions.md).

Each write checks the actor (administrators and marketers), validates with shared/promotions.py (the same
parser the agents use, so what the console saves is what the till applies), writes in one transaction with
its audit row, and gives the promotions a new version: the publisher sends the active ones to the stores
beside their rule set (central/sync/publisher.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import secrets
from typing import Any

from shared import promo_codes
from shared.promotions import PromotionError, parse_promotions, promotion_doc

from ..marketing import engine as segments
from ..points.versions import bump_versions
from ..storage.clock import now_utc
from ..storage.store import NotFound, Store
from . import audit, exports, targeting
from .access import ADMIN, MARKETER, SYSTEM, Actor, Forbidden, FormError
from .text import N_, _

STATES = ("draft", "active", "stopped")
MAX_CODES = 5_000_000
audit.ACTIONS.update(
    {
        "promotion.save": N_("Promotion saved"),
        "promotion.state": N_("Promotion started or stopped"),
        "promo_codes.create": N_("Promo-code list created"),
        "promo_codes.export": N_("Promo codes exported"),
        "promo_codes.issue": N_("Personal promo code issued"),
        "promo_codes.issue_segment": N_("Personal promo codes issued to a segment"),
    }
)
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def require_write(actor: Actor) -> None:
    """:class:`Forbidden` unless the actor may change promotions and promo-code lists (administrators and
    marketers); views call it before they read a form, so a refusal is a 403 whatever the form holds."""
    if actor.role not in (ADMIN, MARKETER):
        raise Forbidden(f"{actor.username} ({actor.role}) may not change promotions")


def check_promotion(db: Store, doc: Any) -> dict[str, Any]:
    """The promotion's canonical document, or :class:`FormError` naming every problem by its path."""
    if not isinstance(doc, dict):
        raise FormError({"promotion": _("A promotion is an object.")})
    code_list = (doc.get("conditions") or {}).get("code_list") if isinstance(doc.get("conditions"), dict) else None
    lists = [{"id": code_list}] if isinstance(code_list, str) else []
    try:
        parsed = parse_promotions({"version": 1, "promotions": [doc], "code_lists": lists})
    except PromotionError as error:
        raise FormError({p.path.removeprefix("promotions[0]."): p.message for p in error.problems}) from None
    if isinstance(code_list, str) and db.code_list(code_list) is None:
        raise FormError({"conditions.code_list": _("No promo-code list %(id)s.", id=code_list)})
    return promotion_doc(parsed.promotions[0])


def save(db: Store, actor: Actor, doc: Any) -> str:
    """Create or change a promotion (its ``id`` names it); a new one is a draft. Returns its id."""
    require_write(actor)
    checked = check_promotion(db, doc)
    if not _ID.match(checked["id"]):
        raise FormError({"id": _("An id is 1 to 64 letters, digits, dots, dashes or underscores.")})
    now = now_utc()
    text = json.dumps(checked, ensure_ascii=False, sort_keys=True)
    with db.transaction() as conn:
        before = db.promotion(checked["id"])
        if before is None:
            db.add_promotion(checked["id"], checked["name"], text, actor.username, now)
        else:
            db.update_promotion(checked["id"], checked["name"], text, actor.username, now)
            if before["state"] == "active":
                db.bump_promotions_version()
        audit.record(
            conn,
            actor,
            "promotion.save",
            "promotion",
            checked["id"],
            None if before is None else json.loads(before["document"]),
            checked,
        )
    return str(checked["id"])


def set_state(db: Store, actor: Actor, promotion_id: str, state: str) -> None:
    """Start (``active``: published to the stores), stop or return to draft."""
    require_write(actor)
    if state not in STATES:
        raise FormError({"state": _("A promotion is a draft, active or stopped.")})
    with db.transaction() as conn:
        row = db.promotion(promotion_id)
        if row is None:
            raise FormError({"promotion": _("No promotion %(id)s.", id=promotion_id)})
        db.set_promotion_state(promotion_id, state, actor.username, now_utc())
        db.bump_promotions_version()
        audit.record(
            conn, actor, "promotion.state", "promotion", promotion_id, {"state": row["state"]}, {"state": state}
        )


def listing(db: Store) -> list[dict[str, Any]]:
    """Every promotion with its state and results (receipts, customers, points, discount, sales)."""
    out = []
    for row in db.promotion_list():
        doc = json.loads(row.pop("document"))
        out.append({**row, "reward": doc["reward"], "audience": doc.get("audience", "all"), "doc": doc})
    return out


def _secret(db: Store) -> bytes:
    """The chain's promo-code secret (each list's HMAC key is derived from it); made on first use."""
    value = db.setting("promo_code_secret")
    if not value:
        value = secrets.token_hex(32)
        db.replace_setting("promo_code_secret", value)
    return value.encode()


def create_code_list(
    db: Store,
    actor: Actor,
    list_id: str,
    *,
    name: str | None = None,
    count: int = 0,
    length: int = 8,
    prefix: str = "",
    kind: str = "single",
    max_uses: int = 1,
    starts: str | None = None,
    ends: str | None = None,
    offline: str = "never",
    offline_limit: int = 0,
    tag_length: int = 3,
    check: bool = True,
    stores: list[str] | None = None,
    upload: str | None = None,
) -> int:
    """Generate ``count`` codes (or read an uploaded CSV: one code per row, first column) into a new list.
    Returns how many codes it holds."""
    require_write(actor)
    errors: dict[str, str] = {}
    if not isinstance(list_id, str) or not _ID.match(list_id):
        errors["id"] = _("An id is 1 to 64 letters, digits, dots, dashes or underscores.")
    elif db.code_list(list_id) is not None:
        errors["id"] = _("A list with this id exists.")
    if kind not in ("single", "multi", "personal"):
        errors["kind"] = _("A list is single-use, multi-use or personal.")
    if not 1 <= max_uses <= 10**9 or (kind != "multi" and max_uses != 1):
        errors["max_uses"] = _("Single-use and personal codes are used once; multi-use codes 1 to 10^9 times.")
    if offline not in ("never", "bounded"):
        errors["offline"] = _("Offline: never, or single-use codes up to a bound per store.")
    prefix = promo_codes.normalise(prefix or "")
    if len(prefix) > 16:
        errors["prefix"] = _("A prefix has at most 16 characters.")
    codes: list[str] = []
    if upload is None:
        if not 1 <= count <= MAX_CODES:
            errors["count"] = _("Between 1 and %(max)d codes.", max=MAX_CODES)
        if not 4 <= length <= 20:
            errors["length"] = _("A code's random part has 4 to 20 characters.")
        if not 0 <= tag_length <= 8:
            errors["tag_length"] = _("The tag has 0 to 8 characters.")
    else:
        for row in csv.reader(io.StringIO(upload)):
            if row and row[0].strip() and row[0].strip().lower() != "code":
                codes.append(promo_codes.normalise(row[0]))
        if not codes:
            errors["upload"] = _("The file holds no codes.")
        elif len(set(codes)) != len(codes):
            errors["upload"] = _("The file holds a code twice.")
        elif any(len(c) > 64 for c in codes):
            errors["upload"] = _("A code has at most 64 characters.")
    if errors:
        raise FormError(errors)
    now = now_utc()
    with db.transaction() as conn:
        if upload is None:
            key = promo_codes.list_key(_secret(db), list_id)
            codes = promo_codes.generate(count, length, key=key, prefix=prefix, tag_length=tag_length, check=check)
            taken = db.existing_codes(codes)
            if taken:  # another list holds some of them: draw those again
                fresh = [c for c in codes if c not in taken]
                while len(fresh) < count:
                    extra = promo_codes.generate(
                        count - len(fresh), length, key=key, prefix=prefix, tag_length=tag_length, check=check
                    )
                    fresh += [c for c in extra if c not in taken and c not in set(fresh)]
                codes = fresh
        else:
            taken = db.existing_codes(codes)
            if taken:
                raise FormError({"upload": _("%(n)d codes are in another list already.", n=len(taken))})
        db.add_code_list(
            {
                "id": list_id,
                "name": name or list_id,
                "kind": kind,
                "max_uses": max_uses,
                "starts": starts,
                "ends": ends,
                "offline": offline,
                "offline_limit": offline_limit,
                "prefix": prefix,
                "body_length": length if upload is None else 0,
                "tag_length": tag_length if upload is None else 0,
                "check_char": int(check and upload is None),
                "uploaded": int(upload is not None),
                "stores": json.dumps(stores) if stores else None,
                "created_by": actor.username,
                "created_at": now,
            }
        )
        db.add_codes(list_id, codes, max_uses)
        db.bump_promotions_version()
        audit.record(
            conn, actor, "promo_codes.create", "promo_code_list", list_id, None, {"codes": len(codes), "kind": kind}
        )
    return len(codes)


def export_codes(db: Store, actor: Actor, list_id: str, fmt: str = "csv") -> tuple[bytes, str]:
    """A list's codes for printing: (content, media type). CSV (UTF-8) or XLSX."""
    if db.code_list(list_id) is None:
        raise FormError({"list": _("No promo-code list %(id)s.", id=list_id)})
    rows = _in_scope(db, actor, db.list_codes(list_id))
    audit.record_export(db, actor, "promo_codes", fmt, list_id)
    header = ("code", "uses", "max_uses", "customer")
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(list_id[:31])
        sheet.append(header)
        for row in rows:  # an uploaded code may look like a formula: a string cell, neutralized
            sheet.append([exports.xlsx_cell(sheet, v) for v in row])
        out = io.BytesIO()
        book.save(out)
        return out.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return exports.csv_text([header, *rows]).encode("utf-8"), "text/csv; charset=utf-8"


def _personal_list(db: Store, list_id: str) -> dict[str, Any]:
    row = db.code_list(list_id)
    if row is None or row["kind"] != "personal":
        raise FormError({"list": _("Choose a personal promo-code list.")})
    return row


def issue_code(db: Store, actor: Actor, list_id: str, customer_id: str) -> str:
    """Issue a free code of a personal list to one customer (the customer's profile): the code. It goes down to
    the stores in the customer's delta and is accepted at the till only for that customer."""

    require_write(actor)
    _personal_list(db, list_id)
    try:
        db.customer(customer_id)
    except NotFound:
        raise FormError({"customer": _("No customer %(id)s.", id=customer_id)}) from None
    with db.transaction() as conn:
        code = db.issue_code(list_id, customer_id, now_utc())
        if code is None:
            raise FormError({"list": _("Every code of the list %(id)s has been issued.", id=list_id)})
        bump_versions(conn, [customer_id])
        segments.customer_changed(conn, [customer_id], "promo_code")  # "received a code of the list"
        audit.record(conn, actor, "promo_codes.issue", "customer", customer_id, None, {"list": list_id, "code": code})
    return code


def issue_to_segment(db: Store, actor: Actor, list_id: str, segment_id: int) -> dict[str, int]:
    """Issue a code of a personal list to every member of a segment that holds none of the list yet (a re-run
    issues nobody a second code): {members, issued, already, missing (the list ran out)}."""

    require_write(actor)
    _personal_list(db, list_id)
    ids = targeting.members(db, actor, segment_id)
    result = {"members": len(ids), "issued": 0, "already": 0, "missing": 0}
    now = now_utc()
    with db.transaction() as conn:
        held = db.customer_list_codes(list_id, ids)
        issued: list[str] = []
        for cid in ids:
            if cid in held:
                result["already"] += 1
            elif db.issue_code(list_id, cid, now) is None:
                result["missing"] += 1
            else:
                issued.append(cid)
        result["issued"] = len(issued)
        if issued:
            bump_versions(conn, issued)
            segments.customer_changed(conn, issued, "promo_code")
        audit.record(
            conn,
            actor,
            "promo_codes.issue_segment",
            "promo_code_list",
            list_id,
            None,
            {"segment": segment_id, **result},
        )
    return result


def _in_scope(
    db: Store, actor: Actor, rows: list[tuple[str, int, int, str | None]]
) -> list[tuple[str, int, int, str | None]]:
    """A list's codes as the actor may see them: a store manager sees the holder only of a code held by a
    customer registered at their stores (the others' codes without the customer)."""
    if not actor.scoped:
        return rows
    homes = db.customers_home(sorted({r[3] for r in rows if r[3] is not None}))
    return [r if r[3] is None or homes.get(r[3]) in actor.stores else (r[0], r[1], r[2], None) for r in rows]


def code_list_page(db: Store, list_id: str, actor: Actor = SYSTEM) -> dict[str, Any]:
    """A list with its statistics by store and day and its offline conflicts (every use of a doubly used code);
    a store manager's: their stores' uses only (the list's totals stay the chain's)."""
    row = next((r for r in db.code_lists() if r["id"] == list_id), None)
    if row is None:
        raise FormError({"list": _("No promo-code list %(id)s.", id=list_id)})
    by_store_day, conflicts = db.code_use_stats(list_id), db.code_conflicts(list_id)
    if actor.scoped:
        by_store_day = [r for r in by_store_day if r["store"] in actor.stores]
        conflicts = [r for r in conflicts if r["store"] in actor.stores]
    return {"list": row, "by_store_day": by_store_day, "conflicts": conflicts}


def whatif(db: Store, actor: Actor, store_id: str, doc: Any, days: int = 30) -> dict[str, Any]:
    """What a draft promotion would have given over the store's last ``days`` days of real receipts (with a
    customer), with the batch kernel: the receipts it applies to (its conditions, audience and dates, as the
    till would choose; per-customer limits and promo codes are not replayed), points and money off, against
    the store's current rule set without it."""
    import time as _time

    import numpy as np

    from shared import batch
    from shared.columns import prepare_columns
    from shared.promotions import Applied as _Applied
    from shared.promotions import Shopper, applies, basket, calculator_inputs
    from shared.rules import parse_rules

    from .rules import draft as current_draft
    from .rules import with_program
    from .whatif import MAX_DAYS, load

    actor.require("rules.read")
    actor.require_store(store_id)  # another store's receipts: 403 before the draft is read
    checked = check_promotion(db, doc)
    promotion = parse_promotions({"version": 1, "promotions": [checked], "code_lists": []}).promotions[0]
    store = db.get_store(store_id)
    current_draft(db, actor, store_id)  # the store scope
    found = db.latest_rules().get(store_id)
    if not found:
        raise FormError({"store": _("The store has no rule set yet.")})
    rules = parse_rules({**with_program(db, found[1], store), "version": found[0]})
    days = max(1, min(int(days), MAX_DAYS))
    started = _time.perf_counter()
    since = int(_time.time()) - days * 86400
    prepared, receipts, lines, _issued = load(db, store_id, store["timezone"], since)
    customers = [row[5] for row in db.purchases_since(store_id, since)]
    facts = db.customer_promotion_facts(customers)
    campaigns, rewards = calculator_inputs([_Applied(promotion)])
    entry = (campaigns or rewards)[0]
    starts = prepared.line_start.tolist()
    skus, cats = prepared.skus, prepared.categories
    codes, _names = batch.line_categories(rules, prepared)
    sku_col, amount_col = prepared.sku.tolist(), prepared.amount.tolist()
    quantity_col, cat_col = prepared.quantity.tolist(), codes.tolist()
    import zoneinfo

    zone = zoneinfo.ZoneInfo(store["timezone"])
    hit = np.zeros(receipts, np.int64)
    for r in range(receipts):
        day = dt.date.fromordinal(int(prepared.day[r]))
        local = dt.datetime(day.year, day.month, day.day, int(prepared.hour[r]), tzinfo=zone)
        segments, birthday = facts.get(customers[r], (frozenset(), None))
        shopper = Shopper(customers[r], segments, birthday, {})
        rows = range(starts[r], starts[r + 1])
        items = [_LineView(amount_col[i], skus[sku_col[i]] if sku_col[i] >= 0 else None, quantity_col[i]) for i in rows]
        names = [_names[cat_col[i]] if cat_col[i] >= 0 else None for i in rows]
        if applies(promotion, store_id, basket(local, items, names), shopper, day):
            hit[r] = 1
    campaign_start = np.concatenate([[0], np.cumsum(hit)]).astype(np.int64)
    with_promotion = prepare_columns(
        store["timezone"],
        at=_epochs(prepared),
        line_start=prepared.line_start,
        sku=prepared.sku,
        category=prepared.category,
        amount=prepared.amount,
        discount=prepared.discount,
        quantity=prepared.quantity,
        skus=skus,
        categories=cats,
        redeem=prepared.redeem,
        level=prepared.level,
        levels=prepared.levels,
        store_percent=prepared.store_percent,
        network_percent=prepared.network_percent,
        campaign_start=campaign_start,
        campaign=np.zeros(int(hit.sum()), np.int32),
        campaigns=[entry],
    )
    base = batch.quote_batch(rules, prepared)
    after = batch.quote_batch(rules, with_promotion)
    line_receipt = np.repeat(np.arange(receipts), np.diff(prepared.line_start))
    sales = np.zeros(receipts, np.int64)
    np.add.at(sales, line_receipt, prepared.amount)
    return {
        "days": days,
        "receipts": receipts,
        "lines": lines,
        "applied": int(hit.sum()),
        "customers": len({customers[r] for r in np.flatnonzero(hit).tolist()}),
        "points_without": int(base.accrued.sum()),
        "points_with": int(after.accrued.sum()),
        "points": int(after.accrued.sum() - base.accrued.sum()),
        "discount": int(after.line_discount.sum()),
        "sales": int(sales[hit == 1].sum()),
        "seconds": _time.perf_counter() - started,
    }


class _LineView:
    """A line as the conditions read it (amount, sku, quantity)."""

    __slots__ = ("amount", "sku", "quantity")

    def __init__(self, amount: int, sku: str | None, quantity: int) -> None:
        self.amount, self.sku, self.quantity = amount, sku, quantity


def _epochs(prepared: Any) -> Any:
    """UTC epoch seconds that give back the prepared local day and hour (the minute is not kept)."""
    import zoneinfo

    import numpy as np

    zone = zoneinfo.ZoneInfo(prepared.timezone)
    out = np.empty(prepared.receipts, np.int64)
    for r in range(prepared.receipts):
        day = dt.date.fromordinal(int(prepared.day[r]))
        local = dt.datetime(day.year, day.month, day.day, int(prepared.hour[r]), 30, tzinfo=zone)
        out[r] = int(local.timestamp())
    return out
