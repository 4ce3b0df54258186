"""Schemathesis against the OpenAPI document a real agent serves (waitress, real sockets, a real SQLite file).

Every operation gets schema-valid and schema-invalid requests, from a fixed
seed and a bounded number of examples, so a run is repeatable and bounded in
time. What must hold: no 5xx; every answer is documented for its operation and
conforms to its schema (status, media type, body); a request the schema calls
invalid gets a 4xx; a method the path does not serve gets 405 with ``Allow``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events

from agent.auth import add_terminal
from agent.testing import request
from tests.agent.conftest import DOC, delta, receipt
from tests.agent.test_identification_stream import waitress_serving

SEED = 20261206
EXAMPLES = 12  # per operation and generation mode (schema-valid, schema-invalid)
PRINTER = {"printer_kind": "serial", "printer_url": "/dev/null-printer"}  # never opened: nothing is started here
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "unsupported_method",
    "allow_header_conformance",
)


@pytest.fixture
def served(make_app) -> Iterator[tuple[int, str]]:
    """A real agent on waitress with a customer (card c1) and a committed receipt R1; (port, terminal key)."""
    app = make_app(**PRINTER, threads=12, stream_max_clients=10, stream_max_seconds=2, stream_keepalive_seconds=1)
    store = app.extensions["loyalty_agent"].store
    store.apply_customer_delta(delta("c1", points=10_000))
    key = add_terminal(store, "P01")
    with waitress_serving(app, threads=12) as port:
        status, body = request(port, "POST", "/v1/receipts", receipt("R1"), key)
        assert status == 201, body
        yield port, key


def run(port: int, key: str) -> tuple[list[str], set[str], int]:
    """Schemathesis's engine over the served document: (failures described, operations run, requests made)."""
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "headers": {"Authorization": f"Bearer {key}"},
            "generation": {"max-examples": EXAMPLES, "mode": "all", "database": "none"},
            "phases": {"stateful": {"enabled": False}},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "request-timeout": 10,
            "continue-on-failure": True,
            # a stream answers until stream_max_seconds: stop reading it early (the server finds the gone client
            # at its next keep-alive, so a few streams stay open: threads and stream_max_clients leave room)
            "operations": [{"include-path": "/v1/identifications/stream", "request-timeout": 0.3}],
        }
    )
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{port}/openapi.json", config=config)
    failures: list[str] = []
    operations: set[str] = set()
    requests = 0
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.FatalError):
            failures.append(f"fatal error: {event.exception!r}")
        elif isinstance(event, events.NonFatalError):
            failures.append(f"error in {event.label}: {event.value!r}")
        elif isinstance(event, events.EngineFinished) and event.stop_reason != "completed":
            failures.append(f"the run stopped: {event.stop_reason}")
        if not isinstance(event, events.ScenarioFinished):
            continue
        recorder = event.recorder
        operations.add(recorder.label)
        requests += len(recorder.interactions)
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.failure_info is None:
                    continue
                interaction = recorder.interactions.get(case_id)
                answer = ""
                if interaction is not None and interaction.response is not None:
                    answer = f" -> {interaction.response.status_code} {interaction.response.content[:300]!r}"
                failures.append(
                    f"{recorder.label} [{check.name}] {check.failure_info.failure.title}: "
                    f"{check.failure_info.failure.message[:500]}\n    {check.failure_info.code_sample[:600]}{answer}"
                )
    return failures, operations, requests


@pytest.mark.slow  # about 25 s alone (some 1,300 requests)
def test_the_served_schema_holds(served):
    failures, operations, requests = run(*served)
    assert operations == {f"{method.upper()} {path}" for path, ops in DOC["paths"].items() for method in ops}
    assert requests > 500  # about 1,300 with this seed
    assert not failures, f"{len(failures)} failure(s):\n" + "\n".join(failures)
