"""Promotions benchmark (issue 18): the figures the issue asks for, each with a baseline of the same run.

* one quote (selection + calculator) with 1,000 active promotions, against the same quote without any;
* one 10-line quote with the 20 promotions of ``twenty()`` (if-then by SKU and category, a birthday one,
  a code list), kernel and reference, against the plain quote;
* 1,000,000 promo codes generated (check character and 3-character HMAC tag), against drawing the same
  random bodies alone (no tag, no check character);
* the batch with 20 promotions is bench/accrual.py's (its campaigns); the POS API's quote+commit with
  codes is ``bench/pos_api.py --promotions``.

    .venv/bin/python bench/promotions.py [--codes 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared import _accrual_py, accrual, promo_codes  # noqa: E402
from shared.promotions import Shopper, basket, calculator_inputs, parse_promotions  # noqa: E402
from shared.receipts import Line, Receipt  # noqa: E402
from shared.rules import parse_rules  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CODE_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
CATEGORIES = ["SUSHI", "ROLLS", "DRINKS", "TOBACCO", "BIZLUNCH"]


def twenty() -> dict:
    """20 promotions: 9 by SKU, 8 by category, a birthday one, one with a code list, one for everyone."""
    promos = []
    for i in range(9):
        promos.append(
            {
                "id": f"sku{i}",
                "name": f"SKU promo {i}",
                "conditions": {"skus": [f"SKU-{j}" for j in range(i * 500 + 1, i * 500 + 200)], "min_quantity": "1"},
                "reward": {"kind": "multiplier", "k": "1.5"} if i % 3 == 0 else {"kind": "points", "points": 500},
                "audience": "identified",
                "priority": i,
            }
        )
    for i in range(8):
        promos.append(
            {
                "id": f"cat{i}",
                "name": f"Category promo {i}",
                "conditions": {"categories": [CATEGORIES[i % 5]], "min_total": 1000 * i},
                "reward": {"kind": "percent_off", "percent": "5"} if i % 2 else {"kind": "points", "points": 100},
                "weekdays": [1, 2, 3, 4, 5, 6, 7],
            }
        )
    promos.append(
        {
            "id": "bday",
            "name": "Birthday",
            "birthday": {"days_before": 3, "days_after": 3},
            "reward": {"kind": "points", "points": 10000},
        }
    )
    promos.append(
        {
            "id": "code",
            "name": "Code",
            "conditions": {"code_list": "BIG"},
            "reward": {"kind": "money_off", "amount": 1000},
        }
    )
    promos.append(
        {
            "id": "all",
            "name": "Everyone",
            "reward": {"kind": "points", "points": 50},
            "limit": {"times": 100, "per": "day"},
        }
    )
    lists = [
        {"id": "BIG", "prefix": "BIG", "kind": "multi", "max_uses": 10**9, "key": CODE_KEY.hex(), "offline": "never"}
    ]
    return {"version": 1, "promotions": promos, "code_lists": lists}


def code() -> str:
    return promo_codes.make(CODE_KEY, "BIG", "ACDEFHJK", 3)


def thousand() -> dict:
    """1,000 active promotions for the store: every kind of condition, most of them general."""
    rng = random.Random(7)
    promos = []
    for i in range(1000):
        cond: dict = {}
        if i % 3 == 0:
            cond["skus"] = [f"SKU-{rng.randint(1, 5000)}" for _ in range(5)]
        elif i % 3 == 1:
            cond["categories"] = [rng.choice(CATEGORIES)]
        cond["min_total"] = rng.randint(0, 5) * 1000
        promos.append(
            {
                "id": f"p{i}",
                "name": f"Promotion {i}",
                "conditions": cond,
                "stores": ["S1", "S2"],
                "from": "2026-01-01",
                "to": "2027-12-31",
                "weekdays": [1, 2, 3, 4, 5, 6, 7],
                "from_hour": 0,
                "to_hour": 23,
                "audience": "identified",
                "reward": {"kind": "points", "points": 10} if i % 2 else {"kind": "percent_off", "percent": "1"},
                "priority": rng.randint(0, 100),
            }
        )
    return {"version": 1, "promotions": promos}


def receipt(rng: random.Random) -> Receipt:
    lines = tuple(
        Line(
            rng.randint(50, 2000) * 100, f"SKU-{rng.randint(1, 5000)}", rng.choice(CATEGORIES), rng.randint(1, 3) * 1000
        )
        for _ in range(10)
    )
    return Receipt(lines=lines, at=dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC), promo_codes=(code(),))


def best(fn, repeat: int = 2000) -> float:
    """Median of ``repeat`` timings of ``fn()`` in microseconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def quote_with(pset, calc, rules, r, shopper, codes):
    cats = [_accrual_py.line_category(rules, line) for line in r.lines]
    applied = pset.select("S1", basket(r.at.astimezone(rules.zone()), r.lines, cats), shopper, codes)
    campaigns, rewards = calculator_inputs(applied)
    return calc.quote(r, balance=None, campaigns=campaigns, rewards=rewards), applied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codes", type=int, default=1_000_000)
    args = parser.parse_args()
    rules = parse_rules(json.loads((ROOT / "docs" / "examples" / "rules.json").read_text(encoding="utf-8")))
    native, reference = accrual.calculator(rules), accrual.PythonCalculator(rules)
    rng = random.Random(1)
    r = receipt(rng)
    shopper = Shopper("c1", frozenset({1}), "1990-11-25", {})
    print(f"engine: {native.engine}")

    plain = best(lambda: native.quote(r))
    big = parse_promotions(thousand())
    (q, applied) = quote_with(big, native, rules, r, shopper, {})
    with_1000 = best(lambda: quote_with(big, native, rules, r, shopper, {}))
    print(
        f"one 10-line quote, 1,000 active promotions (selection + kernel; {len(applied)} applied, capped at 5 + 20): "
        f"{with_1000:.1f} us; baseline the same quote without promotions {plain:.1f} us   goal <= 1000 us"
    )
    small = parse_promotions(twenty())
    codes = {"BIG": code()}
    (q, applied) = quote_with(small, native, rules, r, shopper, codes)
    with_20 = best(lambda: quote_with(small, native, rules, r, shopper, codes))
    ref_20 = best(lambda: quote_with(small, reference, rules, r, shopper, codes), 300)
    print(
        f"one 10-line quote, 20 promotions ({len(applied)} applied, a code): kernel {with_20:.1f} us, "
        f"reference {ref_20:.1f} us; baseline without promotions {plain:.1f} us"
    )

    t = time.perf_counter()
    made = promo_codes.generate(args.codes, 8, key=CODE_KEY, prefix="SPR", tag_length=3, check=True)
    full = time.perf_counter() - t
    t = time.perf_counter()
    promo_codes.generate(args.codes, 8, key=CODE_KEY, prefix="SPR", tag_length=0, check=False)
    bare = time.perf_counter() - t
    assert len(set(made)) == args.codes
    print(
        f"{args.codes:,} codes generated (8 random + 3 tag + check): {full:.2f} s; "
        f"baseline the random bodies alone {bare:.2f} s   goal <= 5 s"
    )


if __name__ == "__main__":
    main()
