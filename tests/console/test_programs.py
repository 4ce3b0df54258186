"""Bonus accounts per program in the console: balances per program, points by hand into a chosen
program, import with a program column, merging keeps programs apart, a store's program change."""

from __future__ import annotations

import pytest

from central.points.programs import balances, default_program
from central.services import accounts, customers, imports, merge, reports, stores
from central.services.access import FormError
from central.sync.deltas import customer_page

from .conftest import apply_events, login, sale

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

ZONE = "Europe/Moscow"


@pytest.fixture
def coffee(db, people) -> int:
    """Program "Кофе" with store S2 in it (S1 stays in the default program)."""
    program = stores.save_program(db, people["admin"], {"name": "Кофе", "points_per_money": "1"})
    stores.update_store(
        db,
        people["admin"],
        "S2",
        {"name": "Nevsky 20", "timezone": ZONE, "base_percent": "5", "program_id": str(program)},
        [],
    )
    return program


def test_the_profile_shows_the_balance_in_each_program(client, db, people, agents, coffee):
    main = default_program(db.conn)
    a1, a2 = agents["S1"], agents["S2"]
    apply_events(
        db, a1.registration("c1", phone="+79120000001"), sale(a1, "c1", [("SKU-1", None, 10_000)], accrued=500)
    )
    apply_events(db, sale(a2, "c1", [("SKU-1", None, 10_000)], accrued=300))
    account = customers.account(db, people["admin"], "c1")
    assert {p["name"]: p["balance"] for p in account["programs"]} == {"Main program": 500, "Кофе": 300}
    assert account["balance"] == 800
    login(client, "admin")
    page = client.get("/customers/c1").get_data(as_text=True)
    assert 'id="program-balances"' in page and "Кофе" in page and 'id="program-total">8,00<' in page
    history = client.get("/customers/c1?tab=history").get_data(as_text=True)
    assert history.count('<td class="program">Кофе</td>') == 1
    assert history.count('<td class="program">Основная программа</td>') == 1
    # the programs page and the home page show what each program owes
    programs = {p["id"]: p for p in stores.programs_list(db, with_points=True)}
    assert (programs[main]["outstanding"], programs[coffee]["outstanding"]) == (500, 300)
    assert programs[coffee]["stores"] == 1 and programs[main]["stores"] == 1
    assert 'id="programs"' in client.get("/stores/programs").get_data(as_text=True)
    # a store manager of S1 sees the figures of S1's customers only (c1's home store is S1)
    scoped = {p["id"]: p["outstanding"] for p in stores.programs_list(db, people["manager"], with_points=True)}
    assert scoped == {main: 500, coffee: 300}
    apply_events(db, agents["S2"].registration("c2"), sale(agents["S2"], "c2", [("SKU-1", None, 10_000)], accrued=40))
    scoped = {p["id"]: p["outstanding"] for p in stores.programs_list(db, people["manager"], with_points=True)}
    assert scoped == {main: 500, coffee: 300}
    assert {p["id"]: p["outstanding"] for p in stores.programs_list(db, with_points=True)}[coffee] == 340
    figures = {r["name"]: r["outstanding"] for r in reports.liability(db, people["admin"])["by_program"]}
    assert figures == {"Main program": 500, "Кофе": 340}
    assert 'id="liability-programs"' in client.get("/").get_data(as_text=True)


def test_points_by_hand_go_to_the_chosen_program(client, db, people, shoppers, coffee):
    main = default_program(db.conn)
    admin = people["admin"]
    accounts.adjust_points(db, admin, "c1", {"points": "2", "reason": "goodwill", "program": str(coffee)})
    accounts.give_temporary(
        db, admin, "c1", {"points": "3", "reason": "promo", "expires": "2099-01-01", "program": str(coffee)}, ZONE
    )
    accounts.adjust_points(db, admin, "c1", {"points": "1", "reason": "default"})  # no program: the default one
    assert balances(db.conn, "c1") == {main: 600, coffee: 500}
    assert db.customer("c1")["balance"] == 1100 == db.ledger_sum("c1")
    # a debit cannot exceed what the chosen program holds, whatever the others hold
    with pytest.raises(FormError) as caught:
        accounts.adjust_points(db, admin, "c1", {"points": "-6", "reason": "x", "program": str(coffee)})
    assert "points" in caught.value.errors
    with pytest.raises(FormError) as caught:
        accounts.adjust_points(db, admin, "c1", {"points": "1", "reason": "x", "program": "999"})
    assert set(caught.value.errors) == {"program"}
    # a store manager of S1 may use S1's program only (the default one here)
    manager = people["manager"]
    choices, chosen = accounts.program_choices(db, manager)
    assert [p["id"] for p in choices] == [main] and chosen == main
    with pytest.raises(FormError):
        accounts.adjust_points(db, manager, "c1", {"points": "1", "reason": "x", "program": str(coffee)})
    # through the page: the form has the select, and the choice lands in the program
    login(client, "admin")
    page = client.get("/customers/c1?tab=actions").get_data(as_text=True)
    assert 'name="program"' in page and 'name="t_program"' in page
    response = client.post(
        "/customers/c1/temporary",
        data={"t_points": "4", "t_reason": "birthday", "expires": "2099-02-01", "t_program": str(coffee)},
    )
    assert response.status_code == 302
    assert balances(db.conn, "c1")[coffee] == 900
    audit = db.rows("SELECT after FROM audit_log WHERE action = 'customer.temporary_points' ORDER BY id DESC")[0]
    assert f'"program": {coffee}' in audit["after"]


CSV = (
    "phone;name;balance;программа\n+79121111111;Анна;100;Кофе\n+79122222222;Борис;50;\n+79123333333;Вера;10;Чай\n"
).encode()


def test_import_puts_balances_into_the_named_program(db, people, coffee):
    main = default_program(db.conn)
    table = imports.read_table(CSV, "people.csv")
    report = imports.check(db, people["marketer"], table)
    assert len(report.good) == 2
    ((row, column, message),) = report.problems
    assert (row, column) == (4, "program") and "Чай" in message and "Кофе" in message
    assert imports.apply(db, people["marketer"], table, report, good_rows_only=True, source="people.csv") == 2
    anna = db.rows("SELECT id, balance FROM customers WHERE phone = '+79121111111'")[0]
    boris = db.rows("SELECT id, balance FROM customers WHERE phone = '+79122222222'")[0]
    assert balances(db.conn, anna["id"]) == {coffee: 10_000} and anna["balance"] == 10_000
    assert balances(db.conn, boris["id"]) == {main: 5_000}
    assert db.conn.execute("SELECT program_id FROM ledger WHERE customer_id = ?", (anna["id"],)).fetchone()[0] == coffee
    # S2 (in Кофе) is sent Anna's points, S1 (default program) is not
    deltas = {s: {d["phone"]: d["lots"] for d in customer_page(db, s, 0, 1000)[0]} for s in ("S1", "S2")}
    assert deltas["S1"]["+79121111111"] == [] and deltas["S2"]["+79121111111"][0]["points"] == 10_000


def test_merge_keeps_each_program_points_apart(db, people, agents, coffee):
    main = default_program(db.conn)
    a1, a2 = agents["S1"], agents["S2"]
    apply_events(
        db,
        a1.registration("c1"),
        sale(a1, "c1", [("SKU-1", None, 10_000)], accrued=500),
        sale(a2, "c1", [("SKU-1", None, 10_000)], accrued=70),
    )
    apply_events(
        db,
        a2.registration("c2"),
        sale(a2, "c2", [("SKU-1", None, 10_000)], accrued=300),
        sale(a1, "c2", [("SKU-1", None, 10_000)], accrued=20),
    )
    accounts.give_temporary(
        db,
        people["admin"],
        "c2",
        {"points": "1", "reason": "promo", "expires": "2099-01-01", "program": str(coffee)},
        ZONE,
    )
    merge.merge(db, people["admin"], "c2", "c1")
    assert balances(db.conn, "c1") == {main: 520, coffee: 470}
    assert db.customer("c1")["balance"] == 990 == db.ledger_sum("c1")
    lots = {
        i: (p, prog)
        for i, p, prog in db.conn.execute(
            "SELECT id, points, program_id FROM lots WHERE customer_id = 'c1' AND expires_at IS NULL"
        )
    }
    assert lots == {"c1:permanent": (520, main), f"c1:permanent:{coffee}": (370, coffee)}
    assert balances(db.conn, "c2") == {}


def test_a_program_change_sends_the_customers_again(client, db, people, agents, coffee):
    main = default_program(db.conn)
    a1, a2 = agents["S1"], agents["S2"]
    apply_events(db, a1.registration("c1"), sale(a1, "c1", [("SKU-1", None, 10_000)], accrued=500))
    apply_events(db, a2.registration("c2"), sale(a2, "c2", [("SKU-1", None, 10_000)], accrued=300))
    apply_events(db, a1.registration("c3"))  # no points anywhere
    versions = {c: db.customer(c)["version"] for c in ("c1", "c2", "c3")}
    cursor = max(versions.values())
    login(client, "admin")
    response = client.post(
        "/stores/S2", data={"name": "Nevsky 20", "timezone": ZONE, "base_percent": "5", "program_id": ""}
    )
    assert response.status_code == 302
    assert db.get_store("S2")["program_id"] is None
    # c1 (main program) and c2 (Кофе) are sent again; c3 has no lots in either
    assert db.customer("c1")["version"] > cursor and db.customer("c2")["version"] > cursor
    assert db.customer("c3")["version"] == versions["c3"]
    deltas = {d["customer_id"]: d["lots"] for d in customer_page(db, "S2", cursor, 100)[0]}
    assert set(deltas) == {"c1", "c2"}
    assert deltas["c1"] == [{"id": "c1:permanent", "points": 500, "expires_at": None}] and deltas["c2"] == []
    assert balances(db.conn, "c2") == {coffee: 300}  # the points stay in their program
    # later purchases at S2 count in the main program
    apply_events(db, sale(a2, "c2", [("SKU-1", None, 10_000)], accrued=40))
    assert balances(db.conn, "c2") == {coffee: 300, main: 40}
    row = db.rows("SELECT before, after FROM audit_log WHERE action = 'store.update' ORDER BY id DESC")[0]
    assert f'"program_id": {coffee}' in row["before"] and '"program_id": null' in row["after"]


def test_an_xlsx_program_column_works_too(db, people, coffee):
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Телефон", "Баланс", "Программа"])
    sheet.append([79124444444, 12.5, "кофе"])  # a name in any case
    sheet.append([79125555555, 1, "Coffee"])
    data = io.BytesIO()
    book.save(data)
    table = imports.read_table(data.getvalue(), "people.xlsx")
    report = imports.check(db, people["admin"], table)
    assert report.good == [0] and [(r, c) for r, c, _ in report.problems] == [(3, "program")]
    imports.apply(db, people["admin"], table, report, good_rows_only=True, source="people.xlsx")
    cid = db.rows("SELECT id FROM customers WHERE phone = '+79124444444'")[0]["id"]
    assert balances(db.conn, cid) == {coffee: 1_250}


def test_the_stores_page_names_the_program_of_a_debt(client, db, people, agents, coffee):
    a1, a2 = agents["S1"], agents["S2"]
    apply_events(db, a1.registration("c1"), sale(a1, "c1", [("SKU-1", None, 10_000)], accrued=500))
    apply_events(db, sale(a2, "c1", [("SKU-1", None, 10_000)], redeemed=200))  # Кофе holds nothing of c1's
    (debt,) = stores.status(db, people["admin"])["debts"]
    assert (debt["program"], debt["shortfall"], debt["balance_after"]) == ("Кофе", 200, -200)
    login(client, "admin")
    assert '<span class="program">Кофе</span>' in client.get("/stores/").get_data(as_text=True)


def test_a_store_without_a_program_takes_the_default_program_rate(db, people, coffee):
    from central.services.rules import starting_document

    main = default_program(db.conn)
    stores.save_program(db, people["admin"], {"id": str(main), "name": "Main program", "points_per_money": "0,5"})
    assert starting_document(db, db.get_store("S1"))["points_per_money"] == "0.5"
    assert starting_document(db, db.get_store("S2"))["points_per_money"] == "1"
