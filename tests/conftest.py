"""Fixtures shared by every test folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from shared import accrual
from shared.rules import RuleSet, parse_rules

# Parallel workers on two cores make any single example slow now and then: timing is not what
# property tests check (bench/ measures speed), so no per-example deadline.
settings.register_profile("loyalty", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("loyalty")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first: with parallel workers (pytest-xdist) a long test started last would stretch the run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def spec_rules_doc() -> dict:
    """The rule set printed in accrual.md (kept in docs/examples/rules.json)."""
    return json.loads((EXAMPLES / "rules.json").read_text(encoding="utf-8"))


@pytest.fixture
def spec_rules(spec_rules_doc: dict) -> RuleSet:
    return parse_rules(spec_rules_doc)


def engine_params() -> list:
    """Both calculator engines where the kernel is built; the native one is skipped otherwise."""
    return [
        pytest.param(accrual.PythonCalculator, id="python"),
        pytest.param(
            accrual.NativeCalculator,
            id="native",
            marks=pytest.mark.skipif(accrual.NativeCalculator is None, reason="Cython kernel not built"),
        ),
    ]


@pytest.fixture(params=engine_params())
def engine(request: pytest.FixtureRequest):
    """A calculator class (PythonCalculator or NativeCalculator)."""
    return request.param


@pytest.fixture
def db(db_file: str):
    """The central database of a test (each folder's conftest says what ``db_file`` holds)."""
    from central.storage.store import Store

    store = Store(db_file)
    yield store
    store.close()


@pytest.fixture
def client(app):
    """A Flask test client of the folder's ``app``."""
    return app.test_client()


@pytest.fixture(scope="session")
def browser():
    """A headless Debian chromium driven by Playwright, shared by the session."""
    from playwright.sync_api import sync_playwright

    from tests.web import CHROMIUM_ARGS, chromium_path

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    """A fresh browser page at 1024x768 (the smallest till screen we support)."""
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="ru-RU")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
