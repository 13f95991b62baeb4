"""The persistent call log: :class:`CallLog`, an SQLite file that several kernels append to.

* A path -> an SQLite file (parent folders created) in WAL mode with a busy timeout,
  so two kernels (processes) can append at the same time; ``None`` -> in memory. A call's
  row goes to a journal first and a thread commits it (:mod:`llmdeck_nb.calllog.journal`).
* Every string of a call row passes through :func:`llmdeck_nb.redaction.redact` in
  :func:`llmdeck_nb.calllog.rows.rows`, where records become rows (the conversation turns
  kept in the same file, in :mod:`llmdeck_nb.calllog.conversations`).
* :meth:`CallLog.frame` reads rows into a pandas DataFrame (see
  :mod:`llmdeck_nb.calllog.frame` for the dtypes). The unfiltered frame is kept in memory
  and later calls read only the rows appended since (by this or any other process), so
  refreshing the log view in a notebook stays fast however long the log grows. Reading a
  whole large file cold costs one pass over it (see benchmarks/bench_calllog.py).
"""

from __future__ import annotations

import functools
import gc
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from llmdeck_nb.calllog import frame as _frame
from llmdeck_nb.calllog import journal as _journal
from llmdeck_nb.calllog import schema
from llmdeck_nb.calllog import snapshot as _snapshot
from llmdeck_nb.calllog.checkpoint import EVERY_ROWS, INLINE_PAGES, Checkpointer
from llmdeck_nb.calllog.records import COLUMNS, CallRecord
from llmdeck_nb.calllog.rows import micros as _micros
from llmdeck_nb.calllog.rows import batch as _batch
from llmdeck_nb.calllog.rows import row as _row
from llmdeck_nb.errors import CallLogError, CallLogFilterError, LLMDeckError
from llmdeck_nb.redaction import redact

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

DEFAULT_TIMEOUT_S = 10.0


@functools.cache
def _insert(columns: tuple[str, ...] = COLUMNS) -> str:
    """The INSERT of a row holding ``columns`` (the others take their default)."""
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {schema.TABLE} ({', '.join(columns)}) VALUES ({marks})"


_INSERT = _insert()
_SELECT_COLUMNS = ", ".join(COLUMNS)

_RELATIVE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*"
    r"(s|secs?|seconds?|m|mins?|minutes?|h|hours?|d|days?|w|weeks?)\s*$",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


T = TypeVar("T")


# --- filters ---------------------------------------------------------------------------


# What ``since=`` takes (see :meth:`CallLog.frame`) and what a name filter takes.
Since = datetime | date | timedelta | str
Names = str | Iterable[str]


def _since_micros(since: object) -> int:
    if isinstance(since, timedelta):
        if since < timedelta(0):
            raise CallLogFilterError(f"since={since!r} is negative",
                                     hint="use e.g. timedelta(hours=1)")
        return _micros(datetime.now(timezone.utc) - since)
    if isinstance(since, datetime):
        return _micros(since)
    if isinstance(since, date):
        return _micros(datetime(since.year, since.month, since.day, tzinfo=timezone.utc))
    if isinstance(since, str):
        match = _RELATIVE.match(since)
        if match:
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0].lower()]
            return _since_micros(timedelta(seconds=seconds))
        text = since.strip()
        if text[-1:] in ("Z", "z"):  # Python 3.10's fromisoformat does not read "Z"
            text = text[:-1] + "+00:00"
        try:
            return _micros(datetime.fromisoformat(text))
        except ValueError:
            pass
    raise CallLogFilterError(
        f"since={since!r} is not a datetime, a timedelta or a date/time string",
        hint="use e.g. '2025-06-01', '2025-06-01T14:30:00Z', '30m', '2h', '1d' or "
        "timedelta(hours=1); naive times are taken as UTC",
    )


def _choices(value: Names | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


@dataclass(frozen=True, slots=True)
class _Filters:
    since_us: int | None = None
    model: tuple[str, ...] | None = None
    backend: tuple[str, ...] | None = None
    status: tuple[str, ...] | None = None
    call_id: tuple[str, ...] | None = None
    last: int | None = None

    @classmethod
    def of(
        cls,
        since: Since | None = None,
        model: Names | None = None,
        backend: Names | None = None,
        status: Names | None = None,
        call_id: Names | None = None,
        last: int | None = None,
    ) -> _Filters:
        if last is not None:
            last = int(last)
            if last < 0:
                raise CallLogFilterError(f"last={last} is negative", hint="use last=N with N >= 0")
        return cls(
            None if since is None else _since_micros(since),
            _choices(model),
            _choices(backend),
            _choices(status),
            _choices(call_id),
            last,
        )

    @property
    def empty(self) -> bool:
        return self == _NO_FILTERS

    def sql(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []
        if self.since_us is not None:
            clauses.append("started_at >= ?")
            args.append(self.since_us)
        for column in ("model", "backend", "status", "call_id"):
            values = getattr(self, column)
            if values is not None:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})" if values else "0")
                args.extend(values)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


_NO_FILTERS = _Filters()


# --- the store -------------------------------------------------------------------------


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Building 100k-row frames creates millions of objects: skip the GC passes meanwhile."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(slots=True)
class _Cache:
    """The unfiltered frame, in (started_at, id) order, with what is needed to extend it."""

    frame: Any  # pandas.DataFrame
    micros: Any  # numpy int64 array: started_at as microseconds, aligned with frame
    max_id: int
    count: int
    generation: int  # the log's generation (schema.m008) when the rows were read
    saved: int = 0  # rows of it the snapshot next to the file holds
    unchecked: str | None = None  # loaded from a snapshot: its fingerprint, checked once


#: Rows read from SQLite (not in the snapshot) past which a frame() saves a new snapshot:
#: a later kernel then converts at most about this many (~0.15 s) on top of loading it.
SNAPSHOT_MIN_ROWS = 10_000

_STATE = (f"SELECT count(*), ifnull(max(id), 0), (SELECT value FROM {schema.META_TABLE} "
          "WHERE key = 'generation') FROM " + schema.TABLE)
# The rows after a snapshot's max id (counting those up to it would read the whole table),
# and its fingerprint: call_id and started_at of the row max id.
_AFTER = f"SELECT count(*) FROM {schema.TABLE} WHERE id > ?"
_FINGERPRINT = f"SELECT call_id || ' ' || started_at FROM {schema.TABLE} WHERE id = ?"


class CallLog:
    """Every call attempt, appended by any number of kernels, read back as a DataFrame.

    ``CallLog(path)`` opens (or creates) an SQLite file; ``CallLog(None)`` keeps the log
    in memory. ``timeout`` is how long a write waits for another process's write to
    finish. ``cache=False`` makes every :meth:`frame` read the file again (and leaves
    the snapshot next to it, :mod:`llmdeck_nb.calllog.snapshot`, alone).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        cache: bool = True,
    ) -> None:
        self._path = None if path is None else Path(path).expanduser().resolve()
        self._timeout = float(timeout)
        self._use_cache = cache
        self._cache: _Cache | None = None
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._closed = False
        self._nullable: frozenset[str] = frozenset()  # columns a batch may leave out
        self._known: frozenset[str] = frozenset()  # the columns of the calls table
        self._checkpointer = self._new_checkpointer()
        self._conn = self._connect()
        self._journal = self._new_journal()

    # -- connection ---------------------------------------------------------------------

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None for an in-memory log."""
        return self._path

    @property
    def _where(self) -> str:
        return str(self._path) if self._path is not None else "(in memory)"

    def _connect(self) -> sqlite3.Connection:
        if self._path is None:
            target: str | Path = ":memory:"
        else:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            target = self._path
        conn = sqlite3.connect(
            target, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        try:
            if self._path is not None:
                conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
                self._retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
                # WAL + NORMAL: a commit is durable against a crashed kernel; only a power
                # cut can lose the last commits, which is fine for a log.
                conn.execute("PRAGMA synchronous = NORMAL")
                # self._checkpointer copies the WAL back, off the call path (see checkpoint.py)
                conn.execute(f"PRAGMA wal_autocheckpoint = {INLINE_PAGES}")
            conn.execute("PRAGMA cache_size = -32000")
            self._retry_locked(lambda: schema.migrate(conn, self._where))
            columns = conn.execute(f"PRAGMA table_info({schema.TABLE})").fetchall()
            self._nullable = frozenset(
                name for _, name, _, not_null, default, _ in columns
                if not not_null and default is None
            )
            self._known = frozenset(name for _, name, *_ in columns)
            if self._path is not None:  # rows a killed kernel left on their way in
                _journal.replay(conn, self._path, _insert, self._known)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise CallLogError(
                    f"cannot open the call log {self._where}: {exc}",
                    hint="is it an llmdeck_nb call log (SQLite)? point the log at another file",
                ) from exc
            raise
        return conn

    def _retry_locked(self, action: Callable[[], T]) -> T:
        """Run ``action``, retrying "database is locked" (first open of a file by two kernels)."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _connection(self) -> sqlite3.Connection:
        if self._closed or self._conn is None:
            raise CallLogError(
                f"the call log {self._where} is closed", hint="open a new CallLog(path)"
            )
        if os.getpid() != self._pid:  # forked: an SQLite connection must not cross a fork
            self._pid = os.getpid()
            self._checkpointer = self._new_checkpointer()
            self._conn = self._connect()
        return self._conn

    def _new_checkpointer(self) -> Checkpointer | None:
        return None if self._path is None else Checkpointer(self._path, self._timeout)

    def _new_journal(self) -> _journal.Journal | None:
        """Rows go through a journal (committed off the call: journal.py) for a file."""
        if self._path is None or not _journal.AVAILABLE:
            return None
        # the checkpointer's method, not one of self: an unclosed log can still be collected
        committed = self._checkpointer.appended if self._checkpointer else lambda rows: None
        return _journal.Journal(self._path, self._timeout, COLUMNS, _insert, committed)

    def _settled(self, *, replay: bool = False) -> sqlite3.Connection:
        """The connection, once the rows this process wrote to the file are committed;
        ``replay``: and those journals of killed kernels hold (:mod:`.journal`)."""
        conn = self._connection()
        if self._journal is not None and self._path is not None:
            with self._sqlite_errors("store the rows waiting for"):
                _journal.flush_all(self._path)
                if replay:
                    _journal.replay(conn, self._path, _insert, self._known)
        return conn

    @contextmanager
    def _sqlite_errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            hint = None
            if "locked" in str(exc) or "busy" in str(exc):
                hint = (
                    f"another process kept the file locked for more than {self._timeout:g} s; "
                    "retry, or open the log with a larger timeout"
                )
            message = f"cannot {doing} the call log {self._where}: {exc}"
            raise CallLogError(message, hint=hint) from exc

    def close(self) -> None:
        """Commit the rows still on their way, close the file. Further use raises an error;
        closing twice is fine."""
        with self._lock:
            if self._journal is not None:
                self._journal.close()
            if self._conn is not None and os.getpid() == self._pid:
                if self._checkpointer is not None:
                    self._checkpointer.close()
                self._conn.close()
            self._conn = None
            self._closed = True
            self._cache = None

    def __enter__(self) -> CallLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._closed:
            return redact(f"CallLog(path={self._where!r}, closed)")
        try:
            rows: object = self.count()
        except LLMDeckError:
            rows = "?"
        return redact(f"CallLog(path={self._where!r}, rows={rows})")

    # -- writing ------------------------------------------------------------------------

    def append(self, record: CallRecord) -> None:
        """Store one attempt: on disk when this returns (in the journal, committed to the
        file by a thread, see journal.py; in memory: committed at once)."""
        row = _row(record)
        if self._journal is not None:
            if self._closed:
                self._connection()  # the error a closed log gives
            try:
                self._journal.write(row)
            except OSError as exc:
                raise CallLogError(f"cannot append to the call log {self._where}: {exc}",
                                   hint="free some disk space, or log to another file") from exc
            except ValueError as exc:  # marshal: a value no row holds (a bug, reported)
                raise CallLogError(f"cannot append to the call log {self._where}: {exc}") from exc
            return
        with self._lock:
            try:  # not self._sqlite_errors: a context manager costs a tenth of an append
                self._connection().execute(_INSERT, row)
            except sqlite3.Error:
                with self._sqlite_errors("append to"):
                    raise
            if self._checkpointer is not None:
                self._checkpointer.appended(1)

    def append_many(self, records: Iterable[CallRecord]) -> int:
        """Store several attempts in one transaction; return how many."""
        with _gc_paused():
            columns, rows = _batch(list(records), self._nullable)
        if not rows:
            return 0
        with self._lock, self._sqlite_errors("append to"), _gc_paused():
            conn = self._settled()  # the rows appended one by one before these come first
            deferred = self._checkpointer is not None and len(rows) >= EVERY_ROWS
            if deferred:  # a large batch: its commit leaves the checkpoint to the thread
                conn.execute("PRAGMA wal_autocheckpoint = 0")
            try:
                with schema.immediate(conn):
                    conn.executemany(_insert(columns), rows)
            finally:
                if deferred:
                    conn.execute(f"PRAGMA wal_autocheckpoint = {INLINE_PAGES}")
            if self._checkpointer is not None:
                self._checkpointer.appended(len(rows))
        return len(rows)

    def query(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """One SQL statement on the log file (for the other tables it holds, e.g.
        :mod:`llmdeck_nb.calllog.conversations`); the rows it returns."""
        with self._lock:
            conn = self._settled()
            with self._sqlite_errors("use"):
                return conn.execute(sql, tuple(args)).fetchall()

    def clear(self) -> int:
        """Delete every row (of every process's kernels: the file is shared); return how many."""
        with self._lock:
            conn = self._settled(replay=True)
            with self._sqlite_errors("clear"):
                deleted = conn.execute(f"DELETE FROM {schema.TABLE}").rowcount
                self._cache = None
                if self._path is not None:
                    _snapshot.remove(self._path)
        return deleted

    # -- reading ------------------------------------------------------------------------

    def count(
        self,
        since: Since | None = None,
        model: Names | None = None,
        backend: Names | None = None,
        status: Names | None = None,
        call_id: Names | None = None,
        last: int | None = None,
    ) -> int:
        """Number of rows (attempts), optionally filtered like :meth:`frame`."""
        filters = _Filters.of(since, model, backend, status, call_id, last)
        where, args = filters.sql()
        with self._lock:
            conn = self._settled(replay=True)
            with self._sqlite_errors("read"):
                n: int = conn.execute(f"SELECT count(*) FROM {schema.TABLE}{where}",
                                      args).fetchone()[0]
        return n if filters.last is None else min(n, filters.last)

    def __len__(self) -> int:
        return self.count()

    def cost_since(self, since: Since, *, exclude_session: str | None = None) -> float:
        """USD spent by the calls started since ``since`` (see :meth:`frame`), all kernels
        together, optionally leaving out one session's rows (it counts its own in memory)."""
        sql = f"SELECT coalesce(sum(cost_usd), 0) FROM {schema.TABLE} WHERE started_at >= ?"
        args: list[Any] = [_since_micros(since)]
        if exclude_session is not None:
            sql += " AND (session_id IS NULL OR session_id != ?)"
            args.append(exclude_session)
        with self._lock:
            conn = self._settled()
            with self._sqlite_errors("read"):
                (total,) = conn.execute(sql, args).fetchone()
        return float(total)

    def frame(
        self,
        since: Since | None = None,
        model: Names | None = None,
        backend: Names | None = None,
        status: Names | None = None,
        call_id: Names | None = None,
        last: int | None = None,
        *,
        parse_params: bool = False,
    ) -> pd.DataFrame:
        """The attempts as a DataFrame, one row each, oldest first.

        ``since``: a datetime (naive = UTC), a date, an ISO string ("2025-06-01",
        "2025-06-01T14:30Z"), a timedelta or a relative string ("30m", "2h", "1d"),
        meaning "within the last ...". ``model``/``backend``/``status``/``call_id``: one
        value or several. ``last=N``: the N most recent matching rows, still oldest first.
        ``parse_params=True``: ``params`` as dicts instead of JSON text.
        """
        filters = _Filters.of(since, model, backend, status, call_id, last)
        result = self._select(filters, copy=True)
        if parse_params:
            _frame.parse_params_column(result)
        return result

    def summary(
        self,
        since: Since | None = None,
        model: Names | None = None,
        backend: Names | None = None,
        status: Names | None = None,
        call_id: Names | None = None,
        last: int | None = None,
    ) -> pd.DataFrame:
        """One row per (backend, model) over the matching attempts; see
        :func:`llmdeck_nb.calllog.frame.summarize` for the definitions."""
        filters = _Filters.of(since, model, backend, status, call_id, last)
        with self._lock:
            self._settled(replay=True)
            if self._use_cache and (self._cache is not None or self._has_snapshot()):
                return _frame.summarize(_apply(self._refresh_cache(), filters, copy=False))
            # Cold: read only the columns the summary needs (a fraction of the frame's cost).
            return _frame.summarize(self._read(filters, _frame.SUMMARY_INPUTS))

    def _select(self, filters: _Filters, *, copy: bool) -> pd.DataFrame:
        with self._lock:
            self._settled(replay=True)
            if self._use_cache and (self._cache is not None or filters.empty):
                return _apply(self._refresh_cache(), filters, copy=copy)
            return self._read(filters)

    def _read(self, filters: _Filters, columns: tuple[str, ...] = COLUMNS) -> pd.DataFrame:
        """Filtered rows straight from SQLite (no cache), oldest first."""
        where, args = filters.sql()
        selected = ", ".join(columns)
        if filters.last is not None:
            sql = (
                f"SELECT {selected} FROM (SELECT id AS _id, started_at AS _t, {selected} "
                f"FROM {schema.TABLE}{where} ORDER BY _t DESC, _id DESC LIMIT ?) ORDER BY _t, _id"
            )
            args = [*args, filters.last]
        else:
            sql = f"SELECT {selected} FROM {schema.TABLE}{where} ORDER BY started_at, id"
        with self._sqlite_errors("read"), _gc_paused():
            rows = self._connection().execute(sql, args).fetchall()
            return _frame.build_frame(rows, columns)

    def _refresh_cache(self) -> _Cache:
        """Bring the cached unfiltered frame up to date: read only the rows appended since
        (ids only grow: AUTOINCREMENT); read everything again if rows were updated or
        deleted (the generation moved). A kernel's first read starts from the snapshot next
        to the file, if it is this log's and still true (:meth:`_covers`)."""
        conn = self._connection()
        cache = self._cache if self._cache is not None else self._load_snapshot()
        with self._sqlite_errors("read"), _gc_paused():
            conn.execute("BEGIN")  # one snapshot for the count and the rows
            try:
                count, max_id, generation = conn.execute(_STATE).fetchone()
                if cache is not None and not self._covers(conn, cache, count, generation):
                    cache = None
                if cache is not None and (cache.max_id, cache.count) == (max_id, count):
                    self._cache = cache
                    return cache
                tail_from = cache.max_id if cache is not None and count > cache.count else 0
                rows = conn.execute(
                    f"SELECT {_SELECT_COLUMNS} FROM {schema.TABLE} "
                    "WHERE id > ? AND id <= ? ORDER BY id",
                    (tail_from, max_id),
                ).fetchall()
                if tail_from and cache is not None and cache.count + len(rows) != count:
                    tail_from = 0  # rows were deleted meanwhile: read everything again
                    rows = conn.execute(
                        f"SELECT {_SELECT_COLUMNS} FROM {schema.TABLE} "
                        "WHERE id <= ? ORDER BY id",
                        (max_id,),
                    ).fetchall()
                saved = cache.saved if tail_from and cache is not None else 0
                fingerprint = None
                if self._path is not None and count - saved >= SNAPSHOT_MIN_ROWS:
                    fingerprint = conn.execute(_FINGERPRINT, (max_id,)).fetchone()[0]
            finally:
                conn.execute("COMMIT")
            new = _frame.build_frame(rows, COLUMNS)
            micros = _started_micros(new)
            if tail_from and cache is not None:
                import numpy as np

                new = _frame.concat_frames(cache.frame, new)
                micros = np.concatenate([cache.micros, micros])
            new, micros = _chronological(new, micros)
            self._cache = _Cache(new, micros, int(max_id), int(count), int(generation), saved)
            if fingerprint is not None:
                self._save_snapshot(fingerprint)
            return self._cache

    # -- the snapshot next to the file (snapshot.py) ------------------------------------

    def _has_snapshot(self) -> bool:
        return self._path is not None and _snapshot.sidecar(self._path).exists()

    def _log_id(self) -> str:
        (log_id,) = self._connection().execute(
            f"SELECT value FROM {schema.META_TABLE} WHERE key = 'log_id'"
        ).fetchone()
        return str(log_id)

    def _load_snapshot(self) -> _Cache | None:
        """The snapshot next to the file as a cache, if it is this log's (checked against
        the rows in :meth:`_covers`)."""
        if self._path is None:
            return None
        loaded = _snapshot.read(self._path)
        if loaded is None:
            return None
        coverage, frame = loaded
        with self._sqlite_errors("read"):
            if coverage.log_id != self._log_id():
                return None  # another log's (a file copied or replaced)
        return _Cache(frame, _started_micros(frame), coverage.max_id, coverage.count,
                      coverage.generation, saved=coverage.count, unchecked=coverage.fingerprint)

    def _covers(self, conn: sqlite3.Connection, cache: _Cache, count: int, generation: int
                ) -> bool:
        """Whether ``cache`` still holds the log's rows up to its max id: no row updated or
        deleted since (the generation), and for a snapshot just loaded, as many rows up to
        that id as it holds, the last one the same."""
        if cache.generation != generation:
            return False
        if cache.unchecked is None:
            return True
        ((after,),) = conn.execute(_AFTER, (cache.max_id,)).fetchall()
        fingerprint = conn.execute(_FINGERPRINT, (cache.max_id,)).fetchone()
        if (count - after, fingerprint) != (cache.count, (cache.unchecked,)):
            return False
        cache.unchecked = None
        return True

    def _save_snapshot(self, fingerprint: str) -> None:
        cache = self._cache
        if self._path is None or cache is None:
            return
        coverage = _snapshot.Coverage(self._log_id(), cache.generation, cache.max_id,
                                      cache.count, fingerprint)
        _snapshot.write(self._path, cache.frame, coverage)
        cache.saved = cache.count  # written or not: not tried again before as many new rows


def _started_micros(frame: pd.DataFrame) -> np.ndarray:
    import numpy as np

    return np.asarray(frame["started_at"].array.asi8 if len(frame) else [], dtype=np.int64)


def _chronological(frame: pd.DataFrame, micros: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows come in id order; sort by started_at (stable, so ties stay in id order)."""
    import numpy as np

    if len(micros) < 2 or bool(np.all(micros[1:] >= micros[:-1])):
        return frame, micros
    order = np.argsort(micros, kind="stable")
    return frame.take(order).reset_index(drop=True), micros[order]


def _apply(cache: _Cache, filters: _Filters, *, copy: bool) -> pd.DataFrame:
    """``filters`` applied to the cached frame, as :meth:`CallLog._read` would."""
    import numpy as np

    frame = cache.frame
    if filters.empty:
        if not copy:
            return frame
        # pandas >= 3 is copy-on-write: a shallow copy cannot write through to the cache.
        return frame.copy(deep=not _frame.copy_on_write())
    mask = np.ones(len(frame), dtype=bool)
    if filters.since_us is not None:
        mask &= cache.micros >= filters.since_us
    for column in ("model", "backend", "status", "call_id"):
        values = getattr(filters, column)
        if values is not None:
            mask &= frame[column].isin(values).to_numpy(dtype=bool)
    positions = np.flatnonzero(mask)
    if filters.last is not None:
        positions = positions[len(positions) - min(filters.last, len(positions)) :]
    result = frame.take(positions).reset_index(drop=True)
    return _frame.drop_unused_categories(result)
