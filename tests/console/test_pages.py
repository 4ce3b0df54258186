"""Every console page renders for every role (server-side, through the test client)."""

from __future__ import annotations

import pytest

from .conftest import login

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

PAGES = [
    "/",
    "/customers/",
    "/customers/?q=Иван&f=balance&o=ge&v=1",
    "/customers/c1",
    "/customers/c1?tab=cards",
    "/customers/c1?tab=history",
    "/customers/c1?tab=purchases",
    "/customers/c1?tab=notes",
    "/customers/c1?tab=actions",
    "/customers/c1?tab=log",
    "/cards/",
    "/customers/fields",
    "/transactions/",
    "/transactions/?type=till&weekday=6",
    "/stores/",
    "/stores/S1",
    "/stores/programs",
    "/rules/",
    "/rules/S1",
    "/rules/levels",
    "/rules/categories",
    "/imports/",
    "/users",
    "/audit",
    "/account",
]
#: pages a role may not open at all (403), everything else renders
FORBIDDEN = {
    "manager": {"/customers/fields", "/imports/", "/users", "/audit"},
    "viewer": {"/customers/fields", "/imports/", "/users", "/audit"},
    "marketer": {"/users"},
    "admin": set(),
}


@pytest.mark.parametrize("who", ["admin", "marketer", "manager", "viewer"])
def test_pages_render(client, shoppers, who):
    login(client, who)
    for path in PAGES:
        response = client.get(path)
        expected = 403 if path in FORBIDDEN[who] else 200
        assert response.status_code == expected, (path, response.status_code)


def test_a_manager_gets_403_for_another_stores_customer_by_url(client, shoppers):
    login(client, "manager")
    assert client.get("/customers/c2").status_code == 403
    assert client.get("/customers/c2?tab=purchases").status_code == 403
    assert client.post("/customers/c2/points", data={"points": "10", "reason": "x"}).status_code == 403
    assert client.get("/customers/c1").status_code == 200


def test_exports(client, shoppers):
    login(client, "viewer")
    text = client.get("/customers/export.csv?q=Иван").get_data(as_text=True)
    assert text.startswith("\ufeffid,name,phone") and "Иван Петров" in text and "5.00" in text
    data = export_xlsx(client, "/customers/export.xlsx")
    assert data[:2] == b"PK"
    from io import BytesIO

    from openpyxl import load_workbook

    sheet = load_workbook(BytesIO(data)).active
    rows = list(sheet.values)
    assert rows[0][0] == "id" and len(rows) == 4


def export_xlsx(client, url, timeout=30.0):
    """Start an XLSX export (a background job), wait for it, download the file."""
    import time

    response = client.get(url)
    assert response.status_code == 302 and "/exports/" in response.headers["Location"]
    job_url = response.headers["Location"]
    deadline = time.monotonic() + timeout
    while (status := client.get(job_url + ".json").get_json())["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status["state"] == "done", status
    assert 'id="download"' in client.get(job_url).get_data(as_text=True)
    download = client.get(job_url + "/download")
    data = download.data
    download.close()
    assert download.status_code == 200
    return data


def test_marketers_read_their_own_words_not_technical_ones(client, db, shoppers):
    from pathlib import Path

    import central

    db.conn.execute("UPDATE customers SET channel = 'import' WHERE id = 'c1'")
    login(client, "marketer")
    profile = client.get("/customers/c1").get_data(as_text=True)
    assert "Канал регистрации: загружен из файла" in profile and ": import" not in profile
    assert "Основная программа" in profile and "Main program" not in profile
    programs = client.get("/stores/programs").get_data(as_text=True)
    import re

    visible = re.sub(r"<[^>]+>", " ", programs)  # form field names are not text
    assert "points_per_money" not in visible and "Main program" not in visible
    whatif = (Path(central.__file__).parent / "templates/console/rules/whatif.html").read_text()
    assert "engine" not in whatif.split("{#")[0] and " ms" not in whatif


def test_the_registration_channel_filter_takes_the_words_the_page_shows(client, db, shoppers):
    db.conn.execute("UPDATE customers SET channel = 'import' WHERE id = 'c2'")
    login(client, "marketer")
    for typed in ("загружен из файла", "import"):
        page = client.get("/customers/", query_string={"f": "channel", "o": "is", "v": typed}).get_data(as_text=True)
        rows = page.split('id="customers"')[1].split("</table>")[0]
        assert "Мария Иванова" in rows and "Иван Петров" not in rows, typed
