"""The promotion, promo code, trigger and message criteria (docs/segments.md, "Where the criteria's facts come
from"): each at its edges for one customer, the storage's set queries against the per-customer evaluator on the
same rows, and a dynamic segment a customer enters as soon as the fact appears (a reward at the ingest, a code
issued or used, a trigger run reaching a step, a mailing's message opened)."""

from __future__ import annotations

import datetime as dt

import pytest

from central.marketing import engine
from central.marketing import trigger_engine as triggers
from central.marketing.segments import evaluate, parse_definition
from central.marketing.segments.definition import parse_criterion
from central.marketing.segments.evaluate import Context, Facts, matches
from central.marketing.set_evaluator import SetEvaluator
from central.services import messages as message_service
from central.services import promotions as promotion_service
from central.services import segments as service
from central.services import triggers as trigger_service
from central.services.access import SYSTEM, Actor
from central.storage import aggregates
from central.storage import messages as outbox
from central.storage.aggregates import message_outcomes
from central.storage.clock import now_utc
from central.storage.store import IngestUnit, Store
from tests.sync.fakes import FakeAgent

pytestmark = pytest.mark.postgresql

MARKETER = Actor(7, "mia", "marketer")
ADMIN = Actor(1, "root", "admin")
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
TODAY = dt.date(2026, 6, 15).toordinal()


def hit(doc: dict, facts: Facts) -> bool:
    c, problems = parse_criterion(doc, "c")
    assert c is not None, problems
    return matches(c, facts, Context(TODAY))


# -- one customer, at the edges --------------------------------------------------------------------------------


def test_promotion_took_part_or_not():
    rewarded = Facts(1, promotions=frozenset({"P1"}))
    assert hit({"type": "promotion", "promotions": ["P1", "P2"]}, rewarded)
    assert not hit({"type": "promotion", "promotions": ["P2"]}, rewarded)
    assert not hit({"type": "promotion", "promotions": ["P1"], "took_part": False}, rewarded)
    assert hit({"type": "promotion", "promotions": ["P2"], "took_part": False}, rewarded)
    assert hit({"type": "promotion", "promotions": ["P1"], "took_part": False}, Facts(2))  # nothing at all
    assert hit({"type": "promotion", "promotions": "P1"}, rewarded)  # one id alone


def test_promo_code_received_and_activated_are_separate():
    f = Facts(1, codes=frozenset({("L1", "received"), ("L2", "activated")}))
    assert hit({"type": "promo_code", "lists": ["L1"], "state": "received"}, f)
    assert not hit({"type": "promo_code", "lists": ["L1"], "state": "activated"}, f)  # issued, never used
    assert hit({"type": "promo_code", "lists": ["L2", "L3"], "state": "activated"}, f)
    assert not hit({"type": "promo_code", "lists": ["L2"], "state": "received"}, f)  # a public list's code
    assert not hit({"type": "promo_code", "lists": ["L3"], "state": "received"}, Facts(2))


def test_trigger_in_passed_never_by_step():
    # on step 2 now (passed steps 1 and 2 in this pass); step 3 passed in an earlier pass (then a restart)
    f = Facts(1, triggers=frozenset({(4, 2, "in"), (4, 1, "passed"), (4, 2, "passed"), (4, 3, "passed")}))
    assert hit({"type": "trigger", "trigger": 4, "state": "in"}, f)
    assert hit({"type": "trigger", "trigger": 4, "step": 2, "state": "in"}, f)
    assert not hit({"type": "trigger", "trigger": 4, "step": 3, "state": "in"}, f)
    assert not hit({"type": "trigger", "trigger": 4, "step": 1, "state": "in"}, f)  # went beyond it
    assert hit({"type": "trigger", "trigger": 4, "step": 1, "state": "passed"}, f)
    assert hit({"type": "trigger", "trigger": 4, "step": 3, "state": "passed"}, f)
    assert not hit({"type": "trigger", "trigger": 4, "step": 4, "state": "passed"}, f)
    assert hit({"type": "trigger", "trigger": 4, "step": 4, "state": "never"}, f)
    assert not hit({"type": "trigger", "trigger": 4, "step": 3, "state": "never"}, f)
    assert not hit({"type": "trigger", "trigger": 4, "state": "never"}, f)
    assert hit({"type": "trigger", "trigger": 5, "state": "never"}, f)
    left = Facts(2, triggers=frozenset({(4, 1, "passed")}))  # passed step 1, then left (out): on no step
    assert not hit({"type": "trigger", "trigger": 4, "state": "in"}, left)
    assert not hit({"type": "trigger", "trigger": 4, "state": "never"}, left)
    c, problems = parse_criterion({"type": "trigger", "trigger": 4, "state": "passed"}, "c")
    assert c is None and problems[0].where == "c.step"  # "passed" names its step


@pytest.mark.parametrize(
    "state, opened, clicked, outcomes",
    [
        ("queued", None, None, []),
        ("sent", None, None, []),
        ("skipped", None, None, []),  # never sent (no consent, no address): no outcome
        ("delivered", None, None, ["delivered"]),
        ("sent", "t", None, ["delivered", "opened"]),  # an email opened was delivered (often no report)
        ("delivered", "t", "t", ["delivered", "opened", "clicked"]),
        ("failed", None, None, ["failed"]),
    ],
)
def test_a_messages_outcomes(state, opened, clicked, outcomes):
    assert message_outcomes(state, opened, clicked) == outcomes


def test_message_outcome_per_mailing():
    f = Facts(1, messages=frozenset({(5, "delivered"), (5, "opened"), (6, "failed")}))
    assert hit({"type": "message", "mailings": [5], "outcome": "opened"}, f)
    assert not hit({"type": "message", "mailings": [5], "outcome": "clicked"}, f)
    assert hit({"type": "message", "mailings": [7, 6], "outcome": "failed"}, f)
    assert not hit({"type": "message", "mailings": [6], "outcome": "delivered"}, f)


# -- the set queries against the per-customer evaluator, on stored rows -------------------------------------------


@pytest.fixture
def rows(db: Store) -> Store:
    """c1..c5 with rewards, codes, runs and messages whose answers differ."""
    conn = db.conn
    for n in range(1, 6):
        conn.execute(
            "INSERT INTO customers (id, consents, custom, balance, version, created_at)"
            " VALUES (?, '{}', '{}', 0, 1, ?)",
            (f"c{n}", "2026-06-01T00:00:00+00:00"),
        )
    key = dict(conn.execute("SELECT customer_id, key FROM customer_keys"))
    conn.executemany(
        "INSERT INTO promotion_results (promotion_id, store, receipt_id, customer_id, day, points, discount, sales)"
        " VALUES (?, 'S1', ?, ?, '2026-06-01', 0, 100, 1000)",
        [("P1", "r1", "c1"), ("P1", "r2", "c1"), ("P2", "r3", "c2"), ("P1", "r4", None)],
    )
    conn.executemany(
        "INSERT INTO promo_codes (code, list_id, max_uses, uses, customer_id) VALUES (?, ?, 1, 0, ?)",
        [("A1", "L1", "c1"), ("A2", "L1", None), ("B1", "L2", "c3")],
    )
    conn.executemany(
        "INSERT INTO promo_code_uses (code, list_id, store, agent, receipt_id, customer_id, at, day, accepted)"
        " VALUES (?, ?, 'S1', 'a1', ?, ?, 'x', '2026-06-01', ?)",
        [("A1", "L1", "u1", "c1", 1), ("PUB", "L2", "u2", "c2", 1), ("PUB", "L2", "u3", "c4", 0)],
    )
    conn.executemany(
        "INSERT INTO trigger_runs (trigger_id, customer_key, version, step, phase, pass_no, since, started, furthest)"
        " VALUES (?, ?, 1, ?, ?, 1, 'x', 'x', ?)",
        [
            (1, key["c1"], 0, "wait", 0),  # entered at the start, passed nothing
            (1, key["c2"], 2, "wait", 2),  # on step 2
            (1, key["c3"], 0, "wait", 3),  # restarted after passing step 3
            (1, key["c4"], 1, "out", 1),  # passed step 1, then left
            (1, key["c5"], 2, "done", 2),  # passed both steps of a two-step trigger
        ],
    )
    conn.executemany(
        "INSERT INTO message_outbox (cause, customer_id, channel, kind, template_id, language, mailing_id, state,"
        " not_before, created_at, updated_at, opened_at, clicked_at)"
        " VALUES (?, ?, 'email', 'marketing', 1, 'ru', ?, ?, 'x', 'x', 'x', ?, ?)",
        [
            ("m1", "c1", 1, "delivered", None, None),
            ("m1", "c2", 1, "sent", "t", "t"),
            ("m1", "c3", 1, "failed", None, None),
            ("m2", "c4", 2, "skipped", None, None),
            ("t1", "c5", None, "delivered", "t", None),  # a trigger's message: no mailing
        ],
    )
    conn.commit()
    return db


CASES = [
    {"type": "promotion", "promotions": ["P1"]},
    {"type": "promotion", "promotions": ["P1", "P2"], "took_part": False},
    {"type": "promo_code", "lists": ["L1"], "state": "received"},
    {"type": "promo_code", "lists": ["L2"], "state": "activated"},
    {"type": "promo_code", "lists": ["L1", "L2"], "state": "received"},
    {"type": "trigger", "trigger": 1, "state": "in"},
    {"type": "trigger", "trigger": 1, "step": 2, "state": "in"},
    {"type": "trigger", "trigger": 1, "step": 1, "state": "passed"},
    {"type": "trigger", "trigger": 1, "step": 3, "state": "passed"},
    {"type": "trigger", "trigger": 1, "state": "never"},
    {"type": "trigger", "trigger": 1, "step": 2, "state": "never"},
    {"type": "trigger", "trigger": 2, "state": "never"},
    {"type": "message", "mailings": [1], "outcome": "delivered"},
    {"type": "message", "mailings": [1, 2], "outcome": "clicked"},
    {"type": "message", "mailings": [1], "outcome": "failed"},
    {"type": "message", "mailings": [2], "outcome": "failed"},
]
EXPECTED = [
    {"c1"},
    {"c3", "c4", "c5"},
    {"c1"},
    {"c2"},
    {"c1", "c3"},
    {"c2", "c5"},
    {"c2", "c5"},
    {"c2", "c3", "c4", "c5"},
    {"c3"},
    {"c1"},
    {"c1", "c4"},
    {"c1", "c2", "c3", "c4", "c5"},
    {"c1", "c2"},
    {"c2"},
    {"c3"},
    set(),
]


@pytest.mark.parametrize("doc, expected", list(zip(CASES, EXPECTED, strict=True)))
def test_set_queries_agree_with_the_per_customer_evaluator(rows, doc, expected):
    conn = rows.conn
    definition = parse_definition({"audiences": [[doc]]})
    name = {k: c for c, k in conn.execute("SELECT customer_id, key FROM customer_keys")}
    by_sets = {name[k] for k in SetEvaluator(conn, TODAY).members(definition)}
    facts = aggregates.load_facts(conn, sorted(name))
    one_by_one = {name[k] for k, f in facts.items() if evaluate(definition, f, engine.context(conn, TODAY))}
    assert by_sets == one_by_one == expected
    only = aggregates.load_facts(conn, sorted(name), tables=aggregates.TABLES_OF[doc["type"]])
    assert {name[k] for k, f in only.items() if evaluate(definition, f, engine.context(conn, TODAY))} == expected


# -- a dynamic segment follows the fact as it appears ------------------------------------------------------------


def apply(db: Store, *events) -> set[str]:
    last = events[-1]
    return db.commit_ingest(
        IngestUnit(events=list(events), pointers={(last["store"], last["agent"]): (last["seq"], last["id"])})
    )


@pytest.fixture
def shop(db: Store) -> Store:
    db.add_store("S1", timezone="Europe/Moscow")
    db.stream_state("S1", "a1")
    return db


def segment(db: Store, name: str, criterion: dict) -> int:
    return service.create(db, MARKETER, name, "dynamic", {"audiences": [[criterion]]})


def members(db: Store, segment_id: int) -> list[str]:
    return service.members(db, SYSTEM, segment_id)["customers"]


def causes(db: Store, segment_id: int) -> list[tuple[str, int, str]]:
    return [(h["customer_id"], h["entered"], h["cause"]) for h in reversed(db.segment_history(segment_id))]


def test_a_reward_at_the_ingest_enters_and_a_voided_receipt_leaves(shop):
    agent = FakeAgent("S1")
    apply(shop, agent.registration("c1"), agent.registration("c2"))
    took = segment(shop, "took part in P1", {"type": "promotion", "promotions": ["P1"]})
    assert members(shop, took) == []
    purchase = agent.purchase("c1")
    purchase["body"]["promotions"] = [{"id": "P1", "points": 0, "discount": 500}]
    apply(shop, purchase, agent.purchase("c2"))
    assert members(shop, took) == ["c1"]
    apply(shop, agent.cancel("c1", purchase["body"]["receipt_id"], amount=-10_000, accrued=-500))
    assert members(shop, took) == []
    assert causes(shop, took) == [("c1", 1, "purchase"), ("c1", 0, "cancel")]


def personal_list(db: Store, list_id: str = "L1") -> None:
    db.add_code_list(
        {
            "id": list_id,
            "name": "spring",
            "kind": "personal",
            "max_uses": 1,
            "offline": "never",
            "offline_limit": 0,
            "prefix": "",
            "body_length": 8,
            "tag_length": 0,
            "check_char": 0,
            "uploaded": 1,
            "created_by": "t",
            "created_at": now_utc(),
        }
    )
    db.add_codes(list_id, ["CODE1", "CODE2"], 1)
    db.conn.commit()


def test_a_code_issued_then_used_enters_both_segments(shop):
    agent = FakeAgent("S1")
    apply(shop, agent.registration("c1"), agent.registration("c2"))
    personal_list(shop)
    received = segment(shop, "got a spring code", {"type": "promo_code", "lists": ["L1"], "state": "received"})
    used = segment(shop, "used a spring code", {"type": "promo_code", "lists": ["L1"], "state": "activated"})
    code = promotion_service.issue_code(shop, ADMIN, "L1", "c1")
    assert members(shop, received) == ["c1"] and members(shop, used) == []
    purchase = agent.purchase("c1")
    purchase["body"]["promotions"] = [{"id": "P1", "points": 0, "discount": 0, "promo_code": code}]
    apply(shop, purchase)
    assert members(shop, used) == ["c1"]
    assert causes(shop, received) == [("c1", 1, "promo_code")]


def test_a_trigger_run_reaching_step_2_enters_the_segment(shop):
    agent = FakeAgent("S1")
    apply(shop, agent.registration("c1"), agent.registration("c2"))
    steps = {
        "name": "two purchases",
        "owner_store": "S1",
        "group": "g",
        "hours": list(range(24)),
        "steps": [
            {"conditions": [{"type": "registration", "stores": ["S1"]}]},
            {"conditions": [{"type": "transaction", "kind": "purchase", "count_from": 1}]},
        ],
    }
    tid = trigger_service.create(shop, MARKETER, steps)
    on_2 = segment(shop, "in trigger step 2", {"type": "trigger", "trigger": tid, "step": 2, "state": "in"})
    passed_1 = segment(shop, "passed step 1", {"type": "trigger", "trigger": tid, "step": 1, "state": "passed"})
    never = segment(shop, "never entered", {"type": "trigger", "trigger": tid, "state": "never"})
    assert members(shop, never) == ["c1", "c2"]
    trigger_service.start(shop, MARKETER, tid, NOW)
    triggers.run_once(shop, NOW)
    assert members(shop, passed_1) == ["c1", "c2"] and members(shop, on_2) == [] and members(shop, never) == []
    purchase = agent.purchase("c1")
    purchase["body"]["at"] = (NOW + dt.timedelta(minutes=1)).isoformat()
    apply(shop, purchase)
    triggers.run_once(shop, NOW + dt.timedelta(minutes=2))
    assert members(shop, on_2) == ["c1"]
    assert causes(shop, on_2) == [("c1", 1, "trigger")]
    assert shop.conn.execute("SELECT MAX(furthest) FROM trigger_runs").fetchone()[0] == 2


def mailing_to(db: Store, customers: list[str]) -> int:
    template = message_service.save_template(
        db, SYSTEM, name="news", channel="email", language="ru", subject="News", body="Hi"
    )
    with db.transaction() as conn:
        found = outbox.add_mailing(conn, "December news", "email", template, "marketing", now_utc(), 2, "t")
        outbox.enqueue(conn, f"mailing:{found}", customers, "email", "marketing", template, "ru", mailing_id=found)
    return found


def test_a_mailings_message_opened_enters_the_segment(shop):
    agent = FakeAgent("S1")
    apply(shop, agent.registration("c1"), agent.registration("c2"))
    mailing = mailing_to(shop, ["c1", "c2"])
    opened = segment(shop, "opened the news", {"type": "message", "mailings": [mailing], "outcome": "opened"})
    failed = segment(shop, "the news failed", {"type": "message", "mailings": [mailing], "outcome": "failed"})
    row = {r["customer_id"]: r["id"] for r in shop.rows("SELECT id, customer_id FROM message_outbox")}
    assert members(shop, opened) == []
    with shop.transaction() as conn:
        outbox.mark_engaged(conn, row["c1"], clicked=False)
        outbox.mark_final(conn, row["c2"], "failed", "mailbox full")
    assert members(shop, opened) == ["c1"] and members(shop, failed) == ["c2"]
    assert causes(shop, opened) == [("c1", 1, "message")]


def test_a_trigger_step_on_a_message_criterion_wakes_when_the_message_is_opened(shop):
    agent = FakeAgent("S1")
    apply(shop, agent.registration("c1"), agent.registration("c2"))
    news = mailing_to(shop, ["c1", "c2"])
    tid = trigger_service.create(
        shop,
        MARKETER,
        {
            "name": "read the news",
            "owner_store": "S1",
            "group": "g",
            "hours": list(range(24)),
            "steps": [
                {
                    "conditions": [{"type": "message", "mailings": [news], "outcome": "opened"}],
                    "actions": [{"type": "tag", "tag": "reader"}],
                }
            ],
        },
    )
    trigger_service.start(shop, MARKETER, tid, NOW)
    triggers.run_once(shop, NOW)
    row = {r["customer_id"]: r["id"] for r in shop.rows("SELECT id, customer_id FROM message_outbox")}
    with shop.transaction() as conn:
        outbox.mark_engaged(conn, row["c2"], clicked=True)
    triggers.run_once(shop, max(NOW, dt.datetime.now(dt.UTC).replace(microsecond=0)) + dt.timedelta(minutes=1))
    tagged = {r["customer_id"] for r in shop.rows("SELECT customer_id FROM customer_tags WHERE tag = 'reader'")}
    assert tagged == {"c2"}
