"""Stores: add and edit (audited), programs, the sync status the agents report, reviewing what was set aside."""

from __future__ import annotations

import pytest

from central.services import stores
from central.services.access import Forbidden, FormError
from central.storage.store import DeadLetter, IngestUnit

from .conftest import apply_events, login, sale

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def test_add_and_edit_a_store_with_groups_and_a_program(db, people):
    admin = people["admin"]
    program = stores.save_program(db, admin, {"name": "Основная", "points_per_money": "0,5"})
    token = stores.add_store(
        db,
        admin,
        {
            "id": "S3",
            "name": "Арбат 1",
            "city": "Москва",
            "timezone": "Europe/Moscow",
            "base_percent": "4,5",
            "program_id": str(program),
        },
        ["Москва", "Центр"],
    )
    assert len(token) > 20
    row = [s for s in stores.list_stores(db, admin) if s["id"] == "S3"][0]
    assert (row["city"], row["base_percent"], row["groups"], row["program"]["name"]) == (
        "Москва",
        "4.5",
        ["Москва", "Центр"],
        "Основная",
    )
    with pytest.raises(FormError) as caught:
        stores.update_store(db, admin, "S3", {"name": "", "timezone": "Mars/Base", "base_percent": "150"}, [])
    assert set(caught.value.errors) == {"name", "timezone", "base_percent"}
    stores.update_store(
        db, admin, "S3", {"name": "Арбат 1", "timezone": "Asia/Yekaterinburg", "base_percent": "5"}, ["Центр"]
    )
    assert db.get_store("S3")["timezone"] == "Asia/Yekaterinburg"
    actions = [
        r[0] for r in db.conn.execute("SELECT action FROM audit_log WHERE entity IN ('store', 'program') ORDER BY id")
    ]
    assert actions == ["program.add", "store.add", "store.update"]
    with pytest.raises(Forbidden):
        stores.add_store(db, people["marketer"], {"id": "S4", "name": "x", "timezone": "UTC"}, [])


def test_status_shows_what_the_agents_report_and_reviews_are_audited(db, people, agents):
    a1 = agents["S1"]
    apply_events(db, a1.registration("c1"), sale(a1, "c1", [("SKU-1", None, 1_000)], redeemed=900))  # a debt
    db.commit_ingest(
        IngestUnit(
            statuses={
                ("S1", "a1"): {
                    "state": "online",
                    "at": "2026-11-23T10:00:00+03:00",
                    "outbox_depth": 7,
                    "rules_version": 3,
                    "last_sync": "2026-11-23T09:59:00+03:00",
                }
            },
            dead_letters=[DeadLetter("invalid", "body.total: is required", b"\x80", "t", "S1", "a1", "e1", 9)],
        )
    )
    status = stores.status(db, people["viewer"])
    s1 = [s for s in status["stores"] if s["id"] == "S1"][0]
    assert (s1["online"], s1["outbox"], s1["running"]) == (1, 7, [3])
    assert len(status["debts"]) == 1 and len(status["dead_letters"]) == 1
    with pytest.raises(Forbidden):
        stores.resolve(db, people["marketer"], "debt", status["debts"][0]["event_id"], "called the store")
    with pytest.raises(FormError):
        stores.resolve(db, people["admin"], "debt", status["debts"][0]["event_id"], "")
    stores.resolve(db, people["admin"], "debt", status["debts"][0]["event_id"], "called the store")
    stores.resolve(db, people["admin"], "dead_letter", str(status["dead_letters"][0]["id"]), "agent fixed")
    after = stores.status(db, people["admin"])
    assert after["debts"] == [] and after["dead_letters"] == []
    assert db.count("audit_log", "action IN ('debt.resolve', 'dead_letter.resolve')") == 2
    # a store manager sees only their stores
    assert [s["id"] for s in stores.status(db, people["manager"])["stores"]] == ["S1"]


def test_the_status_page(client, db, agents):
    db.commit_ingest(
        IngestUnit(
            statuses={
                ("S1", "a1"): {
                    "state": "online",
                    "at": "2026-11-23T10:00:00+03:00",
                    "outbox_depth": 12,
                    "rules_version": 2,
                }
            }
        )
    )
    login(client, "viewer")
    html = client.get("/stores/").get_data(as_text=True)
    assert "на связи" in html and ">12<" in html and "v2" in html


def test_the_status_page_shows_what_recovery_did_after_a_restore(client, db, people, agents):
    from tests.sync.fakes import FakeAgent

    a1 = agents["S1"]
    apply_events(db, a1.registration("c1"), sale(a1, "c1", [("SKU-1", None, 1_000)], accrued=10))
    restored = FakeAgent("S1", "a1", start_seq=1)  # its seq 2 is the handled seq of the sale
    restored.receipts = 100
    again = sale(restored, "c1", [("SKU-1", None, 2_000)], accrued=20)
    db.commit_ingest(IngestUnit(events=[again], recovered={again["id"]}))
    assert db.customer("c1")["balance"] == 30
    [row] = stores.status(db, people["viewer"])["recovered"]
    assert (row["store"], row["agent"], row["recovery"], row["events"], row["first_seq"]) == (
        "S1",
        "a1",
        "applied",
        1,
        2,
    )
    assert stores.status(db, people["manager"])["recovered"] == [row]  # S1 is the manager's store
    login(client, "viewer")
    html = client.get("/stores/").get_data(as_text=True)
    assert "Продажи после восстановления из резервной копии" in html and "применено" in html and "seq 2–2" in html
