"""Importing customers, cards and balances: dry run lists every bad row, nothing written until chosen."""

from __future__ import annotations

import io
import time

import pytest
from click.testing import CliRunner
from openpyxl import Workbook

from central.cli import cli
from central.services import imports
from central.services.access import Forbidden, FormError
from central.sync.deltas import customer_page

from .conftest import login

CSV = (
    "phone;name;card;balance;birthday;tags;store\n"
    "+7 912 111-11-11;Анна Белова;7711000001;150,50;1990-05-01;vip;S1\n"
    "8 912 222 22 22;Борис Котов;;0;;;S2\n"
    "12345;Bad Phone;7711000003;10;;;S1\n"
    "+79123333333;Bad Date;;5;1990-13-01;;S9\n"
    "+79121111111;Same Phone;;;;;\n"
).encode("utf-8")


def _table(data=CSV, name="people.csv"):
    return imports.read_table(data, name)


def test_a_dry_run_lists_every_bad_row_and_writes_nothing(db, people):
    customers, ledger = db.count("customers"), db.count("ledger")
    report = imports.check(db, people["marketer"], _table())
    assert report.total == 5 and len(report.good) == 2
    assert report.problems == [(4, "phone", report.problems[0][2]), (5, "birthday", report.problems[1][2]),
                               (5, "store", report.problems[2][2]), (6, "phone", "The same as row 2.")]
    assert "10 digits" in report.problems[0][2] and "S9" in report.problems[2][2]
    assert db.count("customers") == customers and db.count("ledger") == ledger
    with pytest.raises(FormError):
        imports.apply(db, people["marketer"], _table(), report, good_rows_only=False, source="people.csv")
    assert db.count("customers") == customers


def test_good_rows_import_with_cards_and_balances(db, people):
    table = _table()
    report = imports.check(db, people["marketer"], table)
    assert imports.apply(db, people["marketer"], table, report, good_rows_only=True, source="people.csv") == 2
    anna = db.rows("SELECT * FROM customers WHERE phone = '+79121111111'")[0]
    assert anna["name"] == "Анна Белова" and anna["balance"] == 15_050 == db.ledger_sum(anna["id"])
    assert anna["home_store"] == "S1" and anna["channel"] == "import" and anna["birthday"] == "1990-05-01"
    assert db.rows("SELECT number, main FROM cards WHERE customer_id = ?", (anna["id"],)) == [{"number": "7711000001", "main": 1}]
    deltas, _, _ = customer_page(db, "S2", 0, 1000)
    assert any(d["phone"] == "+79121111111" and d["lots"][0]["points"] == 15_050 for d in deltas)
    row = db.rows("SELECT * FROM audit_log WHERE action = 'import.customers'")[0]
    assert row["username"] == "marketer" and '"imported": 2' in row["after"]
    # the same file again: every row is now a duplicate of the database
    again = imports.check(db, people["marketer"], _table())
    assert len(again.good) == 0 and ("already" in again.problems[0][2])


def test_xlsx_with_numbers_and_dates(db, people):
    import datetime as dt

    book = Workbook()
    sheet = book.active
    sheet.append(["Телефон", "Имя", "Баланс", "Дата рождения", "Unknown"])
    sheet.append([79124444444, "Вера", 99.5, dt.datetime(1985, 2, 3), "x"])
    sheet.append([79125555555, "Глеб", 1.234, None, "y"])
    data = io.BytesIO()
    book.save(data)
    report = imports.check(db, people["admin"], imports.read_table(data.getvalue(), "people.xlsx"))
    assert report.unknown_columns == ["Unknown"]
    assert report.problems == [(3, "balance", "At most two decimals.")]
    assert report.parsed[0]["balance"] == 9_950 and report.parsed[0]["birthday"] == "1985-02-03"


def test_unreadable_files_and_roles(db, people):
    with pytest.raises(FormError):
        imports.read_table(b"just some text without columns\n", "x.csv")
    with pytest.raises(FormError):
        imports.read_table(b"PK not really a zip", "x.xlsx")
    with pytest.raises(Forbidden):
        imports.check(db, people["manager"], _table())


def test_the_command_line_checks_then_imports(db_file, db):
    path = db_file + ".csv"
    with open(path, "wb") as f:
        f.write(CSV)
    runner = CliRunner()
    result = runner.invoke(cli, ["import", path, "--dry-run", "--db", db_file])
    assert result.exit_code == 0 and "row 4, phone" in result.output and "5 rows: 2 good, 3 with problems" in result.output
    result = runner.invoke(cli, ["import", path, "--db", db_file])
    assert result.exit_code == 1 and "nothing imported" in result.output
    result = runner.invoke(cli, ["import", path, "--good-rows", "--db", db_file])
    assert result.exit_code == 0 and "imported 2 customers" in result.output


def test_the_console_checks_in_the_background_then_imports_good_rows(client, db):
    login(client, "marketer")
    response = client.post("/imports/", data={"file": (io.BytesIO(CSV), "people.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    job_url = response.headers["Location"]
    status = _wait(client, job_url, "checked")
    assert status["state"] == "checked"
    page = client.get(job_url).get_data(as_text=True)
    assert "12345" in page or "10" in page
    assert client.post(job_url + "/apply", data={"mode": "all"}).status_code == 422  # there are bad rows
    assert client.post(job_url + "/apply", data={"mode": "good"}).status_code == 302
    assert _wait(client, job_url, "done")["state"] == "done"
    assert db.count("customers", "channel = 'import'") == 2


def _wait(client, job_url, state, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(job_url + ".json").get_json()
        if status["state"] in (state, "failed") or time.monotonic() > deadline:
            return status
        time.sleep(0.05)
