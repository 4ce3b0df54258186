"""The receipt import's writer process's connections (central/storage/import_writer.py): the compiled one
(native/_sqlite_rows.pyx) writes what Python's sqlite3 writes."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from central.storage import import_writer

native = pytest.importorskip("native._sqlite_rows")

ROWS = [
    (1, "plain", b"\x00\x01blob", 1.5, None),
    (2**63 - 1, "ünïcode ✓", b"", -0.0, True),
    (-(2**63), "", bytearray(b"xy"), 1e300, False),
    (0, "a\x00b", memoryview(b"mv"), float("inf"), 7),
]


def _tables(path: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return [
            *conn.execute("SELECT a, typeof(a), b, typeof(b), c, typeof(c), d, typeof(d), e, typeof(e) FROM t"),
            *conn.execute("SELECT * FROM items ORDER BY rowid"),
            *conn.execute("SELECT *, typeof(label), typeof(v), typeof(b) FROM mixed ORDER BY rowid"),
        ]
    finally:
        conn.close()


def _write(conn: object) -> None:
    conn.execute("CREATE TABLE t (a, b, c, d, e)")
    conn.execute("CREATE TABLE items (key INTEGER, store TEXT, quantity INTEGER, PRIMARY KEY (key, store))")
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO t VALUES (?,?,?,?,?)", ROWS)
    conn.execute("INSERT INTO t VALUES (?,?,?,?,?)", (5, "one", None, 2.25, 3))
    columns = [np.array([3, 1, 2], np.int64), np.array([1, 0, 1], np.int64), np.array([10, 20, 30], np.int64)]
    conn.executemany_columns("INSERT INTO items VALUES (?,?,?)", columns, [None, ["S1", "S2 ✓"], None])
    conn.executemany_columns(
        "INSERT INTO items VALUES (?,?,?)"
        " ON CONFLICT (key, store) DO UPDATE SET quantity = quantity + excluded.quantity",
        columns,
        [None, ["S1", "S2 ✓"], None],
    )
    # columns of every kind: integers, texts by index (-1: NULL), values bound one by one, BLOB slices
    conn.execute("CREATE TABLE mixed (n INTEGER, label TEXT, v, b BLOB)")
    data = b"\x00abcdef\xff"
    conn.executemany_columns(
        "INSERT INTO mixed VALUES (?,?,?,?)",
        [
            np.array([1, -(2**63), 2**63 - 1, 4], np.int64),
            np.array([0, -1, 1, 0], np.int64),
            ["text ✓", None, 2.5, b"\x01"],
            (data, np.array([0, 3, 3, 1], np.int64), np.array([3, 3, 8, 2], np.int64)),
        ],
        [None, ["one", "two ✓"], None, None],
    )
    assert conn.in_transaction
    conn.execute("COMMIT")
    assert not conn.in_transaction


def test_the_compiled_connection_writes_what_python_sqlite3_writes(tmp_path):
    compiled, python = str(tmp_path / "c.sqlite"), str(tmp_path / "p.sqlite")
    conn = native.Connection(compiled, 60.0)
    _write(conn)
    assert conn.execute("SELECT COUNT(*) FROM t") == 5
    assert conn.execute("SELECT b FROM t WHERE a = 5") == "one"
    assert conn.execute("SELECT d FROM t WHERE a = 5") == 2.25
    assert conn.execute("SELECT c FROM t WHERE a = 5") is None
    assert conn.execute("SELECT a FROM t WHERE a = 99") is None
    conn.close()
    conn = import_writer.PythonConnection(python)
    _write(conn)
    conn.close()
    assert _tables(compiled) == _tables(python)


def test_texts_and_blobs_bound_in_place_are_written_whole_though_each_row_is_let_go_after_it(tmp_path):
    """The compiled connection binds a row's texts and BLOBs without copying them (``SQLITE_STATIC``): each must
    live through its row's step, not after. Rows made one at a time and dropped at once (a generator of fresh
    values, an adapted value made by the binding itself, a columns frame's texts) are all written as given."""
    import datetime as dt

    conn = native.Connection(str(tmp_path / "c.sqlite"), 60.0)
    conn.execute("CREATE TABLE t (n INTEGER, s TEXT, b BLOB, d)")
    conn.execute("BEGIN IMMEDIATE")
    made = 20_000
    conn.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?)",
        (
            (n, f"text {n} ✓" * (n % 7 + 1), bytes([n % 251]) * (n % 300), dt.date(2017, 1, 1 + n % 28))
            for n in range(made)
        ),
    )
    texts = [f"name {k}" * 40 for k in range(50)]
    conn.executemany_columns(
        "INSERT INTO t VALUES (?, ?, ?, NULL)",
        [
            np.arange(made, 2 * made, dtype=np.int64),
            np.arange(made, dtype=np.int64) % 50,
            [bytes([k % 256]) * 3 for k in range(made)],
        ],
        [None, texts, None],
    )
    conn.execute("COMMIT")
    conn.close()
    check = sqlite3.connect(tmp_path / "c.sqlite")
    for n, s, b, d in check.execute("SELECT n, s, b, d FROM t"):
        if n < made:
            assert (s, b, d) == (f"text {n} ✓" * (n % 7 + 1), bytes([n % 251]) * (n % 300), f"2017-01-{1 + n % 28:02d}")
        else:
            assert (s, b, d) == (texts[(n - made) % 50], bytes([(n - made) % 256]) * 3, None)
    assert check.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 2 * made
    check.close()


def test_the_compiled_connection_raises_sqlites_errors_and_refuses_what_it_cannot_bind(tmp_path):
    conn = native.Connection(str(tmp_path / "c.sqlite"), 60.0)
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES (?)", (1,))
    with pytest.raises(native.Error, match="UNIQUE") as failed:
        conn.executemany("INSERT INTO t VALUES (?)", [(2,), (1,)])
    assert failed.value.constraint
    assert conn.execute("SELECT COUNT(*) FROM t") == 2  # autocommit: the row before the failing one stays
    with pytest.raises(native.Error, match="no such table"):
        conn.execute("INSERT INTO nowhere VALUES (1)")
    with pytest.raises(OverflowError):
        conn.execute("INSERT INTO t VALUES (?)", (2**64,))
    with pytest.raises((TypeError, sqlite3.ProgrammingError)):  # as Python's sqlite3: no adapter for it
        conn.execute("INSERT INTO t VALUES (?)", (object(),))
    with pytest.raises(ValueError):
        conn.executemany("INSERT INTO t VALUES (?)", [(3, 4)])
    with pytest.raises(IndexError):
        conn.executemany_columns("INSERT INTO t VALUES (?)", [np.array([5], np.int64)], [[]])
    conn.execute("CREATE TABLE two (a, b)")
    with pytest.raises(ValueError, match="lengths"):
        conn.executemany_columns("INSERT INTO two VALUES (?,?)", [np.array([5], np.int64), [1, 2]], [None, None])
    with pytest.raises(IndexError):  # a BLOB slice beyond its bytes
        blobs = (b"ab", np.array([0], np.int64), np.array([3], np.int64))
        conn.executemany_columns("INSERT INTO two VALUES (?,?)", [[1], blobs], [None, None])
    with pytest.raises((TypeError, sqlite3.ProgrammingError)):  # as Python's sqlite3: no adapter for it
        conn.executemany_columns("INSERT INTO two VALUES (?,?)", [[1], [object()]], [None, None])
    assert conn.execute("SELECT COUNT(*) FROM two") == 0
    conn.close()


def test_the_writer_takes_the_compiled_connection_unless_told_not_to(tmp_path, monkeypatch):
    path = str(tmp_path / "c.sqlite")
    assert isinstance(import_writer.connect(path), native.Connection)
    monkeypatch.setenv("LOYALTY_IMPORT_WRITER_PYTHON", "1")
    assert isinstance(import_writer.connect(path), import_writer.PythonConnection)


def test_the_writer_records_the_frames_it_reads_when_asked(tmp_path):
    """``LOYALTY_IMPORT_WRITER_RECORD`` (bench/import_replay.py): every frame read is kept as read, and replaying
    the recording into a fresh database writes the same."""
    import marshal
    import os
    import struct
    import subprocess
    import sys
    from pathlib import Path

    def frame(message: tuple[object, ...]) -> bytes:
        body = b"m" + marshal.dumps(message, 4)
        return struct.pack("<Q", len(body)) + body

    stream = b"".join(
        frame(m)
        for m in (
            ("begin", 1, []),
            ("run", False, "CREATE TABLE t (a INTEGER, b TEXT)", ()),
            ("run", True, "INSERT INTO t VALUES (?, ?)", [(1, "one"), (2, "two ✓")]),
            ("commit", 1),
        )
    )
    root = str(Path(import_writer.__file__).resolve().parents[2])
    recording = tmp_path / "frames.bin"

    def writer(db: str, source: bytes, **extra: str) -> str:
        env = {**os.environ, "PYTHONPATH": root, **extra}
        out = subprocess.run(
            [sys.executable, "-m", "central.storage.import_writer", db], input=source, env=env, capture_output=True
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.decode()

    assert writer(str(tmp_path / "a.sqlite"), stream, LOYALTY_IMPORT_WRITER_RECORD=str(recording)) == "ok 1\n"
    assert recording.read_bytes() == stream
    assert writer(str(tmp_path / "b.sqlite"), recording.read_bytes()) == "ok 1\n"
    for name in ("a", "b"):
        conn = sqlite3.connect(tmp_path / f"{name}.sqlite")
        assert conn.execute("SELECT a, b FROM t ORDER BY a").fetchall() == [(1, "one"), (2, "two ✓")]
        conn.close()


def test_a_frame_of_columns_reaches_the_writer_as_the_columns_it_was_made_of():
    from central.storage import import_pipeline

    sent = []

    class Writer:
        run = None

        def run_columns(self, sql, columns, texts):
            sent.append(import_writer._columns(__import__("marshal").loads(__import__("marshal").dumps(columns))))

    deferred = import_pipeline.Deferred(None, None, Writer())  # type: ignore[arg-type]
    blobs = import_pipeline.Blobs(b"xyz", np.array([0, 1], np.int32), np.array([1, 3], np.int64))
    deferred.executemany_columns("INSERT", [np.array([7, 8], np.int32), ["a", None], blobs], [None, None, None])
    numbers, values, (data, starts, stops) = sent[0]
    assert numbers.dtype == np.int64 and numbers.tolist() == [7, 8]
    assert values == ["a", None]
    assert (data, starts.tolist(), stops.tolist()) == (b"xyz", [0, 1], [1, 3])
