"""WAL checkpoints of a call log file, run by a thread instead of by a call's commit.

In WAL mode a commit appends the pages it changed to the ``-wal`` file; a *checkpoint*
copies them back into the database file and syncs it. SQLite runs one automatically in the
commit that takes the WAL past 1,000 pages: that call then waits milliseconds (the copy and
an fsync), ~20 us a call on average with the call log's few pages a row. A
:class:`~llmdeck_nb.calllog.store.CallLog` turns the automatic checkpoint off on its own
connection to :data:`INLINE_PAGES` and has a :class:`Checkpointer` run a passive one (which
never blocks a writer or a reader) on a connection of its own, once every
:data:`EVERY_ROWS` appended rows.

A large ``append_many`` leaves its commit's checkpoint (a copy of the whole batch: 0.2 s
for 100,000 rows) to the thread the same way.

SQLite rewinds the WAL only when a checkpoint has copied all of it. A kernel appending
without pause (a loop of cache hits) adds pages while the thread copies, so the WAL would
grow: the thread makes passes a little apart until one finds nothing new to copy (calls
come milliseconds apart), and past :data:`INLINE_PAGES` the appending commit
checkpoints in line as before (what the thread copied it does not copy again).

Durability does not change: a commit is complete once it is in the WAL, checkpointed or
not; a kernel killed with ``kill -9`` loses no committed row (the next connection to the
file reads the WAL). Only the copy moved here; the commits themselves are made by the
journal's writer thread (:mod:`llmdeck_nb.calllog.journal`). Other processes' connections
(other kernels, older versions) checkpoint as before.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

#: Rows appended between two checkpoints (a row changes ~4 pages: 1,000 pages of WAL).
EVERY_ROWS = 250
#: Passes (and the pause between them) the thread makes to copy a WAL still written to.
CATCH_UP_PASSES, CATCH_UP_S = 5, 0.02
#: WAL pages past which the appending commit checkpoints in line (SQLite's default: 1,000).
INLINE_PAGES = 4000


class Checkpointer:
    """A daemon thread that checkpoints ``path`` when :meth:`appended` says enough rows
    were written; started on the first request, stopped by :meth:`close`."""

    def __init__(self, path: Path, timeout: float) -> None:
        self._path = path
        self._timeout = timeout
        self._pending = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def appended(self, rows: int) -> None:
        """``rows`` were committed through the log's connection."""
        self._pending += rows
        if self._pending < EVERY_ROWS or self._stopping:
            return
        self._pending = 0
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="llmdeck-calllog-checkpoint",
                                            daemon=True)
            self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._path, timeout=self._timeout, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error:  # the file's folder is gone (a log of a removed temporary one)
            return
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                seen = -1
                for _ in range(CATCH_UP_PASSES):
                    if self._stopping:
                        return
                    pages = self._checkpoint(conn)
                    if pages == seen:  # nothing was appended during the last pass: all copied
                        break
                    seen = pages
                    time.sleep(CATCH_UP_S)
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection) -> int:
        """One passive checkpoint: the WAL's pages when it began, all copied (or -1). Pages
        appended meanwhile are left for the next pass: SQLite rewinds the WAL at the next
        commit only once a pass found nothing new to copy."""
        try:
            _, pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:  # e.g. another process checkpointing: next time
            return -1
        return int(pages) if copied >= pages else -1

    def close(self) -> None:
        """Stop the thread (it finishes a checkpoint under way first)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self._timeout)
