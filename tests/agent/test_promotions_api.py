"""Promotions and promo codes through the POS API (issue 18): every code problem type (the sale goes on),
the quote listing each promotion per line, an idempotent commit with a code, a refund after a fixed
reward, the slip. Every answer is checked against the OpenAPI document (tests/agent/conftest.py)."""

from __future__ import annotations

import pytest

from shared import promo_codes as pc

from .conftest import delta, receipt

KEY = pc.list_key(b"chain secret", "SPR")
OLD_KEY = pc.list_key(b"chain secret", "OLD")


def code(key=KEY, prefix="SPR", body="ACDEFH"):
    return pc.make(key, prefix, body, 3)


def promotions(version=1, **extra):
    return {
        "version": version,
        "code_lists": [
            {"id": "SPR", "prefix": "SPR", "key": KEY.hex(), "kind": "single", "offline": "never"},
            {"id": "OLD", "prefix": "OLD", "key": OLD_KEY.hex(), "to": "2026-01-31"},
            {"id": "NEW", "prefix": "NEW", "key": KEY.hex(), "from": "2027-01-01"},
            {"id": "FOR", "prefix": "FOR", "key": KEY.hex(), "stores": ["S999"]},
            {"id": "BIG", "prefix": "BIG", "key": KEY.hex(), "kind": "multi", "max_uses": 5},
        ],
        "promotions": [
            {
                "id": "ten",
                "name": "10% off rolls",
                "conditions": {"code_list": "SPR"},
                "reward_lines": {"categories": ["ROLLS"]},
                "reward": {"kind": "percent_off", "percent": "10"},
                "priority": 5,
            },
            {
                "id": "fixed",
                "name": "1000 points",
                "audience": "identified",
                "reward": {"kind": "points", "points": 1000},
            },
            {
                "id": "big",
                "name": "Big receipts",
                "conditions": {"code_list": "BIG", "min_total": 10_000_000},
                "reward": {"kind": "points", "points": 1},
            },
            *[
                {
                    "id": f"o{i}",
                    "name": "old",
                    "conditions": {"code_list": n},
                    "reward": {"kind": "points", "points": 1},
                }
                for i, n in enumerate(("OLD", "NEW", "FOR"))
            ],
        ],
        **extra,
    }


@pytest.fixture
def till(api, store):
    store.apply_customer_delta(delta("c1"))
    store.set_promotions(promotions())
    return api


def problems(answer):
    return [(p["code"], p["promo_code"]) for p in answer.get_json()["promo_code_problems"]]


def with_codes(body, *codes):
    return {**body, "promo_codes": list(codes)}


def test_the_quote_lists_each_promotion_per_line(till):
    lines = [
        {"sku": "SKU-9", "category": "ROLLS", "quantity": "1", "amount": 30000},
        {"sku": "TEA", "category": "DRINKS", "quantity": "2", "amount": 10000},
    ]
    answer = till.post("/v1/receipts/quote", with_codes(receipt(lines=lines), code()))
    body = answer.get_json()
    assert answer.status_code == 200 and body["promo_code_problems"] == []
    assert body["discount"] == 3000
    ten, fixed = body["promotions"]
    assert (ten["id"], ten["discount"], ten["lines"], ten["promo_code"]) == (
        "ten",
        3000,
        [{"index": 0, "points": 0, "discount": 3000}],
        code(),
    )
    # 1000 fixed points split by the discounted amounts 27000 : 10000
    assert fixed["lines"] == [{"index": 0, "points": 730, "discount": 0}, {"index": 1, "points": 270, "discount": 0}]
    # accrual on the discounted amounts: 3 % of 27000 and of 10000, plus the fixed points
    assert [line["accrued"] for line in body["lines"]] == [810 + 730, 300 + 270]
    assert [line["discount"] for line in body["lines"]] == [3000, 0]


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("NOPE-1234", "promo_code_unknown"),
        (code()[:-1] + ("A" if code()[-1] != "A" else "C"), "promo_code_unknown"),  # a typo: the check character
        (code(key=b"forger" * 3), "promo_code_unknown"),  # forged: no key, refused offline too
        (code(OLD_KEY, "OLD"), "promo_code_expired"),
        (code(prefix="NEW"), "promo_code_not_yet_valid"),
        (code(prefix="FOR"), "promo_code_foreign"),
        (code(prefix="BIG"), "promo_code_not_applicable"),
    ],
)
def test_each_code_problem_and_the_sale_goes_on(till, typed, problem):
    answer = till.post("/v1/receipts", with_codes(receipt("R1"), typed))
    assert answer.status_code == 201
    body = answer.get_json()
    assert problems(answer) == [(problem, pc.normalise(typed))]
    p = body["promo_code_problems"][0]
    assert p["type"] == "urn:loyalty-edge:problem:" + problem and p["status"] == 422 and p["title"] and p["detail"]
    assert [e["id"] for e in body["promotions"]] == ["fixed"]  # the receipt went on without the code
    assert body["accrued"] == 1350 + 1000


def test_a_used_up_code_and_an_idempotent_commit_with_a_code(till, store):
    first = till.post("/v1/receipts", with_codes(receipt("R1"), code().lower()))
    again = till.post("/v1/receipts", with_codes(receipt("R1"), code().lower()))
    assert again.headers.get("Idempotent-Replayed") == "true" and again.get_json() == first.get_json()
    with store.read() as tx:
        assert tx.code_uses(code()) == 1  # the replay did not use it twice
    used = till.post("/v1/receipts/quote", with_codes(receipt("R2"), code()))
    assert problems(used) == [("promo_code_used_up", code())]
    # the event carries the promotions and the discounted line
    event = store.outbox_batch()[0].body
    assert [p["id"] for p in event["promotions"]] == ["ten", "fixed"]
    assert event["lines"][0]["amount"] == 40500 and event["lines"][0]["discount"] == 4500
    assert event["total"] == 40500


def test_offline_a_never_list_is_refused(make_app, api):
    app = make_app(broker_url="mqtt://127.0.0.1:1")
    from agent.auth import add_terminal

    from .conftest import Api

    store = app.extensions["loyalty_agent"].store
    store.apply_customer_delta(delta("c1"))
    store.set_promotions(promotions())
    offline = Api(app, add_terminal(store, "P01", "Till 1"))
    answer = offline.post("/v1/receipts", with_codes(receipt("R1"), code()))
    assert answer.status_code == 201 and problems(answer) == [("promo_code_offline", code())]


def test_a_refund_takes_the_fixed_reward_back_with_its_line(till):
    lines = [
        {"sku": "SKU-9", "category": "ROLLS", "quantity": "2", "amount": 30000},
        {"sku": "TEA", "category": "DRINKS", "quantity": "1", "amount": 10000},
    ]
    committed = till.post("/v1/receipts", receipt("R1", lines=lines)).get_json()
    assert [line["bonus"] for line in committed["lines"]] == [750, 250]
    half = till.post("/v1/receipts/R1/refund", {"refund_id": "F1", "lines": [{"index": 0, "quantity": "1"}]})
    assert half.status_code == 201
    taken = half.get_json()["accrued"]
    assert taken == (900 + 750) // 2  # half of the line's points, its fixed share included
    rest = till.post(
        "/v1/receipts/R1/refund", {"refund_id": "F2", "lines": [{"index": 0, "quantity": "1"}, {"index": 1}]}
    )
    assert taken + rest.get_json()["accrued"] == committed["accrued"]  # all of it back, exactly


def test_anonymous_receipts_get_discounts_but_no_points(till):
    body = till.post("/v1/receipts/quote", with_codes({**receipt(), "customer": None}, code())).get_json()
    assert body["accrued"] == 0 and body["discount"] == 4500
    assert [p["id"] for p in body["promotions"]] == ["ten"]  # "fixed" is for identified customers


def test_a_cancelled_receipt_gives_its_single_use_code_back(till, store):
    assert till.post("/v1/receipts", with_codes(receipt("R1"), code())).status_code == 201
    assert problems(till.post("/v1/receipts/quote", with_codes(receipt("R2"), code()))) == [
        ("promo_code_used_up", code())
    ]
    assert till.post("/v1/receipts/R1/cancel").status_code in (200, 201)
    assert problems(till.post("/v1/receipts/quote", with_codes(receipt("R2"), code()))) == []


def test_a_limit_counts_the_rewards_at_other_stores_that_came_down(api, store):
    """Per-customer limits across stores: the delta's promotion_uses (every store's) count with ours."""
    doc = promotions()
    doc["promotions"].append(
        {
            "id": "weekly",
            "name": "Once a week",
            "limit": {"times": 1, "per": "week"},
            "reward": {"kind": "points", "points": 7},
        }
    )
    store.set_promotions(doc)
    day = receipt()["at"][:10]
    store.apply_customer_delta(delta("c1", promotion_uses=[{"promotion": "weekly", "day": day, "receipt_id": "S2-9"}]))
    body = api.post("/v1/receipts/quote", receipt()).get_json()
    assert "weekly" not in [p["id"] for p in body["promotions"]]  # used this week at S2
    store.apply_customer_delta(delta("c1", version=2))  # the central server says: no use
    body = api.post("/v1/receipts", receipt("R1")).get_json()
    assert "weekly" in [p["id"] for p in body["promotions"]]
    store.apply_customer_delta(
        delta("c1", version=3, promotion_uses=[{"promotion": "weekly", "day": day, "receipt_id": "R1"}])
    )
    body = api.post("/v1/receipts/quote", receipt("R2")).get_json()
    assert "weekly" not in [p["id"] for p in body["promotions"]]  # R1 counted once, here and centrally


def test_a_personal_code_is_accepted_only_for_the_customer_it_was_issued_to(api, store):
    """A personal list's codes come down in their owner's delta (``promo_codes``); another customer, or a
    receipt without one, gets a clear problem and the sale goes on."""
    doc = promotions()
    doc["code_lists"].append({"id": "PER", "prefix": "PER", "key": KEY.hex(), "kind": "personal"})
    doc["promotions"].append(
        {"id": "mine", "name": "Yours", "conditions": {"code_list": "PER"}, "reward": {"kind": "points", "points": 5}}
    )
    store.set_promotions(doc)
    mine, other = code(prefix="PER"), code(prefix="PER", body="HFEDCA")
    store.apply_customer_delta(delta("c1", promo_codes=[mine]))
    store.apply_customer_delta(delta("c2", card="7700000000000017", promo_codes=[other]))

    answer = api.post("/v1/receipts/quote", with_codes(receipt(), other))  # c1 with c2's code
    assert problems(answer) == [("promo_code_personal", other)]
    problem = answer.get_json()["promo_code_problems"][0]
    assert problem["type"] == "urn:loyalty-edge:problem:promo_code_personal" and problem["detail"]
    anonymous = api.post("/v1/receipts/quote", with_codes({**receipt(), "customer": None}, mine))
    assert anonymous.status_code == 200 and problems(anonymous) == [("promo_code_foreign", mine)]
    answer = api.post("/v1/receipts", with_codes(receipt("R1"), mine.lower()))
    assert answer.status_code == 201 and problems(answer) == []
    assert "mine" in [p["id"] for p in answer.get_json()["promotions"]]
    again = api.post("/v1/receipts", with_codes(receipt("R2"), mine))
    assert problems(again) == [("promo_code_used_up", mine)]  # a personal code is used once


def test_online_codes_are_reserved_before_the_commit_and_no_answer_means_the_offline_policy(make_app, clock):
    """With a central link the commit asks the sync client to reserve each code it would use (agent/sync.py
    reserve_code, over MQTT: tests/system/test_promo_codes_online.py); its refusal is the till's problem;
    without an answer the list's offline policy decides and the use counts as an offline one."""
    from agent.auth import add_terminal
    from agent.store.times import iso

    from .conftest import Api

    app = make_app(broker_url="mqtt://127.0.0.1:1")
    ext = app.extensions["loyalty_agent"]
    store = ext.store
    store.apply_customer_delta(delta("c1"))
    doc = promotions()
    doc["code_lists"][0]["offline"] = "bounded"
    doc["code_lists"][0]["offline_limit"] = 5
    store.set_promotions(doc)
    store.set_state("link", "online")
    store.set_state("last_sync_at", iso(clock()))
    till = Api(app, add_terminal(store, "P01", "Till 1"))
    asked: list[tuple] = []
    answers = iter(["used_up", None, "no_answer"])

    def reserve(code, receipt_id, customer_id):
        asked.append((code, receipt_id, customer_id))
        return next(answers)

    ext.service.reserve_code = reserve
    first = till.post("/v1/receipts", with_codes(receipt("R1"), code()))
    assert problems(first) == [("promo_code_used_up", code())] and asked == [(code(), "R1", "c1")]
    second = till.post("/v1/receipts", with_codes(receipt("R2"), code(body="HFEDCA")))
    assert problems(second) == [] and "ten" in [p["id"] for p in second.get_json()["promotions"]]
    third = till.post("/v1/receipts", with_codes(receipt("R3"), code(body="DDDDDD")))
    assert problems(third) == []  # no answer: accepted under the list's offline bound
    with store.read() as tx:
        uses = [tuple(r) for r in tx.c.execute("SELECT receipt_id, online FROM code_uses ORDER BY id")]
    assert uses == [("R2", 1), ("R3", 0)]
    replay = till.post("/v1/receipts", with_codes(receipt("R2"), code(body="HFEDCA")))
    assert replay.get_json() == second.get_json() and len(asked) == 3  # a replay reserves nothing
