"""The reports' columns warmed when the server starts (docs/reports.md "Columns"): the warm-up runs in the background
and blocks no request, a report request arriving meanwhile waits for that same fill (one fill, not two), and
the figures are those of a plain fill."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from central.reports.columns import Columns
from central.services import analytics
from central.services.access import SYSTEM
from central.storage.store import Store
from tests.console.test_reports import ledger  # noqa: F401  (the fixture: a hand-built ledger)
from tests.polling import wait_for

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

ROOT = Path(__file__).resolve().parents[2]
FIELDS = (
    "key",
    "known",
    "day",
    "hour",
    "store",
    "level",
    "purchase",
    "amount",
    "cat_row",
    "cat_id",
    "cat_amount",
    "cat_line",
)


class Gate:
    """Holds ``Store.column_rows`` until opened (the fill of a large ledger, made slow on purpose); counts calls."""

    def __init__(self, monkeypatch) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()
        self.calls = 0
        real = Store.column_rows

        def column_rows(store, after, upto):
            self.calls += 1
            self.entered.set()
            assert self.open.wait(30)
            return real(store, after, upto)

        monkeypatch.setattr(Store, "column_rows", column_rows)


def test_two_first_requests_fill_the_columns_once(ledger, monkeypatch):  # noqa: F811
    gate = Gate(monkeypatch)
    before = analytics.FILLS.get(ledger.path, 0)
    period = {"from": "2026-10-01", "to": "2026-12-31"}
    out: list[dict] = []

    def request() -> None:
        db = Store(ledger.path)
        try:
            out.append(analytics.dashboard(db, SYSTEM, period))
        finally:
            db.close()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    assert gate.entered.wait(10)
    time.sleep(0.2)  # the second request is at the lock by now
    gate.open.set()
    for thread in threads:
        thread.join(30)
    assert len(out) == 2 and out[0] == out[1]
    assert analytics.FILLS[ledger.path] == before + 1
    assert gate.calls == 1  # one read of the rows, not two


def test_the_warm_up_blocks_no_request_and_a_report_waits_for_its_fill(ledger, client, monkeypatch):  # noqa: F811
    from central.services import tokens

    # the figures of a plain fill, to compare with
    want = analytics.dashboard(ledger, SYSTEM, {"from": "2026-10-01", "to": "2026-12-31"})
    plain = analytics.columns(ledger)
    analytics.forget_columns()
    before = analytics.FILLS.get(ledger.path, 0)
    gate = Gate(monkeypatch)
    _ident, token = tokens.add_token(ledger, SYSTEM, "bi")
    warm = analytics.warm_columns(ledger.path)
    assert gate.entered.wait(10) and warm.is_alive()  # the warm-up is filling (held)
    # other requests are served meanwhile
    assert client.get("/health").status_code == 200
    # a report request waits for the warm-up's fill rather than starting a second one
    got: list = []
    report = threading.Thread(
        target=lambda: got.append(
            client.get(
                "/api/v1/reports/dashboard?from=2026-10-01&to=2026-12-31", headers={"Authorization": f"Bearer {token}"}
            )
        )
    )
    report.start()
    time.sleep(0.3)
    assert report.is_alive() and not got
    gate.open.set()
    warm.join(30)
    report.join(30)
    assert got[0].status_code == 200
    assert got[0].get_json()["figures"] == want["figures"]
    assert analytics.FILLS[ledger.path] == before + 1 and gate.calls == 1
    cols = analytics.columns(ledger)
    assert all(np.array_equal(getattr(cols, f), getattr(plain, f)) for f in FIELDS) and cols.stores == plain.stores


def test_zone_wise_days_equal_the_per_row_days_across_dst():
    """The fill computes local days per zone on whole arrays: the same columns as the per-row function."""
    import random
    import zoneinfo as zi

    from central.storage.rollups import DayOf

    zones = {"S1": zi.ZoneInfo("America/New_York"), "S2": zi.ZoneInfo("Asia/Vladivostok"), None: zi.ZoneInfo("UTC")}
    rng = random.Random(5)
    rows = [
        (
            rng.randrange(50),
            rng.choice(["S1", "S2", None]),
            rng.choice([1793512800, 1805000400]) + rng.randrange(-86400, 86400),
            rng.random() < 0.8,
            rng.randrange(-500, 5000),
        )
        for _ in range(3000)
    ]
    fast, slow = Columns(), Columns()
    for piece in (rows[:1000], rows[1000:]):
        fast.append(piece, DayOf(zones.get))
        slow.append(piece, lambda s, e: dt.datetime.fromtimestamp(e, zones[s]).date().toordinal())
    assert all(np.array_equal(getattr(fast, f), getattr(slow, f)) for f in FIELDS) and fast.stores == slow.stores


def test_serve_warms_the_columns_at_start(tmp_path, ledger):  # noqa: F811
    from tests.messages.conftest import free_port

    env = {
        **os.environ,
        "LOYALTY_CENTRAL_DATABASE": json.dumps(ledger.path),
        "LOYALTY_CENTRAL_EMBEDDED_BROKER_PORT": str(free_port()),
        "LOYALTY_CENTRAL_INGEST": "false",
        "LOYALTY_CENTRAL_MESSAGES_SENDER": "false",
        "LOYALTY_CENTRAL_TRIGGERS_ENGINE": "false",
        "LOYALTY_CENTRAL_NIGHTLY_HOUR": "-1",
    }
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "central.cli", "serve", "--port", str(free_port())],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            wait_for(lambda: "report columns filled" in log_path.read_text(), timeout=60)
        finally:
            proc.terminate()
            proc.wait(20)
    assert log_path.read_text().count("report columns filled") == 1
    assert "identified receipts" in log_path.read_text()


def test_zone_days_equal_the_per_row_days_over_years_of_transitions():
    """Offsets are looked up per UTC day where they do not change: every day of three years, zones with DST
    (a 30-minute one too) and odd offsets, against ``datetime`` row by row."""
    import random
    import zoneinfo as zi

    from central.storage.rollups import DayOf

    rng = random.Random(11)
    start = int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp())
    for name in ("America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu", "Europe/Moscow"):
        zone = zi.ZoneInfo(name)
        epochs = np.array(sorted(start + rng.randrange(3 * 366 * 86400) for _ in range(20000)), np.int64)
        want = [dt.datetime.fromtimestamp(int(e), zone).date().toordinal() for e in epochs]
        assert DayOf(lambda _s, z=zone: z).zone_days(zone, epochs).tolist() == want, name
