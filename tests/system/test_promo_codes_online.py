"""Two real agents online use the same single-use promo code at the same moment (issue 18, "zero
over-redemption online"): each reserves the code at the central server before its commit (docs/sync.md,
"Code reservations"); exactly one gets it, the other a clear problem and its sale goes on without it. The
purchase event confirms the reservation once: the list shows one use and no conflict. (Offline, both are
kept and the second is the list's conflict: tests/system/test_promo_codes_offline.py.)"""

from __future__ import annotations

import threading
import time

import pytest

from central.services import promotions as service
from central.storage.store import Store as CentralStore
from tests.polling import wait_for

from .conftest import wait_caught_up
from .test_promo_codes_offline import db_path, sale  # noqa: F401  (the same chain: list SPR, promotion spring)
from .tills import register_customers

pytestmark = pytest.mark.slow


def test_two_agents_online_use_one_single_use_code_at_once(broker, central, db_path, spawn):  # noqa: F811
    s1, s2 = spawn("S1"), spawn("S2")
    assert s1.wait_online(30) and s2.wait_online(30)
    for agent in (s1, s2):
        assert wait_for(lambda a=agent: a.query("SELECT version FROM promotions"), 20)
    [cid] = register_customers([s1], 1).values()
    db = CentralStore(db_path)
    assert wait_caught_up(s1, db, [cid]) and wait_caught_up(s2, db, [cid])
    assert wait_for(lambda: s1.health()["link"] == s2.health()["link"] == "online", 20)
    code = db.list_codes("SPR")[0][0]

    answers: dict[str, dict] = {}
    start = threading.Barrier(2)

    def till(agent) -> None:
        start.wait()
        status, body = agent.post("/v1/receipts", sale(f"{agent.store}-R1", code))
        assert status == 201, body
        answers[agent.store] = body

    threads = [threading.Thread(target=till, args=(a,)) for a in (s1, s2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(answers) == ["S1", "S2"]
    got = [s for s, body in answers.items() if not body["promo_code_problems"]]
    assert len(got) == 1, answers  # exactly one till got the code
    [refused] = [body for s, body in answers.items() if s not in got]
    assert [p["code"] for p in refused["promo_code_problems"]] == ["promo_code_used_up"]
    assert refused["promotions"] == [] and refused["offline"] is False  # the sale went on without it
    assert [p["id"] for p in answers[got[0]]["promotions"]] == ["spring"]

    # the same code again at the winner's store: used up here already; at the other store: refused centrally
    status, body = s2.post("/v1/receipts", sale("S2-R2", code))
    assert status == 201 and [p["code"] for p in body["promo_code_problems"]] == ["promo_code_used_up"]

    assert s1.wait_drained(30) and s2.wait_drained(30)
    assert wait_for(lambda: service.code_list_page(db, "SPR")["list"]["used"] == 1, 10)
    page = service.code_list_page(db, "SPR")
    assert page["list"]["conflicts"] == 0 and page["conflicts"] == []
    states = db.rows("SELECT state FROM promo_code_reservations WHERE code = ?", (code,))
    assert [s["state"] for s in states] == ["confirmed"]  # confirmed by the purchase, once
    assert db.list_codes("SPR")[0][1] == 1
    db.close()


def test_a_failed_commit_releases_its_reservation_at_once(broker, central, db_path, spawn):  # noqa: F811
    """The commit reserves the code, then fails (not enough points to redeem): the agent gives the reservation
    back at once (``code_release``), so the next receipt gets the code now, not after 120 s."""
    s1 = spawn("S1")
    assert s1.wait_online(30)
    assert wait_for(lambda: s1.query("SELECT version FROM promotions"), 20)
    [cid] = register_customers([s1], 1).values()
    db = CentralStore(db_path)
    assert wait_caught_up(s1, db, [cid])
    assert wait_for(lambda: s1.health()["link"] == "online", 20)
    code = db.list_codes("SPR")[0][0]

    status, body = s1.post("/v1/receipts", {**sale("S1-FAIL", code), "redeem": 10_000_000})
    assert status >= 400, body  # refused after the reservation: nothing committed
    assert wait_for(
        lambda: (
            [r["state"] for r in db.rows("SELECT state FROM promo_code_reservations WHERE code = ?", (code,))]
            == ["released"]
        ),
        10,
    )
    assert db.list_codes("SPR")[0][1] == 0  # the use given back, once

    status, body = s1.post("/v1/receipts", sale("S1-NEXT", code))  # the next receipt gets it at once
    assert status == 201 and body["promo_code_problems"] == [], body
    assert [p["id"] for p in body["promotions"]] == ["spring"]
    assert s1.wait_drained(30)
    assert wait_for(lambda: service.code_list_page(db, "SPR")["list"]["used"] == 1, 10)
    states = db.rows("SELECT receipt_id, state FROM promo_code_reservations WHERE code = ? ORDER BY id", (code,))
    assert [(s["receipt_id"], s["state"]) for s in states] == [("S1-FAIL", "released"), ("S1-NEXT", "confirmed")]
    assert db.list_codes("SPR")[0][1] == 1 and service.code_list_page(db, "SPR")["list"]["conflicts"] == 0
    db.close()


def test_the_quote_asks_the_central_server_whether_the_code_is_still_available(broker, central, db_path, spawn):  # noqa: F811
    """Online, the quote says whether the code is still available at the central server (nothing reserved): a
    code used at another store meanwhile is the quote's promo_code_used_up already; offline the local check."""
    s1, s2 = spawn("S1"), spawn("S2")
    assert s1.wait_online(30) and s2.wait_online(30)
    for agent in (s1, s2):
        assert wait_for(lambda a=agent: a.query("SELECT version FROM promotions"), 20)
    [cid] = register_customers([s1], 1).values()
    db = CentralStore(db_path)
    assert wait_caught_up(s1, db, [cid]) and wait_caught_up(s2, db, [cid])
    assert wait_for(lambda: s1.health()["link"] == s2.health()["link"] == "online", 20)
    code = db.list_codes("SPR")[0][0]
    quote = {k: v for k, v in sale("S2-Q", code).items() if k != "receipt_id"}

    timings = []
    for _ in range(5):
        start = time.perf_counter()
        status, body = s2.post("/v1/receipts/quote", quote)
        timings.append(time.perf_counter() - start)
        assert status == 200 and body["promo_codes_checked"] == "central" and body["promo_code_problems"] == []
    assert [p["id"] for p in body["promotions"]] == ["spring"]
    assert db.list_codes("SPR")[0][1] == 0 and not db.rows("SELECT 1 FROM promo_code_reservations")  # nothing used
    print(f"quote with a code checked at the central server: median {sorted(timings)[2] * 1000:.1f} ms")

    status, body = s1.post("/v1/receipts", sale("S1-R1", code))  # used at the other store
    assert status == 201 and body["promo_code_problems"] == []
    status, body = s2.post("/v1/receipts/quote", quote)  # S2 has not heard of the use: central says so
    assert status == 200 and body["promo_codes_checked"] == "central"
    assert [p["code"] for p in body["promo_code_problems"]] == ["promo_code_used_up"] and body["promotions"] == []

    broker.kill()  # offline: the local check stands, nothing said about the central server
    assert wait_for(lambda: s2.health()["link"] != "online", 30)
    status, body = s2.post("/v1/receipts/quote", quote)
    assert status == 200 and "promo_codes_checked" not in body
    db.close()
