"""The receipt import's writer process (central/storage/import_pipeline.py starts it; SQLite only).

Run as a script (``python import_writer.py DATABASE``), it imports nothing of the project: it reads frames from its
standard input (8 bytes of length, then a pickle) and answers one line per frame on its standard output. A frame
is a batch: ``(number, fences, statements)``; it is written in one transaction:

* ``BEGIN IMMEDIATE``; each fence ``(sql, expected)`` must read ``expected`` (the import's in-memory ids and
  counter still match the database: nobody else wrote these tables since the import read them), else the batch
  is rolled back and the answer is ``conflict``;
* each statement ``(many, sql, params)`` (``executemany`` when ``many``); ``COMMIT``; the answer is ``ok N``.

An error rolls the batch back, answers ``error N message`` and ends the process; so does the end of the input
(the importing process stopped: nothing half written). A batch is thus committed whole or not at all, and the
import resumes after the last one committed.

Its own process (not a thread) so that binding each row's parameters (Python's ``sqlite3``, which holds the
interpreter's lock per row) runs on the other core beside the import's Python.
"""

from __future__ import annotations

import pickle
import sqlite3
import struct
import sys
import traceback

#: the import connection's settings (central/storage/receipt_import.py's ``_IMPORT_PRAGMAS``), and foreign keys on
#: as every connection of central/storage/connection.py
PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA cache_size = -262144",
    "PRAGMA temp_store = MEMORY",
)


def _read(stream: object, size: int) -> bytes | None:
    data = stream.read(size)  # type: ignore[attr-defined]
    return data if data is not None and len(data) == size else None


def main(path: str) -> int:
    conn = sqlite3.connect(path, timeout=60.0, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    source, answer = sys.stdin.buffer, sys.stdout
    while True:
        head = _read(source, 8)
        if head is None:
            return 0  # the importing process is done (or gone)
        (size,) = struct.unpack("<Q", head)
        body = _read(source, size)
        if body is None:
            return 1  # cut off mid-frame: nothing of it is written
        number, fences, statements = pickle.loads(body)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for sql, expected in fences:
                found = conn.execute(sql).fetchone()[0]
                if found != expected:
                    conn.execute("ROLLBACK")
                    answer.write(f"conflict {number} {sql} read {found!r}, expected {expected!r}\n")
                    answer.flush()
                    return 2
            for many, sql, params in statements:
                if many:
                    conn.executemany(sql, params)
                else:
                    conn.execute(sql, params)
            conn.execute("COMMIT")
        except Exception:  # noqa: BLE001 -- every error goes back to the importing process
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            answer.write(f"error {number} " + traceback.format_exc().replace("\n", "\\n") + "\n")
            answer.flush()
            return 1
        answer.write(f"ok {number}\n")
        answer.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
