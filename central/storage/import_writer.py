"""The receipt import's writer process (central/storage/import_pipeline.py starts it; SQLite only).

Run as ``python -m central.storage.import_writer DATABASE``. It reads frames from its standard input (8 bytes of
length, then ``m`` and a marshal, or ``p`` and a pickle) and writes each batch of the import in one transaction,
statement by statement as the import makes them:

* ``("begin", number, fences)``: ``BEGIN IMMEDIATE``; each fence ``(sql, expected)`` must read ``expected`` (the
  import's in-memory ids and counter still match the database: nobody else wrote them since the import read
  them), else the batch is rolled back, the answer is ``conflict`` and the process ends;
* ``("run", many, sql, params)``: one statement (``executemany`` when ``many``);
* ``("columns", sql, columns, texts)``: ``executemany`` of rows made of columns (:func:`_columns`): numpy integer
  columns, ``texts[i]`` (when not None) the texts column ``i`` indexes, lists of values, BLOBs as slices of one
  buffer (the segments' item aggregates: central/storage/aggregates.py; the report rollups' categories of the
  lines: central/storage/rollups.py; the receipts' ``transactions`` rows: central/storage/receipts.py);
* ``("commit", number)``: ``COMMIT``, and the answer ``ok N`` on its standard output.

An error rolls the batch back, answers ``error N message`` and ends the process; so does the end of the input
in a batch (the importing process stopped: nothing of that batch is written). A batch is thus committed whole or
not at all, and the import resumes after the last one committed.

Its own process (not a thread) so that binding each row's parameters runs on the other core beside the import's
Python. The rows are bound in C when native/_sqlite_rows.pyx is built (:func:`connect`; Python's ``sqlite3``
spends about a microsecond of the interpreter per row), else by Python's ``sqlite3``.
"""

from __future__ import annotations

import marshal
import os
import pickle
import sqlite3
import struct
import sys
import time
import traceback
from typing import Any

#: the import connection's settings (central/storage/receipt_import.py's ``_IMPORT_PRAGMAS``), and foreign keys on
#: as every connection of central/storage/connection.py
PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA cache_size = -262144",
    "PRAGMA temp_store = MEMORY",
)


#: CPU seconds per kind of work, printed to standard error at the end when ``LOYALTY_IMPORT_WRITER_TIMES`` is set
#: (bench/import.py ``--phases``)
SPENT: dict[str, float] = {}


def _spent(what: str, since: float) -> float:
    now = time.process_time()
    SPENT[what] = SPENT.get(what, 0.0) + now - since
    return now


def _frames(source: Any, record: Any = None) -> Any:
    """The frames of the input, decoded; stops at its end (or a frame cut short). ``record``: a binary file each
    whole frame is also written to, as read (bench/import_replay.py replays them)."""
    while True:
        head = source.read(8)
        if len(head) < 8:
            return
        (size,) = struct.unpack("<Q", head)
        body = source.read(size)
        if len(body) < size:
            return
        if record is not None:
            record.write(head)
            record.write(body)
        clock = time.process_time()
        frame = marshal.loads(body[1:]) if body[:1] == b"m" else pickle.loads(body[1:])
        _spent("frames read and decoded", clock)
        yield frame


class PythonConnection:
    """The writer's connection through Python's ``sqlite3`` (when the compiled one is not there, or
    ``LOYALTY_IMPORT_WRITER_PYTHON`` is set): the interface of ``native._sqlite_rows.Connection``."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, timeout=60.0, isolation_level=None)

    def execute(self, sql: str, params: Any = ()) -> Any:
        """Run a statement; its first row's first column (None: no row)."""
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def executemany(self, sql: str, rows: Any) -> None:
        self.conn.executemany(sql, rows)

    def executemany_columns(self, sql: str, columns: list[Any], texts: list[list[str] | None]) -> None:
        """Rows of columns, as ``native._sqlite_rows.Connection.executemany_columns`` takes them: int64 arrays
        (``texts[i]``, when not None, the texts column ``i`` indexes; a negative index: NULL), lists of values,
        or ``(data, starts, stops)`` BLOB slices of one bytes object (an empty slice: NULL)."""
        lists = [_values(c, names) for c, names in zip(columns, texts, strict=True)]
        if len({len(c) for c in lists}) > 1:
            raise ValueError("columns of different lengths")
        self.conn.executemany(sql, zip(*lists, strict=True))

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def close(self) -> None:
        self.conn.close()


def _values(column: Any, texts: list[str] | None) -> list[Any]:
    """One column of :meth:`PythonConnection.executemany_columns` as the list of its values."""
    if isinstance(column, list):
        return column
    if isinstance(column, tuple):
        data, starts, stops = column
        return [data[a:b] if b > a else None for a, b in zip(starts.tolist(), stops.tolist(), strict=True)]
    if texts is None:
        return column.tolist()  # type: ignore[no-any-return]
    return [None if i < 0 else texts[i] for i in column.tolist()]


def connect(path: str) -> Any:
    """The compiled connection (native/_sqlite_rows.pyx: the rows bound in C) when it is built and uses the SQLite
    library Python's ``sqlite3`` uses; else :class:`PythonConnection`. Both write the same rows."""
    if not os.environ.get("LOYALTY_IMPORT_WRITER_PYTHON"):
        try:
            from native import _sqlite_rows
        except ImportError:
            pass
        else:
            if _sqlite_rows.libversion() == sqlite3.sqlite_version:
                return _sqlite_rows.Connection(path, 60.0)
    return PythonConnection(path)


def _columns(columns: list[Any]) -> list[Any]:
    """The columns of a frame (central/storage/import_pipeline.py ``Deferred.executemany_columns``) as the
    connections take them: ``("a", dtype, bytes)`` an int64 array, ``("v", values)`` a list of values,
    ``("b", data, starts, stops)`` BLOB slices of ``data`` (the bounds as int64 bytes)."""
    import numpy as np

    def array(dtype: str, data: bytes) -> Any:
        return np.frombuffer(data, np.dtype(dtype)).astype(np.int64, copy=False)

    out: list[Any] = []
    for column in columns:
        if column[0] == "a":
            out.append(array(column[1], column[2]))
        elif column[0] == "v":
            out.append(column[1])
        elif column[0] == "b":
            out.append((column[1], array("<i8", column[2]), array("<i8", column[3])))
        else:
            raise ValueError(f"unknown column {column[0]!r}")
    return out


def _one_thread() -> None:
    """This process alone: SQLite without its mutexes and memory statistics (``native._sqlite_rows.one_thread``),
    before any connection is opened. The writer is one thread; ~9 % of its instructions were mutexes."""
    if os.environ.get("LOYALTY_IMPORT_WRITER_PYTHON"):
        return
    try:
        from native import _sqlite_rows
    except ImportError:
        return
    _sqlite_rows.one_thread()


def main(path: str) -> int:
    _one_thread()
    conn = connect(path)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    answer = sys.stdout
    number = 0
    recording = os.environ.get("LOYALTY_IMPORT_WRITER_RECORD")  # bench/import_replay.py: the frames kept
    record = open(recording, "ab") if recording else None  # noqa: SIM115 -- closed at the end of main
    try:
        for frame in _frames(sys.stdin.buffer, record):
            kind = frame[0]
            clock = time.process_time()
            if kind == "run":
                if frame[1]:
                    conn.executemany(frame[2], frame[3])
                else:
                    conn.execute(frame[2], frame[3])
                _spent(" ".join(frame[2].split()[:3]), clock)
            elif kind == "begin":
                number = frame[1]
                conn.execute("BEGIN IMMEDIATE")
                for sql, expected in frame[2]:
                    found = conn.execute(sql)
                    if found != expected:
                        conn.execute("ROLLBACK")
                        answer.write(f"conflict {number} {sql} read {found!r}, expected {expected!r}\n")
                        answer.flush()
                        return 2
            elif kind == "columns":
                conn.executemany_columns(frame[1], _columns(frame[2]), frame[3])
                _spent(" ".join(frame[1].split()[:3]) + " (by columns)", clock)
            elif kind == "commit":
                conn.execute("COMMIT")
                _spent("COMMIT", clock)
                answer.write(f"ok {frame[1]}\n")
                answer.flush()
            else:
                raise ValueError(f"unknown frame {kind!r}")
    except Exception:  # noqa: BLE001 -- every error goes back to the importing process
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        answer.write(f"error {number} " + traceback.format_exc().replace("\n", "\\n") + "\n")
        answer.flush()
        return 1
    finally:
        if record is not None:
            record.close()
    if conn.in_transaction:  # the importing process stopped in a batch: none of it is written
        conn.execute("ROLLBACK")
        return 1
    conn.close()
    if os.environ.get("LOYALTY_IMPORT_WRITER_TIMES"):
        total = time.process_time()
        for what, seconds in sorted(SPENT.items(), key=lambda kv: -kv[1]):
            print(f"writer {seconds:6.2f}  {what}", file=sys.stderr)
        print(f"writer {total:6.2f}  in all (CPU)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
