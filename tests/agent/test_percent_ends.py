"""A personal percent with an end (docs/sync.md, "Personal percents with an end"): the delta carries the end,
the till ignores the percent from then on, before the central server's nightly job removes it."""

from __future__ import annotations

import datetime as dt

from agent.customer_lookup import customer_terms
from tests.agent.conftest import CARD, NOW, delta, receipt


def _at(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def _ends(store, column: str) -> str | None:
    with store.read() as tx:
        return tx.customer("c1")[column]


def test_a_percent_applies_until_its_end_and_not_after(api, store, clock):
    ends = _at(NOW + dt.timedelta(hours=1))
    store.apply_customer_delta(
        delta("c1", level="Gold", card=CARD, points=0, store_percent="10", store_percent_ends_at=ends)
    )
    assert _ends(store, "store_percent_ends_at") == ends
    assert api.post("/v1/receipts/quote", receipt()).json["accrued"] == 4500
    clock.advance(hours=1)  # the end: the level's percent again
    assert api.post("/v1/receipts/quote", receipt(at=clock.now)).json["accrued"] == 45000 * 5 // 100


def test_a_delta_without_an_end_clears_the_old_one(store):
    ends = _at(NOW + dt.timedelta(days=1))
    store.apply_customer_delta(delta("c1", network_percent="3", network_percent_ends_at=ends))
    store.apply_customer_delta(delta("c1", version=2, network_percent="3"))
    assert _ends(store, "network_percent_ends_at") is None


def test_customer_terms_leave_out_only_the_ended_percent():
    customer = {
        "level": None,
        "network_percent": "3",
        "store_percent": "7",
        "network_percent_ends_at": _at(NOW),
        "store_percent_ends_at": _at(NOW + dt.timedelta(seconds=1)),
    }
    terms = customer_terms(customer, NOW)  # type: ignore[arg-type]
    assert (terms.network_percent, terms.store_percent) == (None, 700)
    assert customer_terms(customer, NOW - dt.timedelta(seconds=1)).network_percent == 300  # type: ignore[arg-type]
    # no clock given (an older caller), a card holder made here (no end column), an unreadable end: kept
    assert customer_terms(customer).network_percent == 300  # type: ignore[arg-type]
    assert customer_terms({"level": None, "network_percent": "3", "store_percent": None}, NOW).network_percent == 300  # type: ignore[arg-type]
    assert customer_terms(customer | {"network_percent_ends_at": "soon"}, NOW).network_percent == 300  # type: ignore[arg-type]
