"""Importing customers, cards and balances: dry run lists every bad row, nothing written until chosen."""

from __future__ import annotations

import io
import time

import pytest
from click.testing import CliRunner
from openpyxl import Workbook

from central.cli import cli
from central.services import imports, spreadsheets
from central.services.access import SYSTEM, Forbidden, FormError
from central.sync.deltas import customer_page

from .conftest import login

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

CSV = (
    "phone;name;card;balance;birthday;tags;store\n"
    "+7 912 111-11-11;Анна Белова;7711000001;150,50;1990-05-01;vip;S1\n"
    "8 912 222 22 22;Борис Котов;;0;;;S2\n"
    "12345;Bad Phone;7711000003;10;;;S1\n"
    "+79123333333;Bad Date;;5;1990-13-01;;S9\n"
    "+79121111111;Same Phone;;;;;\n"
).encode()


def _table(data=CSV, name="people.csv"):
    return imports.read_table(data, name)


def test_a_dry_run_lists_every_bad_row_and_writes_nothing(db, people):
    customers, ledger = db.count("customers"), db.count("ledger")
    report = imports.check(db, people["marketer"], _table())
    assert report.total == 5 and len(report.good) == 2
    assert report.problems == [
        (4, "phone", report.problems[0][2]),
        (5, "birthday", report.problems[1][2]),
        (5, "store", report.problems[2][2]),
        (6, "phone", "The same as row 2."),
    ]
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
    assert db.rows("SELECT number, main FROM cards WHERE customer_id = ?", (anna["id"],)) == [
        {"number": "7711000001", "main": 1}
    ]
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


def _damaged_xlsx() -> bytes:
    """A workbook whose sheet's XML is cut in half (the zip is sound: openpyxl fails while reading the rows)."""
    import zipfile

    book = Workbook()
    for i in range(20):
        book.active.append([f"+7912111111{i % 10}", "A"])
    whole, cut = io.BytesIO(), io.BytesIO()
    book.save(whole)
    with zipfile.ZipFile(whole) as source, zipfile.ZipFile(cut, "w") as out:
        for name in source.namelist():
            data = source.read(name)
            out.writestr(name, data[: len(data) // 2] if "sheet1" in name else data)
    return cut.getvalue()


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (b"phone;name\n+79121111111;" + b"A" * 200_000 + b"\n", "x.csv", "line 2: a value longer than"),
        (b'phone;name\n+79121111111;"open\n' + b"x;" * 100_000, "x.csv", "a quote left open"),
        (_damaged_xlsx(), "x.xlsx", "not a readable XLSX file (ParseError)"),
        (b"phone;name;card\n", "x.csv", "no rows below its header"),
        (b"phone;name;phone\n+79121111111;A;+79121111112\n", "x.csv", "two columns named phone"),
        (b"phone;name;\xd1\x82\xd0\xb5\xd0\xbb\xd0\xb5\xd1\x84\xd0\xbe\xd0\xbd\n1;A;2\n", "x.csv", "two columns"),
    ],
)
def test_a_damaged_or_ambiguous_file_is_one_clear_error(data, name, expected):
    with pytest.raises(FormError) as caught:
        imports.read_table(data, name)
    assert expected in caught.value.errors["file"]


def test_an_xlsx_zip_bomb_is_refused_before_it_is_unpacked(monkeypatch):
    import zipfile

    monkeypatch.setattr(spreadsheets, "BOMB_BYTES", 1 << 20)  # the same rule, on a smaller file
    book, packed, bomb = Workbook(), io.BytesIO(), io.BytesIO()
    book.active.append(["phone", "name"])
    book.save(packed)
    with zipfile.ZipFile(packed) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for name in source.namelist():
            data = source.read(name)
            if name.endswith("sheet1.xml"):
                data = data.replace(b"</sheetData>", b"<row r='2'>" + b" " * (4 << 20) + b"</row></sheetData>")
            out.writestr(name, data)
    with pytest.raises(FormError) as caught:
        imports.read_table(bomb.getvalue(), "x.xlsx")
    assert "zip bomb" in caught.value.errors["file"]


@pytest.mark.parametrize("balance", ["NaN", "Infinity", "-inf", "1_000", "١٢", "sNaN"])
def test_balances_that_decimal_would_read_are_refused(db, people, balance):
    report = imports.check(db, people["marketer"], _table(f"phone;balance\n+79121111111;{balance}\n".encode()))
    assert report.problems == [(2, "balance", "Write points like 150 or 150.50.")]


def test_the_command_line_checks_then_imports(db_file, db, tmp_path):
    path = str(tmp_path / "people.csv")
    with open(path, "wb") as f:
        f.write(CSV)
    runner = CliRunner()
    result = runner.invoke(cli, ["import", path, "--dry-run", "--db", db_file])
    assert (
        result.exit_code == 0 and "row 4, phone" in result.output and "5 rows: 2 good, 3 with problems" in result.output
    )
    result = runner.invoke(cli, ["import", path, "--db", db_file])
    assert result.exit_code == 1 and "nothing imported" in result.output
    result = runner.invoke(cli, ["import", path, "--good-rows", "--db", db_file])
    assert result.exit_code == 0 and "imported 2 customers" in result.output


def test_the_console_checks_in_the_background_then_imports_good_rows(client, db):
    login(client, "marketer")
    response = client.post(
        "/imports/", data={"file": (io.BytesIO(CSV), "people.csv")}, content_type="multipart/form-data"
    )
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


def test_phones_of_other_countries_import_in_e164_and_are_found(db, people):
    data = ("phone;name\n+44 20 7946 0958;Jane Doe\n00 375 29 123-45-67;Алесь\n+44 20 79;Too Short\n").encode()
    table = imports.read_table(data, "abroad.csv")
    report = imports.check(db, people["marketer"], table)
    assert len(report.good) == 2
    assert [(row, field) for row, field, _ in report.problems] == [(4, "phone")]
    assert "country code" in report.problems[0][2]
    assert imports.apply(db, people["marketer"], table, report, good_rows_only=True, source="abroad.csv") == 2
    rows = db.rows("SELECT name, phone FROM customers WHERE name IN ('Jane Doe', 'Алесь')")
    phones = {r["name"]: r["phone"] for r in rows}
    assert phones == {"Jane Doe": "+442079460958", "Алесь": "+375291234567"}
    from central.services import customers

    jane = customers.find_by_phone(db, "+442079460958")
    assert jane is not None and customers.resolve(db, "+44 (20) 7946-0958") == jane
    from central.services.formats import format_phone

    assert format_phone("+442079460958") == "+44 20 7946 0958"


EXCEL_UNICODE_TEXT = "Телефон\tИмя\tБаланс\n+79126666666\tЁлка Юрьева\t12,5\n".encode("utf-16")  # BOM, tabs


def test_utf16_files_are_read_and_other_encodings_are_named(db, people):
    table = imports.read_table(EXCEL_UNICODE_TEXT, "people.txt")
    assert table.columns == ["phone", "name", "balance"] and table.rows == [["+79126666666", "Ёлка Юрьева", "12,5"]]
    report = imports.check(db, people["marketer"], table)
    assert report.problems == [] and report.parsed[0]["balance"] == 1_250
    # UTF-16 without a byte order mark, UTF-16 big-endian and UTF-8 with a BOM read the same
    semicolons, commas = "phone;name\n+79126666666;Ёлка\n", "phone,name\n+79126666666,Ёлка\n"
    for data in (
        semicolons.encode("utf-16-le"),
        semicolons.encode("utf-16"),
        semicolons.encode("utf-16-be"),
        commas.encode("utf-8-sig"),
        semicolons.encode("cp1251"),
    ):
        assert imports.read_table(data, "x.csv").rows == [["+79126666666", "Ёлка"]], data[:8]
    # a binary file (or a damaged UTF-16 one) says what to do, not that the columns are missing
    for data in (bytes(range(256)) * 4, b"\xff\xfe" + "phone\n".encode("utf-16-le") + b"\x00"):
        with pytest.raises(FormError) as caught:
            imports.read_table(data, "x.csv")
        assert "cannot be read" in caught.value.errors["file"] and "UTF-8" in caught.value.errors["file"]


def test_a_file_level_error_in_the_console_is_a_sentence_not_a_dict(client, db):
    login(client, "marketer")
    response = client.post(
        "/imports/",
        data={"file": (io.BytesIO(b"nothing;useful\n1;2\n"), "people.csv")},
        content_type="multipart/form-data",
    )
    job_url = response.headers["Location"]
    status = _wait(client, job_url, "checked")
    assert status["state"] == "failed" and status["running"] is False
    page = client.get(job_url).get_data(as_text=True)
    assert "{" not in page.split('id="job-error"')[1].split("</p>")[0]
    assert "В первой строке должны быть названия столбцов" in page  # the message itself, in the user's language


def test_progress_is_reported_while_checking_and_importing(client, db):
    rows = "".join(f"+7912{i:07d};Клиент {i}\n" for i in range(2600))
    data = ("phone;name\n" + rows).encode()
    login(client, "marketer")
    job_url = client.post(
        "/imports/", data={"file": (io.BytesIO(data), "many.csv")}, content_type="multipart/form-data"
    ).headers["Location"]
    assert _wait(client, job_url, "checked")["state"] == "checked"
    seen = []
    table = imports.read_table(data, "many.csv")
    report = imports.check(db, SYSTEM, table, lambda done, total: seen.append(("check", done, total)))
    imports.apply(
        db,
        SYSTEM,
        table,
        report,
        good_rows_only=False,
        source="many.csv",
        progress=lambda done, total: seen.append(("import", done, total)),
    )
    assert [s for s in seen if s[0] == "check"] == [("check", 1000, 2600), ("check", 2000, 2600), ("check", 2600, 2600)]
    assert [s for s in seen if s[0] == "import"] == [("import", n, 2600) for n in (500, 1000, 1500, 2000, 2500, 2600)]
    status = client.get(job_url + ".json").get_json()
    assert status == {"state": "checked", "running": False, "done": 2600, "total": 2600, "text": "Проверен"}


UPDATE_CSV = (
    "id;card;phone;name;email;tags;sms;balance\n"
    "c1;;;Иван Петрович Петров;ivan@example.com;vip;no;999\n"  # found by id; balance is not changed by an update
    ";2000002;+79120000009;;;;;\n"  # found by card: a new phone
    ";;+79120000003;;;;;\n"  # found by phone: nothing to change
    ";;+79129999999;Nobody;;;;\n"  # nobody has this phone
    "c3;2000001;;;;;;\n"  # an id and a card of two different customers
    ";9999999;;;;;;\n"  # an unknown card
    ";;+79120000001;Again;;;;\n"  # c1 again
).encode()


def test_update_mode_lists_what_would_change_then_changes_only_that(db, people, shoppers):
    before = {c: db.customer(c) for c in ("c1", "c2", "c3")}
    table = imports.read_table(UPDATE_CSV, "update.csv")
    report = imports.check(db, people["marketer"], table, mode="update")
    assert [(row, column) for row, column, _ in report.problems] == [(5, "phone"), (6, "id"), (7, "card"), (8, "phone")]
    assert "different customers" in report.problems[1][2] and "row 2" in report.problems[3][2]
    summary = report.summary()
    assert summary["ignored_columns"] == ["balance"] and summary["changed"] == 2 and summary["unchanged"] == 1
    assert summary["changes"] == [
        [2, "c1", "name", "Иван Петров", "Иван Петрович Петров"],
        [2, "c1", "email", "", "ivan@example.com"],
        [2, "c1", "sms", "yes", "no"],
        [2, "c1", "tags", "", "vip"],
        [3, "c2", "phone", "+79120000002", "+79120000009"],
    ]
    assert {c: db.customer(c) for c in ("c1", "c2", "c3")} == before  # a dry run writes nothing
    with pytest.raises(FormError):
        imports.apply(db, people["marketer"], table, report, good_rows_only=False, source="update.csv")
    assert imports.apply(db, people["marketer"], table, report, good_rows_only=True, source="update.csv") == 2
    c1, c2 = db.customer("c1"), db.customer("c2")
    assert c1["name"] == "Иван Петрович Петров" and c1["email"] == "ivan@example.com" and c1["balance"] == 500
    assert '"sms": false' in c1["consents"] and c1["version"] > before["c1"]["version"]
    assert [r[0] for r in db.conn.execute("SELECT tag FROM customer_tags WHERE customer_id = 'c1'")] == ["vip"]
    assert c2["phone"] == "+79120000009" and c2["phone_verified"] == 0 and c2["version"] > before["c2"]["version"]
    assert db.customer("c3") == before["c3"]
    audit_rows = db.rows(
        "SELECT action, entity_id, before, after FROM audit_log WHERE action LIKE '%import%' ORDER BY id"
    )
    assert [(r["action"], r["entity_id"]) for r in audit_rows] == [
        ("customer.import_update", "c1"),
        ("customer.import_update", "c2"),
        ("import.update", "update.csv"),
    ]
    assert '"name": "Иван Петров"' in audit_rows[0]["before"]
    deltas, _, _ = customer_page(db, "S2", 0, 1000)
    assert any(d["customer_id"] == "c2" and d["phone"] == "+79120000009" for d in deltas)


def test_update_mode_in_the_console(client, db, shoppers):
    login(client, "marketer")
    job_url = client.post(
        "/imports/",
        data={"file": (io.BytesIO(UPDATE_CSV), "update.csv"), "mode": "update"},
        content_type="multipart/form-data",
    ).headers["Location"]
    assert _wait(client, job_url, "checked")["state"] == "checked"
    page = client.get(job_url).get_data(as_text=True)
    assert 'id="changes"' in page and "Иван Петрович Петров" in page and "+79120000009" in page
    assert db.customer("c1")["name"] == "Иван Петров"
    assert client.post(job_url + "/apply", data={"mode": "good"}).status_code == 302
    assert _wait(client, job_url, "done")["state"] == "done"
    assert db.customer("c1")["name"] == "Иван Петрович Петров"
    assert 'id="rows-updated">2<' in client.get(job_url).get_data(as_text=True)
    bad = client.post(
        "/imports/",
        data={"file": (io.BytesIO(UPDATE_CSV), "update.csv"), "mode": "replace"},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422


def test_the_command_line_updates(db_file, db, shoppers, tmp_path):
    path = str(tmp_path / "people.csv")
    with open(path, "wb") as f:
        f.write(UPDATE_CSV)
    runner = CliRunner()
    result = runner.invoke(cli, ["import", path, "--update", "--dry-run", "--db", db_file])
    assert result.exit_code == 0, result.output
    assert "row 3, customer c2, phone: '+79120000002' -> '+79120000009'" in result.output
    assert "2 customers to change, 1 unchanged" in result.output and db.customer("c2")["phone"] == "+79120000002"
    result = runner.invoke(cli, ["import", path, "--update", "--good-rows", "--db", db_file])
    assert result.exit_code == 0 and "updated 2 customers" in result.output
    assert db.customer("c2")["phone"] == "+79120000009"


def test_the_language_of_messages_imports_and_updates(db, people, shoppers):
    data = (
        "phone;name;язык\n+79124444441;Anna;en\n+79124444442;Boris;\n+79124444443;Vera;Русский\n+79124444444;Bad;de\n"
    ).encode()
    table = imports.read_table(data, "people.csv")
    report = imports.check(db, people["marketer"], table)
    assert [(row, column) for row, column, _ in report.problems] == [(5, "language")]
    assert "ru or en" in report.problems[0][2]
    assert "language" not in report.summary().get("ignored_columns", [])
    assert imports.apply(db, people["marketer"], table, report, good_rows_only=True, source="people.csv") == 3
    language = {
        r["phone"]: r["language"]
        for r in db.rows("SELECT phone, language FROM customers WHERE phone LIKE '+7912444444%'")
    }
    assert language == {"+79124444441": "en", "+79124444442": None, "+79124444443": "ru"}  # None: Russian

    # update mode: a filled cell changes the language, an empty one leaves it
    before = db.customer("c2")
    table = imports.read_table(b"id;phone;language\nc1;;en\nc2;;\nc3;;ru\n", "update.csv")
    report = imports.check(db, people["marketer"], table, mode="update")
    assert report.problems == []
    assert report.summary()["changes"] == [[2, "c1", "language", "ru", "en"]]  # c3 is Russian already
    assert imports.apply(db, people["marketer"], table, report, good_rows_only=True, source="update.csv") == 1
    assert db.message_customer("c1")["language"] == "en" and db.customer("c2") == before
    [audit] = db.rows("SELECT before, after FROM audit_log WHERE action = 'customer.import_update'")
    assert '"language": "en"' in audit["after"]
