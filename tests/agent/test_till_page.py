"""The cashier page in a real headless Chromium against a real agent over HTTP: sale, return, registration.

Each test drives the page as a cashier would (a scanner is a fast burst of
keys and Enter) and then checks the agent's database and API, not just the
screen.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.agent.conftest import CARD, CARD2, NOW, delta, receipt
from tests.agent.test_receipts_api import snapshot
from tests.agent.till_helpers import TRACK, rub, squash, till  # noqa: F401  (fixture)

TWO_LINES = [
    {"name": "Ролл", "quantity": "2", "price": 10000, "amount": 20000},
    {"name": "Чай", "quantity": "1", "price": 30000, "amount": 30000},
]


def fill_line(page, index: int, **fields: str) -> None:
    for field, value in fields.items():
        page.fill(f".line[data-index='{index}'] [data-field={field}]", value)


def test_purchase_with_redemption_then_refund(till):
    page = till.page
    till.open()
    till.scan_from_nowhere(TRACK)  # a magnetic stripe read, typed by a keyboard-wedge reader
    page.wait_for_selector("#customer:not([hidden])")
    assert till.text("#c-name") == "Иван" and till.text("#c-level") == "Base"
    assert till.text("#c-balance") == rub(10_000) and CARD in till.text("#c-card")

    page.get_by_label("Позиции").check()
    fill_line(page, 0, name="Ролл Дракон", price="450")
    page.keyboard.press("Enter")  # next line
    fill_line(page, 1, name="Чай", quantity="2", price="120,50", discount="10")
    lines = [
        {"name": "Ролл Дракон", "quantity": "1", "price": 45000, "amount": 45000},
        {"name": "Чай", "quantity": "2", "price": 12050, "discount": 1000, "amount": 23100},
    ]
    plain = till.api.post(
        "/v1/receipts/quote", {"at": NOW.isoformat(), "customer": {"card": CARD}, "lines": lines}
    ).json
    expect(page.locator("#t-accrued")).to_have_text(rub(plain["accrued"]))
    assert till.text("#t-total") == rub(68100) and till.text("#t-max") == rub(plain["max_redeemable"])

    page.keyboard.press("F8")  # redeem the maximum
    assert page.input_value("#redeem") == "100,00"
    redeemed = till.api.post(
        "/v1/receipts/quote", {"at": NOW.isoformat(), "customer": {"card": CARD}, "lines": lines, "redeem": 10_000}
    ).json
    expect(page.locator("#t-accrued")).to_have_text(rub(redeemed["accrued"]))
    assert till.text("#t-pay") == rub(58100)
    till.shot("sale-before-commit")

    page.click("#commit")
    page.wait_for_selector("#sale-result:not([hidden])")
    till.shot("sale-committed")
    [row] = till.receipts()
    assert (row["total"], row["redeemed"], row["accrued"], row["terminal"]) == (
        68100,
        10_000,
        redeemed["accrued"],
        "P01",
    )
    assert row["receipt_id"].startswith("P01-") and row["card"] == CARD
    balance = 10_000 - 10_000 + redeemed["accrued"]
    assert till.balance() == balance
    assert till.text("#r-balance") == rub(balance) and till.text("#r-pay") == rub(58100)
    assert till.text("#c-balance") == rub(balance)

    # the return of the whole receipt: points given back, earned points taken back
    page.click("#tab-receipts")
    page.click(f".receipt-item[data-receipt='{row['receipt_id']}']")
    page.click("#refund-all")
    assert page.input_value(".refund-lines tr[data-index='1'] .refund-qty") == "2"
    page.click("#refund-submit")
    page.wait_for_selector("#refund-msg[data-kind=ok]")
    till.shot("refund-done")
    assert till.balance() == 10_000
    assert rub(68100) in squash(till.text("#refund-msg")) and rub(10_000) in squash(till.text("#refund-msg"))
    assert f"Возврат {rub(68100)}" in squash(till.text(".receipt-item"))
    assert page.locator("#refund-submit").is_disabled()  # nothing left to return


def test_a_scan_into_the_amount_field_identifies_and_leaves_the_amount(till):
    page = till.page
    till.open()
    page.fill("#amount", "150")
    page.focus("#amount")
    till.scan(CARD, gap_ms=8)
    page.wait_for_selector("#customer:not([hidden])")
    assert page.input_value("#amount") == "150"
    assert till.text("#c-name") == "Иван"
    till.scan("12345678", gap_ms=120)  # a person typing (and pressing Enter) is not a scanner
    expect(page.locator("#amount")).to_have_value("15012345678")


def test_a_reload_keeps_the_sale_in_progress(till):
    page = till.page
    till.start_sale()
    page.fill("#amount", "250,50")
    page.fill("#redeem", "20")
    expect(page.locator("#t-pay")).to_have_text(rub(23050))
    till.api.post("/v1/receipts", receipt("OTHER"))  # the balance changes meanwhile at another till
    page.reload()
    page.wait_for_selector("body[data-screen=till]")
    assert page.input_value("#amount") == "250,50" and page.input_value("#redeem") == "20"
    expect(page.locator("#c-balance")).to_have_text(rub(till.balance()))  # read again, not the stale figure
    expect(page.locator("#t-pay")).to_have_text(rub(23050))
    assert till.text("#t-accrued") != "—"


def test_phone_typed_by_hand_identifies(till):
    page = till.page
    till.open()
    page.fill("#identify-input", "8 (912) 345-67-89")
    page.keyboard.press("Enter")
    page.wait_for_selector("#customer:not([hidden])")
    assert till.text("#c-phone") == "+7 912 ***-**-89"


def test_errors_are_shown_in_russian_and_change_nothing(till):
    page = till.page
    till.open()
    before = snapshot(till.store)
    till.scan_from_nowhere(CARD2)  # a valid number nobody has here: its holder, registration offered
    expect(page.locator("#identify-msg")).to_contain_text("Эта карта здесь ещё не зарегистрирована")
    assert page.locator("#identify-msg").get_attribute("data-kind") == "info"
    assert page.locator("#identify-msg button").count() == 1
    assert snapshot(till.store) == before  # identifying made nothing
    till.scan_from_nowhere("7700000000000017")  # a typo: wrong check digit
    page.wait_for_selector("#identify-msg[data-kind=error]")
    assert page.locator("#identify-msg").get_attribute("role") == "alert"
    expect(page.locator("#identify-msg")).to_contain_text("контрольн")
    assert squash(till.text("#identify-msg")).startswith("Неверный номер карты")

    till.scan_from_nowhere(CARD)
    page.wait_for_selector("#customer:not([hidden])")
    page.fill("#amount", "500")
    page.fill("#redeem", "150")  # more than the 100.00 the customer has
    page.wait_for_selector("#purchase-msg[data-kind=error]")
    message = squash(till.text("#purchase-msg"))
    assert message.startswith(("Списание больше допустимого", "Недостаточно баллов")) and "100,00" in message
    page.click("#commit")
    page.wait_for_selector("#sale-msg[data-kind=error]")
    assert "100,00" in squash(till.text("#sale-msg"))
    assert page.input_value("#amount") == "500" and page.input_value("#redeem") == "150"  # the form keeps its content

    page.fill("#amount", "12,345")
    expect(page.locator("#purchase-msg")).to_contain_text("Неверная сумма")
    assert page.locator("#amount").get_attribute("aria-invalid") == "true"
    page.click("#commit")
    expect(page.locator("#amount")).to_be_focused()  # the wrong field, its message beside it
    assert "Неверная сумма" in till.text("#purchase-msg") and page.locator("#sale-msg").is_hidden()
    till.shot("errors")
    assert snapshot(till.store) == before


def test_a_blocked_card_is_shown_with_its_messages_and_earns_nothing(till):
    page = till.page
    till.store.apply_customer_delta(
        delta(
            "c2",
            card=None,
            phone="+79160000000",
            name="Пётр",
            birthday="1990-11-25",
            cards=[{"number": CARD2, "status": "blocked"}],
            messages=[{"id": "m1", "text": "Предложите новый ролл", "until": None}],
        )
    )
    till.start_sale(CARD2)
    assert till.text("#c-name") == "Пётр"
    assert "Карта заблокирована" in till.text("#c-warnings")
    assert till.text("#c-messages .message.custom") == "Предложите новый ролл"
    assert till.text("#c-messages .message.birthday").startswith("День рождения через 1")
    # the message shown is read (a cashier_message_read event up); the blocked card's sale changes nothing
    with till.store.read() as tx:
        assert [r["kind"] for r in tx.c.execute("SELECT kind FROM outbox")] == ["cashier_message_read"]
    before = snapshot(till.store)
    page.fill("#amount", "100")
    expect(page.locator("#purchase-msg")).to_contain_text("Карта заблокирована")
    page.click("#commit")
    page.wait_for_selector("#sale-msg[data-kind=error]")
    till.shot("blocked-card")
    assert snapshot(till.store) == before


def test_unknown_card_leads_to_registration_with_confirmation(till):
    page = till.page
    till.open()
    till.scan_from_nowhere(CARD2)
    page.wait_for_selector("#identify-msg button")
    page.click("#identify-msg button")  # "register a new customer", the card filled in
    assert page.input_value("#reg-card") == CARD2
    page.fill("#reg-phone", "8 916 000-11-22")
    page.fill("#reg-name", "Мария")
    page.click("#register-form button[type=submit]")
    page.wait_for_selector("#register-msg[data-kind=error]")
    assert "согласие" in till.text("#register-msg")  # consent is required; nothing was registered
    assert till.store.outbox_batch() == []

    page.check("#reg-consent")
    assert page.input_value("#reg-language") == "ru"  # Russian unless the customer asks otherwise
    page.select_option("#reg-language", "en")
    page.click("#register-form button[type=submit]")
    page.wait_for_selector("#confirm-step:not([hidden])")
    [event] = [e for e in till.store.outbox_batch() if e.kind == "registration"]
    assert (event.body["phone"], event.body["card"], event.body["name"]) == ("+79160001122", CARD2, "Мария")
    assert event.body["language"] == "en"  # goes up to the central server (docs/sync.md)
    code = event.body["confirmation_code"]
    wrong = "000000" if code != "000000" else "111111"
    page.fill("#confirm-code", wrong)
    page.click("#confirm-form button[type=submit]")
    page.wait_for_selector("#confirm-msg[data-kind=error]")
    assert squash(till.text("#confirm-msg")).startswith("Неверный код подтверждения")
    page.fill("#confirm-code", code)
    page.click("#confirm-form button[type=submit]")
    page.wait_for_selector("#confirm-msg[data-kind=ok]")
    till.shot("registered")
    customer_id = event.body["customer_id"]
    assert till.api.post("/v1/identify", {"id": customer_id}).json["phone_verified"] is True

    page.click("#confirm-to-sale")
    expect(page.locator("#c-name")).to_have_text("Мария")
    assert CARD2 in till.text("#c-card") and page.locator("#sale").is_visible()


def test_a_commit_whose_answer_is_lost_is_retried_with_the_same_receipt(till):
    page = till.page
    till.start_sale()
    page.fill("#amount", "300")
    expect(page.locator("#t-pay")).to_have_text(rub(30000))
    lost = []

    def lose_the_answer(route):
        if route.request.method == "POST" and not lost:
            lost.append(route.request.post_data_json)
            route.fetch()  # the agent commits the receipt...
            route.abort("connectionreset")  # ...and its answer never reaches the page
        else:
            route.continue_()

    page.route(re.compile(r".*/v1/receipts$"), lose_the_answer)
    page.click("#commit")
    page.wait_for_selector("#sale-msg[data-kind=error]")
    assert squash(till.text("#sale-msg")).startswith("Агент не ответил")
    assert till.text("#commit .label") == "Отправить ещё раз" and page.locator("#amount").is_disabled()
    assert len(till.receipts()) == 1  # it was committed, the page cannot know

    page.reload()  # even a reload loses nothing: the unanswered receipt is kept
    page.wait_for_selector("body[data-screen=till]")
    assert page.input_value("#amount") == "300" and till.text("#commit .label") == "Отправить ещё раз"
    page.click("#commit")
    page.wait_for_selector("#sale-result:not([hidden])")
    assert till.text("#r-title") == "Чек уже был проведён: показан первый результат"
    [row] = till.receipts()
    assert row["receipt_id"] == lost[0]["receipt_id"]
    assert till.balance() == 10_000 + row["accrued"]


def test_partial_return_and_cancel(till):
    page = till.page
    api = till.api
    assert api.post("/v1/receipts", receipt("R1", lines=TWO_LINES, redeem=5000)).status_code == 201
    assert api.post("/v1/receipts", receipt("R2")).status_code == 201
    after_purchases = till.balance()
    till.open()
    page.click("#tab-receipts")
    page.wait_for_selector(".receipt-item[data-receipt=R1]")
    page.click(".receipt-item[data-receipt=R1]")
    page.fill(".refund-lines tr[data-index='0'] .refund-qty", "3")  # only 2 were sold
    page.click("#refund-submit")
    page.wait_for_selector("#refund-msg[data-kind=error]")
    assert "можно вернуть не больше 2" in till.text("#refund-msg")
    page.fill(".refund-lines tr[data-index='0'] .refund-qty", "1")
    page.click("#refund-submit")
    page.wait_for_selector("#refund-msg[data-kind=ok]")
    refund = api.get("/v1/receipts").json["receipts"][1]
    assert refund["receipt_id"] == "R1" and refund["refunded_amount"] == 10000
    assert [line["refunded_quantity"] for line in refund["lines"]] == ["1", "0"]
    assert till.text(".refund-lines tr[data-index='0'] td:nth-child(3)") == "1"

    page.click(".receipt-item[data-receipt=R2]")
    page.click("#cancel-receipt")
    assert till.text("#cancel-receipt") == "Аннулировать? Нажмите ещё раз"  # asks once more
    page.click("#cancel-receipt")
    page.wait_for_selector("#refund-msg[data-kind=ok]")
    assert "Чек аннулирован" in till.text("#refund-msg")
    assert "Аннулирован" in till.text(".receipt-item[data-receipt=R2]")
    r2 = next(r for r in till.receipts() if r["receipt_id"] == "R2")
    assert r2["status"] == "cancelled"
    with till.store.read() as tx:
        back = tx.c.execute("SELECT accrued, redeemed FROM refunds").fetchone()
    assert till.balance() == after_purchases + back["redeemed"] - back["accrued"] - r2["accrued"]


def test_reprint_shows_what_the_agent_answers(till):
    page = till.page
    till.start_sale()
    page.fill("#amount", "100")
    page.keyboard.press("F9")
    page.wait_for_selector("#sale-result:not([hidden])")
    receipt_id = till.receipts()[0]["receipt_id"]
    # no printer is configured here: 409 no_printer (or 404 before the device endpoints exist)
    answer = till.app.test_client().post(
        f"/v1/receipts/{receipt_id}/reprint", headers={"Authorization": f"Bearer {till.key}", "Accept-Language": "ru"}
    )
    assert answer.status_code in (404, 409)
    page.click("#sale-reprint")
    page.wait_for_selector("#sale-result-msg[data-kind=error]")
    assert squash(till.text("#sale-result-msg")).startswith(answer.get_json()["title"])


def test_a_lost_card_is_replaced_at_the_till_and_the_balance_stays(till):
    page = till.page
    till.store.apply_customer_delta(delta("c2", card=CARD2, phone="+79160000000", name="Пётр", points=5_000))
    till.start_sale()
    balance = till.text("#c-balance")
    page.click("#replace-open")
    page.fill("#replace-new", CARD2)  # another customer's card: refused in place, nothing changed
    before = snapshot(till.store)
    page.click("#replace-submit")
    page.wait_for_selector("#replace-msg[data-kind=error]")
    assert "Карта уже зарегистрирована" in till.text("#replace-msg")
    assert snapshot(till.store) == before
    new = "7700000000000032"
    page.fill("#replace-new", new)
    page.select_option("#replace-status", "lost")
    page.click("#replace-submit")
    page.wait_for_selector("#replace-msg[data-kind=ok]")
    expect(page.locator("#c-card")).to_contain_text(new)
    assert till.text("#c-balance") == balance and till.text("#c-name") == "Иван"
    assert page.locator("#replace-form").is_hidden()
    till.shot("card-replaced")
    [event] = [e for e in till.store.outbox_batch() if e.kind == "card_replacement"]
    assert (event.body["old_card"], event.body["new_card"], event.body["status"]) == (CARD, new, "lost")
    # the old card is refused from now on
    r = till.api.post("/v1/receipts/quote", receipt(customer={"card": CARD}))
    assert r.json["code"] == "card_blocked"
