"""The audit page: readable actions and before/after values, filters by user, action and date, keyset paging."""

from __future__ import annotations

import re

import pytest

from central.services import accounts, audit
from central.services.access import Forbidden, FormError

from .conftest import login

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def _profile(db, who, name):
    accounts.update_profile(
        db, who, "c1", {"name": name, "email": "", "birthday": "", "gender": "", "consent_personal_data": "1"}
    )


def test_actions_and_values_read_as_words_with_cyrillic_as_it_is(client, db, people, shoppers):
    _profile(db, people["marketer"], "Иван Петрович")
    accounts.change_phone(db, people["admin"], "c1", "+7 912 000-00-09")
    login(client, "admin")
    page = client.get("/audit").get_data(as_text=True)
    assert "<td>customer.profile</td>" not in page  # no raw codes in the rows
    assert "Профиль изменён" in page and "Телефон изменён" in page
    assert "Иван Петров" in page and "Иван Петрович" in page and "\\u04" not in page
    assert re.search(r"<th>имя</th>\s*<td>Иван Петров</td><td>→</td><td>Иван Петрович</td>", page)
    assert re.search(r"<th>телефон подтверждён</th>\s*<td>нет</td>", page)
    # the customer's Changes tab reads the same way
    tab = client.get("/customers/c1?tab=log").get_data(as_text=True)
    assert "Профиль изменён" in tab and "Иван Петрович" in tab and "customer.profile</td>" not in tab


def test_filters_by_user_action_and_date(client, db, people, shoppers):
    _profile(db, people["marketer"], "Иван Петрович")
    accounts.change_phone(db, people["admin"], "c1", "+79120000009")
    login(client, "admin")

    def actions(**args):
        response = client.get("/audit", query_string=args)
        assert response.status_code == 200
        return re.findall(r'<tr data-action="([a-z_.]+)"', response.get_data(as_text=True))

    assert actions(user="marketer") == ["customer.profile"]
    assert actions(action="customer.phone") == ["customer.phone"]
    assert actions(user="marketer", action="customer.phone") == []
    day = db.rows("SELECT at FROM audit_log ORDER BY id DESC LIMIT 1")[0]["at"][:10]
    assert "customer.phone" in actions(**{"from": "2000-01-01", "to": "2100-01-01"})
    assert actions(**{"from": "2100-01-01"}) == [] and actions(to="2000-01-01") == []
    assert len(actions(**{"from": day})) >= 2 or len(actions(to=day)) >= 2  # the console zone may shift the day
    bad = client.get("/audit?from=31.12.2026")
    assert bad.status_code == 400 and "ГГГГ-ММ-ДД" in bad.get_data(as_text=True)
    assert client.get("/audit?before=x").status_code == 400


def test_keyset_pages_back_and_forth(db, people, shoppers):
    for i in range(130):
        _profile(db, people["marketer"], f"Имя {i}")
    who, zone = people["admin"], "Europe/Moscow"
    first = audit.search(db, who, {"user": "marketer"}, zone)
    assert len(first.rows) == 100 and first.newer is None and first.older == first.rows[-1]["id"]
    second = audit.search(db, who, {"user": "marketer", "before": str(first.older)}, zone)
    assert len(second.rows) == 30 and second.older is None and second.newer == second.rows[0]["id"]
    assert second.rows[0]["id"] < first.rows[-1]["id"]
    back = audit.search(db, who, {"user": "marketer", "after": str(second.newer)}, zone)
    assert [r["id"] for r in back.rows] == [r["id"] for r in first.rows] and back.newer is None
    with pytest.raises(Forbidden):
        audit.search(db, people["manager"], {}, zone)  # a store manager does not read the audit log
    with pytest.raises(FormError) as caught:
        audit.search(db, who, {"after": "-1"}, zone)
    assert "after" in caught.value.errors
