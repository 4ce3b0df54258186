"""Promotions and promo codes at the till (docs/promotions.md): what the agent applies when it quotes.

The store's promotions come down beside the rule set (docs/sync.md, "Promotions down") and are kept by
``Store.set_promotions``. For each quote and commit :func:`evaluate` checks the till's promo codes
(offline too: the list's check character and HMAC tag, validity, store, uses recorded here, the list's
offline policy), chooses the promotions (shared/promotions.py) and returns the calculator's inputs; after
the quote, :func:`explain` lists each promotion applied with its points and discount per line.

A refused code never stops the sale: it comes back as a problem document in ``promo_code_problems``
(types ``urn:loyalty-edge:problem:promo_code_*``, listed in the OpenAPI) and the receipt goes on
without it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared import _accrual_py as reference
from shared import promo_codes
from shared.identifiers import N_
from shared.promotions import (
    ANONYMOUS,
    EMPTY,
    MULTIPLIER,
    Applied,
    CodeList,
    PromotionSet,
    Shopper,
    basket,
    calculator_inputs,
)
from shared.receipts import Receipt
from shared.rules import RuleSet

from .i18n import translate
from .store.tx import Tx

PROBLEM_TYPE = "urn:loyalty-edge:problem:"
#: a code without the central server's answer to its reservation (agent/sync.py NO_ANSWER)
NO_ANSWER = "no_answer"

#: the code problems (type suffix -> title); the OpenAPI lists them (agent/api/schemas.py)
CODE_PROBLEMS: dict[str, str] = {
    "promo_code_unknown": N_("Unknown promo code"),
    "promo_code_used_up": N_("Promo code used up"),
    "promo_code_expired": N_("Promo code expired"),
    "promo_code_not_yet_valid": N_("Promo code not valid yet"),
    "promo_code_foreign": N_("Promo code not valid here"),
    "promo_code_offline": N_("Promo code needs the central link"),
    "promo_code_not_applicable": N_("Promo code gives nothing on this receipt"),
    "promo_code_personal": N_("Promo code issued to another customer"),
}
_DETAILS = {
    "promo_code_unknown": N_("The code %(code)s is not a promo code of this chain: check it was typed right."),
    "promo_code_used_up": N_("The code %(code)s has been used up."),
    "promo_code_expired": N_("The code %(code)s expired on %(date)s."),
    "promo_code_not_yet_valid": N_("The code %(code)s is valid from %(date)s."),
    "promo_code_foreign": N_("The code %(code)s is not valid at this store or for this customer."),
    "promo_code_offline": N_("The code %(code)s cannot be accepted while the store is offline."),
    "promo_code_not_applicable": N_("The code %(code)s is valid, but this receipt does not meet its conditions."),
    "promo_code_personal": N_("The code %(code)s is a personal code of another customer: identify its owner first."),
}
#: the central server's refusals of a reservation (agent/sync.py reserve_code) -> the problem the till gets
_CENTRAL = {"used_up": "promo_code_used_up", "unknown": "promo_code_unknown", "personal": "promo_code_personal"}


def code_problem(code: str, kind: str, **params: Any) -> dict[str, Any]:
    return {
        "type": PROBLEM_TYPE + kind,
        "title": translate(CODE_PROBLEMS[kind]),
        "status": 422,
        "detail": translate(_DETAILS[kind], {"code": code, **params}),
        "code": kind,
        "promo_code": code,
    }


@dataclass
class Evaluation:
    """What promotions give one receipt: the calculator's inputs and what to record and show."""

    applied: list[Applied]
    campaigns: list[Any]
    rewards: list[Any]
    codes: dict[str, str]  # list id -> accepted code
    problems: list[dict[str, Any]]
    day: dt.date
    #: accepted codes that were not reserved at the central server (no answer online): offline uses
    unreserved: frozenset[str] = frozenset()


NOTHING = Evaluation([], [], [], {}, [], dt.date(1970, 1, 1))


def current(tx: Tx, store: Any) -> PromotionSet:
    held = tx.promotions()
    return EMPTY if held is None else store.parsed_promotions(held[1])


def shopper(tx: Tx, customer: Any) -> Shopper:
    if customer is None:
        return ANONYMOUS
    try:
        segments = frozenset(int(s) for s in json.loads(customer["segments"] or "[]"))
    except (ValueError, TypeError, IndexError, KeyError):
        segments = frozenset()
    return Shopper(customer["id"], segments, customer["birthday"], _LazyUses(tx, customer["id"]))


class _LazyUses(Mapping[str, Sequence[str]]):
    """The customer's earlier rewards (``Tx.promotion_uses``), read only when a promotion with a limit per
    customer is weighed (most receipts meet none: two queries and a JSON parse saved per commit)."""

    def __init__(self, tx: Tx, customer_id: str) -> None:
        self._tx, self._customer_id = tx, customer_id
        self._uses: dict[str, list[str]] | None = None

    def _load(self) -> dict[str, list[str]]:
        if self._uses is None:
            self._uses = self._tx.promotion_uses(self._customer_id)
        return self._uses

    def __getitem__(self, key: str) -> Sequence[str]:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def _find_list(pset: PromotionSet, code: str) -> CodeList | None:
    best = None
    for cl in pset.code_lists.values():
        if code.startswith(cl.prefix) and (best is None or len(cl.prefix) > len(best.prefix)):
            if cl.key or cl.prefix:
                best = cl
    return best


def check_code(
    tx: Tx,
    pset: PromotionSet,
    raw: str,
    store_id: str,
    customer: Any,
    day: dt.date,
    link: str,
    reservations: Mapping[str, str | None] | None = None,
) -> tuple[CodeList | None, str, dict[str, Any] | None]:
    """(list, normalised code, problem or None) of one code the till sent (``customer``: the agent's row).

    ``reservations`` (online, with a sync client): the central server's answer to each code's reservation
    (agent/sync.py); a code without an answer is judged by the list's offline policy."""
    customer_id = customer["id"] if customer is not None else None
    code = promo_codes.normalise(raw)
    cl = _find_list(pset, code)
    if cl is None or not promo_codes.well_formed(code, cl.check):
        return None, code, code_problem(code, "promo_code_unknown")
    if cl.key and not promo_codes.genuine(code, cl.key, cl.prefix, cl.tag_length, cl.check):
        return None, code, code_problem(code, "promo_code_unknown")  # forged: refused even offline
    if cl.starts is not None and day < cl.starts:
        return None, code, code_problem(code, "promo_code_not_yet_valid", date=cl.starts.isoformat())
    if cl.ends is not None and day > cl.ends:
        return None, code, code_problem(code, "promo_code_expired", date=cl.ends.isoformat())
    if (cl.stores is not None and store_id not in cl.stores) or (cl.kind == "personal" and customer_id is None):
        return None, code, code_problem(code, "promo_code_foreign")
    if cl.kind == "personal" and code not in personal_codes(customer):
        return None, code, code_problem(code, "promo_code_personal")
    if tx.code_uses(code) >= cl.max_uses:
        return None, code, code_problem(code, "promo_code_used_up")
    if link == "online" and reservations is not None:
        answer = reservations.get(code, NO_ANSWER)
        if answer is None:
            return cl, code, None  # reserved at the central server
        if answer in _CENTRAL:
            return None, code, code_problem(code, _CENTRAL[answer])
        link = "offline"  # no answer: as if offline
    if link == "offline":
        if cl.offline != "bounded" or cl.kind != "single" or tx.offline_code_uses(cl.id) >= cl.offline_limit:
            return None, code, code_problem(code, "promo_code_offline")
    return cl, code, None


def personal_codes(customer: Any) -> frozenset[str]:
    """The personal codes issued to the customer (their delta's ``promo_codes``)."""
    try:
        return frozenset(json.loads(customer["promo_codes"] or "[]"))
    except (ValueError, TypeError, IndexError, KeyError):
        return frozenset()


def evaluate(
    tx: Tx,
    store: Any,
    rules: RuleSet,
    receipt: Receipt,
    customer: Any,
    store_id: str,
    link: str,
    reservations: Mapping[str, str | None] | None = None,
) -> Evaluation:
    """Check the codes and choose the promotions for ``receipt`` (``customer``: the agent's row or None)."""
    pset = current(tx, store)
    if not len(pset) and not receipt.promo_codes:
        return NOTHING
    local = receipt.at.astimezone(rules.zone())
    day = local.date()
    codes: dict[str, str] = {}
    problems: list[dict[str, Any]] = []
    for raw in receipt.promo_codes:
        cl, code, problem = check_code(tx, pset, raw, store_id, customer, day, link, reservations)
        if problem is not None:
            problems.append(problem)
        elif cl is not None and cl.id not in codes:
            codes[cl.id] = code
    unreserved = frozenset(
        c for c in codes.values() if link == "online" and reservations is not None and reservations.get(c, NO_ANSWER)
    )
    categories = [reference.line_category(rules, line) for line in receipt.lines]
    applied = pset.select(store_id, basket(local, receipt.lines, categories), shopper(tx, customer), codes)
    used_lists = {a.promotion.code_list for a in applied if a.code is not None}
    for list_id, code in list(codes.items()):
        if list_id not in used_lists:
            problems.append(code_problem(code, "promo_code_not_applicable"))
            del codes[list_id]
    campaigns, rewards = calculator_inputs(applied)
    return Evaluation(applied, campaigns, rewards, codes, problems, day, unreserved)


def explain(ev: Evaluation, quote: Any, calc: Any, receipt: Receipt, terms: Any, balance: Any) -> list[dict[str, Any]]:
    """Each promotion applied with its points and discount per line (``lines``: index, points, discount).

    Discounts and fixed points are the calculator's own rows; a multiplier's points on a line are what the
    line earns with it minus what it would earn without it (one more quote per multiplier)."""
    out = []
    rewards = iter(quote.rewards)
    for a in ev.applied:
        p = a.promotion
        if p.reward_kind == MULTIPLIER:
            others = [c for c in ev.campaigns if c.id != p.id]
            without = calc.quote(receipt, terms, balance, others, ev.rewards)
            points = [w.accrued - o.accrued for w, o in zip(quote.lines, without.lines, strict=True)]
            discounts = [0] * len(points)
        else:
            row = next(rewards, ())
            if p.reward_kind == "points":
                points, discounts = list(row), [0] * len(row)
            else:
                points, discounts = [0] * len(row), list(row)
        entry: dict[str, Any] = {
            "id": p.id,
            "name": p.name,
            "kind": p.reward_kind,
            "points": sum(points),
            "discount": sum(discounts),
            "lines": [
                {"index": i, "points": pt, "discount": d}
                for i, (pt, d) in enumerate(zip(points, discounts, strict=True))
                if pt or d
            ],
        }
        if a.code is not None:
            entry["promo_code"] = a.code
        if p.expires_days is not None and p.reward_kind == "points":
            entry["expires_days"] = p.expires_days
        out.append(entry)
    return out


def without_points(quote: Any) -> Any:
    """An anonymous receipt's quote: discounts stay, no points (nobody to accrue to)."""
    return quote._replace(accrued=0, bonus=0, lines=tuple(line._replace(accrued=0, bonus=0) for line in quote.lines))


def record(tx: Tx, ev: Evaluation, receipt_id: str, customer_id: str | None, link: str, now: dt.datetime) -> None:
    """The commit's uses: each code (online flag) and each promotion given to the customer (limits)."""
    for list_id, code in ev.codes.items():
        tx.add_code_use(code, receipt_id, customer_id, list_id, link != "offline" and code not in ev.unreserved, now)
    if customer_id is not None and ev.applied:
        tx.add_promotion_uses([(a.promotion.id, customer_id, receipt_id, ev.day.isoformat()) for a in ev.applied])


def body_fields(ev: Evaluation, explained: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The quote's and the commit's promotion fields (always present, empty without promotions)."""
    return {"promotions": list(explained), "promo_code_problems": list(ev.problems)}
