"""A receipt import on both cores (SQLite): batch N's rows written by a writer process while batch N+1 is made.

docs/import-receipts.md, "Both cores". The import's main process runs the ingest's own transaction code
(central/storage/ingest.py's ``ingest_body``: the ledger, the receipt log, the rollups, the aggregates, levels)
for each batch on a :class:`Deferred` connection: its reads go to the import's connection (the committed state),
its writes are recorded, and the batch's statements go, as one frame, to the writer process
(central/storage/import_writer.py), which commits each batch whole. What a batch would read back of the batch
before it, still being written, the import keeps in memory (:class:`ImportState`): the next transaction id, the
catalog's and the customer keys' ids it gave, the customers' version counter; the ledger keeps its customers,
lots and levels across batches (central/points/ledger.py). Each frame carries fences: those ids and the counter
as the import expects them at the start of the batch's transaction; another writer having moved them stops the
import before its batch is written (a resumed import picks up from there).
"""

from __future__ import annotations

import contextlib
import fcntl
import marshal
import os
import pickle
import queue
import sqlite3
import struct
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .portable import SQLITE

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_READS = ("SELECT", "WITH")
#: the fences' reads: each must give what the import expects at the start of a batch's transaction
_FENCES = {
    "transactions": "SELECT COALESCE(MAX(id), 0) FROM transactions",
    "catalog_products": "SELECT COALESCE(MAX(id), 0) FROM catalog_products",
    "catalog_categories": "SELECT COALESCE(MAX(id), 0) FROM catalog_categories",
    "customer_keys": "SELECT COALESCE(MAX(key), 0) FROM customer_keys",
    "customer_version": "SELECT COALESCE((SELECT value FROM counters WHERE name = 'customer_version'), 0)",
}


#: the pipe to the writer (Linux's default maximum): the thread feeding it waits for the interpreter's lock after
#: each time the pipe was full
_PIPE_SIZE = 1 << 20


class Conflict(Exception):
    """Another writer changed what the import keeps in memory (ids, the customers' version counter): the batch
    was not written."""


class WriterFailed(Exception):
    """The writer process could not write a batch (nothing of that batch was written)."""


@dataclass
class ImportState:
    """What the batches of one import read back of each other, kept in memory (read once at the start)."""

    #: table -> the highest id given (``customer_version``: the counter's value)
    top: dict[str, int]
    #: table -> name -> id of the catalog rows and customer keys known (the database's and the import's)
    ids: dict[str, dict[str, int]] = field(
        default_factory=lambda: {"catalog_products": {}, "catalog_categories": {}, "customer_keys": {}}
    )

    @classmethod
    def read(cls, conn: sqlite3.Connection) -> ImportState:
        return cls({name: int(conn.execute(sql).fetchone()[0]) for name, sql in _FENCES.items()})

    def fences(self) -> list[tuple[str, int]]:
        """(sql, the value it must read) of the state as it is now (before the next batch's writes)."""
        return [(sql, self.top[name]) for name, sql in _FENCES.items()]

    def give(self, table: str, names: Iterable[str]) -> list[tuple[int, str]]:
        """New ids for these names, in order (as SQLite gives an INTEGER PRIMARY KEY: the highest + 1)."""
        known = self.ids[table]
        out = []
        for name in names:
            self.top[table] += 1
            known[name] = self.top[table]
            out.append((self.top[table], name))
        return out


def import_state(conn: Any) -> ImportState | None:
    """The import's in-memory state when ``conn`` is a pipelined import's :class:`Deferred` connection."""
    return getattr(conn, "import_state", None)


@dataclass(frozen=True)
class Blobs:
    """A column of BLOBs (:meth:`Deferred.executemany_columns`): row ``r``'s is ``data[starts[r]:stops[r]]``
    (integer arrays), NULL when that slice is empty."""

    data: bytes
    starts: Any
    stops: Any


def _int64(column: Any) -> bytes:
    return column.astype("<i8", copy=False).tobytes()  # type: ignore[no-any-return]


class _NoRows:
    """What a recorded write returns: nothing can be read of it (a caller that would is not pipelined)."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"a pipelined import's write has no {name} (docs/import-receipts.md)")


class Deferred:
    """A connection stand-in for one batch: reads on the import's connection, each write handed to the writer
    process (which runs it in the batch's transaction)."""

    dialect = SQLITE

    def __init__(self, reader: sqlite3.Connection, state: ImportState, writer: Writer) -> None:
        self.reader = reader
        self.import_state = state
        self.sink = writer.run
        self.writer = writer

    def executemany_columns(self, sql: str, columns: list[Any], texts: list[list[str] | None]) -> None:
        """``executemany`` of rows given as columns: numpy integer arrays (``texts[i]``, when not None, the texts
        column ``i`` indexes; -1: NULL), lists of values, or :class:`Blobs` (central/storage/aggregates.py's
        items, rollups.py's categories, receipts.py's transactions): the writer process makes the rows, the import
        passes the arrays' bytes (no tuple per row made, marshalled and read back)."""
        frame: list[Any] = []
        for column in columns:
            if isinstance(column, list):
                frame.append(("v", column))
            elif isinstance(column, Blobs):
                frame.append(("b", column.data, _int64(column.starts), _int64(column.stops)))
            else:
                frame.append(("a", column.dtype.str, column.tobytes()))
        self.writer.run_columns(sql, frame, texts)

    @staticmethod
    def _kind(sql: str) -> str:
        word = sql.lstrip().split(None, 1)[0].upper()
        if word in _WRITES:
            return "write"
        if word in _READS:
            return "read"
        raise RuntimeError(f"a pipelined import cannot run {word} (docs/import-receipts.md)")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self._kind(sql) == "read":
            return self.reader.execute(sql, params)
        self.sink(False, sql, tuple(params))
        return _NoRows()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        if self._kind(sql) == "read":
            raise RuntimeError("executemany of a read")
        rows = rows if isinstance(rows, list) else list(rows)
        if rows:
            self.sink(True, sql, rows)
        return _NoRows()


class Writer:
    """The writer process and the thread feeding it: a batch is :meth:`begin`, :meth:`run` for each statement (sent
    at once: the writer writes them while the import makes the rest), :meth:`commit`; :meth:`drain` waits until
    every batch is committed, :meth:`close` at the end. ``depth`` statements may wait to be written (the import
    runs that far ahead; their rows are held in memory)."""

    def __init__(self, path: str, depth: int = 64) -> None:
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "central.storage.import_writer", path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError, AttributeError):  # Linux: a bigger pipe, fewer waits for it to drain
                fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_SIZE)  # type: ignore[union-attr]
        self.frames: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self.sent = 0
        self.done = 0
        self.failure: Exception | None = None
        self._answered = threading.Condition()
        self._feeder = threading.Thread(target=self._feed, name="import-writer-feed", daemon=True)
        self._reader = threading.Thread(target=self._read, name="import-writer-answers", daemon=True)
        self._feeder.start()
        self._reader.start()

    def _feed(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            while (frame := self.frames.get()) is not None:
                stdin.write(struct.pack("<Q", len(frame)))
                stdin.write(frame)
                stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the writer stopped: its answer says why
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        for raw in stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._answered:
                if line.startswith("ok "):
                    self.done += 1
                elif line.startswith("conflict "):
                    self.failure = Conflict(line.split(" ", 2)[2])
                else:
                    self.failure = WriterFailed(line.replace("\\n", "\n"))
                self._answered.notify_all()
        stdout.close()
        with self._answered:
            if self.done < self.sent and self.failure is None:
                self.failure = WriterFailed("the import's writer process ended")
            self._answered.notify_all()

    def check(self) -> None:
        """Raise what went wrong in the writer, if anything."""
        if self.failure is not None:
            raise self.failure

    def _put(self, message: tuple[Any, ...]) -> None:
        try:  # marshal: five times quicker than pickle for rows of numbers, texts and bytes (the import's own time)
            frame = b"m" + marshal.dumps(message, 4)
        except ValueError:  # a parameter marshal cannot carry
            frame = b"p" + pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        while True:
            try:
                self.frames.put(frame, timeout=0.5)
                return
            except queue.Full:
                self.check()

    def begin(self, fences: list[tuple[str, int]]) -> None:
        """A batch's transaction, if the fences read what they must."""
        self.check()
        self.sent += 1
        self._put(("begin", self.sent, fences))

    def run(self, many: bool, sql: str, params: Any) -> None:
        """A statement of the batch (written while the import makes the next ones)."""
        self._put(("run", many, sql, params))

    def run_columns(self, sql: str, columns: list[Any], texts: list[list[str] | None]) -> None:
        """A statement whose rows the writer makes of columns (:meth:`Deferred.executemany_columns`)."""
        self._put(("columns", sql, columns, texts))

    def commit(self) -> None:
        self._put(("commit", self.sent))

    def drain(self) -> None:
        """Wait until every batch sent is committed (or raise what stopped the writer)."""
        with self._answered:
            while self.done < self.sent and self.failure is None:
                self._answered.wait(0.5)
        self.check()

    def close(self, *, abort: bool = False) -> None:
        """Stop the writer after the batches sent (call :meth:`drain` first to know they were written);
        ``abort``: at once (a batch it was writing is rolled back: the import resumes after the last committed)."""
        if abort or self.failure is not None:
            self.process.kill()
            try:
                self.frames.put_nowait(None)
            except queue.Full:
                pass
        else:
            self.frames.put(None)
        self._feeder.join(timeout=60)
        try:
            self.process.wait(timeout=600)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=10)
