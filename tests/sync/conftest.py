"""Fixtures for sync tests: a real Mosquitto per test, a central database and ingest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from central.storage.store import Store
from central.sync.ingest import Ingest
from tests.polling import wait_for
from transport.mqtt import LinkConfig

from .broker import Mosquitto

ROOT_EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh real Mosquitto (anonymous, persistence on) on a free port."""
    broker = Mosquitto(tmp_path / "broker").start()
    yield broker
    broker.stop()


@pytest.fixture
def db_path(central_database: str) -> str:
    """A SQLite path, or a PostgreSQL URL with ``--backend=postgresql`` (tests/conftest.py)."""
    path = central_database
    db = Store(path)
    for store in ("S1", "S2", "S3"):
        db.add_store(store, f"Store {store}")
    db.close()
    return path


class IngestRunner:
    """Starts (and restarts) the central ingest against a broker."""

    def __init__(self, db_path: str, url: str) -> None:
        self.db_path = db_path
        self.url = url
        self.ingest: Ingest | None = None

    def start(self, **kwargs) -> Ingest:
        config = LinkConfig(url=self.url, client_id="central-ingest", backoff_max=1.0)
        kwargs.setdefault("gap_wait", 0.5)
        kwargs.setdefault("publish_interval", 0.2)
        self.ingest = Ingest(self.db_path, config, **kwargs).start()
        assert self.ingest.link is not None and self.ingest.link.wait_connected(10)
        return self.ingest

    def stop(self) -> None:
        if self.ingest is not None:
            self.ingest.stop()
            self.ingest = None

    def crash(self) -> None:
        """Stop without a clean MQTT disconnect (as a killed process would)."""
        ingest = self.ingest
        assert ingest is not None and ingest.link is not None
        ingest._stop.set()
        ingest.link._stop.set()
        try:
            ingest.link.client.socket().close()
        except Exception:
            pass
        if ingest.publisher is not None:
            ingest.publisher.stop()
        if ingest._worker is not None:
            ingest._worker.join(10)
        ingest.db.close()
        self.ingest = None


@pytest.fixture
def central(db_path: str, mosquitto: Mosquitto) -> Iterator[IngestRunner]:
    runner = IngestRunner(db_path, mosquitto.url)
    runner.start()
    yield runner
    runner.stop()


__all__ = ["wait_for"]
