"""One definition, two evaluators: the set-based one (SQL over the aggregates) and the per-customer one
give the same members for random definitions over random customers (hypothesis, derandomized)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from central.marketing import engine
from central.marketing.columns import ColumnEvaluator
from central.marketing.segments import evaluate, next_flip, parse_definition
from central.marketing.segments.compiled import Round
from central.marketing.segments.definition import DefinitionError, parse_criterion
from central.marketing.set_evaluator import SetEvaluator
from central.storage import aggregates
from central.storage.segment_columns import Snapshot
from central.storage.store import Store

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

TODAY = dt.date(2026, 6, 15).toordinal()
STORES = ["s1", "s2", "s3"]
NAMES = {1: "Running shoe", 2: "Protein BAR", 3: "Беговые КРОССОВКИ", 4: "tea", 5: "Shoe polish", 6: None}
TAGS = ["vip", "staff", "new"]
PROMOTIONS = ["P1", "P2", "P3"]
LISTS = ["L1", "L2", "L3"]

day = st.integers(TODAY - 60, TODAY + 0)
stores = st.lists(st.sampled_from(STORES), min_size=1, max_size=2, unique=True)
period = st.one_of(
    st.none(),
    st.builds(lambda n: {"last_days": n}, st.integers(1, 45)),
    st.builds(
        lambda a, b: {
            "from": dt.date.fromordinal(min(a, b)).isoformat(),
            "to": dt.date.fromordinal(max(a, b)).isoformat(),
        },
        day,
        day,
    ),
)
small = st.one_of(st.none(), st.integers(0, 4))
money = st.one_of(st.none(), st.integers(-200, 3000))


def pair(values):
    return st.tuples(values, values).map(lambda t: (t[0], t[1]) if None in t else (min(t), max(t)))


def with_range(kind, values, low="from", high="to", **extra):
    return st.builds(
        lambda r, more: {"type": kind, low: r[0], high: r[1], **more}, pair(values), st.fixed_dictionaries(extra)
    )


#: the criteria over other rooms' tables: promotion rewards, promo codes, trigger runs, mailings' messages
OUTSIDE = {
    "promotion": st.builds(
        lambda p, t: {"type": "promotion", "promotions": p, "took_part": t},
        st.lists(st.sampled_from(PROMOTIONS), min_size=1, max_size=2, unique=True),
        st.booleans(),
    ),
    "promo_code": st.builds(
        lambda lists, s: {"type": "promo_code", "lists": lists, "state": s},
        st.lists(st.sampled_from(LISTS), min_size=1, max_size=2, unique=True),
        st.sampled_from(["received", "activated"]),
    ),
    "trigger": st.builds(
        lambda t, step, s: {"type": "trigger", "trigger": t, "step": step, "state": s},
        st.integers(1, 2),
        st.one_of(st.none(), st.integers(1, 4)),
        st.sampled_from(["in", "passed", "never"]),
    ).filter(lambda doc: doc["state"] != "passed" or doc["step"] is not None),
    "message": st.builds(
        lambda m, o: {"type": "message", "mailings": m, "outcome": o},
        st.lists(st.integers(1, 3), min_size=1, max_size=2, unique=True),
        st.sampled_from(["delivered", "opened", "clicked", "failed"]),
    ),
}
CRITERIA = st.one_of(
    st.builds(
        lambda p, t: {"type": "promotion", "promotions": p, "took_part": t},
        st.lists(st.sampled_from(PROMOTIONS), min_size=1, max_size=2, unique=True),
        st.booleans(),
    ),
    st.builds(
        lambda lists, s: {"type": "promo_code", "lists": lists, "state": s},
        st.lists(st.sampled_from(LISTS), min_size=1, max_size=2, unique=True),
        st.sampled_from(["received", "activated"]),
    ),
    st.builds(
        lambda t, step, s: {"type": "trigger", "trigger": t, "step": step, "state": s},
        st.integers(1, 2),
        st.one_of(st.none(), st.integers(1, 4)),
        st.sampled_from(["in", "passed", "never"]),
    ),
    st.builds(
        lambda m, o: {"type": "message", "mailings": m, "outcome": o},
        st.lists(st.integers(1, 3), min_size=1, max_size=2, unique=True),
        st.sampled_from(["delivered", "opened", "clicked", "failed"]),
    ),
)
CRITERIA = st.one_of(
    with_range("age", st.one_of(st.none(), st.integers(10, 80))),
    st.builds(
        lambda b, a: {"type": "birthday", "days_before": b, "days_after": a}, st.integers(0, 40), st.integers(0, 40)
    ),
    st.builds(lambda m: {"type": "birthday", "months": m}, st.lists(st.integers(1, 12), min_size=1, max_size=3)),
    st.builds(
        lambda v: {"type": "gender", "values": v},
        st.lists(st.sampled_from(["male", "female", "unknown"]), min_size=1, unique=True),
    ),
    st.builds(
        lambda v: {"type": "consent", "channels": v},
        st.lists(st.sampled_from(["sms", "email", "push"]), min_size=1, unique=True),
    ),
    st.builds(
        lambda op, v: {"type": "field", "field": "pet", "operator": op, "value": v},
        st.sampled_from(["=", "contains", "empty", "not_empty"]),
        st.sampled_from(["dog", "DOG", "o", "1", "True"]),
    ),
    st.builds(
        lambda s, r: {"type": "registration", "stores": s, "days_from": r[0], "days_to": r[1]},
        st.one_of(st.none(), stores),
        pair(st.one_of(st.none(), st.integers(0, 90))),
    ),
    st.builds(lambda s: {"type": "home_store", "stores": s}, stores),
    st.builds(
        lambda v: {"type": "kind", "values": v},
        st.lists(st.sampled_from(["registered", "potential"]), min_size=1, unique=True),
    ),
    st.builds(
        lambda c, r: {"type": "card", "categories": c, "number_from": r[0], "number_to": r[1]},
        st.one_of(st.none(), st.lists(st.integers(1, 2), min_size=1)),
        pair(st.one_of(st.none(), st.integers(100, 110))).map(
            lambda t: tuple(None if x is None else str(x) for x in t)
        ),
    ),
    st.builds(lambda v: {"type": "level", "levels": v}, st.lists(st.sampled_from(["silver", "gold"]), min_size=1)),
    st.builds(
        lambda t, m: {"type": "tag", "tags": t, "mode": m},
        st.lists(st.sampled_from(TAGS), min_size=1, max_size=2),
        st.sampled_from(["any", "all", "none"]),
    ),
    with_range("balance", st.one_of(st.none(), st.integers(-50, 600))),
    with_range("first_purchase", st.one_of(st.none(), st.integers(0, 70)), "days_from", "days_to"),
    with_range(
        "last_purchase",
        st.one_of(st.none(), st.integers(0, 70)),
        "days_from",
        "days_to",
        stores=st.one_of(st.none(), stores),
    ),
    with_range("purchases", small, period=period, stores=st.one_of(st.none(), stores)),
    with_range("spend", money, period=period, stores=st.one_of(st.none(), stores)),
    with_range("average_check", money, period=period),
    with_range(
        "average_items",
        st.one_of(st.none(), st.sampled_from(["0.5", "1", "1.5", "2"])),
        "from_quantity",
        "to_quantity",
        period=period,
    ),
    st.builds(
        lambda c, p, q, s: {"type": "bought_category", "categories": c, "period": p, "min_quantity": q, "stores": s},
        st.lists(st.integers(1, 4), min_size=1, max_size=2),
        period,
        st.one_of(st.none(), st.sampled_from(["1", "2.5", "3"])),
        st.one_of(st.none(), stores),
    ),
    st.builds(
        lambda c, p, q, m: {"type": "bought_products", "products": c, "period": p, "min_quantity": q, "mode": m},
        st.lists(st.integers(1, 6), min_size=1, max_size=3),
        period,
        st.one_of(st.none(), st.sampled_from(["1", "2"])),
        st.sampled_from(["any", "all"]),
    ),
    st.builds(
        lambda t, p: {"type": "product_name", "text": t, "period": p},
        st.sampled_from(["shoe", "bar", "кроссовки", "zzz"]),
        period,
    ),
    with_range(
        "points",
        st.one_of(st.none(), st.integers(-50, 200)),
        period=period,
        direction=st.sampled_from(["accrued", "redeemed"]),
        types=st.one_of(st.none(), st.lists(st.sampled_from(["purchase", "admin"]), min_size=1)),
    ),
    st.builds(
        lambda c, r: {"type": "rfm", "classes": c, "r": r},
        st.one_of(st.none(), st.lists(st.sampled_from(["champion", "hibernating", "new", "loyal"]), min_size=1)),
        st.one_of(st.none(), st.lists(st.integers(1, 5), min_size=1)),
    ),
    st.builds(
        lambda s, i: {"type": "in_segment", "segments": s, "in": i},
        st.lists(st.integers(1, 2), min_size=1),
        st.booleans(),
    ),
    *OUTSIDE.values(),
)
CRITERIA = CRITERIA.filter(lambda doc: parse_criterion(doc, "c")[0] is not None)


def outside_definitions(kind: str) -> st.SearchStrategy[dict]:
    """Definitions where the criterion of ``kind`` is in every audience (alone or with any other) or excluded."""
    own = OUTSIDE[kind]
    return st.builds(
        lambda audiences, exclude: {"audiences": audiences, "exclude": exclude},
        st.lists(
            st.builds(lambda c, more: [c, *more], own, st.lists(st.one_of(own, CRITERIA), max_size=1)),
            min_size=1,
            max_size=2,
        ),
        st.one_of(st.none(), st.lists(st.one_of(own, CRITERIA), min_size=1, max_size=1)),
    )


DEFINITIONS = st.builds(
    lambda audiences, exclude: {"audiences": audiences, "exclude": exclude},
    st.lists(st.lists(CRITERIA, min_size=1, max_size=3), min_size=1, max_size=3),
    st.one_of(st.none(), st.lists(CRITERIA, min_size=1, max_size=2)),
)

CUSTOMER = st.fixed_dictionaries(
    {
        "birthday": st.one_of(
            st.none(),
            st.dates(dt.date(1950, 1, 1), dt.date(2012, 12, 31)),
            st.just(dt.date(2000, 2, 29)),
            st.dates(dt.date(1990, 5, 1), dt.date(1990, 7, 30)),
        ),
        "gender": st.sampled_from([None, "male", "female", "other"]),
        "consents": st.dictionaries(st.sampled_from(["sms", "email", "push"]), st.sampled_from([True, False, 1])),
        "custom": st.one_of(
            st.just({}), st.fixed_dictionaries({"pet": st.sampled_from(["Dog", "dog", "Cat", "", 1, True, None])})
        ),
        "created": st.datetimes(dt.datetime(2026, 3, 1), dt.datetime(2026, 6, 15, 20)),
        "home": st.sampled_from(STORES + [None]),
        "level": st.sampled_from([None, "silver", "gold"]),
        "balance": st.integers(-50, 600),
        "merged": st.booleans().map(lambda b: b and False),
        "cards": st.lists(
            st.tuples(st.integers(98, 112), st.sampled_from([None, 1, 2]), st.sampled_from(["active", "blocked"])),
            max_size=2,
            unique_by=lambda c: c[0],
        ),
        "tags": st.lists(st.sampled_from(TAGS), unique=True),
        "days": st.lists(
            st.tuples(day, st.sampled_from(STORES), st.integers(0, 3), st.integers(-300, 2000), st.integers(0, 5000)),
            max_size=4,
            unique_by=lambda d: (d[0], d[1]),
        ),
        "items": st.lists(
            st.tuples(day, st.sampled_from(STORES), st.integers(0, 1), st.integers(1, 6), st.integers(0, 3000)),
            max_size=5,
            unique_by=lambda i: (i[0], i[1], i[2], i[3]),
        ),
        "points": st.lists(
            st.tuples(day, st.sampled_from(["purchase", "admin"]), st.integers(-50, 100), st.integers(0, 50)),
            max_size=3,
            unique_by=lambda p: (p[0], p[1]),
        ),
        "rfm": st.one_of(st.none(), st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5))),
        "in": st.lists(st.integers(1, 2), unique=True),
        # promotions that rewarded the customer (a result row each, repeats allowed)
        "rewards": st.lists(st.sampled_from(PROMOTIONS), max_size=3),
        # codes issued to the customer (list) and uses by them (list or None: a code of no list, accepted)
        "issued": st.lists(st.sampled_from(LISTS), max_size=2),
        "uses": st.lists(st.tuples(st.sampled_from([*LISTS, None]), st.booleans()), max_size=2),
        # trigger runs: (trigger, step working on, phase, furthest ever passed beyond the step)
        "runs": st.lists(
            st.tuples(
                st.integers(1, 2),
                st.integers(0, 3),
                st.sampled_from(["wait", "pause", "queue", "done", "out"]),
                st.integers(0, 2),
            ),
            max_size=2,
            unique_by=lambda r: r[0],
        ),
        # a mailing's messages: (mailing, state, opened, clicked)
        "messages": st.lists(
            st.tuples(
                st.sampled_from([1, 2, 3, None]),
                st.sampled_from(["queued", "sent", "delivered", "failed", "skipped"]),
                st.booleans(),
                st.booleans(),
            ),
            max_size=3,
        ),
    }
)


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    db = Store(str(tmp_path_factory.mktemp("prop") / "central.sqlite"))
    db.conn.execute("INSERT INTO settings (name, value) VALUES ('chain_timezone', 'Asia/Yekaterinburg')")
    for i, name in NAMES.items():
        db.conn.execute(
            "INSERT INTO catalog_products (id, sku, name, created_at) VALUES (?, ?, ?, 'x')", (i, f"p{i}", name)
        )
    for i in (1, 2):
        db.conn.execute(
            "INSERT INTO segments (id, name, kind, definition, created_by, created_at, changed_by, changed_at)"
            " VALUES (?, ?, 'static', NULL, 't', 't', 't', 't')",
            (i, f"static {i}"),
        )
    yield db
    db.close()


#: a snapshot kept across the examples (each example's load is logged: the snapshot follows it)
KEPT: list[Snapshot | None] = [None]


def load(db: Store, customers: list[dict]) -> None:
    conn = db.conn
    for table in (
        "customers",
        "customer_keys",
        "cards",
        "customer_tags",
        "agg_days",
        "agg_items",
        "agg_points",
        "customer_rfm",
        "segment_members",
        "promotion_results",
        "promo_codes",
        "promo_code_uses",
        "trigger_runs",
        "message_outbox",
    ):
        conn.execute(f"DELETE FROM {table}")
    from central.marketing.segments.rfm import rfm_class

    for n, c in enumerate(customers, 1):
        cid = f"c{n}"
        conn.execute(
            "INSERT INTO customers (id, home_store, birthday, gender, consents, custom, level, balance, version,"
            " created_at, merged_into) VALUES (?,?,?,?,?,?,?,?,1,?,?)",
            (
                cid,
                c["home"],
                c["birthday"] and c["birthday"].isoformat(),
                c["gender"],
                json.dumps(c["consents"]),
                json.dumps(c["custom"]),
                c["level"],
                c["balance"],
                c["created"].replace(tzinfo=dt.UTC).isoformat(timespec="seconds"),
                "x" if c["merged"] else None,
            ),
        )
        key = conn.execute("SELECT key FROM customer_keys WHERE customer_id = ?", (cid,)).fetchone()[0]
        conn.executemany(
            "INSERT INTO cards (number, customer_id, status, category_id, created_at) VALUES (?,?,?,?, 'x')",
            [
                (f"{num}{'' if num > 99 else ''}", cid, status, cat)
                for num, cat, status in c["cards"]
                if not conn.execute("SELECT 1 FROM cards WHERE number = ?", (str(num),)).fetchone()
            ],
        )
        conn.executemany("INSERT INTO customer_tags (customer_id, tag) VALUES (?, ?)", [(cid, t) for t in c["tags"]])
        conn.executemany(
            "INSERT INTO agg_days (key, day, store, purchases, refunds, spend, items) VALUES (?,?,?,?,0,?,?)",
            [(key, *d) for d in c["days"]],
        )
        conn.executemany(
            "INSERT INTO agg_items (key, day, store, kind, item, quantity) VALUES (?,?,?,?,?,?)",
            [(key, *i) for i in c["items"]],
        )
        conn.executemany(
            "INSERT INTO agg_points (key, day, type, accrued, redeemed) VALUES (?,?,?,?,?)",
            [(key, *p) for p in c["points"]],
        )
        if c["rfm"]:
            r, f, m = c["rfm"]
            conn.execute("INSERT INTO customer_rfm VALUES (?,?,?,?,?,0,0,0)", (key, r, f, m, rfm_class(r, f)))
        conn.executemany(
            "INSERT INTO segment_members (segment_id, key, since) VALUES (?, ?, 0)", [(s, key) for s in c["in"]]
        )
        load_outside(conn, cid, key, c)


def load_outside(conn, cid: str, key: int, c: dict) -> None:
    """The customer's promotion rewards, codes, trigger runs and mailings' messages."""
    conn.executemany(
        "INSERT INTO promotion_results (promotion_id, store, receipt_id, customer_id, day, points, discount, sales)"
        " VALUES (?, 's1', ?, ?, '2026-06-01', 0, 100, 1000)",
        [(p, f"{cid}-r{i}", cid) for i, p in enumerate(c["rewards"])],
    )
    conn.executemany(
        "INSERT INTO promo_codes (code, list_id, max_uses, uses, customer_id) VALUES (?, ?, 1, 0, ?)",
        [(f"{cid}-{i}", lst, cid) for i, lst in enumerate(c["issued"])],
    )
    conn.executemany(
        "INSERT INTO promo_code_uses (code, list_id, store, agent, receipt_id, customer_id, at, day, accepted)"
        " VALUES ('X', ?, 's1', 'a1', ?, ?, '2026-06-01T10:00:00+00:00', '2026-06-01', ?)",
        [(lst, f"{cid}-u{i}", cid, int(ok)) for i, (lst, ok) in enumerate(c["uses"])],
    )
    conn.executemany(
        "INSERT INTO trigger_runs (trigger_id, customer_key, version, step, phase, pass_no, since, started, furthest)"
        " VALUES (?, ?, 1, ?, ?, 1, 'x', 'x', ?)",
        [(t, key, step, phase, step + more) for t, step, phase, more in c["runs"]],
    )
    conn.executemany(
        "INSERT INTO message_outbox (cause, customer_id, channel, kind, template_id, language, mailing_id, state,"
        " not_before, created_at, updated_at, opened_at, clicked_at) VALUES (?, ?, 'email', 'marketing', 1, 'ru',"
        " ?, ?, 'x', 'x', 'x', ?, ?)",
        [
            (f"m{i}", cid, mailing, state, "t" if opened or clicked else None, "t" if clicked else None)
            for i, (mailing, state, opened, clicked) in enumerate(c["messages"])
        ],
    )


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(customers=st.lists(CUSTOMER, min_size=1, max_size=12), doc=DEFINITIONS, shift=st.integers(-3, 3))
def test_both_evaluators_give_the_same_members(database, customers, doc, shift):
    agree(database, customers, doc, shift)


@pytest.mark.parametrize("kind", sorted(OUTSIDE))
def test_the_evaluators_agree_on_promotions_codes_triggers_and_messages(database, kind):
    """The four criteria over other rooms' tables (rewards, codes, trigger runs, mailings' messages): each in every
    example of its own run (the mixed definitions above draw them rarely)."""

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(customers=st.lists(CUSTOMER, min_size=1, max_size=12), doc=outside_definitions(kind))
    def check(customers, doc):
        agree(database, customers, doc, 0)

    check()


def agree(database, customers, doc, shift) -> None:
    try:
        definition = parse_definition(doc)
    except DefinitionError:
        event("invalid definition")
        return
    load(database, customers)
    today = TODAY + shift
    by_sets = SetEvaluator(database.conn, today).members(definition)
    keys = [r[0] for r in database.conn.execute("SELECT key FROM customer_keys")]
    facts = aggregates.load_facts(database.conn, keys)
    ctx = engine.context(database.conn, today)
    one_by_one = {k for k, f in facts.items() if evaluate(definition, f, ctx)}
    event(f"members: {'none' if not by_sets else 'all' if len(by_sets) == len(keys) else 'some'}")
    assert by_sets == one_by_one
    # the column snapshot's evaluator (marketing/columns.py): built afresh, and the one kept across the examples
    # and caught up with the log of what changed (migration 27's triggers)
    fresh_columns = ColumnEvaluator(database.conn, today, Snapshot.load(database.conn), writing=False)
    assert fresh_columns.members(definition) == one_by_one
    assert fresh_columns.count(definition) == len(one_by_one)
    KEPT[0] = (KEPT[0] or Snapshot.load(database.conn)).catch_up(database.conn)
    assert ColumnEvaluator(database.conn, today, KEPT[0], writing=False).members(definition) == one_by_one
    # the event path's compiled criteria (segments/compiled.py) say the same, flips included
    compiled = Round(ctx)
    plan = compiled.plan(definition)
    assert {k for k, f in facts.items() if compiled.evaluate(plan, f)} == one_by_one
    assert compiled.members(plan, facts, set(keys)) == one_by_one
    some = set(keys[::2])
    fresh = Round(ctx)
    assert fresh.members(fresh.plan(definition), facts, some) == one_by_one & some
    assert {k: compiled.next_flip(plan, f) for k, f in facts.items()} == {
        k: next_flip(definition, f, today) for k, f in facts.items()
    }
    # the whole batch at once (numpy arrays over the customers), on all the facts and on facts loaded as the
    # event path loads them (only the items the criteria name)
    batch = Round(ctx, vector_from=1)
    assert batch.members(batch.plan(definition), facts, set(keys)) == one_by_one
    assert batch.members(batch.plan(definition), facts, some) == one_by_one & some
    id_of = dict(database.conn.execute("SELECT key, customer_id FROM customer_keys"))
    narrow = aggregates.load_facts(database.conn, keys, items=aggregates.items_read(definition.criteria()), id_of=id_of)
    assert {k: f.key for k, f in narrow.items()} == {k: f.key for k, f in facts.items()}  # (by id: the same rows)
    batch = Round(ctx, vector_from=1)
    assert batch.members(batch.plan(definition), narrow, set(keys)) == one_by_one
    fresh = Round(ctx)
    assert fresh.members(fresh.plan(definition), narrow, some) == one_by_one & some
    # as the ingest's rounds load them: columns (the profile, day and category rows as arrays, Facts made only
    # for a criterion without a vector form), of the days the criteria's periods read; the Facts they make agree
    columns = engine.round_facts(database.conn, list(definition.criteria()), keys, today, id_of)
    event(f"loaded as {type(columns).__name__}")
    batch = Round(ctx, vector_from=1)
    assert batch.members(batch.plan(definition), columns, set(keys)) == one_by_one
    batch = Round(ctx, vector_from=1)
    assert batch.members(batch.plan(definition), columns, some) == one_by_one & some
    one = Round(ctx)
    plan = one.plan(definition)
    assert {k for k, f in columns.items() if one.evaluate(plan, f)} == one_by_one


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(customers=st.lists(CUSTOMER, min_size=1, max_size=8), doc=DEFINITIONS)
def test_set_based_flips_are_never_later_than_exact_ones(database, customers, doc):
    try:
        definition = parse_definition(doc)
    except DefinitionError:
        return
    load(database, customers)
    keys = [r[0] for r in database.conn.execute("SELECT key FROM customer_keys")]
    exact = engine.flips_for(database.conn, definition, TODAY, keys)
    coarse = engine.all_flips(database.conn, definition, TODAY)
    # the column snapshot's flips are the same days
    columns = ColumnEvaluator(database.conn, TODAY, Snapshot.load(database.conn), writing=False).flips(definition)
    assert {k: int(d) for k, d in enumerate(columns) if d} == coarse
    for key, day in exact.items():
        if day is not None:
            assert key in coarse and coarse[key] <= day
