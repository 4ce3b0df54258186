"""Migration 40: ``segment_members.since`` as unix seconds, given back as the ISO text it was written as."""

from __future__ import annotations

import central.storage.connection
from central.storage.schema import MIGRATIONS
from central.storage.segments import since_seconds, since_text
from central.storage.store import Store


def test_since_round_trips_as_utc_iso_text():
    for text in ("2026-01-01T10:00:00+00:00", "2024-02-29T23:59:59+00:00", "1970-01-01T00:00:00+00:00"):
        assert since_text(since_seconds(text)) == text
    assert since_seconds("2026-01-01T13:00:00+03:00") == since_seconds("2026-01-01T10:00:00+00:00")
    assert since_seconds("2026-01-01T10:00:00") == since_seconds("2026-01-01T10:00:00+00:00")


def test_migration_40_converts_the_members_text_and_the_profile_reads_the_same(tmp_path, monkeypatch):
    path = str(tmp_path / "old.sqlite")
    monkeypatch.setattr(central.storage.connection, "MIGRATIONS", [m for m in MIGRATIONS if m[0] != 40])
    old = Store(path)
    conn = old.conn
    conn.execute("INSERT INTO customers (id, balance, version, created_at) VALUES ('c1', 0, 1, 'x')")
    conn.execute("INSERT INTO customers (id, balance, version, created_at) VALUES ('c2', 0, 1, 'x')")
    keys = old.customer_keys(["c1", "c2"])
    for ident, name in ((1, "A"), (2, "B")):
        conn.execute(
            "INSERT INTO segments (id, name, kind, created_by, created_at, changed_by, changed_at)"
            " VALUES (?, ?, 'static', 't', 'x', 't', 'x')",
            (ident, name),
        )
    conn.executemany(
        "INSERT INTO segment_members (segment_id, key, since) VALUES (?, ?, ?)",
        [
            (1, keys["c1"], "2026-01-01T10:00:00+00:00"),
            (2, keys["c1"], "2026-03-05T07:08:09+00:00"),
            (1, keys["c2"], "2025-12-31T23:59:59+00:00"),
        ],
    )
    old.close()
    monkeypatch.setattr(central.storage.connection, "MIGRATIONS", MIGRATIONS)
    db = Store(path)
    try:
        assert db.conn.execute("SELECT count(*) FROM segment_members WHERE typeof(since) <> 'integer'").fetchone() == (
            0,
        )
        assert [(r["name"], r["since"]) for r in db.segments_of_customer("c1")] == [
            ("A", "2026-01-01T10:00:00+00:00"),
            ("B", "2026-03-05T07:08:09+00:00"),
        ]
        assert db.segment_members(1) == {keys["c1"], keys["c2"]}
        assert db.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'segment_members'"
        ).fetchall() == [("segment_members_key",)]
        db.change_segment_members(2, {keys["c2"]}, {keys["c1"]}, "2026-04-01T00:00:01+00:00", "hand")
        assert [(r["name"], r["since"]) for r in db.segments_of_customer("c2")] == [
            ("A", "2025-12-31T23:59:59+00:00"),
            ("B", "2026-04-01T00:00:01+00:00"),
        ]
    finally:
        db.close()
