"""Two real agents offline use the same single-use promo code, then sync: both receipts are kept, the
second use is the list's conflict (issue 18). The promotion and its code list reach the agents beside
the rule set; the code is checked offline by its check character and HMAC tag."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from agent.testing import card_number
from central.services import promotions as service
from central.services.access import ADMIN, Actor
from central.storage.store import Store as CentralStore
from tests.polling import wait_for

from .conftest import RULES, STORES, wait_caught_up
from .tills import register_customers

pytestmark = pytest.mark.slow
BOSS = Actor(1, "boss", ADMIN)


@pytest.fixture
def db_path(tmp_path) -> str:
    path = str(tmp_path / "central.sqlite")
    db = CentralStore(path)
    for store in STORES:
        db.add_store(store, f"Store {store}", "Europe/Moscow")
        db.add_rules(store, RULES)
    service.create_code_list(db, BOSS, "SPR", count=3, length=6, prefix="SPR", offline="bounded", offline_limit=5)
    service.save(
        db,
        BOSS,
        {
            "id": "spring",
            "name": "Spring code: 10.00 points",
            "audience": "identified",
            "conditions": {"code_list": "SPR"},
            "reward": {"kind": "points", "points": 1000},
        },
    )
    service.set_state(db, BOSS, "spring", "active")
    db.close()
    return path


def sale(receipt_id: str, code: str) -> dict:
    return {
        "receipt_id": receipt_id,
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "customer": {"card": card_number(0)},
        "lines": [{"sku": "TEA", "name": "Tea", "quantity": "1", "amount": 20000}],
        "promo_codes": [code],
    }


def test_two_agents_offline_use_one_single_use_code(broker, central, db_path, spawn):
    s1, s2 = spawn("S1"), spawn("S2")
    assert s1.wait_online(30) and s2.wait_online(30)
    for agent in (s1, s2):  # the promotions came down beside the rule set
        assert wait_for(lambda a=agent: a.query("SELECT version FROM promotions"), 20)
    [cid] = register_customers([s1], 1).values()
    db = CentralStore(db_path)
    assert wait_caught_up(s1, db, [cid]) and wait_caught_up(s2, db, [cid])
    code = db.list_codes("SPR")[0][0]

    broker.kill()
    assert wait_for(lambda: s1.health()["link"] == s2.health()["link"] == "offline", 10)
    answers = {}
    for agent in (s1, s2):
        status, body = agent.post("/v1/receipts", sale(f"{agent.store}-R1", code))
        assert status == 201 and body["promo_code_problems"] == [], body
        assert [p["id"] for p in body["promotions"]] == ["spring"] and body["offline"] is True
        answers[agent.store] = body
    # a forged code is refused offline: right check character, wrong tag
    forged = code[:-4] + ("A" if code[-4] != "A" else "C") + code[-3:-1]
    from shared import promo_codes

    forged += promo_codes.check_char(forged)
    status, body = s1.post("/v1/receipts", sale("S1-R2", forged))
    assert status == 201 and [p["code"] for p in body["promo_code_problems"]] == ["promo_code_unknown"]

    broker.restart()
    assert s1.wait_drained(30) and s2.wait_drained(30)
    page = service.code_list_page(db, "SPR")
    assert page["list"]["used"] == 1 and page["list"]["conflicts"] == 1
    assert sorted((c["store"], c["receipt_id"], c["accepted"]) for c in page["conflicts"]) == sorted(
        [("S1", "S1-R1", 1), ("S2", "S2-R1", 0)]
    ) or sorted((c["store"], c["receipt_id"], c["accepted"]) for c in page["conflicts"]) == sorted(
        [("S1", "S1-R1", 0), ("S2", "S2-R1", 1)]
    )
    # both receipts stand, with their points, and the conflict is flagged
    assert db.count("transactions", "receipt_id IN ('S1-R1', 'S2-R1')") == 2
    flags = [json.loads(f[0]) for f in db.conn.execute("SELECT detail FROM flags WHERE kind = 'promo_code_conflict'")]
    assert [f["code"] for f in flags] == [code]
    [spring] = [p for p in service.listing(db) if p["id"] == "spring"]
    assert spring["receipts"] == 3 - 1 and spring["points"] == 2000
