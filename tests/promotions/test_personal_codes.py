"""Personal promo codes and online code reservations at the central server (issue 18): a personal list's code
issued to a customer by hand, to a segment (once per customer) or by a trigger's action goes down in the
customer's delta; a till's reservation is one conditional update, expires unless its purchase confirms it,
and is confirmed exactly once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from central.services import promotions as service
from central.services import segments as segment_service
from central.services.access import Actor, FormError
from central.storage import promotions as queries
from central.storage.store import IngestUnit, Store
from central.sync.deltas import customer_page
from shared import wire
from tests.sync.fakes import FakeAgent

pytestmark = pytest.mark.postgresql  # the SQL is portable (docs/scale.md)
MIA = Actor(7, "mia", "marketer")


def apply(db: Store, *events) -> set[str]:
    last = events[-1]
    return db.commit_ingest(
        IngestUnit(events=list(events), pointers={(last["store"], last["agent"]): (last["seq"], last["id"])})
    )


@pytest.fixture
def db(db):
    db.add_store("S1", timezone="Europe/Moscow")
    db.stream_state("S1", "a1")
    agent = FakeAgent("S1", "a1")
    apply(db, *(agent.registration(c) for c in ("c1", "c2", "c3")))
    service.create_code_list(db, MIA, "PER", count=3, length=6, prefix="PER", kind="personal")
    return db


def delta_codes(db: Store) -> dict[str, list[str]]:
    deltas, upto, _ = customer_page(db, "S1", 0)
    wire.encode("customers", {"store": "S1", "after": 0, "upto": upto, "more": False, "deltas": deltas})
    return {d["customer_id"]: d["promo_codes"] for d in deltas}


def version(db: Store, customer_id: str) -> int:
    return db.conn.execute("SELECT version FROM customers WHERE id = ?", (customer_id,)).fetchone()[0]


def test_issued_by_hand_and_to_a_segment_once_each_and_down_in_the_delta(db):
    before = version(db, "c1")
    code = service.issue_code(db, MIA, "PER", "c1")
    assert version(db, "c1") > before  # the delta goes down
    assert delta_codes(db)["c1"] == [code]
    assert [r["code"] for r in db.customer_codes("c1")] == [code]
    vip = segment_service.create(db, MIA, "VIP", "static", None)
    segment_service.change_members(db, MIA, vip, add=["c1", "c2"])
    assert service.issue_to_segment(db, MIA, "PER", vip) == {"members": 2, "issued": 1, "already": 1, "missing": 0}
    assert service.issue_to_segment(db, MIA, "PER", vip) == {"members": 2, "issued": 0, "already": 2, "missing": 0}
    codes = delta_codes(db)
    assert len(codes["c2"]) == 1 and codes["c2"][0] != code and codes["c3"] == []
    service.issue_code(db, MIA, "PER", "c3")
    with pytest.raises(FormError):  # the list ran out
        service.issue_code(db, MIA, "PER", "c3")
    service.create_code_list(db, MIA, "ALL", count=1, length=6)
    with pytest.raises(FormError):  # only a personal list's codes are issued
        service.issue_code(db, MIA, "ALL", "c1")


def test_a_trigger_action_issues_a_code_of_a_personal_list(db):
    from central.marketing import trigger_engine as engine
    from central.services import triggers as triggers

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    welcome = triggers.templates("S1")["welcome"] | {"hours": list(range(24))}
    welcome["steps"][0]["actions"] = [{"type": "promo_code", "list": "NOPE"}]
    with pytest.raises(FormError):  # only a personal list
        triggers.create(db, MIA, welcome)
    welcome["steps"][0]["actions"] = [{"type": "promo_code", "list": "PER"}]
    tid = triggers.create(db, MIA, welcome)
    triggers.start(db, MIA, tid, now)
    engine.run_once(db, now)
    engine.run_once(db, now + dt.timedelta(minutes=1))  # done once per pass: nobody gets a second code
    codes = delta_codes(db)
    assert all(len(codes[c]) == 1 for c in ("c1", "c2", "c3")) and len({codes[c][0] for c in codes}) == 3


def reserve(db_or_conn, code, store="S1", receipt="R1", customer=None, now=None):
    return queries.reserve_code(db_or_conn, code, store, "a1", receipt, customer, now or dt.datetime.now(dt.UTC))


def purchase(receipt_id: str, code: str, store: str = "S1", customer: str | None = "c1") -> dict:
    return {
        "id": f"e-{receipt_id}",
        "kind": "purchase",
        "store": store,
        "agent": "a1",
        "body": {
            "receipt_id": receipt_id,
            "customer_id": customer,
            "at": "2026-11-24T12:00:00+03:00",
            "total": 10000,
            "promotions": [{"id": "p", "name": "P", "points": 100, "discount": 0, "promo_code": code}],
        },
    }


def test_a_reservation_is_one_conditional_update_confirmed_once_or_released(db):
    service.create_code_list(db, MIA, "ONE", count=2, length=6, prefix="ONE")
    code, other = (row[0] for row in db.list_codes("ONE"))
    with db.transaction() as conn:
        assert reserve(conn, "NOSUCHCODE") == "unknown"
        assert reserve(conn, code) is None
        assert reserve(conn, code) is None  # the same receipt asks again (a retried commit): still held
        assert reserve(conn, code, "S2", "R9") == "used_up"
    assert db.list_codes("ONE")[0][1] == 1
    with db.transaction() as conn:  # the purchase confirms the reservation: no second use, no conflict
        queries.apply_purchases(conn, [purchase("R1", code)], "2026-11-24T09:00:00+00:00")
        queries.apply_purchases(conn, [purchase("R1", code)], "2026-11-24T09:00:00+00:00")  # not held any more
    states = db.rows("SELECT state FROM promo_code_reservations WHERE code = ?", (code,))
    assert [s["state"] for s in states] == ["confirmed"]
    page = service.code_list_page(db, "ONE")
    assert page["list"]["used"] == 1  # the second apply (it never happens: events apply once) is the conflict
    # not confirmed in time: released when the code is next reserved
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=queries.RESERVATION_SECONDS + 5)
    with db.transaction() as conn:
        assert reserve(conn, other, receipt="R2", now=long_ago) is None
        assert reserve(conn, other, "S2", "R3") is None  # R2's ran out: released, then taken by R3
        assert reserve(conn, other, "S2", "R4") == "used_up"
    assert [r[1] for r in db.list_codes("ONE")] == [1, 1]
    with db.transaction() as conn:  # R2's purchase arrives late: the conditional update finds the code used
        queries.apply_purchases(conn, [purchase("R2", other)], dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    assert service.code_list_page(db, "ONE")["list"]["conflicts"] == 2


def test_a_release_gives_the_use_back_once_and_only_for_its_own_reservation(db):
    service.create_code_list(db, MIA, "ONE", count=1, length=6, prefix="ONE")
    [(code, *_)] = db.list_codes("ONE")
    with db.transaction() as conn:
        assert reserve(conn, code) is None
        assert not queries.release_code(conn, code, "S2", "a1", "R1")  # another store's till: not its own
        assert not queries.release_code(conn, code, "S1", "a1", "R9")  # another receipt
        assert queries.release_code(conn, code, "S1", "a1", "R1")
        assert not queries.release_code(conn, code, "S1", "a1", "R1")  # again (MQTT redelivered it): nothing
    assert db.list_codes("ONE")[0][1] == 0
    with db.transaction() as conn:
        assert reserve(conn, code, "S2", "R2") is None  # free at once for the next receipt
        assert reserve(conn, code, "S1", "R3") == "used_up"
        queries.apply_purchases(conn, [purchase("R2", code, "S2")], "2026-11-24T09:00:00+00:00")
        assert not queries.release_code(conn, code, "S2", "a1", "R2")  # confirmed: a release changes nothing
    assert db.list_codes("ONE")[0][1] == 1
    states = db.rows("SELECT receipt_id, state FROM promo_code_reservations WHERE code = ? ORDER BY id", (code,))
    assert [(s["receipt_id"], s["state"]) for s in states] == [("R1", "released"), ("R2", "confirmed")]


def test_a_quotes_code_status_reads_and_reserves_nothing(db):
    service.create_code_list(db, MIA, "ONE", count=1, length=6, prefix="ONE")
    [(code, *_)] = db.list_codes("ONE")
    personal = service.issue_code(db, MIA, "PER", "c1")
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as conn:
        assert queries.code_status(conn, "NOSUCHCODE", None, now) == "unknown"
        assert queries.code_status(conn, personal, "c2", now) == "personal"
        assert queries.code_status(conn, personal, "c1", now) is None
        assert queries.code_status(conn, code, None, now) is None
        assert (
            reserve(conn, code, receipt="R1", now=now - dt.timedelta(seconds=queries.RESERVATION_SECONDS + 5)) is None
        )
        assert queries.code_status(conn, code, None, now) is None  # held past its expiry: not counted
        assert reserve(conn, code, "S2", "R2") is None
        assert queries.code_status(conn, code, None, now) == "used_up"
    assert db.list_codes("ONE")[0][1] == 1  # the status read nothing into uses


def test_a_personal_code_is_reserved_only_for_its_customer(db):
    code = service.issue_code(db, MIA, "PER", "c1")
    with db.transaction() as conn:
        assert reserve(conn, code, customer="c2") == "personal"
        assert reserve(conn, code, customer=None) == "personal"
        assert reserve(conn, code, customer="c1") is None


def test_concurrent_reservations_of_one_code_give_one_use(db_file, db):
    service.create_code_list(db, MIA, "ONE", count=1, length=6, prefix="ONE")
    [(code, *_)] = db.list_codes("ONE")
    db.close()
    answers: list[str | None] = []

    def till(n: int) -> None:
        store = Store(db_file)
        try:
            with store.transaction() as conn:
                answers.append(reserve(conn, code, f"S{n}", f"R{n}"))
        finally:
            store.close()

    threads = [threading.Thread(target=till, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers, key=str) == [None] + ["used_up"] * 7
