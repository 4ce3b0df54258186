"""Exports: XLSX as a background job with progress and a download link; every cell through one function."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from central.services import exports, jobs

from .conftest import login
from .test_pages import export_xlsx

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def _many(db, n):
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO customers (id, home_store, phone, name, balance, version, created_at)"
            " VALUES (?, 'S1', ?, ?, ?, ?, ?)",
            [
                (f"m{i:05d}", f"+7913{i:07d}", f"Клиент {i}", i, i + 1000, f"2026-01-01T00:00:{i % 60:02d}+00:00")
                for i in range(n)
            ],
        )


def test_a_big_xlsx_export_is_a_job_with_progress_and_a_download(client, db, shoppers):
    _many(db, 4500)
    login(client, "viewer")
    data = export_xlsx(client, "/customers/export.xlsx")
    rows = list(load_workbook(io.BytesIO(data), read_only=True).active.values)
    assert rows[0][:3] == ("id", "name", "phone") and len(rows) == 4504  # the header, 4,500 and the 3 shoppers
    (job,) = db.rows("SELECT * FROM jobs WHERE kind = 'export'")
    assert job["state"] == "done" and job["done"] == job["total"] == 4503 and job["username"] == "viewer"
    # only its owner (or an administrator) sees it
    client.get("/logout")
    login(client, "marketer")
    assert client.get(f"/exports/{job['id']}/download").status_code == 403
    assert client.get("/exports/nosuchjob").status_code == 404


def test_write_xlsx_reports_rows_written():
    seen = []
    out = io.BytesIO()
    rows = [
        {
            "id": str(i),
            "name": "Имя",
            "phone": None,
            "phone_verified": 0,
            "email": None,
            "card": None,
            "level": None,
            "balance": 12345,
            "spend": 0,
            "visits": 0,
            "home_store": "S1",
            "created_at": "x",
            "last_purchase_at": None,
        }
        for i in range(4100)
    ]
    assert exports.write_xlsx(exports.CUSTOMER_COLUMNS, rows, "customers", out, progress=seen.append) == 4100
    assert seen == [2000, 4000, 4100]
    sheet = load_workbook(io.BytesIO(out.getvalue()), read_only=True).active
    assert list(sheet.iter_rows(min_row=2, max_row=2, values_only=True))[0][7] == 123.45


def test_every_exported_value_goes_through_one_cell_function(client, shoppers, monkeypatch):
    monkeypatch.setattr(exports, "cell", lambda value: "X" if value is not None else None)
    login(client, "admin")
    answer = client.get("/customers/export.csv")
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"  # the charset once
    text = answer.get_data(as_text=True)
    assert "Иван" not in text and "X,X" in text
    rows = list(load_workbook(io.BytesIO(export_xlsx(client, "/customers/export.xlsx")), read_only=True).active.values)
    assert rows[1][0] == "X" and not any("Иван" in str(v) for r in rows for v in r)
    data = export_xlsx(client, "/transactions/export.xlsx")
    rows = list(load_workbook(io.BytesIO(data), read_only=True).active.values)
    assert len(rows) > 1 and set(rows[1]) <= {"X", None}


def test_a_failed_export_says_so(client, db, shoppers, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(exports, "write_xlsx", broken)
    login(client, "admin")
    job_url = client.get("/customers/export.xlsx").headers["Location"]
    ident = job_url.rsplit("/", 1)[1]
    import time

    deadline = time.monotonic() + 10
    while jobs.get(db, jobs_actor(db), ident)["state"] != "failed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    page = client.get(job_url).get_data(as_text=True)
    assert "OSError" in page and "{" not in page.split('id="job-error"')[1].split("</p>")[0]
    assert client.get(job_url + "/download").status_code == 404


def jobs_actor(db):
    from central.services import users

    return users.actor_for(db, users.user_id_by_name(db, "admin"), 1)
