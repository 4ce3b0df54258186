"""The whole store in one test: a swipe on the simulated reader shows the customer on the cashier
page (a real Chromium on a real ``loyalty-agent serve``), the sale is committed from the page, and
the simulated printer prints its slip."""

from __future__ import annotations

import pytest

from tests.devices.test_agent_devices import CARD, rig  # noqa: F401  (the fixture: simulators + agent process)
from tests.firmware_sim.procs import slip_texts
from tests.polling import wait_for


@pytest.mark.slow
def test_a_swipe_shows_the_customer_on_the_till_page_and_the_sale_prints(rig, page):  # noqa: F811
    base = f"http://127.0.0.1:{rig.agent.port}"
    page.goto(f"{base}/till/#key={rig.agent.key}")
    page.wait_for_function("() => document.body.innerText.includes('Продажа')")
    # the page listens on the identification stream once it has a key
    page.wait_for_timeout(500)
    rig.swipe(CARD)
    page.wait_for_function("() => document.body.innerText.includes('Customer 0')", timeout=20_000)
    text = page.inner_text("body")
    assert "10\u00a0000,00" in text or "10 000,00" in text, text  # the balance, in rubles
    assert page.inner_text("#c-name") == "Customer 0"
    assert slip_texts(rig.slips) == []

    page.fill("#amount", "450")
    page.wait_for_function("() => document.querySelector('#t-accrued').innerText.trim() !== '—'")
    page.click("#commit")
    page.wait_for_selector("#sale-result", state="visible")
    accrued = page.inner_text("#r-accrued")
    (slip,) = wait_for(lambda: slip_texts(rig.slips), timeout=20)
    assert "Начислено баллов" in slip and accrued.replace("\u00a0", " ").strip() in slip.replace("\u00a0", " ")
    assert "**** **** **** " + CARD[-4:] in slip
