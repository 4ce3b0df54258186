"""loyalty-central import-receipts: bad rows, the same file twice, an interrupted import, import vs ingest."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.cli import cli
from central.points import levels
from central.storage import line_pack
from central.storage.store import IngestUnit, Store
from shared import accrual
from shared.receipts import CustomerTerms, Line, Receipt
from shared.rules import parse_rules
from tests.sync.fakes import FakeAgent

# the PostgreSQL run (--backend=postgresql) keeps this file: it passes there (docs/scale.md)
pytestmark = pytest.mark.postgresql

ROOT = Path(__file__).resolve().parents[2]
HEADER = [
    "receipt",
    "store",
    "date",
    "customer_id",
    "card",
    "sku",
    "name",
    "category",
    "quantity",
    "price",
    "discount",
    "amount",
    "accrued",
    "redeemed",
    "kind",
    "refund_of",
]
LEVELS = [("Silver", 0, "1"), ("Gold", 50_000, "2")]


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("tpl") / "central.sqlite")
    store = Store(path)
    store.add_store("S1", "One", "Europe/Moscow")
    store.add_store("S2", "Two", "Europe/Moscow")
    with store.transaction() as conn:
        levels.adopt(conn, LEVELS)
    store.close()
    return path


@pytest.fixture
def db_file(tmp_path, template, central_database) -> str:
    if central_database.startswith("postgresql://"):  # --backend=postgresql: a fresh database, set up alike
        store = Store(central_database)
        store.add_store("S1", "One", "Europe/Moscow")
        store.add_store("S2", "Two", "Europe/Moscow")
        with store.transaction() as conn:
            levels.adopt(conn, LEVELS)
        store.close()
        return central_database
    path = str(tmp_path / "central.sqlite")
    shutil.copy(template, path)
    return path


def write_csv(path: Path, rows: list[list[object]], header: list[str] = HEADER, delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def sale(
    receipt, store="S1", when="2017-03-01 10:00", customer="", card="", lines=(("A", "10.00"),), accrued=0, redeemed=0
):
    out = []
    for i, (sku, amount) in enumerate(lines):
        out.append(
            [
                receipt,
                store,
                when,
                customer,
                card,
                sku,
                f"Item {sku}",
                "CAT-" + sku,
                "1",
                "",
                "0",
                amount,
                accrued if i == 0 else 0,
                redeemed if i == 0 else 0,
                "",
                "",
            ]
        )
    return out


def refund(receipt, of, store="S1", when="2017-03-02 10:00"):
    return [[receipt, store, when, "", "", "", "", "", "", "", "", "", "", "", "refund", of]]


def named_lines(c: Any) -> list[tuple[Any, ...]]:
    """Every line: (receipt id, kind, idx, sku, category name, name, quantity, price, discount, amount, accrued,
    redeemed)."""
    heads = {r[0]: r[1:] for r in c.execute("SELECT id, receipt_id, kind FROM transactions")}
    skus = dict(c.execute("SELECT id, sku FROM catalog_products"))
    names = dict(c.execute("SELECT id, name FROM catalog_categories"))
    return [
        (*heads[tid], idx, skus.get(sku), names.get(cat), *rest)
        for tid, idx, sku, cat, *rest in line_pack.lines_between(c, 0, 2**62)
    ]


def counts(path: str) -> dict[str, int]:
    store = Store(path)
    try:
        return {"lines": sum(1 for _ in line_pack.lines_between(store.conn, 0, 2**62))} | {
            t: store.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in (
                "customers",
                "ledger",
                "lots",
                "transactions",
                "applied_events",
                "catalog_products",
                "catalog_categories",
                "stores",
                "cards",
            )
        }
    finally:
        store.close()


def snapshot(path: str, by_card: bool = False) -> dict[str, object]:
    """What must come out the same: customers' aggregates and levels, lots, ledger, receipts and lines."""
    store = Store(path)
    c = store.conn
    try:
        # customers named by their card (import and agent make different ids for them)
        name = (
            {
                cid: (num or cid)
                for cid, num in c.execute(
                    "SELECT c.id, k.number FROM customers c LEFT JOIN cards k ON k.customer_id = c.id"
                )
            }
            if by_card
            else {}
        )
        n = lambda cid: name.get(cid, cid)  # noqa: E731
        return {
            "customers": sorted(
                (n(r[0]), *r[1:])
                for r in c.execute(
                    "SELECT id, balance, spend, visits, level, last_purchase_at, last_accrual_at, last_redemption_at,"
                    " home_store FROM customers"
                )
            ),
            # (a lot's ``initial`` is its points at the end of the round that made it: rounds differ)
            "lots": sorted(
                (n(r[0]), r[1], r[2]) for r in c.execute("SELECT customer_id, points, expires_at FROM lots")
            ),
            "ledger": sorted(
                (n(r[0]), *r[1:])
                for r in c.execute("SELECT customer_id, points, kind, store, at, program_id FROM ledger")
            ),
            "debts": sorted(
                (n(r[0]), *r[1:]) for r in c.execute("SELECT customer_id, shortfall, balance_after FROM debts")
            ),
            "transactions": sorted(
                (r[0], r[1], r[2], n(r[3]) if r[3] else None, *r[4:])
                for r in c.execute(
                    "SELECT kind, store, receipt_id, customer_id, at, amount, accrued, redeemed, level, line_count,"
                    " columns FROM transactions"
                )
            ),
            "lines": sorted(named_lines(c)),
            "stores": sorted(c.execute("SELECT customer_id, store FROM customer_stores").fetchall())
            if not by_card
            else sorted((n(a), b) for a, b in c.execute("SELECT customer_id, store FROM customer_stores")),
        }
    finally:
        store.close()


# -- bad rows ----------------------------------------------------------------------------------------


def test_a_dry_run_lists_every_bad_row_with_its_line_and_writes_nothing(db_file, tmp_path):
    rows = [
        *sale("A1", card="1", lines=(("X", "10.00"), ("Y", "4.00"))),
        ["B1", "S9", "2017-03-01 10:00", "", "1", "X", "", "", "1", "", "", "10.00", "", "", "", ""],
        ["C1", "S1", "2017-13-01 10:00", "", "1", "X", "", "", "1", "", "", "10.00", "", "", "", ""],
        ["D1", "S1", "2017-03-01 10:00", "", "1", "X", "", "", "1", "", "", "10.5x", "", "", "", ""],
        ["E1", "S1", "2017-03-01 10:00", "", "1", "X", "", "", "1", "5.00", "1.00", "5.00", "", "", "", ""],
        ["G1", "S1", "2017-03-01 10:00", "", "1", "X", "", "", "-1", "", "", "5.00", "", "", "", ""],
        ["G2", "S1", "2017-03-01 10:00", "", "1", "X", "", "", "0", "", "", "5.00", "", "", "", ""],  # weighed: good
        *refund("F1", "NOPE"),
        *sale("A1", card="1"),
        *refund("F2", "A1"),
        *refund("F3", "A1"),
    ]
    rows[1][3] = "other"  # the receipt's second row names another customer
    path = write_csv(tmp_path / "bad.csv", rows)
    before = counts(db_file)
    result = run("import-receipts", str(path), "--dry-run", "--quiet", "--db", db_file)
    assert result.exit_code == 1
    out = result.output
    assert "line 3: this row's customer differs from the receipt's first row (line 2)" in out
    assert "line 4: unknown store S9 (add it, or use --create-stores)" in out
    assert "line 5: bad date '2017-13-01 10:00'" in out
    assert "line 6: amount must be an amount like 123.45, not '10.5x'" in out
    assert "line 7: amount does not add up: price 5.00 x quantity 1 - discount 1.00 is not 5.00" in out
    assert "line 8: quantity must be a number" in out
    assert "line 9:" not in out
    assert "line 10: refund of an unknown receipt NOPE (neither in the file nor in the ledger)" in out
    assert "line 11: duplicated receipt id A1" in out
    assert "line 13: receipt A1 is refunded twice" in out
    assert "9 bad rows" in out
    # a real run refuses the same file and writes nothing either
    result = run("import-receipts", str(path), "--quiet", "--db", db_file)
    assert result.exit_code == 1 and "nothing imported: 9 bad rows" in result.output
    assert counts(db_file) == before


def test_a_total_that_does_not_add_up_and_unknown_stores_with_create_stores(db_file, tmp_path):
    rows = sale("A1", lines=(("X", "10.00"), ("Y", "2.50")))
    rows[0].append("13.00")
    rows[1].append("")
    path = write_csv(tmp_path / "t.csv", rows, HEADER + ["total"])
    result = run("import-receipts", str(path), "--dry-run", "--quiet", "--db", db_file)
    assert "line 2: amount does not add up: the lines come to 12.50, the total says 13.00" in result.output
    path = write_csv(tmp_path / "s.csv", sale("A1", store="S7"))
    assert "unknown store S7" in run("import-receipts", str(path), "--quiet", "--db", db_file).output
    result = run(
        "import-receipts", str(path), "--quiet", "--create-stores", "--store-timezone", "Europe/Samara", "--db", db_file
    )
    assert result.exit_code == 0, result.output
    assert "created 0 customers, 1 stores" in result.output
    assert Store(db_file).get_store("S7")["timezone"] == "Europe/Samara"


# -- keep, twice, formats ----------------------------------------------------------------------------


def test_keep_mode_gives_the_old_points_creates_customers_products_and_categories_and_twice_adds_nothing(
    db_file, tmp_path
):
    rows = [
        *sale("R1", card="2000001", lines=(("A", "100.00"), ("B", "20.50")), accrued=120),
        *sale("R2", card="2000001", lines=(("A", "100.00"),), redeemed=50),
        *sale("R3", customer="ext-7", lines=(("C", "5.00"),), accrued=5),
        *sale("R4", lines=(("A", "1.00"),), accrued=999),  # anonymous: moves no points
        *refund("X1", "R1"),
    ]
    path = write_csv(tmp_path / "h.csv", rows)
    result = run("import-receipts", str(path), "--quiet", "--db", db_file)
    assert result.exit_code == 0, result.output
    assert "imported 4 receipts (5 lines), 1 refunds; skipped 0 already imported; created 2 customers" in result.output
    store = Store(db_file)
    card_owner = store.conn.execute("SELECT customer_id FROM cards WHERE number = '2000001'").fetchone()[0]
    assert store.conn.execute(
        "SELECT balance, spend, visits FROM customers WHERE id = ?", (card_owner,)
    ).fetchone() == (120 - 50 - 120, 12050 + 10000 - 12050, 2)
    assert store.conn.execute("SELECT balance, spend FROM customers WHERE id = 'ext-7'").fetchone() == (5, 500)
    assert {r[0] for r in store.conn.execute("SELECT name FROM catalog_categories")} == {"CAT-A", "CAT-B", "CAT-C"}
    assert store.conn.execute("SELECT name FROM catalog_products WHERE sku = 'B'").fetchone()[0] == "Item B"
    first = snapshot(db_file)
    again = run("import-receipts", str(path), "--quiet", "--db", db_file)
    assert "imported 0 receipts (0 lines), 0 refunds; skipped 5 already imported" in again.output
    assert snapshot(db_file) == first


def test_russian_headers_semicolons_decimal_commas_and_a_mapping_file(db_file, tmp_path):
    ru = [
        "Чек",
        "Магазин",
        "Дата и время",
        "Номер карты",
        "Артикул",
        "Наименование",
        "Категория",
        "Количество",
        "Цена",
        "Скидка",
        "Сумма",
        "Начислено",
    ]
    path = write_csv(
        tmp_path / "ru.csv",
        [["Ч1", "S1", "01.03.2017 10:05", "77", "M", "Молоко", "Молочное", "0,5", "100,00", "0", "50,00", "5"]],
        ru,
        delimiter=";",
    )
    result = run("import-receipts", str(path), "--quiet", "--db", db_file)
    assert result.exit_code == 0, result.output
    store = Store(db_file)
    line = next((r[5], r[8], r[6]) for r in line_pack.lines_between(store.conn, 0, 2**62))
    assert line == ("0.5", 5000, 10000)
    assert store.conn.execute("SELECT at FROM transactions").fetchone()[0] == "2017-03-01T07:05:00+00:00"
    odd = write_csv(
        tmp_path / "odd.csv",
        [["9", "S1", "2017/03/01", "77", "5.00", "M"]],
        ["Beleg", "Filiale", "Tag", "Kunde", "Betrag", "Artikel"],
    )
    mapping = tmp_path / "map.toml"
    mapping.write_text(
        'date_format = "%Y/%m/%d"\n[columns]\nreceipt = "Beleg"\nstore = "Filiale"\nat = "Tag"\n'
        'card = "Kunde"\namount = "Betrag"\nsku = "Artikel"\n'
    )
    result = run("import-receipts", str(odd), "--quiet", "--mapping", str(mapping), "--db", db_file)
    assert result.exit_code == 0, result.output
    assert "imported 1 receipts" in result.output and "created 0 customers" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"columns": {"colour": "x"}}))
    result = run("import-receipts", str(odd), "--quiet", "--mapping", str(bad), "--db", db_file)
    assert result.exit_code == 1 and "unknown keys: colour" in result.output


def test_xlsx_and_json_lines_read_the_same(db_file, tmp_path, template):
    import openpyxl

    rows = [*sale("R1", card="5", lines=(("A", "10.00"), ("B", "0.99")), accrued=3), *refund("X", "R1")]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append([float(v) if k in ("amount",) and v else v for k, v in zip(HEADER, row, strict=True)])
    book.save(tmp_path / "h.xlsx")
    with (tmp_path / "h.jsonl").open("w") as f:
        for row in rows:
            f.write(json.dumps(dict(zip(HEADER, row, strict=True))) + "\n")
    write_csv(tmp_path / "h.csv", rows)
    results = []
    for name in ("h.xlsx", "h.jsonl", "h.csv"):
        path = str(tmp_path / f"{name}.sqlite")
        shutil.copy(template, path)
        result = run("import-receipts", str(tmp_path / name), "--quiet", "--db", path)
        assert result.exit_code == 0, (name, result.output)
        results.append(snapshot(path, by_card=True))
    assert results[0] == results[1] == results[2]


def test_parquet_when_pyarrow_is_there(db_file, tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = sale("R1", card="5", lines=(("A", "10.00"),), accrued=1)
    table = pa.table({h: [str(r[i]) for r in rows] for i, h in enumerate(HEADER)})
    pq.write_table(table, tmp_path / "h.parquet")
    result = run("import-receipts", str(tmp_path / "h.parquet"), "--quiet", "--db", db_file)
    assert result.exit_code == 0 and "imported 1 receipts (1 lines)" in result.output


def _parquet(path: Path, rows: list[list[object]], ints: tuple[str, ...] = ()) -> Path:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    columns = {}
    for i, h in enumerate(HEADER):
        values = [r[i] for r in rows]
        columns[h] = (
            pa.array([int(v) if str(v).strip() else None for v in values], pa.int64())
            if h in ints
            else pa.array([None if v is None else str(v) for v in values], pa.string())
        )
    pq.write_table(pa.table(columns), path, row_group_size=4)  # several row groups: chunked columns
    return path


def test_the_columnar_parquet_reader_gives_the_receipts_the_row_reader_gives(db_file, tmp_path):
    from central.services import receipt_import as ri

    rows = [
        *sale("R1", customer="H1", lines=(("A", "10.00"), ("B", "4.5"), ("A", "10.00")), accrued=3, redeemed=1),
        *sale(" R2 ", store="S2", card=" 77 ", when="01.03.2017 10:05", lines=(("C", "1 234,50"),)),
        *sale("R3", when="2017-03-01T10:00:00+03:00", lines=(("", "0.99"),)),
        *refund("F1", "R1"),
        *sale("R4", customer="H2", lines=(("A", "3"), ("B", "2.00"))),
    ]
    rows[-1][8], rows[-1][9], rows[-1][10], rows[-1][11] = "0.5", "4.01", "0.00", "2.00"  # price x qty rounds
    rows[4][14] = "sale"
    rows[1][12] = ""  # accrued left empty on a later line
    store = Store(db_file)
    try:
        for ints in ((), ("accrued", "redeemed")):
            path = _parquet(tmp_path / f"h{len(ints)}.parquet", rows, ints)
            parser = ri.Parser(store, path, ri.Mapping_())
            fast = ri._columnar(parser, path)
            assert fast is not None, "a clean file is read by columns"
            report = ri.Report()
            slow = [r for r, problems in parser.by_row(report) if not problems]
            assert fast.rows == report.rows == len(rows)
            made = list(fast.receipts)
            assert made == slow
            assert [len(r.lines) for r in made] == [3, 1, 1, 0, 2]
    finally:
        store.close()


def test_a_parquet_file_with_bad_rows_lists_them_as_a_csv_file_does(db_file, tmp_path):
    from central.services import receipt_import as ri

    rows = [
        *sale("A1", card="1", lines=(("X", "10.00"), ("Y", "4.00"))),
        ["C1", "S1", "2017-13-01 10:00", "", "1", "X", "", "", "1", "", "", "10.00", "", "", "", ""],
        ["D1", "S1", "2017-03-01 10:00", "", "1", "X", "", "", "1", "", "", "10.5x", "", "", "", ""],
        *sale("A1", card="1"),
    ]
    rows[1][3] = "other"
    csv_out = run(
        "import-receipts", str(write_csv(tmp_path / "bad.csv", rows)), "--dry-run", "--quiet", "--db", db_file
    )
    path = _parquet(tmp_path / "bad.parquet", rows)
    store = Store(db_file)
    try:
        assert ri._columnar(ri.Parser(store, path, ri.Mapping_()), path) is None  # the row reader names them
    finally:
        store.close()
    out = run("import-receipts", str(path), "--dry-run", "--quiet", "--db", db_file)
    assert out.exit_code == csv_out.exit_code == 1
    assert out.output == csv_out.output and "4 bad rows" in out.output


# -- compute ---------------------------------------------------------------------------------------


def test_compute_mode_gives_what_the_calculator_gives_under_the_current_rules(db_file, tmp_path, spec_rules_doc):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(spec_rules_doc))
    assert run("rules", "publish", str(path), "--store", "S1", "--db", db_file).exit_code == 0
    rows = [
        *sale("R1", card="1", when="2017-03-01 10:00", lines=(("A", "100.00"), ("B", "33.33")), accrued=999),
        *sale("R2", card="2", when="2017-03-04 19:30", lines=(("C", "1000.00"),)),
    ]
    file = write_csv(tmp_path / "h.csv", rows)
    result = run("import-receipts", str(file), "--quiet", "--points", "compute", "--db", db_file)
    assert result.exit_code == 0, result.output
    store = Store(db_file)
    version, doc = store.latest_rules()["S1"]
    from central.services.rules import with_program

    rules = parse_rules({**with_program(store, doc, store.get_store("S1")), "version": version})
    calc = accrual.PythonCalculator(rules)
    zone = dt.timezone(dt.timedelta(hours=3))
    # new customers: at the level a spend of 0 earns (the program's first, Silver)
    silver = CustomerTerms(level="Silver")
    expected = {
        "R1": calc.quote(
            Receipt(
                (Line(10000, sku="A", category="CAT-A"), Line(3333, sku="B", category="CAT-B")),
                dt.datetime(2017, 3, 1, 10, tzinfo=zone),
            ),
            silver,
        ).accrued,
        "R2": calc.quote(
            Receipt((Line(100000, sku="C", category="CAT-C"),), dt.datetime(2017, 3, 4, 19, 30, tzinfo=zone)),
            silver,
        ).accrued,
    }
    got = dict(store.conn.execute("SELECT receipt_id, accrued FROM transactions"))
    assert got == expected and expected["R2"] > 0
    assert store.conn.execute("SELECT DISTINCT rules_version FROM transactions").fetchall() == [(version,)]
    # a store without a rule set is refused in compute mode, before anything is written
    file2 = write_csv(tmp_path / "s2.csv", sale("Z1", store="S2"))
    result = run("import-receipts", str(file2), "--quiet", "--points", "compute", "--db", db_file)
    assert result.exit_code == 1 and "No rule set for store(s) S2" in result.output


def test_compute_mode_prices_a_new_customers_receipts_at_the_level_a_spend_of_0_earns(
    db_file, tmp_path, spec_rules_doc
):
    """accrual.md, step 5 and "Levels": a customer's percent is their level's, the level is chosen by spend, and a
    new customer's spend of 0 earns the program's first level (Silver, 1 %) -- not the store's base_percent (5 %),
    which a customer gets only without a level (no program, or no automatic promotion)."""
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(spec_rules_doc))
    assert run("rules", "publish", str(path), "--store", "S1", "--db", db_file).exit_code == 0
    # Wednesday 12:00 (no time rule), 1,000.00 (k_receipt 1), no category k: 1 % of 100000 = 1000
    rows = [*sale("R1", customer="C1", when="2017-03-01 12:00", lines=(("A", "1000.00"),))]
    rows += sale("R2", customer="C1", when="2017-03-01 12:05", lines=(("A", "1000.00"),))
    result = run(
        "import-receipts", str(write_csv(tmp_path / "h.csv", rows)), "--quiet", "--points", "compute", "--db", db_file
    )
    assert result.exit_code == 0, result.output
    store = Store(db_file)
    got = dict(store.conn.execute("SELECT receipt_id, accrued FROM transactions"))
    assert got == {"R1": 1000, "R2": 1000}
    # and recorded at it (the reports' level of a receipt)
    assert dict(store.conn.execute("SELECT receipt_id, level FROM transactions")) == {"R1": "Silver", "R2": "Silver"}
    # (R2 in the same batch: at the level as the batch started; after it, 2,000.00 of spend is Gold)
    assert store.conn.execute("SELECT level FROM customers WHERE id = 'C1'").fetchone() == ("Gold",)
    # without automatic promotion a new customer has no level: the store's base_percent (5 %)
    with store.transaction():
        store.replace_levels(LEVELS, "0", False, False)
    store.close()
    rows = sale("R3", customer="C2", when="2017-03-01 12:10", lines=(("A", "1000.00"),))
    result = run(
        "import-receipts", str(write_csv(tmp_path / "h2.csv", rows)), "--quiet", "--points", "compute", "--db", db_file
    )
    assert result.exit_code == 0, result.output
    store = Store(db_file)
    assert store.conn.execute("SELECT accrued, level FROM transactions WHERE receipt_id = 'R3'").fetchone() == (
        5000,
        None,
    )
    store.close()


# -- interrupted ---------------------------------------------------------------------------------


def test_an_import_killed_mid_way_resumes_to_the_exact_totals(db_file, tmp_path, template):
    rows = []
    for i in range(3000):
        rows += sale(
            f"R{i}",
            store="S1" if i % 2 else "S2",
            when=f"2017-03-{1 + i % 28:02d} 10:{i % 60:02d}",
            card=str(1000 + i % 37),
            lines=(("A", "10.00"), (f"S{i % 50}", f"{i % 90 + 1}.25")),
            accrued=i % 7,
            redeemed=0,
        )
        if i % 10 == 9:
            rows += refund(f"X{i}", f"R{i - 2}", store="S1" if i % 2 else "S2")
    path = write_csv(tmp_path / "big.csv", rows)
    clean = str(tmp_path / "clean.sqlite")
    shutil.copy(template, clean)
    # the same batches (a receipt's level is the customer's when its batch starts, as in an ingest round)
    assert run("import-receipts", str(path), "--quiet", "--batch", "50", "--db", clean).exit_code == 0

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "central.cli",
        "import-receipts",
        str(path),
        "--quiet",
        "--batch",
        "50",
        "--db",
        db_file,
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    watcher = Store(db_file)
    try:
        while time.monotonic() < deadline:  # kill it once some batches, not all, have committed
            done = watcher.conn.execute("SELECT COUNT(*) FROM applied_events WHERE agent = 'import'").fetchone()[0]
            if done >= 500 or proc.poll() is not None:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done = watcher.conn.execute("SELECT COUNT(*) FROM applied_events WHERE kind = 'purchase'").fetchone()[0]
    finally:
        watcher.close()
    assert 0 < done < 3000, "the import was not cut off mid-way"
    result = run("import-receipts", str(path), "--quiet", "--batch", "50", "--db", db_file)
    assert result.exit_code == 0, result.output
    assert f"skipped {done + done // 9}" in result.output or "skipped" in result.output
    assert snapshot(db_file, by_card=True) == snapshot(clean, by_card=True)


# -- import vs ingest ------------------------------------------------------------------------------

receipt_strategy = st.fixed_dictionaries(
    {
        "store": st.sampled_from(["S1", "S2"]),
        "customer": st.one_of(st.none(), st.sampled_from(["c1", "c2", "c3", "c4"])),
        "lines": st.lists(
            st.tuples(st.sampled_from(["A", "B", "C", "D"]), st.integers(1, 40_000), st.integers(0, 500)),
            min_size=1,
            max_size=4,
        ),
        "accrued": st.integers(0, 900),
        "redeemed": st.integers(0, 400),
        "refund": st.booleans(),
    }
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(receipts=st.lists(receipt_strategy, min_size=1, max_size=12))
def test_an_import_leaves_the_ledger_as_the_same_receipts_through_the_ingest(tmp_path_factory, template, receipts):
    base = tmp_path_factory.mktemp("eq")
    imported, ingested = str(base / "imported.sqlite"), str(base / "ingested.sqlite")
    shutil.copy(template, imported)
    shutil.copy(template, ingested)
    t0 = dt.datetime(2017, 3, 1, 9, tzinfo=dt.UTC)
    rows: list[list[object]] = []
    agents = {"S1": FakeAgent("S1", "a1"), "S2": FakeAgent("S2", "a1")}
    groups: list[list[dict]] = []  # the events of each receipt of the file, in file order
    known: set[str] = set()
    sold: dict[str, tuple[str, dict]] = {}
    for i, r in enumerate(receipts):
        when = t0 + dt.timedelta(hours=i)
        rid = f"R{i}"
        for j, (sku, amount, discount) in enumerate(r["lines"]):
            rows.append(
                [
                    rid,
                    r["store"],
                    when.isoformat(),
                    r["customer"] or "",
                    "",
                    sku,
                    f"Item {sku}",
                    f"CAT-{sku}",
                    "1",
                    "",
                    f"{discount // 100}.{discount % 100:02d}",
                    f"{amount // 100}.{amount % 100:02d}",
                    r["accrued"] if j == 0 else 0,
                    r["redeemed"] if j == 0 else 0,
                    "",
                    "",
                ]
            )
        agent = agents[r["store"]]
        cid = r["customer"]
        if cid and cid not in known:
            known.add(cid)
            reg = agent.registration(cid, card=None)
            reg["at"] = reg["body"]["at"] = when.isoformat()
            reg["body"]["phone"] = None
            reg["body"]["consents"] = {}
            groups.append([reg])
        else:
            groups.append([])
        ev = agent.purchase(cid, total=sum(a for _, a, _ in r["lines"]))
        body = ev["body"]
        body.update(
            receipt_id=rid,
            at=when.isoformat(),
            accrued=r["accrued"] if cid else 0,
            redeemed=r["redeemed"] if cid else 0,
        )
        body["lines"] = [
            {
                "sku": sku,
                "name": f"Item {sku}",
                "category": f"CAT-{sku}",
                "quantity": "1",
                "price": None,
                "discount": discount,
                "amount": amount,
                "accrued": (r["accrued"] if j == 0 else 0) if cid else 0,
                "redeemed": (r["redeemed"] if j == 0 else 0) if cid else 0,
            }
            for j, (sku, amount, discount) in enumerate(r["lines"])
        ]
        ev["at"] = when.isoformat()
        groups[-1].append(ev)
        sold[rid] = (r["store"], body)
        if r["refund"] and i > 0 and f"R{i - 1}" in sold and sold[f"R{i - 1}"][0] == r["store"]:
            _, original = sold.pop(f"R{i - 1}")
            later = when + dt.timedelta(minutes=30)
            rows.append(
                [
                    f"X{i}",
                    r["store"],
                    later.isoformat(),
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "refund",
                    f"R{i - 1}",
                ]
            )
            back = agent.refund(
                original["customer_id"], f"R{i - 1}", original["total"], original["accrued"], original["redeemed"]
            )
            back["at"] = back["body"]["at"] = later.isoformat()
            back["body"]["refund_id"] = f"X{i}"
            groups.append([back])
    path = write_csv(base / "h.csv", rows)
    result = run("import-receipts", str(path), "--quiet", "--batch", "3", "--db", imported)
    assert result.exit_code == 0, result.output
    store = Store(ingested)
    for store_id, agent_id in (("S1", "a1"), ("S2", "a1")):
        store.stream_state(store_id, agent_id)
    for start in range(0, len(groups), 3):  # the ingest's rounds: as many receipts as an import batch
        store.commit_ingest(IngestUnit(events=[e for g in groups[start : start + 3] for e in g]))
    store.close()
    assert snapshot(imported) == snapshot(ingested)


def test_messages_are_in_russian_under_a_russian_locale(db_file, tmp_path):
    path = write_csv(tmp_path / "bad.csv", sale("A1", store="S9"))
    result = CliRunner(env={"LANG": "ru_RU.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}).invoke(
        cli, ["import-receipts", str(path), "--dry-run", "--quiet", "--db", db_file]
    )
    assert "строка 2: неизвестный магазин S9 (добавьте его или используйте --create-stores)" in result.output
    assert "строк с ошибками: 1" in result.output


def _line_indexes(path: str) -> set[str]:
    """The deferred indexes present (the segments' aggregates'; the lines' table went in migration 44)."""
    return {name for name, _sql in _deferred_indexes(path)}


DEFERRED = {"agg_items_item", "agg_days_day"}


@pytest.mark.sqlite_only
def test_a_big_import_builds_the_line_indexes_at_its_end_with_the_same_result(db_file, tmp_path, template, monkeypatch):
    from central.services import receipt_import as ri

    rows = []
    for i in range(200):
        rows += sale(f"R{i}", card=str(1000 + i % 11), lines=(("A", "10.00"), (f"S{i % 13}", "3.25")), accrued=i % 5)
        if i % 10 == 9:
            rows += refund(f"X{i}", f"R{i - 2}")
    path = write_csv(tmp_path / "h.csv", rows)
    plain = str(tmp_path / "plain.sqlite")
    shutil.copy(template, plain)
    assert run("import-receipts", str(path), "--quiet", "--batch", "30", "--db", plain).exit_code == 0
    monkeypatch.setattr(ri, "DEFER_INDEXES_LINES", 1)  # this small file counts as big
    assert run("import-receipts", str(path), "--quiet", "--batch", "30", "--db", db_file).exit_code == 0
    assert _line_indexes(db_file) == _line_indexes(plain) == DEFERRED
    assert snapshot(db_file, by_card=True) == snapshot(plain, by_card=True)
    # the aggregates' deferred indexes too: built again as the migration made them, the same rows
    assert _deferred_indexes(db_file) == _deferred_indexes(plain) and len(_deferred_indexes(plain)) == 2
    assert _aggregates(db_file) == _aggregates(plain) and _aggregates(plain)["items"]


@pytest.mark.sqlite_only
def test_a_big_import_keeps_the_aggregates_indexes_while_a_dynamic_segment_reads_them(db_file, tmp_path, monkeypatch):
    from central.services import receipt_import as ri

    store = Store(db_file)
    dropped: list[bool] = []
    monkeypatch.setattr(type(store), "has_dynamic_segments", lambda self: True)
    real = type(store).drop_line_indexes
    monkeypatch.setattr(
        type(store),
        "drop_line_indexes",
        lambda self, aggregates=True: dropped.append(aggregates) or real(self, aggregates=aggregates),
    )
    store.close()
    monkeypatch.setattr(ri, "DEFER_INDEXES_LINES", 1)
    path = write_csv(tmp_path / "h.csv", sale("R1", card="7") + sale("R2", card="8"))
    assert run("import-receipts", str(path), "--quiet", "--db", db_file).exit_code == 0
    assert dropped == [False]
    assert len(_deferred_indexes(db_file)) == 2


def _deferred_indexes(path: str) -> set[tuple[str, str]]:
    from central.storage.connection import LINE_INDEXES

    store = Store(path)
    try:
        names = [name for name, _table, _columns in LINE_INDEXES]
        return set(
            store.conn.execute(
                f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN ({','.join('?' * len(names))})",
                names,
            )
        )
    finally:
        store.close()


def _aggregates(path: str) -> dict[str, list[tuple[object, ...]]]:
    """The aggregates' rows with each customer named by their card (the two imports make other ids)."""
    store = Store(path)
    who = "JOIN customer_keys k ON k.key = a.key JOIN cards c ON c.customer_id = k.customer_id"
    try:
        return {
            "days": sorted(
                store.conn.execute(
                    f"SELECT c.number, a.day, a.store, a.purchases, a.refunds, a.spend, a.items FROM agg_days a {who}"
                )
            ),
            "items": sorted(
                store.conn.execute(
                    f"SELECT c.number, a.kind, a.item, a.day, a.store, a.quantity FROM agg_items a {who}"
                )
            ),
            "points": sorted(
                store.conn.execute(f"SELECT c.number, a.day, a.type, a.accrued, a.redeemed FROM agg_points a {who}")
            ),
        }
    finally:
        store.close()


@pytest.mark.sqlite_only
def test_line_indexes_left_dropped_by_a_killed_import_come_back_with_the_next_import(db_file, tmp_path):
    store = Store(db_file)
    store.conn.execute("DROP INDEX agg_items_item")  # what an import killed before its end leaves
    store.conn.execute("DROP INDEX agg_days_day")
    store.close()
    path = write_csv(tmp_path / "h.csv", sale("R1"))
    assert run("import-receipts", str(path), "--quiet", "--db", db_file).exit_code == 0
    assert _line_indexes(db_file) == DEFERRED
    store = Store(db_file)
    try:
        store.conn.execute("DROP INDEX agg_items_item")
        store.mend_line_indexes()  # what loyalty-central serve does as it starts
    finally:
        store.close()
    assert _line_indexes(db_file) == DEFERRED


def _pragmas(store: Store) -> tuple[int, int, int]:
    return tuple(
        store.conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("cache_size", "temp_store", "synchronous")
    )


@pytest.mark.sqlite_only
def test_the_import_connection_settings_hold_inside_and_are_put_back_after(db_file):
    store = Store(db_file)
    try:
        before = _pragmas(store)
        assert before[2] == 2  # synchronous = FULL (central/storage/connection.py)
        with store.import_pragmas():
            assert _pragmas(store) == (-262144, 2, 1)  # a 256 MiB cache, temp tables in memory, NORMAL
            store.drop_line_indexes()
            assert "agg_items_item" not in {
                r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
            }
            store.mend_line_indexes()
        assert _pragmas(store) == before
        with pytest.raises(RuntimeError), store.import_pragmas():
            raise RuntimeError("a batch failed")
        assert _pragmas(store) == before
    finally:
        store.close()
    assert _line_indexes(db_file) == DEFERRED


# -- both cores (docs/import-receipts.md, "Both cores") --------------------------------------------------------

#: columns written with the time of the writing (they differ between any two runs)
_WRITTEN_AT = {"recorded_at", "created_at", "applied_at", "updated_at", "last_seen", "status_at"}


def every_table(path: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but the customers' search index, the settings, the audit log and the times of
    writing), sorted."""
    store = Store(path)
    c = store.conn
    try:
        out = {}
        for (table,) in c.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name NOT LIKE 'customer_search%' AND name NOT IN ('settings', 'audit_log')"
        ).fetchall():
            columns = [r[1] for r in c.execute(f"PRAGMA table_info({table})") if r[1] not in _WRITTEN_AT]
            out[table] = sorted(
                c.execute(f"SELECT {', '.join(chr(34) + x + chr(34) for x in columns)} FROM {table}"), key=repr
            )
        return out
    finally:
        store.close()


def _import(db: str, path: Path, monkeypatch, **options: Any) -> Any:
    """Import ``path`` through the service, new customers' ids numbered in order (the same in every run)."""
    import itertools
    import uuid

    from central import create_app
    from central.services import receipt_import as ri

    numbers = itertools.count(1)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(numbers)))
    store = Store(db)
    try:
        with create_app({"DATABASE": db}).app_context():
            report = ri.check(store, path)
            assert not report.bad_count, report.problems
            return ri.run(store, path, report, **options)
    finally:
        store.close()


def _history(tmp_path: Path) -> tuple[Path, Path]:
    """Two files: a first month, and a second one refunding some of the first's receipts; customers by id and by
    card (a registration with a card waits for the batches before it), spends that cross the Gold level, refunds
    in the file and of receipts in the ledger."""
    first, second = _history_rows()
    return write_csv(tmp_path / "first.csv", first), write_csv(tmp_path / "second.csv", second)


def _history_rows() -> tuple[list[list[object]], list[list[object]]]:
    first: list[list[object]] = []
    for i in range(400):
        who = {"customer": f"c{i % 23}"} if i % 3 else {"card": str(7000 + i % 11)} if i % 2 else {}
        first += sale(
            f"R{i}",
            store="S1" if i % 4 else "S2",
            when=f"2017-03-{1 + i % 28:02d} {8 + i % 12:02d}:{i % 60:02d}",
            lines=(("A", "10.00"), (f"S{i % 40}", f"{i % 97 + 1}.25"), ("B", f"{i % 13}.50")),
            accrued=i % 9,
            redeemed=i % 5 if i % 7 == 0 else 0,
            **who,
        )
        if i % 10 == 9:
            first += refund(f"X{i}", f"R{i - 3}", store="S1" if (i - 3) % 4 else "S2", when="2017-03-29 12:00")
    second: list[list[object]] = []
    for i in range(120):
        second += sale(f"T{i}", store="S2", when=f"2017-04-{1 + i % 28:02d} 09:00", customer=f"c{i % 29}")
        if i % 12 == 0:
            second += refund(f"Y{i}", f"R{i * 3 + 1}", store="S1" if (i * 3 + 1) % 4 else "S2", when="2017-04-29")
    return first, second


@pytest.mark.sqlite_only
@pytest.mark.parametrize("points", ["keep", "compute"])
def test_overlapped_writes_leave_every_table_as_one_batch_after_the_other(
    tmp_path, template, monkeypatch, spec_rules_doc, points
):
    first, second = _history(tmp_path)
    results = []
    # overlapped twice: the writer process's rows bound in C (native/_sqlite_rows.pyx, when built) and by Python's
    # sqlite3 (its fallback)
    for overlap in (False, True, "python"):
        if overlap == "python":
            monkeypatch.setenv("LOYALTY_IMPORT_WRITER_PYTHON", "1")
        db = str(tmp_path / f"{overlap}.sqlite")
        shutil.copy(template, db)
        rules = tmp_path / "rules.json"
        rules.write_text(json.dumps(spec_rules_doc))
        for store_id in ("S1", "S2"):
            assert run("rules", "publish", str(rules), "--store", store_id, "--db", db).exit_code == 0
        for path in (first, second, first):  # the first twice: nothing added
            _import(db, path, monkeypatch, points=points, batch_receipts=37, overlap=bool(overlap))
        results.append(every_table(db))
    plain, overlapped, by_python = results
    assert {t for t, rows in plain.items() if rows} >= {"agg_items", "report_categories", "ledger", "lots"}
    store = Store(str(tmp_path / "True.sqlite"))
    assert {row[0] for row in store.conn.execute("SELECT level FROM customers")} == {"Silver", "Gold"}
    store.close()
    for table in plain:
        assert overlapped[table] == plain[table], table
        assert by_python[table] == plain[table], table


@pytest.mark.sqlite_only
@pytest.mark.parametrize("points", ["keep", "compute"])
def test_a_parquet_file_read_by_columns_imports_what_its_rows_as_csv_import(
    tmp_path, template, monkeypatch, spec_rules_doc, points
):
    """The columnar reader's lines (runs of its columns, taken by slices) and the row reader's (Line objects) give
    the same tables: two stores under different rule sets (two kernel calls a batch), weighed quantities, a time
    with a fraction of a second, and batches some of whose receipts a first import brought (their runs taken by
    an index, not a slice)."""
    from central.services import receipt_import as ri

    first, second = _history_rows()
    for k, row in enumerate(first):
        if k % 5 == 2 and not row[14]:
            row[8] = f"0.{k % 900 + 100}"  # weighed: no price, the amount as it is
    first += sale("R-frac", store="S2", when="2017-03-30 10:11:12.25", customer="c1")
    part = [row for row in first if str(row[0]).endswith(("1", "5"))]
    results = []
    for kind in ("csv", "parquet"):
        db = str(tmp_path / f"{kind}.sqlite")
        shutil.copy(template, db)
        for store_id, percent in (("S1", "5"), ("S2", "7")):
            rules = tmp_path / f"rules-{store_id}.json"
            rules.write_text(json.dumps({**spec_rules_doc, "base_percent": percent}))
            assert run("rules", "publish", str(rules), "--store", store_id, "--db", db).exit_code == 0
        whole = (
            write_csv(tmp_path / "whole.csv", first) if kind == "csv" else _parquet(tmp_path / "whole.parquet", first)
        )
        if kind == "parquet":
            store = Store(db)
            assert ri._columnar(ri.Parser(store, whole, ri.Mapping_()), whole) is not None, "read by columns"
            store.close()
        _import(db, write_csv(tmp_path / "part.csv", part), monkeypatch, points=points, batch_receipts=37)
        _import(db, whole, monkeypatch, points=points, batch_receipts=37, overlap=kind == "parquet")
        _import(db, write_csv(tmp_path / "second.csv", second), monkeypatch, points=points, batch_receipts=37)
        results.append(every_table(db))
    by_rows, by_columns = results
    assert len(by_rows["transactions"]) == len({row[0] for row in first + second})
    for table in by_rows:
        assert by_columns[table] == by_rows[table], table


@pytest.mark.sqlite_only
def test_another_writer_during_an_overlapped_import_stops_it_and_the_next_run_resumes(tmp_path, template, monkeypatch):
    from central.services import receipt_import as ri

    first, _ = _history(tmp_path)
    clean = str(tmp_path / "clean.sqlite")
    shutil.copy(template, clean)
    _import(clean, first, monkeypatch, batch_receipts=37, overlap=False)

    db = str(tmp_path / "db.sqlite")
    shutil.copy(template, db)
    write = ri._Overlap.write
    batches = []

    def meddling(self: Any, events: Any) -> None:
        batches.append(1)
        if len(batches) == 4:  # another writer moves the customers' version counter between two batches
            self.writer.drain()
            other = Store(db)
            with other.transaction() as conn:
                conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'customer_version'")
            other.close()
        write(self, events)

    monkeypatch.setattr(ri._Overlap, "write", meddling)
    with pytest.raises(ri.ImportError_, match="run the import again"):
        _import(db, first, monkeypatch, batch_receipts=37, overlap=True)
    done = counts(db)["transactions"]
    assert 0 < done < counts(clean)["transactions"]
    monkeypatch.setattr(ri._Overlap, "write", write)
    outcome = _import(db, first, monkeypatch, batch_receipts=37, overlap=True)
    assert outcome.skipped > 0
    assert snapshot(db, by_card=True) == snapshot(clean, by_card=True)


@given(st.lists(st.integers(-1, 6), max_size=40))
def test_the_kernels_codes_from_the_readers_are_the_codes_of_the_names(codes):
    """The kernel's sku and category codes made from the columnar reader's (``_dense``) are those made from the
    names themselves (``_factorize``): the same indexes, the same names in the same order."""
    from central.services import receipt_import as ri

    names = [f"n{i}" for i in range(7)]
    code = np.array(codes, np.int32)
    dense, distinct = ri._dense(code, names)
    expected, expected_names = ri._factorize([names[c] if c >= 0 else None for c in codes])
    assert dense.tolist() == expected.tolist() and distinct == expected_names
