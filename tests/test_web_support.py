"""The browser-test support itself works: a live server and a real Chromium page."""

from __future__ import annotations

from flask import Flask

from tests.web import live_server


def test_chromium_renders_a_live_flask_page(page):
    app = Flask(__name__)

    @app.get("/")
    def index():
        return "<title>Касса</title><button onclick=\"this.textContent='ok'\">go</button>"

    with live_server(app) as url:
        page.goto(url)
        assert page.title() == "Касса"
        page.click("button")
        assert page.text_content("button") == "ok"
