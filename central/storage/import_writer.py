"""The receipt import's writer process (central/storage/import_pipeline.py starts it; SQLite only).

Run as ``python -m central.storage.import_writer DATABASE``. It reads frames from its standard input (8 bytes of
length, then ``m`` and a marshal, or ``p`` and a pickle) and writes each batch of the import in one transaction,
statement by statement as the import makes them:

* ``("begin", number, fences)``: ``BEGIN IMMEDIATE``; each fence ``(sql, expected)`` must read ``expected`` (the
  import's in-memory ids and counter still match the database: nobody else wrote them since the import read
  them), else the batch is rolled back, the answer is ``conflict`` and the process ends;
* ``("run", many, sql, params)``: one statement (``executemany`` when ``many``);
* ``("later", "rollups", increments)``: the report rollups' increments of the batch, sorted into rows and
  written here (central/storage/rollups.py's ``write``: the same code);
* ``("commit", number)``: ``COMMIT``, and the answer ``ok N`` on its standard output.

An error rolls the batch back, answers ``error N message`` and ends the process; so does the end of the input
in a batch (the importing process stopped: nothing of that batch is written). A batch is thus committed whole or
not at all, and the import resumes after the last one committed.

Its own process (not a thread) so that binding each row's parameters (Python's ``sqlite3``, which holds the
interpreter's lock per row) and the rollups' rows run on the other core beside the import's Python.
"""

from __future__ import annotations

import marshal
import pickle
import sqlite3
import struct
import sys
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


def _frames(source: Any) -> Any:
    """The frames of the input, decoded; stops at its end (or a frame cut short)."""
    while True:
        head = source.read(8)
        if len(head) < 8:
            return
        (size,) = struct.unpack("<Q", head)
        body = source.read(size)
        if len(body) < size:
            return
        yield marshal.loads(body[1:]) if body[:1] == b"m" else pickle.loads(body[1:])


def _later(conn: sqlite3.Connection, what: str, increments: Any) -> None:
    """The report rollups' increments of a batch (central/storage/rollups.py's ``fold``), sorted into rows and
    written here by ``rollups.write``, the code the receipt log's flush runs."""
    from . import rollups

    assert what == "rollups", what
    rollups.write(conn, {table: {tuple(k): v for k, v in acc.items()} for table, acc in increments.items()})


def main(path: str) -> int:
    conn = sqlite3.connect(path, timeout=60.0, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    answer = sys.stdout
    number = 0
    try:
        for frame in _frames(sys.stdin.buffer):
            kind = frame[0]
            if kind == "run":
                if frame[1]:
                    conn.executemany(frame[2], frame[3])
                else:
                    conn.execute(frame[2], frame[3])
            elif kind == "begin":
                number = frame[1]
                conn.execute("BEGIN IMMEDIATE")
                for sql, expected in frame[2]:
                    found = conn.execute(sql).fetchone()[0]
                    if found != expected:
                        conn.execute("ROLLBACK")
                        answer.write(f"conflict {number} {sql} read {found!r}, expected {expected!r}\n")
                        answer.flush()
                        return 2
            elif kind == "later":
                _later(conn, *frame[1:])
            elif kind == "commit":
                conn.execute("COMMIT")
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
    if conn.in_transaction:  # the importing process stopped in a batch: none of it is written
        conn.execute("ROLLBACK")
        return 1
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
