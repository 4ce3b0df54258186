"""Fixtures shared by every test folder."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
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

# a server database keeps the message channels' key in LOYALTY_SECRETS_DIR (central/storage/secretbox.py):
# the test run's own folder, not the checkout's instance/
os.environ.setdefault("LOYALTY_SECRETS_DIR", tempfile.mkdtemp(prefix="loyalty-secrets-"))
EXAMPLES = ROOT / "docs" / "examples"


#: where the PostgreSQL run creates its databases (one per test, dropped after); trust auth on loopback
PG_ADMIN_URL = os.environ.get("LOYALTY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("LOYALTY_TEST_BACKEND", "sqlite"),
        help="the central database of the central/sync tests: a SQLite file, or a fresh PostgreSQL database "
        "per test (LOYALTY_TEST_PG_URL; only tests marked 'postgresql' run, all of them with LOYALTY_TEST_PG_ALL=1)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first: with parallel workers (pytest-xdist) a long test started last would stretch the run.

    On ``--backend=postgresql`` only the tests known to pass there (marked ``postgresql``) are kept."""
    if config.getoption("backend") == "postgresql":
        every = bool(os.environ.get("LOYALTY_TEST_PG_ALL"))

        def on_pg(item: pytest.Item) -> bool:
            known = every or item.get_closest_marker("postgresql") is not None
            return known and item.get_closest_marker("sqlite_only") is None

        keep = [item for item in items if on_pg(item)]
        dropped = [item for item in items if not on_pg(item)]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def on_postgresql(config: pytest.Config) -> bool:
    """Whether this run's central databases are PostgreSQL (``--backend=postgresql``)."""
    return bool(config.getoption("backend") == "postgresql")


def create_pg_database(template: str = "template0") -> str:
    """A new PostgreSQL database with SQLite's byte order (C collation), empty or a copy of ``template``
    (a database nobody is connected to); its URL. Drop it with :func:`drop_pg_database`."""
    name = "loyalty_test_" + uuid.uuid4().hex[:16]
    if template == "template0":
        _pg_admin(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'")
    else:
        _pg_admin(f"CREATE DATABASE {name} TEMPLATE {template}")
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def drop_pg_database(url: str) -> None:
    _pg_admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


@pytest.fixture
def central_database(request: pytest.FixtureRequest, tmp_path: Path):
    """What the central server's DATABASE names: a SQLite file, or (``--backend=postgresql``) the URL of a
    fresh PostgreSQL database with SQLite's byte order (C collation), dropped after the test."""
    if not on_postgresql(request.config):
        yield str(tmp_path / "central.sqlite")
        return
    url = create_pg_database()
    yield url
    drop_pg_database(url)


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
