"""The cashier page under test: a real agent app served over HTTP and a real headless Chromium.

``till`` serves an agent (rules installed, customer c1 with card CARD and
100.00 points, terminal P01 with a key) with ``live_server`` and drives the
``page`` fixture. Screenshots go to a temporary folder (``shot(name)``),
never into the repository; set ``TILL_SHOTS=/some/dir`` to keep them.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.auth import add_terminal
from tests.agent.conftest import CARD, Api, delta
from tests.web import live_server

#: a magnetic-stripe read of CARD as a keyboard-wedge reader types it
TRACK = f";{CARD}=28121010000000000000?"


def rub(minor: int) -> str:
    """Minor units as the Russian page shows them: 123456 -> '1 234,56' (no-break space)."""
    sign = "\u2212" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 100)
    return f"{sign}{whole:,}".replace(",", "\u00a0") + f",{frac:02d}"


@dataclass
class Till:
    app: Any
    store: Any
    page: Any
    url: str
    key: str
    shots: Path

    @property
    def api(self) -> Api:
        return Api(self.app, self.key)

    def open(self, query: str = "", *, with_key: bool = True) -> None:
        """Open the page as the link of `terminals add --till` does (key in the fragment)."""
        self.page.goto(f"{self.url}/till/{query}" + (f"#key={self.key}" if with_key else ""))
        if with_key:
            self.page.wait_for_selector("body[data-screen=till]")

    def scan(self, text: str, *, gap_ms: float = 5) -> None:
        """Type ``text`` and Enter as a keyboard-wedge scanner does, wherever the focus is.

        The key events go through Chromium's input pipeline (CDP) time-stamped
        ``gap_ms`` apart, so the page sees a scanner's timing however slowly
        this machine runs the test.
        """
        cdp = self.page.context.new_cdp_session(self.page)
        start = time.time()
        for i, char in enumerate([*text, "\r"]):
            key = (
                {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"}
                if char == "\r"
                else {"key": char, "text": char}
            )
            at = start + i * gap_ms / 1000
            cdp.send("Input.dispatchKeyEvent", {"type": "keyDown", "timestamp": at, **key})
            cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", "timestamp": at, "key": key["key"]})
        cdp.detach()

    def scan_from_nowhere(self, text: str) -> None:
        """A scan while no field has the focus (the usual state between customers)."""
        self.page.evaluate("document.activeElement && document.activeElement.blur()")
        self.scan(text)

    def start_sale(self, card: str = CARD) -> None:
        """Open the page and identify the customer by a scanned card."""
        self.open()
        self.scan_from_nowhere(card)
        self.page.wait_for_selector("#customer:not([hidden])")

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text().strip()

    def balance(self, customer_id: str = "c1") -> int:
        return self.api.post("/v1/identify", {"id": customer_id}).json["balance"]

    def receipts(self) -> list[dict]:
        with self.store.read() as tx:
            return [dict(r) for r in tx.c.execute("SELECT * FROM receipts ORDER BY seq")]

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def no_horizontal_scroll(self) -> bool:
        return self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture
def till(make_app, page, tmp_path):
    """The page of terminal P01 of a configured agent; the browser's errors fail the test."""
    app = make_app()
    store = app.extensions["loyalty_agent"].store
    store.apply_customer_delta(delta("c1", points=10_000))
    key = add_terminal(store, "P01", "Касса 1")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    shots = Path(os.environ.get("TILL_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    with live_server(app) as url:
        yield Till(app, store, page, url, key, shots)
    assert errors == [], f"JavaScript errors on the page: {errors}"


def squash(text: str) -> str:
    """Whitespace (no-break spaces included) collapsed, for comparing visible text."""
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()
