"""loyalty-central import-receipts with hostile files: a clear error naming the line, no traceback, nothing written."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.cli import cli
from central.storage.store import Store

HEADER = "receipt,store,date,card,sku,quantity,price,amount,accrued\n"
GOOD = "R1,S1,2017-03-01 10:00,77,A,1,10.00,10.00,1\n"


def row(**values: str) -> str:
    """GOOD with some of its cells replaced."""
    cells = dict(zip(HEADER.strip().split(","), GOOD.strip().split(","), strict=True))
    return HEADER + ",".join(values.get(k, v) for k, v in cells.items()) + "\n"


def _xlsx(rows: list[list[object]], merge: str | None = None, sheet: list[list[object]] | None = None) -> bytes:
    """A workbook of these rows (cells ``merge`` merged), and a second sheet of ``sheet``'s rows."""
    import openpyxl

    book = openpyxl.Workbook()
    for values in rows:
        book.active.append(values)
    if merge:
        book.active.merge_cells(merge)
    if sheet is not None:
        second = book.create_sheet("data")
        for values in sheet:
            second.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _parquet(columns: dict[str, object]) -> bytes:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out)
    return out.getvalue()


def _parquet_ts_far() -> bytes:
    pa = pytest.importorskip("pyarrow")
    return _parquet({"receipt": ["R1"], "store": ["S1"], "date": pa.array([2**50], pa.timestamp("s")), "amount": ["1"]})


def _parquet_not_utf8() -> bytes:
    """A string column whose third text is not UTF-8 (Arrow checks nothing when built from its buffers)."""
    pa = pytest.importorskip("pyarrow")
    texts = [b"1.00", b"2.00", b"10.\xc90"]
    offsets = pa.py_buffer(b"".join(n.to_bytes(4, "little") for n in (0, 4, 8, 13)))
    amount = pa.Array.from_buffers(pa.string(), 3, [None, offsets, pa.py_buffer(b"".join(texts))])
    return _parquet({"receipt": ["R1", "R2", "R3"], "store": ["S1"] * 3, "date": ["2017-03-01"] * 3, "amount": amount})


XLSX_HEADER = HEADER.strip().split(",")
XLSX_ROW: list[object] = ["R1", "S1", "2017-03-01 10:00", 7, "A", 1, 1, 1, 1]
JSON_ROW = b'{"receipt":"R1","store":"S1","date":"2017-03-01 10:00","amount":"1"}\n'
PARQUET_ROW = {"receipt": ["R1"], "store": ["S1"], "date": ["2017-03-01"]}
#: (file name, its bytes or a function making them, a text the output must have)
CASES: list[tuple[str, bytes | Callable[[], bytes], str]] = [
    ("empty.csv", b"", "The file is empty."),
    ("header.csv", HEADER.encode(), "no rows below its header"),
    ("empty.jsonl", b"", "The file is empty."),
    ("header.xlsx", lambda: _xlsx([XLSX_HEADER]), "no rows below its header"),
    ("huge_field.csv", (HEADER + "R1,S1,2017-03-01 10:00,77," + "A" * 200_000 + ",1,,1.00,1\n").encode(), "line 2:"),
    ("binary.csv", HEADER.encode() + b"\x98\xff" * 100, "neither UTF-8 nor Windows-1251"),
    ("nul.csv", (HEADER + GOOD + "R2,S1,2017-03-01 10:00,77,A\x00,1,10.00,10.00,1\n").encode(), "line 3: a NUL byte"),
    ("utf16_no_bom.csv", (HEADER + GOOD).encode("utf-16-le"), "line 1: a NUL byte"),
    ("quoted_newline.csv", (HEADER + 'R1,S1,2017-03-01 10:00,77,"A\nB",1,,1.0x,1\n').encode(), "line 2: amount must"),
    ("duplicated.csv", b"receipt,store,date,amount,amount\nR1,S1,2017-03-01 10:00,1.00,2.00\n", "two columns named"),
    ("extra_cells.csv", (HEADER + GOOD.strip() + ",EXTRA\n").encode(), "line 2: this row has 10 cells"),
    ("amount_digits.csv", row(price="", amount="1" * 6000).encode(), "line 2: amount is too large"),
    ("amount_int64.csv", row(price="", amount="99999999999999999").encode(), "line 2: amount is too large"),
    ("accrued_super.csv", row(accrued="²").encode(), "line 2: accrued must be whole points"),
    ("accrued_arabic.csv", row(accrued="١٢").encode(), "line 2: accrued must be whole points"),
    ("accrued_big.csv", row(accrued="9" * 30).encode(), "line 2: accrued is too large"),
    ("quantity_big.csv", row(price="", quantity="9" * 23).encode(), "line 2: quantity is too large"),
    ("date_year_1.csv", row(date="0001-01-01T00:00:00+05:00").encode(), "line 2: date"),
    ("date_9999.csv", row(date="9999-12-31T23:59:59-05:00").encode(), "line 2: date"),
    ("date_future.csv", row(date="31.12.3000 10:00").encode(), "out of range"),
    ("date_1900.csv", row(date="1900-01-01 00:00").encode(), "out of range"),
    ("date_arabic.csv", row(date="٠١.٠٣.٢٠١٧").encode(), "line 2: bad date"),
    ("no_store.csv", (HEADER + GOOD + ",,2017-03-01 10:00,77,A,1,10.00,10.00,1\n").encode(), "line 3: a row needs"),
    ("merged.xlsx", lambda: _xlsx([XLSX_HEADER, XLSX_ROW, [None] * 4 + XLSX_ROW[4:]], "A2:A3"), "line 3: a row needs"),
    ("sheets.xlsx", lambda: _xlsx([], sheet=[XLSX_HEADER, XLSX_ROW]), "The first sheet (Sheet) is empty"),
    ("big.xlsx", lambda: _xlsx([XLSX_HEADER, [*XLSX_ROW[:6], None, 10**30, 1]]), "line 2: amount is too large"),
    ("first_bad.jsonl", b"{bad\n" + JSON_ROW, "line 1: not a JSON object"),
    ("all_bad.jsonl", b"{bad\n[1]\n", "line 1: not a JSON object"),
    ("utf16.jsonl", '{"receipt":"R1"}\n'.encode("utf-16"), "line 1: not UTF-8 text"),
    (
        "later_keys.jsonl",
        b'{"receipt":"R1","store":"S1","date":"2017-03-01 10:00","amount":"1"}\n'
        b'{"receipt":"R2","store":"S1","date":"2017-03-01 10:00","amount":"1","card":"7"}\n',
        "line 2: keys the first line does not have: card",
    ),
    ("corrupt.parquet", b"PAR1" + b"\x00" * 100, "not a readable Parquet file"),
    ("text.parquet", (HEADER + GOOD).encode(), "not a readable Parquet file"),
    ("ts_far.parquet", _parquet_ts_far, "column date"),
    ("not_utf8.parquet", _parquet_not_utf8, "line 4: column amount has values that cannot be read"),
    (
        "nulls.parquet",
        lambda: _parquet({"receipt": ["R1", None], "store": ["S1", None], "date": ["2017-03-01"] * 2}),
        "line 3",
    ),
    ("int64.parquet", lambda: _parquet({**PARQUET_ROW, "amount": [2**62]}), "line 2: amount is too large"),
]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "central.sqlite"
    store = Store(str(path))
    store.add_store("S1", "One", "Europe/Moscow")
    store.close()
    return path


def _digest(path: Path) -> str:
    """Every table but the app's own settings and the jobs (a failed import's job row is its record)."""
    conn = sqlite3.connect(path)
    digest = hashlib.sha256()
    names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
    for (name,) in names:
        if name not in ("settings", "jobs"):
            for values in conn.execute(f'SELECT * FROM "{name}" ORDER BY 1'):
                digest.update(repr(values).encode())
    conn.close()
    return digest.hexdigest()


def _both_runs(db: Path, file: Path, *extra: str, env: dict[str, str] | None = None) -> list:
    """The dry run and the real run of a file, each asserted to fail cleanly and write nothing."""
    results = []
    for dry in (["--dry-run"], []):
        before = _digest(db)
        args = ["import-receipts", str(file), "--quiet", "--db", str(db), *dry, *extra]
        result = CliRunner(env=env).invoke(cli, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code != 0, result.output
        assert "Traceback" not in result.output
        assert _digest(db) == before
        results.append(result)
    return results


@pytest.mark.parametrize(("name", "data", "expected"), CASES, ids=[case[0] for case in CASES])
def test_a_bad_file_is_refused_with_its_line_and_nothing_is_written(tmp_path, template, name, data, expected):
    db = tmp_path / "central.sqlite"
    shutil.copy(template, db)
    file = tmp_path / name
    file.write_bytes(data() if callable(data) else data)
    for result in _both_runs(db, file):
        assert expected in result.output


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ('{"columns": {"receipt": "Beleg", "store": "Beleg", "at": "Tag"}}', "one column for two fields"),
        ('{"columns": ["receipt"]}', "columns must name a header"),
        ("[1, 2]", "not a table of keys"),
        ('{"refund_values": 5}', "refund_values must be a list"),
        ('{"date_format": 5}', "date_format must be a text"),
    ],
)
def test_a_bad_mapping_file_is_refused(tmp_path, template, mapping, expected):
    db = tmp_path / "central.sqlite"
    shutil.copy(template, db)
    file = tmp_path / "f.csv"
    file.write_text("Beleg,Filiale,Tag,amount\nR1,S1,2017-03-01 10:00,1.00\n", encoding="utf-8")
    (tmp_path / "map.json").write_text(mapping, encoding="utf-8")
    for result in _both_runs(db, file, "--mapping", str(tmp_path / "map.json")):
        assert expected in result.output


def test_stores_to_create_are_checked_first_and_their_time_zone_reads_the_times(tmp_path, template):
    db = tmp_path / "central.sqlite"
    shutil.copy(template, db)
    file = tmp_path / "f.csv"
    file.write_text("receipt,store,date,amount\nR1,NEW,2017-03-01 10:00,1.00\nR2,bad id,2017-03-01 10:00,1.00\n")
    (bad_zone, _), (bad_id, _) = (
        _both_runs(db, file, "--create-stores", "--store-timezone", "Nowhere/X"),
        _both_runs(db, file, "--create-stores"),
    )
    assert "Unknown time zone Nowhere/X" in bad_zone.output
    assert "line 3: store id 'bad id' cannot be created" in bad_id.output
    file.write_text("receipt,store,date,amount\nR1,NEW,2017-03-01 10:00,1.00\n")
    args = ["import-receipts", str(file), "--quiet", "--db", str(db), "--create-stores"]
    assert CliRunner().invoke(cli, [*args, "--store-timezone", "Asia/Tokyo"]).exit_code == 0
    conn = sqlite3.connect(db)
    (at,) = conn.execute("SELECT at FROM transactions").fetchone()
    conn.close()
    assert dt.datetime.fromisoformat(at) == dt.datetime(2017, 3, 1, 1, tzinfo=dt.UTC)  # 10:00 in Tokyo


def test_the_new_messages_are_in_russian(tmp_path, template):
    db = tmp_path / "central.sqlite"
    shutil.copy(template, db)
    file = tmp_path / "f.csv"
    file.write_text(row(accrued="9" * 30), encoding="utf-8")
    dry, _real = _both_runs(db, file, env={"LANG": "ru_RU.UTF-8"})
    assert "строка 2" in dry.output.lower() and "слишком большое значение" in dry.output


NASTY = ["", " ", "1", "1.00", "-1", "1e309", "NaN", "1,234.5", "١٢٣", "9" * 25, "²", "0", "0.455", "12.345", "\x00"]
NASTY_DATES = ["2017-03-01 10:00", "2017-02-30 10:00", "24:00", "9999-12-31T23:59-05:00", "01.03.2017", "", "x"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["R1", "R2", ""]),
            st.sampled_from(["S1", "S9", ""]),
            st.sampled_from(NASTY_DATES),
            st.sampled_from(NASTY),
            st.sampled_from(NASTY),
            st.sampled_from(NASTY),
            st.sampled_from(["", "refund", "sale", "??"]),
        ),
        min_size=0,
        max_size=6,
    ),
    extra=st.sampled_from(["", ",x", ',"a\nb"']),
)
def test_any_mix_of_hostile_cells_is_checked_without_a_traceback_and_a_refused_file_writes_nothing(
    tmp_path, template, rows, extra
):
    db = tmp_path / "central.sqlite"
    shutil.copy(template, db)
    file = tmp_path / "f.csv"
    body = "".join(",".join(r) + extra + "\n" for r in rows)
    file.write_text("receipt,store,date,quantity,amount,accrued,kind\n" + body, encoding="utf-8")
    before = _digest(db)
    dry = CliRunner().invoke(cli, ["import-receipts", str(file), "--quiet", "--db", str(db), "--dry-run"])
    assert dry.exception is None or isinstance(dry.exception, SystemExit), dry.exception
    assert _digest(db) == before
    real = CliRunner().invoke(cli, ["import-receipts", str(file), "--quiet", "--db", str(db)])
    assert real.exception is None or isinstance(real.exception, SystemExit), real.exception
    assert (real.exit_code == 0) == (dry.exit_code == 0), (dry.output, real.output)
    if real.exit_code:
        assert _digest(db) == before


def test_an_xlsx_zip_bomb_is_refused_before_it_is_unpacked(tmp_path, template, monkeypatch):
    import zipfile

    from central.services import spreadsheets

    monkeypatch.setattr(spreadsheets, "BOMB_BYTES", 1 << 20)  # the same rule, on a smaller file
    db = tmp_path / "central.sqlite"
    shutil.copy(template, db)
    file = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(io.BytesIO(_xlsx([XLSX_HEADER]))) as source, zipfile.ZipFile(file, "w", 8) as out:
        for name in source.namelist():
            data = source.read(name)
            if name.endswith("sheet1.xml"):
                data = data.replace(b"</sheetData>", b"<row r='2'>" + b" " * (4 << 20) + b"</row></sheetData>")
            out.writestr(name, data)
    for result in _both_runs(db, file):
        assert "zip bomb" in result.output
