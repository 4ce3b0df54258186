"""The cashier page's screens: till and tablet sizes, languages, the terminal key, the card-reader stream."""

from __future__ import annotations

import json
import queue

import pytest
from flask import Response, request
from playwright.sync_api import expect

from agent.auth import revoke_terminal
from tests.agent.conftest import CARD, CARD2, receipt
from tests.agent.till_helpers import TRACK, squash, till  # noqa: F401  (fixture)

VIEWPORTS = {"till-1024x768": (1024, 768), "tablet-portrait-768x1024": (768, 1024), "tablet-1280x800": (1280, 800)}
#: big enough for a finger (WCAG 2.5.5 asks 44 CSS px)
TOUCH = 44


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_every_screen_fits_without_sideways_scrolling(till, size):
    page = till.page
    page.set_viewport_size(dict(zip(("width", "height"), VIEWPORTS[size], strict=True)))
    till.api.post(
        "/v1/receipts",
        receipt(
            "S001-P01-000123",
            lines=[
                {
                    "name": "Очень длинное название позиции, которое не помещается в строку",
                    "quantity": "1.5",
                    "price": 10000,
                    "amount": 15000,
                },
            ],
        ),
    )
    till.open()
    till.scan_from_nowhere(TRACK)
    page.wait_for_selector("#customer:not([hidden])")
    page.get_by_label("Позиции").check()
    for i in range(3):
        page.fill(f".line[data-index='{i}'] [data-field=name]", f"Позиция номер {i + 1} с длинным названием")
        page.fill(f".line[data-index='{i}'] [data-field=price]", "1234567,89")
        page.fill(f".line[data-index='{i}'] [data-field=category]", "SUSHI")
        if i < 2:
            page.click("#add-line")
    expect(page.locator("#t-accrued")).not_to_have_text("—")
    till.shot(f"{size}-sale")
    assert till.no_horizontal_scroll()
    for selector in ("#commit", "#redeem-max", "#identify-input", "#lines .line .remove", "#add-line", "[role=tab]"):
        box = page.locator(selector).first.bounding_box()
        assert box is None or box["height"] >= TOUCH, f"{selector} is {box['height']}px high at {size}"
    page.click("#commit")
    page.wait_for_selector("#sale-result:not([hidden])")
    assert page.locator("#sale-result").is_visible()
    till.shot(f"{size}-committed")
    assert till.no_horizontal_scroll()

    page.click("#tab-receipts")
    page.click(".receipt-item[data-receipt='S001-P01-000123']")
    till.shot(f"{size}-receipts")
    assert till.no_horizontal_scroll()
    page.click("#tab-register")
    till.shot(f"{size}-register")
    assert till.no_horizontal_scroll()


def test_english_switch_persists_and_reaches_the_api_messages(till):
    page = till.page
    till.open()
    assert page.locator("html").get_attribute("lang") == "ru" and till.text("#tab-sale") == "Продажа"
    page.click(".lang a[hreflang=en]")
    expect(page.locator("#tab-sale")).to_have_text("Sale")
    page.wait_for_selector("body[data-screen=till]")
    page.goto(f"{till.url}/till/")  # no parameter: the cookie remembers
    page.wait_for_selector("body[data-screen=till]")
    assert page.locator("html").get_attribute("lang") == "en" and till.text("#no-customer").startswith("No customer")
    till.scan_from_nowhere(CARD2)
    expect(page.locator("#identify-msg")).to_contain_text("This card is not registered here yet")  # in English
    till.scan_from_nowhere("7700000000000017")  # a typo: the agent's problem, in English
    page.wait_for_selector("#identify-msg[data-kind=error]")
    assert squash(till.text("#identify-msg")).startswith("Invalid card number")
    page.fill("#amount", "12,345")
    expect(page.locator("#purchase-msg")).to_contain_text("The amount is not valid")
    till.shot("english")
    page.click(".lang a[hreflang=ru]")
    expect(page.locator("#tab-sale")).to_have_text("Продажа")


def test_the_page_asks_for_the_key_once_and_again_when_revoked(till):
    page = till.page
    till.open(with_key=False)
    page.wait_for_selector("body[data-screen=setup]")
    assert page.locator("#key-input").is_visible() and not page.locator("#sale").is_visible()
    page.fill("#key-input", "lk_wrong")
    page.click("#setup-form button[type=submit]")
    page.wait_for_selector("#setup-msg[data-kind=error]")
    assert squash(till.text("#setup-msg")).startswith("Нужен ключ кассы")
    till.shot("setup-wrong-key")
    page.fill("#key-input", till.key)
    page.click("#setup-form button[type=submit]")
    page.wait_for_selector("body[data-screen=till]")
    assert till.text("#terminal-name") == "P01 · Касса 1"
    page.reload()  # kept in localStorage
    page.wait_for_selector("body[data-screen=till]")
    assert "#key=" not in page.url

    revoke_terminal(till.store, "P01")
    till.scan_from_nowhere(CARD)
    page.wait_for_selector("body[data-screen=setup]")
    assert "действующий ключ" in till.text("#setup-msg")


def test_the_page_runs_under_its_content_security_policy(till):
    answer = till.app.test_client().get("/till/")
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert till.app.test_client().get("/").headers["Location"].endswith("/till/")
    messages = []
    till.page.on("console", lambda m: messages.append(m.text) if "Content Security Policy" in m.text else None)
    till.open()
    assert messages == []


def test_without_the_stream_endpoint_the_page_stops_asking(till):
    if any(r.rule == "/v1/identifications/stream" for r in till.app.url_map.iter_rules()):
        pytest.skip("the agent serves the stream: test_card_reader_identification_shows_the_customer covers it")
    asked = []
    till.page.on("request", lambda r: asked.append(r.url) if "/identifications/stream" in r.url else None)
    till.open()
    till.page.wait_for_selector("body[data-stream=unavailable]")
    till.page.wait_for_timeout(300)
    assert len(asked) <= 2  # the EventSource and the one fetch that asks why


@pytest.fixture
def stream_app(make_app):
    """An agent with a stand-in of GET /v1/identifications/stream (the device work's contract) when it has none."""
    app = make_app()
    events: queue.Queue = queue.Queue()
    if not any(r.rule == "/v1/identifications/stream" for r in app.url_map.iter_rules()):
        from agent.api.routes import authenticate

        def stream() -> Response:
            key = request.args.get("access_token", "")
            request.environ["HTTP_AUTHORIZATION"] = f"Bearer {key}"
            authenticate()

            def events_of_terminal():
                yield ": connected\n\n"
                while True:
                    try:
                        answer = events.get(timeout=0.2)
                    except queue.Empty:
                        yield ": idle\n\n"
                        continue
                    yield f"event: identification\ndata: {json.dumps(answer, ensure_ascii=False)}\n\n"

            return Response(events_of_terminal(), mimetype="text/event-stream")

        app.add_url_rule("/v1/identifications/stream", "stand_in_stream", stream)
        app.extensions["stand_in_events"] = events
    return app


def test_card_reader_identification_shows_the_customer(stream_app, make_app, page, tmp_path):
    """A read on a hardware reader reaches the page through the stream and shows like a typed one."""
    from agent.auth import add_terminal
    from tests.agent.conftest import delta
    from tests.web import live_server

    events = stream_app.extensions.get("stand_in_events")
    if events is None:
        pytest.skip("the real stream needs a card reader: tests/devices drive it")
    store = stream_app.extensions["loyalty_agent"].store
    store.apply_customer_delta(delta("c1", points=10_000))
    key = add_terminal(store, "P01")
    with live_server(stream_app) as url:
        page.goto(f"{url}/till/#key={key}")
        page.wait_for_selector("body[data-stream=live]")
        assert page.locator("#reader-status").is_visible()
        client = stream_app.test_client()
        answer = client.post("/v1/identify", json={"card": CARD}, headers={"Authorization": f"Bearer {key}"}).get_json()
        events.put({**answer, "source": "reader-1", "at": "2026-11-24T09:00:00Z"})
        page.wait_for_selector("#customer:not([hidden])")
        assert page.locator("#c-name").inner_text() == "Иван"
        page.fill("#amount", "100")
        page.keyboard.press("F9")
        page.wait_for_selector("#sale-result:not([hidden])")
        page.goto("about:blank")  # hang up the stream before the server stops
    with store.read() as tx:
        [row] = tx.c.execute("SELECT card, customer_id FROM receipts").fetchall()
    assert (row["card"], row["customer_id"]) == (CARD, "c1")  # the commit names the card the reader read
