"""The Segments section of the console: list, segmenter (no script), a segment's page, static members,
uploads, "save these customers as a segment", bulk tags, RFM, the JSON API, a store manager's scope."""

from __future__ import annotations

import io
import json

import pytest

from central.services import segments, tokens
from central.services.access import SYSTEM, Forbidden, FormError

from .conftest import login

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql


def _client(app, who="marketer"):
    client = app.test_client()
    login(client, who)
    return client


def _draft(**fields):
    data = {"name": "Sushi lovers", "kind": "dynamic"}
    data.update(fields)
    return data


def test_list_and_nav(app, shoppers):
    client = _client(app)
    page = client.get("/segments/").get_data(as_text=True)
    assert "/segments/new" in page
    assert 'href="/segments/"' in client.get("/customers/").get_data(as_text=True)


def test_build_count_and_save_without_a_script(app, db, shoppers):
    client = _client(app)
    # add a criterion with the page's button: the draft comes back with its fields
    page = client.post("/segments/new", data=_draft(**{"add.1": "bought_category", "action": "add:1"}))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="c.1.1.type" value="bought_category"' in html
    sushi = db.conn.execute("SELECT id FROM catalog_categories WHERE name = 'SUSHI'").fetchone()[0]
    # count it
    data = _draft(**{"c.1.1.type": "bought_category", "c.1.1.categories": str(sushi), "action": "count"})
    html = client.post("/segments/new", data=data).get_data(as_text=True)
    assert '<span id="live-count">2</span>' in html
    # the live count the script asks for
    preview = client.post("/segments/preview", data=data).get_json()
    assert preview["count"] == 2 and {c["id"] for c in preview["sample"]} == {"c1", "c2"}
    # save it
    data["action"] = "save"
    response = client.post("/segments/new", data=data)
    assert response.status_code == 302
    segment_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    assert db.segment(segment_id)["size"] == 2
    show = client.get(f"/segments/{segment_id}").get_data(as_text=True)
    assert "Sushi lovers" in show and 'id="size-chart"' in show and "c1" in show


def test_errors_in_place_and_nothing_saved(app, db, shoppers):
    client = _client(app)
    data = _draft(**{"c.1.1.type": "spend", "c.1.1.from": "500", "c.1.1.to": "100", "action": "save"})
    response = client.post("/segments/new", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'data-for="c.1.1.to"' in html
    data["c.1.1.from"] = "lots"
    html = client.post("/segments/new", data=data).get_data(as_text=True)
    assert 'data-for="c.1.1.from"' in html
    assert db.segment_list() == []
    preview = client.post("/segments/preview", data=data)
    assert preview.status_code == 422 and "c.1.1.from" in preview.get_json()["errors"]


def test_nesting_cycles_are_refused_and_delete_says_who_uses_it(app, db, shoppers):
    client = _client(app)
    inner = segments.create(
        db, SYSTEM, "Inner", "dynamic", {"audiences": [[{"type": "kind", "values": ["registered"]}]]}
    )
    outer = segments.create(
        db, SYSTEM, "Outer", "dynamic", {"audiences": [[{"type": "in_segment", "segments": [inner]}]]}
    )
    data = {
        "name": "Inner",
        "kind": "dynamic",
        "c.1.1.type": "in_segment",
        "c.1.1.segments": str(outer),
        "action": "save",
    }
    response = client.post(f"/segments/{inner}/edit", data=data)
    assert (
        response.status_code == 422
        and "cycle" in response.get_data(as_text=True)
        or "цикл" in response.get_data(as_text=True)
    )
    client.post(f"/segments/{inner}/delete")
    assert db.segment(inner) is not None
    assert "Outer" in client.get(f"/segments/{inner}").get_data(as_text=True)


def test_static_members_by_hand_upload_and_from_the_customer_list(app, db, shoppers):
    client = _client(app)
    segment_id = segments.create(db, SYSTEM, "Hand picked", "static")
    client.post(f"/segments/{segment_id}/members", data={"customers": "c1\n+7 912 000-00-02", "mode": "add"})
    assert db.segment(segment_id)["size"] == 2
    client.post(f"/segments/{segment_id}/members", data={"customers": "c1", "mode": "remove"})
    assert db.segment(segment_id)["size"] == 1
    # upload: dry run lists the unknown rows, then apply
    csv = b"card\n2000001\n9999999\n"
    page = client.post(
        f"/segments/{segment_id}/upload",
        data={"file": (io.BytesIO(csv), "cards.csv"), "mode": "add"},
        content_type="multipart/form-data",
    )
    html = page.get_data(as_text=True)
    assert "9999999" in html and 'id="upload-apply"' in html
    assert db.segment(segment_id)["size"] == 1  # nothing changed yet
    token = html.split('name="token" value="')[1].split('"')[0]
    client.post(f"/segments/{segment_id}/upload", data={"token": token, "filename": "cards.csv", "mode": "add"})
    assert db.segment(segment_id)["size"] == 2
    # the filtered customer list's customers added to and removed from an existing static segment
    assert 'id="to-segment"' in client.get("/customers/?f=home_store&o=is&v=S1").get_data(as_text=True)
    filtered = {"f": "home_store", "o": "is", "v": "S2", "segment_id": str(segment_id)}
    client.post("/segments/members-from-customers", data={**filtered, "mode": "remove"})
    assert db.segment(segment_id)["size"] == 1  # c2 (S2) left
    client.post("/segments/members-from-customers", data={**filtered, "mode": "add"})
    assert db.segment(segment_id)["size"] == 2
    # "save these customers as a segment" from the filtered list
    response = client.post(
        "/segments/from-customers", data={"name": "From S1", "f": "home_store", "o": "is", "v": "S1"}
    )
    assert response.status_code == 302
    saved = db.segment_id_named("From S1")
    assert {db.customer_ids_of_keys(sorted(db.segment_members(saved)))[k] for k in db.segment_members(saved)} == {
        "c1",
        "c3",
    }


def test_bulk_tags_on_a_filter_and_on_a_segment_audited(app, db, shoppers):
    client = _client(app)
    tagged = segments.create(db, SYSTEM, "Tagged", "dynamic", {"audiences": [[{"type": "tag", "tags": ["vip"]}]]})
    client.post("/segments/tag-customers", data={"tag": "vip", "mode": "add", "f": "home_store", "o": "is", "v": "S1"})
    assert db.customer_tags("c1") == ["vip"] and db.customer_tags("c3") == ["vip"] and db.customer_tags("c2") == []
    assert db.segment(tagged)["size"] == 2  # tags are criteria: the dynamic segment followed
    log = db.conn.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'customer.tags'").fetchone()[0]
    assert log == 2
    client.post(f"/segments/{tagged}/tags", data={"tag": "vip", "mode": "remove"})
    assert db.customer_tags("c1") == [] and db.segment(tagged)["size"] == 0


def test_rfm_page_and_profile(app, db, shoppers):
    client = _client(app)
    client.post("/segments/rfm", data={"window": "365"})
    html = client.get("/segments/rfm").get_data(as_text=True)
    assert 'id="rfm-grid"' in html and "f=rfm" in html
    assert 'id="customer-rfm"' in client.get("/customers/c1").get_data(as_text=True)
    klass = db.customer_rfm_row("c1")["class"]
    listed = client.get("/customers/", query_string={"f": "rfm", "o": "is", "v": klass}).get_data(as_text=True)
    assert "/customers/c1" in listed
    assert client.post("/segments/rfm", data={"window": "x"}).status_code == 422


def test_json_api_with_a_token_and_a_managers_scope(app, db, shoppers):
    segment_id = segments.create(
        db, SYSTEM, "Registered", "dynamic", {"audiences": [[{"type": "kind", "values": ["registered", "potential"]}]]}
    )
    _, token = tokens.add_token(db, SYSTEM, "crm")
    client = app.test_client()
    assert client.get("/api/v1/segments").status_code == 401
    head = {"Authorization": f"Bearer {token}"}
    listed = client.get("/api/v1/segments", headers=head).get_json()
    assert [s["name"] for s in listed["segments"]] == ["Registered"]
    assert client.get(f"/api/v1/segments/{segment_id}", headers=head).get_json()["definition"]["audiences"]
    assert client.get(f"/api/v1/segments/{segment_id}/count", headers=head).get_json()["count"] == 3
    first = client.get(f"/api/v1/segments/{segment_id}/members?limit=2", headers=head).get_json()
    rest = client.get(f"/api/v1/segments/{segment_id}/members?limit=2&after={first['next']}", headers=head).get_json()
    assert sorted(first["customers"] + rest["customers"]) == ["c1", "c2", "c3"] and rest["next"] is None
    assert client.get("/api/v1/segments/999", headers=head).status_code == 404
    # a store manager (S1) sees only S1's customers, in the API and on the pages
    manager = _client(app, "manager")
    assert manager.get(f"/api/v1/segments/{segment_id}/count").get_json()["count"] == 2
    assert sorted(manager.get(f"/api/v1/segments/{segment_id}/members").get_json()["customers"]) == ["c1", "c3"]
    page = manager.get(f"/segments/{segment_id}").get_data(as_text=True)
    assert "/customers/c2" not in page and "/customers/c1" in page
    preview = manager.post("/segments/preview", data={"c.1.1.type": "kind", "c.1.1.values": ["registered"]}).get_json()
    assert preview["count"] == 1
    assert json.dumps(preview).count("c2") == 0


def test_rfm_grid_of_a_store_manager_counts_their_customers_only(app, db, people, shoppers):
    segments.compute_rfm(db, SYSTEM)
    assert segments.rfm_grid(db, people["admin"])["total"] == 2  # c1 and c2 bought
    assert segments.rfm_grid(db, people["manager"])["total"] == 1  # c1 (S1)
    assert "Мария" not in _client(app, "manager").get("/segments/rfm").get_data(as_text=True)


def test_an_xlsx_upload_of_phones_lists_bad_rows_and_changes_nothing_until_applied(db, people, shoppers):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in (["Телефон"], ["8 (912) 000-00-01"], [79120000002], ["12345"], [None], ["+7 912 000-00-99"]):
        sheet.append(row)
    data = io.BytesIO()
    book.save(data)
    segment_id = segments.create(db, SYSTEM, "Uploaded", "static")
    result = segments.read_upload(db, data.getvalue(), "phones.xlsx")
    assert result["found"] == ["c1", "c2"]
    assert result["unknown"] == [(4, "12345"), (6, "+7 912 000-00-99")] and result["rows"] == 4
    assert db.segment(segment_id)["size"] == 0
    segments.apply_upload(db, people["marketer"], segment_id, data.getvalue(), "phones.xlsx", "add")
    assert db.segment(segment_id)["size"] == 2
    with pytest.raises(FormError):
        segments.read_upload(db, b"\x00\x01garbage", "x.pdf")
    with pytest.raises(Forbidden):
        segments.apply_upload(db, people["manager"], segment_id, data.getvalue(), "phones.xlsx", "remove")
    # a dynamic segment's members are not changed by hand
    dynamic = segments.create(
        db, SYSTEM, "Dyn", "dynamic", {"audiences": [[{"type": "kind", "values": ["potential"]}]]}
    )
    with pytest.raises(FormError):
        segments.apply_upload(db, people["marketer"], dynamic, data.getvalue(), "phones.xlsx", "add")


def test_no_form_or_query_gives_a_server_error(app, db, shoppers):
    """The segmenter's form, the preview and the pages' parameters, fuzzed: a 4xx or a page, never a 5xx."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from central.services.segment_form import PARAMS

    segment_id = segments.create(db, SYSTEM, "Fuzzed", "static")
    _, token = tokens.add_token(db, SYSTEM, "fuzz")
    client = _client(app, "admin")
    names = ["name", "kind", "audiences", "exclude", "action", "add.1", "add.x", "segment_id"]
    for params in PARAMS.values():
        for param, kind in params:
            names.append(f"c.1.1.{param}" if kind != "period" else "c.1.1.period.kind")
        names.append("c.1.1.period.days")
    values = st.one_of(
        st.sampled_from(
            [
                "",
                "x",
                "²",
                "٣",
                "-1",
                "0",
                "1",
                "99999999999999999999",
                "2026-02-30",
                "1,5",
                "add:1",
                "add:x",
                "remove:1:1",
                "remove:x:1",
                "remove_audience:1",
                "add_audience",
                "exclude",
                "count",
                "save",
                "days",
                "dates",
                "yes",
                *PARAMS,
            ]
        ),
        st.text(max_size=20),
    )
    form = st.lists(st.tuples(st.sampled_from(names), values), max_size=10)
    types = st.lists(
        st.tuples(
            st.sampled_from(["c.1.1.type", "c.2.1.type", "c.x.1.type", "c.1.2.type"]), st.sampled_from(list(PARAMS))
        ),
        max_size=3,
    )

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(form, types, st.sampled_from(["/segments/new", "/segments/preview", f"/segments/{segment_id}/edit"]))
    def check(fields, kinds, path):
        from werkzeug.datastructures import MultiDict

        response = client.post(path, data=MultiDict([*kinds, *fields]))
        assert response.status_code < 500, (path, fields, kinds)

    check()

    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(st.tuples(st.sampled_from(["q", "after", "before", "f", "o", "v", "limit"]), values), max_size=5))
    def pages(args):
        for path in (f"/segments/{segment_id}", "/segments/", "/segments/rfm", "/segments/999"):
            assert client.get(path, query_string=args).status_code < 500, (path, args)
        for path in ("/api/v1/segments", f"/api/v1/segments/{segment_id}/members"):
            response = client.get(path, query_string=args, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code < 500, (path, args)

    pages()


def test_the_size_chart_is_a_step_line_held_until_today(db, people, shoppers):
    import datetime as dt

    from central.storage import aggregates
    from central.web.segments import chart

    segment_id = segments.create(db, SYSTEM, "Steps", "static")
    with db.transaction():
        keys = db.customer_keys(["c1", "c2", "c3"])
        db.change_segment_members(segment_id, {keys["c1"], keys["c2"]}, (), "2026-01-01T10:00:00+00:00", "hand")
        db.change_segment_members(segment_id, {keys["c3"]}, {keys["c1"]}, "2026-01-03T10:00:00+00:00", "hand")
    series = segments.size_series(db, people["viewer"], segment_id)
    today = dt.date.fromordinal(aggregates.today(db.conn)).isoformat()  # the chain's local date
    assert series == [("2026-01-01", 2), ("2026-01-03", 2), (today, 2)]
    drawn = chart([("2026-01-01", 2), ("2026-01-03", 4)])
    # two days: a point, the step at the old height, the new point; the axis tops at the largest size
    assert len(drawn["points"].split()) == 3 and drawn["top"] == 4
    assert chart([]) is None


def test_the_size_chart_counts_days_in_the_chains_time_zone(db, people, shoppers):
    import datetime as dt

    segment_id = segments.create(db, SYSTEM, "Late", "static")
    with db.transaction():
        keys = db.customer_keys(["c1", "c2", "c3"])
        # 22:30 UTC on 1 January is 01:30 on 2 January in Moscow; 20:59 UTC is 23:59 there, still 1 January
        db.change_segment_members(segment_id, {keys["c1"]}, (), "2026-01-01T20:59:00+00:00", "hand")
        db.change_segment_members(segment_id, {keys["c2"], keys["c3"]}, (), "2026-01-01T22:30:00+00:00", "hand")
        db.change_segment_members(segment_id, (), {keys["c1"]}, "2026-01-02T21:00:00+00:00", "hand")  # 00:00, 3rd
    now = dt.datetime(2026, 1, 4, 22, 0, tzinfo=dt.UTC)  # 01:00 on 5 January in Moscow
    assert segments.size_series(db, people["viewer"], segment_id, now) == [
        ("2026-01-01", 1),
        ("2026-01-02", 3),
        ("2026-01-03", 2),
        ("2026-01-05", 2),
    ]
    with db.transaction() as conn:
        conn.execute("INSERT INTO settings (name, value) VALUES ('chain_timezone', 'Asia/Kathmandu')")  # +05:45
    assert segments.size_series(db, people["viewer"], segment_id, now) == [
        ("2026-01-02", 3),  # 20:59 UTC is 02:44 on the 2nd in Kathmandu
        ("2026-01-03", 2),
        ("2026-01-05", 2),
    ]


def test_members_with_the_customer_lists_filters(app, db, shoppers):
    client = _client(app)
    segment_id = segments.create(
        db, SYSTEM, "All", "dynamic", {"audiences": [[{"type": "kind", "values": ["registered", "potential"]}]]}
    )
    page = client.get(f"/segments/{segment_id}", query_string={"f": "home_store", "o": "is", "v": "S1"})
    html = page.get_data(as_text=True)
    members = html.split('id="member-list"')[1].split("</table>")[0]
    assert "/customers/c1" in members and "/customers/c3" in members and "/customers/c2" not in members
    # the export and the customer list get the segment's condition and the page's own
    assert "f=segment&amp;o=is&amp;v=" in html and "f=home_store" in html
    bad = client.get(f"/segments/{segment_id}", query_string={"f": "balance", "o": "ge", "v": "lots"})
    assert bad.status_code == 200 and 'em class="error"' in bad.get_data(as_text=True)
