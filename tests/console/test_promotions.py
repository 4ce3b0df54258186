"""The console's promotions and promo-code lists through the Flask client and the service layer: checks,
audit, generation with a check character and tag, upload, export CSV/XLSX, rights."""

from __future__ import annotations

import io

import pytest

from central.services import promotions as service
from central.services.access import Forbidden, FormError
from shared import promo_codes

from .conftest import login

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def test_generate_upload_export_and_rights(app, db, people):
    admin = people["admin"]
    assert service.create_code_list(db, admin, "SPR", count=500, length=6, prefix="spr") == 500
    codes = [c for c, *_ in db.list_codes("SPR")]
    key = promo_codes.list_key(db.setting("promo_code_secret").encode(), "SPR")
    assert all(c.startswith("SPR") and promo_codes.genuine(c, key, "SPR", 3, True) for c in codes)
    with pytest.raises(FormError) as err:
        service.create_code_list(db, admin, "SPR", count=1)
    assert "id" in err.value.errors
    with pytest.raises(FormError) as err:
        service.create_code_list(db, admin, "UP", upload=f"code\nABC\n{codes[0]}\n")
    assert "upload" in err.value.errors  # a code of another list
    assert service.create_code_list(db, admin, "UP", upload="code\nabc-1\nABC2\n", kind="multi", max_uses=3) == 2
    assert [c for c, *_ in db.list_codes("UP")] == ["ABC1", "ABC2"]
    with pytest.raises(Forbidden):
        service.create_code_list(db, people["viewer"], "X", count=1)
    content, media = service.export_codes(db, admin, "UP", "csv")
    assert content.decode().splitlines() == ["code,uses,max_uses,customer", "ABC1,0,3,", "ABC2,0,3,"]
    content, media = service.export_codes(db, admin, "SPR", "xlsx")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet.max_row == 501 and media.endswith("sheet")


def test_a_promotion_is_checked_saved_published_and_listed(app, db, people):
    marketer = people["marketer"]
    with pytest.raises(FormError) as err:
        service.save(db, marketer, {"id": "p", "name": "n", "reward": {"kind": "points", "points": "10"}})
    assert "reward.points" in err.value.errors
    with pytest.raises(FormError) as err:
        service.save(
            db,
            marketer,
            {"id": "p", "name": "n", "conditions": {"code_list": "NOPE"}, "reward": {"kind": "points", "points": 1}},
        )
    assert "conditions.code_list" in err.value.errors
    version = db.promotions_version()
    service.save(db, marketer, {"id": "p", "name": "n", "reward": {"kind": "multiplier", "k": "2"}})
    assert db.promotions_version() == version  # a draft goes nowhere
    service.set_state(db, marketer, "p", "active")
    assert db.promotions_version() == version + 1
    [row] = service.listing(db)
    assert (row["id"], row["state"], row["receipts"], row["reward"]) == (
        "p",
        "active",
        0,
        {"kind": "multiplier", "k": "2"},
    )


def test_the_pages(app, db, people):
    client = app.test_client()
    login(client, "marketer")
    page = client.get("/promotions/")
    assert page.status_code == 200 and "promotion-form" in page.text
    answer = client.post(
        "/promotions/",
        data={
            "id": "bd",
            "name": "Birthday",
            "reward_kind": "points",
            "reward_value": "10000",
            "audience": "identified",
            "birthday": "1",
            "birthday_before": "0",
            "birthday_after": "3",
            "combinable": "1",
        },
    )
    assert answer.status_code == 302
    assert db.promotion("bd") is not None
    bad = client.post(
        "/promotions/", data={"id": "x", "name": "x", "reward_kind": "percent_off", "reward_value": "200"}
    )
    assert bad.status_code == 422 and "aria-invalid" in bad.text
    edit = client.get("/promotions/?edit=bd")
    assert 'value="Birthday"' in edit.text
    made = client.post(
        "/promotions/codes", data={"id": "L1", "count": "10", "length": "6", "kind": "single", "check": "1"}
    )
    assert made.status_code == 302
    assert client.get("/promotions/codes/L1").status_code == 200
    export = client.get("/promotions/codes/L1/export.csv")
    assert export.status_code == 200 and len(export.text.splitlines()) == 11
    login(viewer := app.test_client(), "viewer")
    assert "promotion-form" not in viewer.get("/promotions/").text


def test_whatif_of_a_draft_promotion_with_the_batch_kernel(db, people, agents):
    from central.services import rules

    from .test_rules import SPEC_FORM, _multi
    from .test_whatif import _receipts

    plan, now = _receipts(db, agents)
    rules.publish(db, people["admin"], "S1", _multi(SPEC_FORM))
    doc = {
        "id": "sushi10",
        "name": "10 % off sushi, 5.00 points",
        "conditions": {"categories": ["SUSHI"]},
        "reward": {"kind": "percent_off", "percent": "10"},
    }
    result = service.whatif(db, people["marketer"], "S1", doc, days=30)
    # the receipts of the last 30 days with a SUSHI line: 450.00 and 50.00 (two of three receipts)
    assert (result["receipts"], result["applied"], result["customers"]) == (3, 2, 1)
    assert result["discount"] == 4500 + 500 and result["sales"] == 45_000 + 5_000
    assert result["points"] <= 0  # accrual on the discounted amounts
    points = service.whatif(db, people["marketer"], "S1", {**doc, "reward": {"kind": "points", "points": 500}}, 30)
    assert points["points"] == 2 * 500 and points["discount"] == 0


def test_the_whatif_form(app, db, people, agents):
    from central.services import rules

    from .test_rules import SPEC_FORM, _multi
    from .test_whatif import _receipts

    _receipts(db, agents)
    rules.publish(db, people["admin"], "S1", _multi(SPEC_FORM))
    client = app.test_client()
    login(client, "marketer")
    page = client.post(
        "/promotions/whatif",
        data={
            "id": "w",
            "name": "W",
            "reward_kind": "points",
            "reward_value": "500",
            "whatif_store": "S1",
            "whatif_days": "30",
            "combinable": "1",
        },
    )
    assert page.status_code == 200 and 'id="whatif-result"' in page.text
    assert db.promotion("w") is None  # a draft: nothing saved


def test_personal_codes_issued_on_the_customers_page_and_to_a_segment(app, db, people, agents):
    from central.services import segments

    from .conftest import apply_events

    apply_events(db, agents["S1"].registration("c1"), agents["S1"].registration("c2"))
    service.create_code_list(db, people["admin"], "PER", count=5, length=6, prefix="PER", kind="personal")
    client = app.test_client()
    login(client, "marketer")
    page = client.get("/customers/c1?tab=actions")
    assert page.status_code == 200 and 'id="personal-codes"' in page.text and "<code>PER" not in page.text
    done = client.post("/customers/c1/promo_code", data={"list": "PER"}, follow_redirects=True)
    [mine] = db.customer_codes("c1")
    assert done.status_code == 200 and mine["code"] in done.text
    bad = client.post("/customers/c1/promo_code", data={"list": "NOPE"})
    assert bad.status_code == 422
    vip = segments.create(db, people["marketer"], "VIP", "static", None)
    segments.change_members(db, people["marketer"], vip, add=["c1", "c2"])
    listing = client.get("/promotions/codes/PER")
    assert 'id="issue-segment"' in listing.text
    issued = client.post("/promotions/codes/PER/issue", data={"segment": str(vip)}, follow_redirects=True)
    assert issued.status_code == 200 and len(db.customer_codes("c2")) == 1 and len(db.customer_codes("c1")) == 1
    login(viewer := app.test_client(), "viewer")
    assert viewer.post("/promotions/codes/PER/issue", data={"segment": str(vip)}).status_code in (302, 403)
    assert len(db.customer_codes("c2")) == 1
