"""A call's row, on disk when ``append`` returns, committed to SQLite by a thread.

Committing a row in the call that made it cost ~50-100 us a call, and up to the busy
timeout when another kernel held the file's write lock. :class:`Journal` writes the row
instead, already redacted, as one record (see :data:`MAGIC`) of a file of its own in the
folder ``<log file>.pending/``: one ``write(2)`` to a file opened ``O_APPEND``, whole or not
at all. Once it returns, the record is in the operating system's page cache, so it survives
the kernel being killed (``kill -9`` too), as a commit in the WAL does. A writer thread then
moves the rows into SQLite in batches and, in the same transaction, records how many of the
file's rows are in (the ``journal:<file name>`` key of the ``log_meta`` table): a row is
inserted once, whatever the moment a process dies.

A journal file is locked (``flock``) while its log is open. Opening a log, and reading one
(``frame``, ``count``, ``summary``), replays the journals nobody holds, left by a process
that died: their rows past the recorded count are inserted, then the file is removed.
Reading the log in the process that wrote a row waits for the row to be committed first;
other processes see it once the thread has committed it (within :data:`GATHER_S` or so).

Durability is that of the SQLite file (WAL, ``synchronous = NORMAL``): a crashed process
loses nothing, a power cut may lose the last writes. Without ``fcntl.flock`` (Windows),
``CallLog`` commits each row in the call as before.
"""

from __future__ import annotations

import atexit
import functools
import logging
import marshal
import os
import sqlite3
import struct
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from llmdeck_nb.calllog import schema
from llmdeck_nb.calllog.checkpoint import INLINE_PAGES

logger = logging.getLogger(__name__)

#: Whether rows can go through a journal here (file locks are needed to tell a live log's
#: journal from a dead one's).
AVAILABLE = fcntl is not None
SUFFIX = ".journal"
#: Seconds the writer thread waits after a first row for more before committing them: a
#: loop of calls (cache hits, a batch) then shares one commit, and one wake-up of the thread,
#: between dozens of rows (a wake-up a row took the GIL from the calls often enough to make a
#: cache hit 1.5x slower).
GATHER_S = 0.05
#: Seconds the writer thread waits for more rows before it ends (started again by the next).
IDLE_S = 5.0
#: Seconds between the writer thread's tries while the file cannot be written.
RETRY_S = 1.0

#: What SQLite raises for a row it will never take (not for a file that is busy or full).
_REFUSED = (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError,
            sqlite3.DataError, OverflowError)

#: A journal file: these bytes, then records of a 4-byte length (little-endian) and that many
#: bytes of marshal (format 4, read by every Python 3): its columns, then one row each.
MAGIC = b"llmdeck_nb call log journal 1\n"
_LENGTH = struct.Struct("<I")


def _record_bytes(value: Any) -> bytes:
    """``value`` as a journal record (marshal: 7 us for a row of ~40 values where JSON
    took 23, measured; the difference was 7% of a cache hit)."""
    data = marshal.dumps(value, 4)
    return _LENGTH.pack(len(data)) + data


def _records(data: bytes) -> list[Any]:
    """The whole records of a journal file's bytes (a torn last one, from a power cut, is
    left out). Raises ValueError if they are not a journal's."""
    if not data.startswith(MAGIC):
        raise ValueError("it does not start as a journal does")
    records, at, end = [], len(MAGIC), len(data)
    while at + _LENGTH.size <= end:
        (size,) = _LENGTH.unpack_from(data, at)
        at += _LENGTH.size
        if at + size > end:
            break
        records.append(marshal.loads(data[at:at + size]))
        at += size
    return records


def folder(log_path: Path) -> Path:
    """Where the journals of the log file ``log_path`` are kept."""
    return log_path.with_name(log_path.name + ".pending")


def _key(file: Path) -> str:
    return f"journal:{file.name}"


def _recorded(conn: sqlite3.Connection, file: Path) -> int:
    row = conn.execute(f"SELECT value FROM {schema.META_TABLE} WHERE key = ?",
                       (_key(file),)).fetchone()
    return 0 if row is None else int(row[0])


def _record(conn: sqlite3.Connection, file: Path, rows: int) -> None:
    conn.execute(f"INSERT INTO {schema.META_TABLE} (key, value) VALUES (?, ?) "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (_key(file), rows))


def _forget(conn: sqlite3.Connection, file: Path) -> None:
    conn.execute(f"DELETE FROM {schema.META_TABLE} WHERE key = ?", (_key(file),))


def _variables(conn: sqlite3.Connection) -> int:
    """How many values one statement may bind on ``conn`` (999 where Python cannot ask)."""
    if sys.version_info >= (3, 11):
        return conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return 999


@functools.lru_cache(maxsize=64)
def _values(insert: str, rows: int) -> str:
    """``insert`` (one row's INSERT ... VALUES (?, ...)) for ``rows`` rows in one statement:
    SQLite then inserts them in one step, during which the thread does not hold the GIL
    (executemany takes the GIL back row after row, from the calls running meanwhile)."""
    head, marks = insert.rsplit(" VALUES ", 1)
    return f"{head} VALUES {', '.join([marks] * rows)}"


def _store(conn: sqlite3.Connection, insert: str, rows: Sequence[Sequence[Any]]) -> list[str]:
    """``rows`` inserted, in the transaction under way. A row SQLite refuses (a NULL where
    the table wants a value, an integer past 64 bits: rows the engine does not make) is
    left out rather than holding back the others forever; what was refused is returned."""
    conn.execute("SAVEPOINT rows")
    try:
        if rows:
            per = max(1, _variables(conn) // len(rows[0]))
            for start in range(0, len(rows), per):
                chunk = rows[start:start + per]
                conn.execute(_values(insert, len(chunk)), list(chain.from_iterable(chunk)))
        conn.execute("RELEASE rows")
        return []
    except _REFUSED:
        conn.execute("ROLLBACK TO rows")
        conn.execute("RELEASE rows")
    refused = []
    for row in rows:
        try:
            conn.execute(insert, row)
        except _REFUSED as exc:
            refused.append(f"call_id {row[0]!r}: {exc}")
    return refused


def _tell_refused(log_path: Path, refused: list[str]) -> None:
    if refused:
        logger.warning("call log %s: %d rows could not be stored: %s", log_path, len(refused),
                       "; ".join(refused))


def connect(log_path: Path, timeout: float) -> sqlite3.Connection:
    """A connection of the writer's own to a log file that is already set up."""
    conn = sqlite3.connect(log_path, timeout=timeout, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA wal_autocheckpoint = {INLINE_PAGES}")
    return conn


class Journal:
    """The rows of one open log on their way into its file (see the module's docstring).

    ``insert`` is the INSERT statement of a row of ``columns``; ``committed(n)`` is told of
    every ``n`` rows the thread committed. The journal file is made at the first row.
    """

    def __init__(self, log_path: Path, timeout: float, columns: Sequence[str],
                 insert: Callable[[tuple[str, ...]], str],
                 committed: Callable[[int], None]) -> None:
        self._log_path = log_path
        self._timeout = timeout
        self._columns = tuple(columns)
        self._insert = insert
        self._committed = committed
        self._start()
        _OPEN.add(self)

    def _start(self) -> None:
        """A fresh journal (also in a forked child: the parent's rows stay the parent's)."""
        self.file = folder(self._log_path) / f"{os.getpid()}-{os.urandom(6).hex()}{SUFFIX}"
        self._fd: int | None = None
        self._size = 0
        self._written = 0  # rows written to the file
        self._pending: list[tuple[Any, ...]] = []  # written, not yet committed
        self._mutex = threading.Lock()  # the file, _written, _pending, _thread
        self._flushing = threading.Lock()  # one flush at a time; the connection
        self._wake = threading.Event()  # set by the first row written after a commit
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._failure: str | None = None  # the thread's last error, told once

    # -- the call's side ----------------------------------------------------------------

    def write(self, row: tuple[Any, ...]) -> None:
        """Write ``row`` to the journal file (on disk when this returns) for the thread to
        commit. Raises OSError if the file cannot be written (the row is then not stored)."""
        record = _record_bytes(row)
        with self._mutex:
            if self._closed:
                raise OSError("the call log is closed")
            if self._fd is None:
                self._open()
            fd = self._fd
            assert fd is not None
            written = os.write(fd, record)
            if written != len(record):  # a full disk: take back the part written
                os.ftruncate(fd, self._size)
                raise OSError(f"wrote {written} of {len(record)} bytes (is the disk full?)")
            self._size += written
            self._written += 1
            first = not self._pending
            self._pending.append(row)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="llmdeck-calllog-writer")
                self._thread.start()
        if first:
            self._wake.set()

    def _open(self) -> None:
        """Make the file, locked and with its header, under a name that replay skips,
        then give it its name: a replay never sees a journal without its columns."""
        self.file.parent.mkdir(parents=True, exist_ok=True)
        making = self.file.with_name(self.file.name + ".new")
        fd = os.open(making, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            header = MAGIC + _record_bytes({"columns": self._columns})
            if os.write(fd, header) != len(header):
                raise OSError("cannot write the journal's header (is the disk full?)")
            os.rename(making, self.file)
        except BaseException:
            os.close(fd)
            making.unlink(missing_ok=True)
            raise
        self._fd, self._size = fd, len(header)

    def _forked(self) -> None:
        """In a forked child: its own journal from the next row on. The parent's file is let
        go (its lock stays the parent's), so a killed parent's rows are not held back by a
        child that lives on."""
        if self._fd is not None:
            os.close(self._fd)
        self._start()

    # -- the thread's side --------------------------------------------------------------

    def _run(self) -> None:
        while True:
            woken = self._wake.wait(IDLE_S)
            self._wake.clear()
            with self._mutex:
                if self._closed or (not woken and not self._pending):
                    self._thread = None
                    return
            self._closing.wait(GATHER_S)
            try:
                self.flush()
            except Exception as exc:  # noqa: BLE001 - told, and tried again: rows stay
                if self._failure != str(exc):
                    self._failure = str(exc)
                    logger.warning("call log %s: rows wait in %s: %s", self._log_path,
                                   self.file, exc)
                self._closing.wait(RETRY_S)
                self._wake.set()
            else:
                self._failure = None

    def flush(self) -> None:
        """Commit the rows written so far (and wait for a commit under way). Raises
        sqlite3.Error if the file cannot be written; the rows then stay pending."""
        with self._flushing:
            with self._mutex:
                rows, self._pending = self._pending, []
                written = self._written
            if not rows:
                return
            try:
                if self._conn is None:
                    self._conn = connect(self._log_path, self._timeout)
                with schema.immediate(self._conn):
                    refused = _store(self._conn, self._insert(self._columns), rows)
                    _record(self._conn, self.file, written)
            except BaseException:
                with self._mutex:
                    self._pending[:0] = rows
                raise
        _tell_refused(self._log_path, refused)
        self._committed(len(rows) - len(refused))

    def pending(self) -> int:
        with self._mutex:
            return len(self._pending)

    def close(self) -> None:
        """Commit what is pending and remove the file; if the commit fails, the file is
        left for the next opening of the log to replay (nothing is lost)."""
        with self._mutex:
            self._closed = True
            thread = self._thread
        self._closing.set()
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(self._timeout)
        _OPEN.discard(self)
        try:
            self.flush()
        except (sqlite3.Error, OSError) as exc:
            logger.warning("call log %s: %d rows left in %s, stored when the log is next "
                           "opened: %s", self._log_path, self.pending(), self.file, exc)
            self._release(remove=False)
            return
        self._release(remove=True)

    def _release(self, *, remove: bool) -> None:
        with self._flushing:
            if self._fd is not None:
                if remove:  # all committed: the file first, then its count (see replay)
                    self.file.unlink(missing_ok=True)
                os.close(self._fd)
                self._fd = None
                if remove and self._conn is not None:
                    try:
                        _forget(self._conn, self.file)
                    except sqlite3.Error:
                        pass  # a count without its file is dropped by the next replay
            if self._conn is not None:
                self._conn.close()
                self._conn = None


#: The journals of the logs open in this process (closed at exit if their close() was not
#: called). Weak: a strong set here made the keyboard-interrupt tests of test_batch.py fail in
#: a fresh clone's full run (a SIGINT did not stop the batch), for a reason not found yet.
_OPEN: weakref.WeakSet[Journal] = weakref.WeakSet()


def flush_all(log_path: Path) -> None:
    """Commit the pending rows of every log of this process open on ``log_path`` (a
    reader in this process sees them all, whichever ``CallLog`` wrote them)."""
    for journal in list(_OPEN):
        if journal._log_path == log_path:
            journal.flush()


@atexit.register
def _close_all() -> None:
    """At exit, commit every open log's pending rows (a log left open is closed here)."""
    for journal in list(_OPEN):
        journal.close()


def _after_fork() -> None:
    for journal in list(_OPEN):
        journal._forked()


if hasattr(os, "register_at_fork"):  # pragma: no branch - not on Windows
    os.register_at_fork(after_in_child=_after_fork)


# --- replaying the journals of processes that died ---------------------------------------


def replay(conn: sqlite3.Connection, log_path: Path, insert: Callable[[tuple[str, ...]], str],
           known: frozenset[str]) -> int:
    """Insert the rows left in journals of ``log_path`` that no open log holds; return how
    many. ``known``: the columns of the calls table (a column no longer there is left out).
    A journal whose log is open (locked) is left alone, whoever holds it."""
    where = folder(log_path)
    if not AVAILABLE or not where.is_dir():
        return 0
    stored = 0
    for name in sorted(os.listdir(where)):
        if name.endswith(SUFFIX):
            try:
                stored += _replay_one(conn, where / name, insert, known)
            except OSError as exc:  # left where it is: tried again at the next read
                logger.warning("call log %s: cannot read %s yet: %s", log_path, name, exc)
    # Counts whose file is gone (its process died before dropping the count). A file is
    # made before its count, so one looked for after reading the count is gone for good.
    counted = conn.execute(f"SELECT key FROM {schema.META_TABLE} WHERE key LIKE 'journal:%'")
    for (key,) in counted.fetchall():
        if not (where / key.removeprefix("journal:")).exists():
            conn.execute(f"DELETE FROM {schema.META_TABLE} WHERE key = ?", (key,))
    return stored


def _replay_one(conn: sqlite3.Connection, file: Path, insert: Callable[[tuple[str, ...]], str],
                known: frozenset[str]) -> int:
    try:
        fd = os.open(file, os.O_RDONLY)
    except FileNotFoundError:
        return 0  # replayed and removed by another process meanwhile
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # its log is open
        with open(fd, "rb", closefd=False) as stream:
            data = stream.read()
        try:
            header, *rows = _records(data)
            columns = tuple(header["columns"])
            if not all(isinstance(r, tuple) and len(r) == len(columns) for r in rows):
                raise ValueError("a record is not a row of its columns")
        except (ValueError, EOFError, KeyError, TypeError) as exc:  # not ours: kept aside
            kept = file.with_name(file.name + ".unreadable")
            file.rename(kept)
            logger.warning("call log: %s is not a journal that can be read (%s); moved to %s",
                           file, exc, kept.name)
            return 0
        keep = [i for i, c in enumerate(columns) if c in known]
        with schema.immediate(conn):
            new = [[r[i] for i in keep] for r in rows[_recorded(conn, file):]]
            refused = _store(conn, insert(tuple(columns[i] for i in keep)), new)
            _record(conn, file, len(rows))
        _tell_refused(file, refused)
        file.unlink(missing_ok=True)  # the file first, then its count (a count alone is dropped)
        _forget(conn, file)
        if new:
            logger.info("call log %s: stored %d rows a closed kernel left in %s",
                        file.parent, len(new) - len(refused), file.name)
        return len(new) - len(refused)
    finally:
        os.close(fd)
