# cython: language_level=3, boundscheck=False, wraparound=False
"""The receipt import's writer process's connection to SQLite, bound in C (central/storage/import_writer.py).

Python's ``sqlite3`` spends about a microsecond of the interpreter per row of an ``executemany`` (the row's
parameters taken apart and bound one by one) beside SQLite's own work; the writer binds millions of rows a year.
This is the same SQLite library (the system's ``libsqlite3``, which Python's ``sqlite3`` module also uses),
driven directly: rows of Python values bound as ``sqlite3`` binds them (int -> INTEGER, float -> REAL, str ->
TEXT, bytes -> BLOB, None -> NULL), and rows of columns (the segments' item aggregates, the rollups' categories,
the transactions): int64 columns bound from their memory without a Python object per value, texts by index,
lists of values, BLOBs as slices of one buffer. docs/import-receipts.md, "round of 2026-12-07" and "round of
2026-12-07, morning".
"""

from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from cpython.bytes cimport PyBytes_AsStringAndSize
from cpython.unicode cimport PyUnicode_AsUTF8AndSize


cdef extern from "sqlite3.h":
    ctypedef struct sqlite3
    ctypedef struct sqlite3_stmt
    ctypedef long long sqlite3_int64
    int SQLITE_OK
    int SQLITE_ROW
    int SQLITE_DONE
    int SQLITE_OPEN_READWRITE
    int SQLITE_OPEN_CREATE
    int SQLITE_INTEGER
    int SQLITE_FLOAT
    int SQLITE_TEXT
    int SQLITE_NULL
    void *SQLITE_TRANSIENT
    void *SQLITE_STATIC
    int sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs) nogil
    int sqlite3_close_v2(sqlite3 *db) nogil
    int sqlite3_busy_timeout(sqlite3 *db, int ms) nogil
    const char *sqlite3_errmsg(sqlite3 *db) nogil
    int sqlite3_extended_errcode(sqlite3 *db) nogil
    int sqlite3_get_autocommit(sqlite3 *db) nogil
    int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **stmt, const char **tail) nogil
    int sqlite3_step(sqlite3_stmt *stmt) nogil
    int sqlite3_reset(sqlite3_stmt *stmt) nogil
    int sqlite3_clear_bindings(sqlite3_stmt *stmt) nogil
    int sqlite3_finalize(sqlite3_stmt *stmt) nogil
    int sqlite3_bind_parameter_count(sqlite3_stmt *stmt) nogil
    int sqlite3_bind_int64(sqlite3_stmt *stmt, int i, sqlite3_int64 v) nogil
    int sqlite3_bind_double(sqlite3_stmt *stmt, int i, double v) nogil
    int sqlite3_bind_null(sqlite3_stmt *stmt, int i) nogil
    int sqlite3_bind_text(sqlite3_stmt *stmt, int i, const char *v, int n, void *destructor) nogil
    int sqlite3_bind_blob(sqlite3_stmt *stmt, int i, const void *v, int n, void *destructor) nogil
    int sqlite3_column_type(sqlite3_stmt *stmt, int i) nogil
    sqlite3_int64 sqlite3_column_int64(sqlite3_stmt *stmt, int i) nogil
    double sqlite3_column_double(sqlite3_stmt *stmt, int i) nogil
    const unsigned char *sqlite3_column_text(sqlite3_stmt *stmt, int i) nogil
    int sqlite3_column_bytes(sqlite3_stmt *stmt, int i) nogil
    int sqlite3_column_count(sqlite3_stmt *stmt) nogil
    const char *sqlite3_libversion() nogil
    int SQLITE_CONFIG_SINGLETHREAD
    int SQLITE_CONFIG_MEMSTATUS
    int sqlite3_config(int option, ...) nogil
    int sqlite3_initialize() nogil
    int sqlite3_shutdown() nogil


#: SQLITE_CONSTRAINT's primary code (the extended codes keep it in their low byte)
DEF CONSTRAINT = 19


class Error(Exception):
    """SQLite refused a statement (``constraint``: a constraint failed, as sqlite3.IntegrityError)."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code
        self.constraint = (code & 0xFF) == CONSTRAINT


def libversion():
    return sqlite3_libversion().decode()


def one_thread():
    """Set this process's SQLite up for one thread: no mutexes (``SQLITE_CONFIG_SINGLETHREAD``) and no memory
    statistics (``SQLITE_CONFIG_MEMSTATUS`` off, whose counters take a mutex per allocation). The system's library
    is built thread-safe, and a row's bindings, step and allocations took about 9 % of the writer's instructions
    in mutexes alone (callgrind, docs/import-receipts.md). Only for a process whose one thread alone uses SQLite
    and has no connection open yet (the import's writer, at its start): SQLite is shut down, set up and started
    again. True when both settings were taken."""
    sqlite3_shutdown()
    cdef int threads = sqlite3_config(SQLITE_CONFIG_SINGLETHREAD)
    cdef int memstatus = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, <int>0)
    sqlite3_initialize()
    return threads == SQLITE_OK and memstatus == SQLITE_OK


cdef class Connection:
    """One connection, autocommit unless the statements say BEGIN ... COMMIT (as ``isolation_level=None``)."""

    cdef sqlite3 *db
    cdef dict statements

    def __cinit__(self, str path, double timeout=60.0):
        self.db = NULL
        self.statements = {}
        cdef bytes name = path.encode()
        rc = sqlite3_open_v2(name, &self.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)
        if rc != SQLITE_OK:
            message = sqlite3_errmsg(self.db).decode() if self.db != NULL else "out of memory"
            sqlite3_close_v2(self.db)
            self.db = NULL
            raise Error(message, rc)
        sqlite3_busy_timeout(self.db, <int>(timeout * 1000))

    def __dealloc__(self):
        self.close()

    def close(self):
        cdef size_t address
        if self.db == NULL:
            return
        for address in self.statements.values():
            sqlite3_finalize(<sqlite3_stmt *>address)
        self.statements.clear()
        sqlite3_close_v2(self.db)
        self.db = NULL

    @property
    def in_transaction(self):
        return self.db != NULL and not sqlite3_get_autocommit(self.db)

    cdef _fail(self):
        raise Error(sqlite3_errmsg(self.db).decode("utf-8", "replace"), sqlite3_extended_errcode(self.db))

    cdef sqlite3_stmt *_statement(self, str sql) except NULL:
        cdef size_t address = self.statements.get(sql, 0)
        cdef sqlite3_stmt *stmt = NULL
        cdef bytes text
        if address:
            return <sqlite3_stmt *>address
        if self.db == NULL:
            raise Error("the connection is closed", 21)
        text = sql.encode()
        if sqlite3_prepare_v2(self.db, text, len(text), &stmt, NULL) != SQLITE_OK or stmt == NULL:
            self._fail()
        self.statements[sql] = <size_t>stmt
        return stmt

    cdef int _bind(self, sqlite3_stmt *stmt, int i, object value, bint copy=False) except -1:
        """Bind one value; a text or BLOB in place (``SQLITE_STATIC``: the caller's row holds it through the step,
        and the statement's bindings are cleared after its rows), or copied by SQLite when ``copy`` (a value made
        here, which the caller does not hold)."""
        cdef const char *data
        cdef Py_ssize_t size
        cdef int rc
        if value is None:
            rc = sqlite3_bind_null(stmt, i)
        elif isinstance(value, int):
            rc = sqlite3_bind_int64(stmt, i, <sqlite3_int64>value)  # OverflowError beyond 64 bits, as sqlite3
        elif isinstance(value, str):  # its UTF-8 lives with the str
            data = PyUnicode_AsUTF8AndSize(value, &size)
            rc = sqlite3_bind_text(stmt, i, data, <int>size, SQLITE_TRANSIENT if copy else SQLITE_STATIC)
        elif isinstance(value, float):
            rc = sqlite3_bind_double(stmt, i, <double>value)
        elif type(value) is bytes:
            PyBytes_AsStringAndSize(value, <char **>&data, &size)
            rc = sqlite3_bind_blob(stmt, i, data, <int>size, SQLITE_TRANSIENT if copy else SQLITE_STATIC)
        elif isinstance(value, (bytes, bytearray, memoryview)):  # a copy made here: SQLite keeps its own
            value = bytes(value)
            PyBytes_AsStringAndSize(value, <char **>&data, &size)
            rc = sqlite3_bind_blob(stmt, i, data, <int>size, SQLITE_TRANSIENT)
        else:  # what Python's sqlite3 would make of it (its registered adapters), else its error
            import sqlite3 as python_sqlite3

            adapted = python_sqlite3.adapt(value)
            if adapted is value:
                raise TypeError(f"cannot bind a {type(value).__name__}")
            return self._bind(stmt, i, adapted, True)  # the adapted value is this call's own
        if rc != SQLITE_OK:
            self._fail()
        return 0

    cdef _run(self, sqlite3_stmt *stmt):
        """Step a bound statement to its end (rows it gives are passed over); reset it."""
        cdef int rc
        while True:
            rc = sqlite3_step(stmt)
            if rc != SQLITE_ROW:
                break
        sqlite3_reset(stmt)
        if rc != SQLITE_DONE:
            self._fail()

    def execute(self, str sql, params=()):
        """Run a statement; returns its first row's first column (None when no row)."""
        cdef sqlite3_stmt *stmt = self._statement(sql)
        cdef int i, rc, kind
        cdef object found = None
        sqlite3_clear_bindings(stmt)
        try:
            for i in range(len(params)):
                self._bind(stmt, i + 1, params[i])
            rc = sqlite3_step(stmt)
            if rc == SQLITE_ROW and sqlite3_column_count(stmt) > 0:
                kind = sqlite3_column_type(stmt, 0)
                if kind == SQLITE_INTEGER:
                    found = sqlite3_column_int64(stmt, 0)
                elif kind == SQLITE_FLOAT:
                    found = sqlite3_column_double(stmt, 0)
                elif kind != SQLITE_NULL:
                    found = (<const char *>sqlite3_column_text(stmt, 0))[: sqlite3_column_bytes(stmt, 0)].decode()
            if rc == SQLITE_ROW:
                self._run(stmt)
            else:
                sqlite3_reset(stmt)
                if rc != SQLITE_DONE:
                    self._fail()
        finally:
            sqlite3_clear_bindings(stmt)  # texts and BLOBs are bound in place (SQLITE_STATIC): none outlives the call
        return found

    def executemany(self, str sql, rows):
        """Run a statement once per row (a sequence of values)."""
        cdef sqlite3_stmt *stmt = self._statement(sql)
        cdef int width = sqlite3_bind_parameter_count(stmt)
        cdef int i
        try:
            for row in rows:
                if len(row) != width:
                    raise ValueError(f"{len(row)} values for {width} parameters")
                for i in range(width):
                    self._bind(stmt, i + 1, row[i])
                self._run(stmt)
        finally:
            sqlite3_clear_bindings(stmt)  # the last row's texts were bound in place (SQLITE_STATIC)

    def executemany_columns(self, str sql, list columns, list texts):
        """Run a statement once per row of columns, all of one length (central/storage/import_writer.py): column
        ``i`` is an int64 array (C-contiguous), bound as integers, or, when ``texts[i]`` is not None, as the texts
        it indexes (a negative index: NULL); a list of values (bound one by one as :meth:`executemany` binds
        them); or a tuple ``(data, starts, stops)``, BLOBs as slices ``data[starts[r]:stops[r]]`` of one bytes
        object (int64 bounds; an empty slice: NULL)."""
        cdef sqlite3_stmt *stmt = self._statement(sql)
        cdef int width = len(columns)
        cdef Py_ssize_t n = -1, row, size, length, low, high
        cdef int i, rc
        cdef int64_t value
        cdef const int64_t[::1] view
        cdef list views = []
        cdef list encoded = [None if t is None else [x.encode() for x in t] for t in texts]
        cdef list names
        cdef list values
        cdef const char *data
        cdef const char *blob
        if sqlite3_bind_parameter_count(stmt) != width or width == 0 or len(texts) != width:
            raise ValueError(f"{width} columns for {sqlite3_bind_parameter_count(stmt)} parameters")
        # per column: its kind (0 integers or texts by index, 1 values, 2 BLOB slices) and what it reads
        cdef int *kinds = <int *>malloc(width * sizeof(int))
        cdef const int64_t **pointers = <const int64_t **>malloc(width * sizeof(int64_t *))
        cdef const int64_t **stops = <const int64_t **>malloc(width * sizeof(int64_t *))
        cdef const char **buffers = <const char **>malloc(width * sizeof(char *))
        if kinds == NULL or pointers == NULL or stops == NULL or buffers == NULL:
            free(kinds)
            free(pointers)
            free(stops)
            free(buffers)
            raise MemoryError()
        try:
            for i in range(width):
                column = columns[i]
                if isinstance(column, list):
                    kinds[i] = 1
                    length = len(<list>column)
                    views.append(column)
                elif isinstance(column, tuple):
                    kinds[i] = 2
                    if len(column) != 3 or not isinstance(column[0], bytes):
                        raise TypeError("a BLOB column is (bytes, starts, stops)")
                    if encoded[i] is not None:
                        raise ValueError("a BLOB column has no texts")
                    views.append(column[0])
                    buffers[i] = <const char *>(<bytes>column[0])
                    view = column[1]
                    views.append(view)
                    pointers[i] = &view[0] if len(view) else NULL
                    length = len(view)
                    view = column[2]
                    views.append(view)
                    stops[i] = &view[0] if len(view) else NULL
                    if len(view) != length:
                        raise ValueError("columns of different lengths")
                    for row in range(length):
                        if pointers[i][row] < 0 or stops[i][row] > len(<bytes>column[0]) or stops[i][row] < pointers[i][row]:
                            raise IndexError(f"BLOB slice {pointers[i][row]}:{stops[i][row]} of {len(<bytes>column[0])} bytes")
                else:
                    kinds[i] = 0
                    view = column
                    views.append(view)
                    pointers[i] = &view[0] if len(view) else NULL
                    length = len(view)
                if n == -1:
                    n = length
                elif length != n:
                    raise ValueError("columns of different lengths")
            for row in range(n):
                for i in range(width):
                    if kinds[i] == 1:
                        values = <list>columns[i]
                        self._bind(stmt, i + 1, values[row])
                        continue
                    if kinds[i] == 2:
                        low, high = pointers[i][row], stops[i][row]
                        if high > low:
                            blob = buffers[i] + low
                            rc = sqlite3_bind_blob(stmt, i + 1, blob, <int>(high - low), SQLITE_STATIC)
                        else:
                            rc = sqlite3_bind_null(stmt, i + 1)
                    else:
                        value = pointers[i][row]
                        if encoded[i] is not None:
                            names = encoded[i]
                            if value < 0:
                                rc = sqlite3_bind_null(stmt, i + 1)
                            elif value >= len(names):
                                raise IndexError(f"text {value} of {len(names)}")
                            else:
                                PyBytes_AsStringAndSize(names[value], <char **>&data, &size)
                                rc = sqlite3_bind_text(stmt, i + 1, data, <int>size, SQLITE_STATIC)
                        else:
                            rc = sqlite3_bind_int64(stmt, i + 1, value)
                    if rc != SQLITE_OK:
                        self._fail()
                rc = sqlite3_step(stmt)
                sqlite3_reset(stmt)
                if rc != SQLITE_DONE and rc != SQLITE_ROW:
                    self._fail()
        finally:
            sqlite3_clear_bindings(stmt)  # texts and BLOBs were bound in place (SQLITE_STATIC): the frame's own memory
            free(kinds)
            free(pointers)
            free(stops)
            free(buffers)
