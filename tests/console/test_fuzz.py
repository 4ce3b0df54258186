"""Every query parameter of every console list page, fuzzed (hypothesis): a bad value is a 4xx, never a 5xx."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.services import tokens
from central.services.access import SYSTEM
from central.services.filters import FIELDS, OPS
from central.services.transactions import TYPES

from .conftest import login

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

CUSTOMER_ARGS = ("q", "kind", "match", "f", "o", "v", "period_from", "period_to", "after", "before")
TX_ARGS = (
    "period_from",
    "period_to",
    "store",
    "group",
    "type",
    "direction",
    "card",
    "customer",
    "product",
    "category",
    "weekday",
    "hour_from",
    "hour_to",
    "after",
)
#: the reports API's parameters (central/services/analytics.py)
REPORT_ARGS = ("format", "period", "from", "to", "stores", "rows", "columns", "measures", "grain", "segment", "by")
#: (path, its query parameters); the JSON API's lists go with a token
PAGES = [
    ("/customers/", CUSTOMER_ARGS),
    ("/customers/export.csv", CUSTOMER_ARGS),
    ("/customers/find", ("q",)),
    ("/customers/c1", ("tab", "before")),
    ("/transactions/", TX_ARGS),
    ("/transactions/export.csv", TX_ARGS),
    ("/audit", ("before", "entity", "id")),
    ("/login", ("next",)),
    ("/", ()),
    ("/stores/", ()),
    ("/rules/", ()),
    ("/users", ()),
    ("/imports/", ()),
    ("/api/v1/totals/customers", ("after", "limit")),
    ("/api/v1/flags", ("after", "limit", "state")),
    ("/api/v1/dead-letters", ("after", "limit", "state")),
    ("/api/v1/reports/dashboard", REPORT_ARGS),
    ("/api/v1/reports/pivot", REPORT_ARGS),
    ("/api/v1/reports/cohorts", REPORT_ARGS),
    ("/api/v1/reports/effect", REPORT_ARGS),
    ("/api/v1/segments", ("q",)),
    ("/api/v1/segments/1/members", ("after", "limit")),
]
TRICKY = [
    "",
    "x",
    "x\x00y",
    "\r",
    "\t",
    "99999999999999999999999",
    "-1",
    "²",
    "٣",
    "1~x",
    "x~1",
    "1~2",
    "9~99999999999999999999",
    "-9223372036854775809~1",
    "2026-13-01",
    "2026-02-30",
    "2026-11-21 25:61",
    '"',
    "' OR 1=1 --",
    "%",
    "_",
    "NEAR(a b)",
    "a*",
    "^x",
    '"a" OR b',
    "custom:x",
    "custom:",
    "custom:Bad-Name",
    "S1",
    "S2",
    "c1",
    "history",
    "purchases",
    "log",
    "all",
    "any",
    "open",
    "\ud7ff",
    "𝟙𝟚",
    "../../etc/passwd",
    "//evil.example",
    "javascript:alert(1)",
    "0001-01-01",
    "9999-12-31",
    "csv",
    "xlsx",
    "store",
    "segment",
    "day",
    "month",
    *FIELDS,
    *OPS,
    *TYPES,
]
VALUES = st.one_of(st.sampled_from(TRICKY), st.text(max_size=40), st.from_regex(r"\A-?[0-9]{1,25}(~-?[0-9]{0,25})?\Z"))


@st.composite
def requests(draw):
    path, names = draw(st.sampled_from(PAGES))
    args = draw(st.lists(st.tuples(st.sampled_from(names), VALUES), max_size=8)) if names else []
    return path, args


@pytest.mark.parametrize("who", ["admin", "manager"])
def test_no_query_parameter_gives_a_server_error(app, db, shoppers, who):
    client = app.test_client()
    login(client, who)
    _, token = tokens.add_token(db, SYSTEM, "fuzz")

    @settings(
        max_examples=250,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(requests())
    def probe(request):
        path, args = request
        headers = {"Authorization": f"Bearer {token}"} if path.startswith("/api/") else {}
        response = client.get(path, query_string=args, headers=headers)
        assert response.status_code < 500, (path, args, response.get_data(as_text=True)[-2000:])
        if path.startswith("/api/") and response.status_code >= 400:  # the API's errors are JSON with a code
            assert response.is_json and response.json["code"], (path, args, response.get_data(as_text=True)[:500])
        response.close()

    probe()


def test_a_broken_page_key_and_control_characters_are_clear_400s(client, shoppers):
    login(client, "admin")
    response = client.get("/transactions/?after=x")
    assert response.status_code == 400 and "Ссылка на страницу испорчена" in response.get_data(as_text=True)
    response = client.get("/customers/?q=x%00y")
    assert response.status_code == 400 and "управляющие символы" in response.get_data(as_text=True)
    assert client.get("/audit?before=99999999999999999999").status_code == 400
    assert client.get("/customers/c1?tab=history&before=x1").status_code == 400
    assert client.get("/transactions/?after=1700000000~5").status_code == 200
