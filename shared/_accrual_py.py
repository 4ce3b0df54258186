"""The reference calculator: accrual.md as readable, exact Python.

This module *is* the specification in executable form; the Cython kernel in
``native/_accrual.pyx`` must agree with it to the last minor unit on every
input (tests/unit/test_kernel_equivalence.py). Arithmetic is on Python ints
over scaled values: percent x100, k x1000, points_per_money x1000.

The exact accrual of a line is::

    base x percent/100 x k_item x k_time x k_receipt x k_campaign x points_per_money

i.e. ``base * P * Ki * Kt * Kr * Kc * PPM / (10**4 * 10**3 * 10**3 * 10**3 * Kc_den * 10**3)``
and the line earns its floor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from .errors import Problem, RedeemOverLimit, RefundError
from .numbers import QUANTITY_SCALE, format_scaled
from .receipts import (
    FIXED_POINTS,
    MAX_REWARD_POINTS,
    MONEY_OFF,
    NO_TERMS,
    PERCENT_OFF,
    Campaign,
    CustomerTerms,
    Line,
    Receipt,
    Reward,
)
from .results import CommittedLine, LineQuote, LineRefund, Quote, Refund
from .rules import SPECIFICITY, RuleSet

K_ONE = 1000
#: denominator of percent (x100, and /100 for "per cent") and of the four k and ppm (x1000 each)
ACCRUAL_DENOMINATOR = 10**4 * 10**3 * 10**3 * 10**3 * 10**3


class Calculator:
    """The reference engine bound to one rule set (same interface as the kernel's)."""

    engine = "python"

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules

    def quote(
        self,
        receipt: Receipt,
        terms: CustomerTerms = NO_TERMS,
        balance: int | None = None,
        campaigns: Sequence[Campaign] = (),
        rewards: Sequence[Reward] = (),
    ) -> Quote:
        return quote(self.rules, receipt, terms, balance, campaigns, rewards)

    def refund(
        self,
        lines: Sequence[CommittedLine],
        already: Sequence[LineRefund] | None,
        request: Mapping[int, int],
    ) -> Refund:
        return refund(lines, already, request)


def quote(
    rules: RuleSet,
    receipt: Receipt,
    terms: CustomerTerms = NO_TERMS,
    balance: int | None = None,
    campaigns: Sequence[Campaign] = (),
    rewards: Sequence[Reward] = (),
) -> Quote:
    """Accrual per line and total, maximum redeemable, allocation of ``receipt.redeem``.

    :param balance: the customer's available points; ``None`` means not limited
        by a balance (what-if quotes), only by the cap.
    :param rewards: promotions' discounts and fixed points, in the order they apply
        (docs/accrual.md, "Promotions"): discounts first, line by line, then accrual and
        redemption on the discounted amounts, then fixed points after ``total_step``.
    :raises RedeemOverLimit: the receipt asks to redeem more than the maximum.
    """
    source = receipt.lines
    categories = [line_category(rules, line) for line in source]
    per_reward: list[list[int]] = []
    lines: Sequence[Line] = source
    if rewards:
        lines, per_reward = apply_discounts(source, categories, rewards)
    local = receipt.at.astimezone(rules.zone())
    total = sum(line.amount for line in lines)
    discounts = sum(line.discount for line in lines)
    redeemable = [line_redeemable(rules, line, cat) for line, cat in zip(lines, categories, strict=True)]

    # Redemption: cap, maximum, allocation over redeemable lines.
    cap = cap_percent(rules, total, discounts)
    redeemable_total = sum(line.amount for line, ok in zip(lines, redeemable, strict=True) if ok)
    max_redeemable = redeemable_total * cap // (100 * 100)
    if balance is not None:
        max_redeemable = max(0, min(balance, max_redeemable))
    if receipt.redeem > max_redeemable:
        raise RedeemOverLimit(receipt.redeem, max_redeemable)
    redeemed = allocate(receipt.redeem, [line.amount if ok else 0 for line, ok in zip(lines, redeemable, strict=True)])

    # Accrual: the receipt-wide factors, then each line.
    k_time = time_coefficient(rules, local)
    k_receipt = receipt_coefficient(rules, total)
    percent = customer_percent(rules, terms)
    receipt_factor = percent * k_time * k_receipt * rules.points_per_money
    points = []
    k_items = []
    for line, category, line_redeemed in zip(lines, categories, redeemed, strict=True):
        base = line.amount if rules.redemption.accrue_on_redeemed else line.amount - line_redeemed
        k_item = item_coefficient(rules, line, category)
        kc_num, kc_den = campaign_coefficient(campaigns, line.sku, category)
        k_items.append(k_item)
        if base <= 0 or k_item == 0:
            points.append(0)
            continue
        points.append(base * k_item * receipt_factor * kc_num // (ACCRUAL_DENOMINATOR * kc_den))
    points = apply_total_step(points, rules.total_step)
    if not rewards:
        return Quote(
            accrued=sum(points),
            redeemed=receipt.redeem,
            max_redeemable=max_redeemable,
            lines=tuple(
                LineQuote(p, r, k, ok) for p, r, k, ok in zip(points, redeemed, k_items, redeemable, strict=True)
            ),
            percent=percent,
            k_time=k_time,
            k_receipt=k_receipt,
            cap_percent=cap,
        )
    bonus = apply_fixed_points(source, lines, categories, rewards, per_reward)
    off = [a.amount - b.amount for a, b in zip(source, lines, strict=True)]
    points = [p + b for p, b in zip(points, bonus, strict=True)]
    return Quote(
        accrued=sum(points),
        redeemed=receipt.redeem,
        max_redeemable=max_redeemable,
        lines=tuple(
            LineQuote(p, r, k, ok, d, b)
            for p, r, k, ok, d, b in zip(points, redeemed, k_items, redeemable, off, bonus, strict=True)
        ),
        percent=percent,
        k_time=k_time,
        k_receipt=k_receipt,
        cap_percent=cap,
        discount=sum(off),
        bonus=sum(bonus),
        rewards=tuple(tuple(values) for values in per_reward),
    )


def apply_discounts(
    lines: Sequence[Line], categories: Sequence[str | None], rewards: Sequence[Reward]
) -> tuple[list[Line], list[list[int]]]:
    """The lines after the rewards' discounts, in the rewards' order, and each reward's money off per line.

    A percent discount takes ``floor(amount x percent / 100)`` of each matching line's current
    amount; a money discount is split over the matching lines by their current amounts (floors,
    then largest remainders, ties to the lower index), at most their sum. What is taken off a
    line's amount is added to its discount, so the redemption cap's discount share counts it.
    Fixed-point rewards leave a zero row here (:func:`apply_fixed_points` fills it).
    """
    amounts = [line.amount for line in lines]
    off = [0] * len(lines)
    per_reward = []
    for reward in rewards:
        match = [reward.applies_to(line.sku, cat) for line, cat in zip(lines, categories, strict=True)]
        if reward.kind == PERCENT_OFF:
            taken = [a * reward.value // 10000 if m else 0 for a, m in zip(amounts, match, strict=True)]
        elif reward.kind == MONEY_OFF:
            weights = [a if m else 0 for a, m in zip(amounts, match, strict=True)]
            taken = allocate(min(reward.value, sum(weights)), weights)
        else:
            taken = [0] * len(lines)
        amounts = [a - t for a, t in zip(amounts, taken, strict=True)]
        off = [o + t for o, t in zip(off, taken, strict=True)]
        per_reward.append(taken)
    if not any(off):
        return list(lines), per_reward
    out = [
        Line(
            amount=a,
            sku=line.sku,
            category=line.category,
            quantity=line.quantity,
            price=line.price,
            discount=line.discount + o,
            name=line.name,
        )
        for line, a, o in zip(lines, amounts, off, strict=True)
    ]
    return out, per_reward


def fixed_points_total(reward: Reward, lines: Sequence[Line], match: Sequence[bool]) -> int:
    """A fixed-point reward's points on this receipt: per receipt, or per ``per_units`` matching units
    (whole multiples of the matching lines' summed quantity), at most ``MAX_REWARD_POINTS``."""
    if reward.per_units <= 0:
        return min(reward.value, MAX_REWARD_POINTS)
    units = sum(line.quantity for line, m in zip(lines, match, strict=True) if m)
    return min(reward.value * (units // reward.per_units), MAX_REWARD_POINTS)


def apply_fixed_points(
    source: Sequence[Line],
    lines: Sequence[Line],
    categories: Sequence[str | None],
    rewards: Sequence[Reward],
    per_reward: list[list[int]],
) -> list[int]:
    """Each line's fixed points: every fixed-point reward split over its matching lines in proportion
    to their (discounted) amounts, floors then largest remainders, ties to the lower index; not subject
    to ``total_step``. Fills the rewards' rows of ``per_reward``."""
    bonus = [0] * len(lines)
    for index, reward in enumerate(rewards):
        if reward.kind != FIXED_POINTS:
            continue
        match = [reward.applies_to(line.sku, cat) for line, cat in zip(source, categories, strict=True)]
        weights = [line.amount if m else 0 for line, m in zip(lines, match, strict=True)]
        given = allocate(fixed_points_total(reward, source, match), weights)
        per_reward[index] = given
        bonus = [b + g for b, g in zip(bonus, given, strict=True)]
    return bonus


def line_category(rules: RuleSet, line: Line) -> str | None:
    """The category the receipt sends, or the product's category in the rule set."""
    if line.category is not None:
        return line.category
    product = rules.products.get(line.sku) if line.sku is not None else None
    return product.category if product is not None else None


def line_redeemable(rules: RuleSet, line: Line, category: str | None) -> bool:
    """Redeemable unless its product or its category says ``"redeemable": false``."""
    product = rules.products.get(line.sku) if line.sku is not None else None
    if product is not None and not product.redeemable:
        return False
    cat = rules.categories.get(category) if category is not None else None
    return cat is None or cat.redeemable


def item_coefficient(rules: RuleSet, line: Line, category: str | None) -> int:
    """k_item: product's k > category's k > largest k of the groups holding the category > 1."""
    product = rules.products.get(line.sku) if line.sku is not None else None
    if product is not None and product.k is not None:
        return product.k
    if category is not None:
        cat = rules.categories.get(category)
        if cat is not None and cat.k is not None:
            return cat.k
        group_ks = [g.k for g in rules.category_groups.values() if category in g.categories]
        if group_ks:
            return max(group_ks)
    return K_ONE


def time_coefficient(rules: RuleSet, local: dt.datetime) -> int:
    """k_time: the most specific matching kind wins; among its rules the largest k; none: 1."""
    matching = [rule for rule in rules.time_rules if rule.matches(local)]
    if not matching:
        return K_ONE
    best = min(SPECIFICITY[rule.kind] for rule in matching)
    return max(rule.k for rule in matching if SPECIFICITY[rule.kind] == best)


def receipt_coefficient(rules: RuleSet, total: int) -> int:
    """k_receipt: the tier with the largest ``from`` <= total; no such tier: 1."""
    k = K_ONE
    for tier in rules.receipt_tiers:  # sorted by from_amount
        if tier.from_amount <= total:
            k = tier.k
    return k


def customer_percent(rules: RuleSet, terms: CustomerTerms) -> int:
    """Personal store percent > personal network percent > level percent > base percent."""
    if terms.store_percent is not None:
        return terms.store_percent
    if terms.network_percent is not None:
        return terms.network_percent
    level = rules.level(terms.level) if terms.level is not None else None
    if level is not None:
        return level.percent
    return rules.base_percent


def campaign_coefficient(campaigns: Iterable[Campaign], sku: str | None, category: str | None) -> tuple[int, int]:
    """k_campaign as an exact fraction: the product of the applying multipliers, capped at 100.

    Like every coefficient, k_campaign is at most 100 (docs/accrual.md), which
    bounds a line's points to a 64-bit integer.
    """
    num, den = 1, 1
    for campaign in campaigns:
        if campaign.applies_to(sku, category):
            num *= campaign.k
            den *= K_ONE
    if num > 100 * den:
        return 100, 1
    return num, den


def cap_percent(rules: RuleSet, total: int, discounts: int) -> int:
    """The reduced cap when the discount share is strictly above the threshold, else the max."""
    redemption = rules.redemption
    gross = total + discounts
    if gross > 0 and discounts * 100 * 100 > gross * redemption.discount_threshold_percent:
        return redemption.reduced_max_percent
    return redemption.max_percent


def allocate(amount: int, weights: Sequence[int]) -> list[int]:
    """Split ``amount`` in proportion to ``weights``: floors, then the remaining units one
    at a time to the largest fractional remainders (ties: the lower index)."""
    total = sum(weights)
    if amount == 0 or total == 0:
        return [0] * len(weights)
    shares = [amount * w // total for w in weights]
    remainders = [amount * w % total for w in weights]
    left = amount - sum(shares)
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        shares[i] += 1
    return shares


def apply_total_step(points: list[int], step: int) -> list[int]:
    """Floor the receipt's total to a multiple of ``step``, taking the difference from the
    largest line accruals first (ties: the lower index)."""
    if step <= 1:
        return points
    points = list(points)
    diff = sum(points) % step
    for i in sorted(range(len(points)), key=lambda i: (-points[i], i)):
        if diff == 0:
            break
        take = min(diff, points[i])
        points[i] -= take
        diff -= take
    return points


def refund(
    lines: Sequence[CommittedLine],
    already: Sequence[LineRefund] | None,
    request: Mapping[int, int],
) -> Refund:
    """Points taken back and given back for returning ``request`` ({line index: quantity x1000}).

    Each line's refunds are proportional to the *cumulative* returned quantity,
    floored, so the refund that completes a line takes back exactly what is left
    and a full refund always returns the receipt's exact totals.

    :param already: running totals of earlier refunds per line (``None``: none yet).
    :raises RefundError: unknown line, non-positive quantity, or more than is left.
    """
    previous = list(already) if already is not None else [LineRefund()] * len(lines)
    problems = refund_problems(lines, previous, request)
    if problems:
        raise RefundError(problems)

    out = []
    for index, line in enumerate(lines):
        quantity = request.get(index, 0)
        if quantity == 0:
            out.append(LineRefund())
            continue
        before = previous[index]
        returned = before.quantity + quantity
        units = refund_units(line)

        def share(value: int, taken: int, returned: int = returned, units: int = units) -> int:
            return value * returned // units - taken

        out.append(
            LineRefund(
                quantity=quantity,
                amount=share(line.amount, before.amount),
                accrued=share(line.accrued, before.accrued),
                redeemed=share(line.redeemed, before.redeemed),
            )
        )
    return Refund(
        lines=tuple(out),
        amount=sum(r.amount for r in out),
        accrued=sum(r.accrued for r in out),
        redeemed=sum(r.redeemed for r in out),
    )


def refund_units(line: CommittedLine) -> int:
    """The quantity (x1000) a refund of ``line`` counts against: a line sold with quantity 0 (a
    service or weighed item the till sends without a quantity) is one unit, returned whole."""
    return line.quantity or QUANTITY_SCALE


def refund_problems(
    lines: Sequence[CommittedLine], previous: Sequence[LineRefund], request: Mapping[int, int]
) -> list[Problem]:
    """What is wrong with a refund request (empty: nothing), each with its path."""
    problems = []
    matching = len(previous) == len(lines)
    if not matching:
        problems.append(Problem("lines", "earlier refunds do not match the receipt's lines"))
    if not request:
        problems.append(Problem("lines", "name at least one line to return"))
    for index, quantity in request.items():
        path = f"lines[{index}]"
        if not 0 <= index < len(lines):
            problems.append(Problem(path, f"the receipt has no line {index} (it has {len(lines)})"))
        elif quantity <= 0:
            problems.append(Problem(f"{path}.quantity", "must be greater than 0"))
        elif matching and quantity > refund_units(lines[index]) - previous[index].quantity:
            left = refund_units(lines[index]) - previous[index].quantity
            problems.append(
                Problem(f"{path}.quantity", f"only {format_scaled(left, 3)} of this line is left to return")
            )
    return problems
