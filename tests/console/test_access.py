"""Signing in, sessions, CSRF, roles and the users' commands."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from central import create_app
from central.cli import cli
from central.services import audit, users
from central.services.access import SYSTEM, Forbidden, FormError

from .conftest import PASSWORD, login

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def test_pages_need_a_signed_in_user(client):
    response = client.get("/customers/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_sign_in_with_the_right_password_only(client, db):
    assert login(client, "admin", "wrong password").status_code == 422
    assert client.get("/").status_code == 302
    response = login(client, "admin")
    assert response.status_code == 302
    page = client.get("/")
    assert page.status_code == 200 and "admin" in page.get_data(as_text=True)


def test_the_console_is_russian_by_default_and_switches(client):
    login(client, "admin")
    assert "Клиенты" in client.get("/").get_data(as_text=True)
    client.post("/language", data={"lang": "en", "next": "/"})
    assert "Customers" in client.get("/").get_data(as_text=True)


def test_a_password_change_ends_other_sessions(app, db, people):
    first, second = app.test_client(), app.test_client()
    login(first, "marketer")
    login(second, "marketer")
    users.set_password(db, SYSTEM, people["marketer"].id, "another password")
    assert first.get("/").status_code == 302
    assert login(second, "marketer", "another password").status_code == 302
    assert second.get("/").status_code == 200


def test_ten_wrong_passwords_lock_the_account_from_that_address(client, db):
    for _ in range(10):
        login(client, "viewer", "nope nope")
    response = login(client, "viewer")  # the right password, but locked: said exactly like a wrong one
    assert response.status_code == 422 and "Неверное имя пользователя или пароль" in response.get_data(as_text=True)


def test_csrf_token_is_required(db_file, db, people):
    app = create_app({"TESTING": True, "DATABASE": db_file, "SECRET_KEY": "test"})
    client = app.test_client()
    response = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 400  # no CSRF token: refused before anything happens
    # the agents' JSON API is not a browser form: no token needed there
    assert client.post("/api/v1/enroll", json={"token": "x"}).status_code == 403


def test_roles_are_enforced_in_the_service_layer(db, people):
    with pytest.raises(Forbidden):
        users.add_user(db, people["marketer"], "eve", PASSWORD, "admin")
    with pytest.raises(Forbidden):
        users.list_users(db, people["viewer"])
    with pytest.raises(Forbidden):
        people["manager"].require_store("S2")
    people["manager"].require_store("S1")
    assert people["viewer"].can("customers.read") and not people["viewer"].can("customers.write")


def test_user_writes_are_audited_without_the_hash(db, people):
    uid = users.add_user(db, people["admin"], "olga", PASSWORD, "store_manager", stores=["S2"])
    users.update_user(db, people["admin"], uid, role="viewer", stores=[], active=True, display_name="Olga")
    users.set_password(db, people["admin"], uid, "new password 1")
    rows = audit.entries(db, people["admin"], entity="user", entity_id=str(uid))
    assert [r["action"] for r in rows] == ["user.password", "user.update", "user.add"]
    assert rows[1]["before"]["role"] == "store_manager" and rows[1]["after"]["role"] == "viewer"
    assert all(r["username"] == "admin" for r in rows)
    assert "scrypt" not in str(rows)


def test_bad_user_input_changes_nothing(db, people):
    before = db.count("console_users")
    with pytest.raises(FormError) as caught:
        users.add_user(db, people["admin"], "a b", "short", "nobody", stores=["S9"])
    assert set(caught.value.errors) == {"username", "password", "role", "stores"}
    assert "S9" in caught.value.errors["stores"]
    assert db.count("console_users") == before
    assert db.count("audit_log", "action = 'user.add' AND username = 'admin'") == 0


def test_users_command_line(db_file, db):
    runner = CliRunner()
    result = runner.invoke(cli, ["users", "add", "boss", "--db", db_file], input="longpassword\nlongpassword\n")
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        cli,
        [
            "users",
            "add",
            "m1",
            "--role",
            "store_manager",
            "--store",
            "S1",
            "--password",
            "longpassword",
            "--db",
            db_file,
        ],
    )
    assert result.exit_code == 0, result.output
    listing = runner.invoke(cli, ["users", "list", "--db", db_file]).output
    assert "boss" in listing and "store_manager" in listing and "S1" in listing
    result = runner.invoke(cli, ["users", "passwd", "boss", "--password", "x", "--db", db_file])
    assert result.exit_code == 1 and "at least 8" in result.output
    assert runner.invoke(cli, ["users", "passwd", "boss", "--password", "newlongpass", "--db", db_file]).exit_code == 0
    assert users.authenticate(db, "boss", "newlongpass")["role"] == "admin"


def test_a_wrong_console_setting_fails_at_startup_naming_it(db_file):
    with pytest.raises(ValueError, match="CONSOLE_TIMEZONE"):
        create_app({"DATABASE": db_file, "CONSOLE_TIMEZONE": "Mars/Olympus"})
    with pytest.raises(ValueError, match="SESSION_HOURS"):
        create_app({"DATABASE": db_file, "SESSION_HOURS": "twelve"})
