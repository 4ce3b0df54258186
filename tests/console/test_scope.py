"""How far a store manager sees a customer of several stores: STORE_MANAGER_SCOPE (issue 12)."""

from __future__ import annotations

import pytest

from central import create_app
from central.services import accounts, customers, promotions
from central.services.access import SYSTEM, Forbidden
from central.services.filters import CustomerQuery
from central.storage import promotions as promo_queries

from .conftest import apply_events, login, sale

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


@pytest.fixture
def shopped_at_s1(db, shoppers, agents):
    """c2 is registered at S2 and bought once at S1 (the manager's store)."""
    apply_events(db, sale(agents["S1"], "c2", [("SKU-1", None, 1_000)]))


def _list(client, q=""):
    return client.get("/customers/", query_string={"q": q}).get_data(as_text=True)


def test_shopped_scope_shows_a_customer_who_bought_here_read_only(client, db, people, shopped_at_s1):
    manager = people["manager"]
    assert manager.scope == "shopped"  # the default
    login(client, "manager")
    assert "Мария Иванова" in _list(client)
    page = client.get("/customers/c2")
    assert page.status_code == 200 and 'id="read-only"' in page.get_data(as_text=True)
    assert 'id="read-only"' not in client.get("/customers/c1").get_data(as_text=True)
    assert client.get("/customers/c2?tab=purchases").status_code == 200
    # ... but changing them is their home store's business
    response = client.post("/customers/c2/points", data={"points": "10", "reason": "sorry"})
    assert response.status_code == 403
    with pytest.raises(Forbidden):
        accounts.add_comment(db, manager, "c2", "seen here")
    assert db.customer("c2")["balance"] == 300
    # their own store's customer stays writable
    accounts.add_comment(db, manager, "c1", "regular")


def test_home_scope_shows_only_customers_registered_at_the_managers_stores(db_file, db, people, shopped_at_s1):
    app = create_app(
        {
            "TESTING": True,
            "DATABASE": db_file,
            "WTF_CSRF_ENABLED": False,
            "SECRET_KEY": "t",
            "STORE_MANAGER_SCOPE": "home",
        }
    )
    client = app.test_client()
    login(client, "manager")
    assert "Мария Иванова" not in _list(client) and "Иван Петров" in _list(client)
    assert client.get("/customers/c2").status_code == 403
    from dataclasses import replace

    home = replace(people["manager"], scope="home")
    page = customers.list_customers(db, home, CustomerQuery(), "UTC")
    assert sorted(r["id"] for r in page.rows) == ["c1", "c3"]


def test_a_lookup_of_another_stores_customer_says_so(client, db, shoppers):
    login(client, "manager")  # S1; c2 is S2's and never bought at S1
    text = _list(client, "8 912 000-00-02")
    assert "Это клиент другого магазина" in text and "Мария" not in text
    assert "Клиенты не найдены." in _list(client, "+7 999 000-00-00")
    login(client, "marketer")
    assert "Мария Иванова" in _list(client, "8 912 000-00-02")


def test_the_setting_is_checked(db_file):
    with pytest.raises(ValueError, match="STORE_MANAGER_SCOPE"):
        create_app({"DATABASE": db_file, "STORE_MANAGER_SCOPE": "everything"})


def _use(receipt_id: str, code: str, store: str, customer: str) -> dict:
    """A purchase event that used a promo code."""
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


def test_a_promo_code_list_shows_a_manager_only_their_stores_customers_and_uses(client, db, people, shoppers):
    """A personal list's export named every holder and its page every store's uses and double uses: a store
    manager saw another store's customers (c2 of S2) and receipts."""
    promotions.create_code_list(db, people["admin"], "PER", count=3, length=6, prefix="PER", kind="personal")
    mine, theirs = promotions.issue_code(db, SYSTEM, "PER", "c1"), promotions.issue_code(db, SYSTEM, "PER", "c2")
    with db.transaction() as conn:
        promo_queries.apply_purchases(
            conn, [_use("R-S2-1", theirs, "S2", "c2"), _use("R-S2-2", theirs, "S2", "c2")], "now"
        )
        promo_queries.apply_purchases(conn, [_use("R-S1-1", mine, "S1", "c1"), _use("R-S1-2", mine, "S1", "c1")], "now")
    login(client, "manager")
    export = client.get("/promotions/codes/PER/export.csv").get_data(as_text=True)
    assert f"{mine},1,1,c1" in export and f"{theirs},1,1," in export and "c2" not in export
    page = client.get("/promotions/codes/PER").get_data(as_text=True)
    assert "R-S1-2" in page and "R-S2" not in page and ">c2<" not in page and ">S2<" not in page
    login(client, "admin")
    export = client.get("/promotions/codes/PER/export.csv").get_data(as_text=True)
    assert f"{theirs},1,1,c2" in export
    assert "R-S2-2" in client.get("/promotions/codes/PER").get_data(as_text=True)


def test_a_shopped_here_customers_messages_settings_stay_their_home_stores(client, db, people, shopped_at_s1):
    """The language of messages and a Telegram start link (which gives consent once used) checked only that the
    manager sees the customer: the manager of S1 changed the language of c2 (S2's, who bought once at S1)."""
    from central.services import messages

    login(client, "manager")
    before = db.conn.execute("SELECT * FROM customers WHERE id = 'c2'").fetchall()
    assert client.post("/messages/customer/c2/language", data={"language": "en"}).status_code == 403
    assert client.post("/messages/customer/c2/telegram-link").status_code == 403
    assert client.post("/messages/customer/c2/consents", data={"consent_sms": "1"}).status_code == 403
    assert db.conn.execute("SELECT * FROM customers WHERE id = 'c2'").fetchall() == before
    for change in (
        lambda: messages.set_language(db, people["manager"], "c2", "en"),
        lambda: messages.telegram_link(db, people["manager"], "c2"),
        lambda: messages.set_consent(db, people["manager"], "c2", "sms", True),
    ):
        with pytest.raises(Forbidden):
            change()
    assert client.post("/messages/customer/c1/language", data={"language": "en"}).status_code == 302  # their own


def test_a_promotions_what_if_on_another_store_is_refused_first(client, db, people):
    """The what-if replays a store's receipts: the manager of S1 asking for S2's was told what was wrong with the
    draft (422) before the store was checked."""
    login(client, "manager")
    draft = {"id": "w", "name": "W", "reward_kind": "points", "reward_value": "x", "whatif_days": "30"}
    assert client.post("/promotions/whatif", data={**draft, "whatif_store": "S2"}).status_code == 403
    assert client.post("/promotions/whatif", data={**draft, "whatif_store": "S1"}).status_code == 422
