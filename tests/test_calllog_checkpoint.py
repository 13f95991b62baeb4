"""The call log's WAL checkpoints run off the call path: the WAL stays bounded, and a kernel
killed with kill -9 while appending (and checkpointing) loses no row whose append returned."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from llmdeck_nb.calllog import CallLog, CallRecord
from llmdeck_nb.calllog.checkpoint import EVERY_ROWS, INLINE_PAGES

from killed_appender import kill_appender



def wal_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def append_rows(log: CallLog, rows: int, pause_every: int | None = None) -> None:
    for i in range(rows):
        log.append(CallRecord(call_id=f"c{i}", prompt_preview="x" * 400,
                              response_preview="y" * 400))
        if pause_every and i % pause_every == 0:
            time.sleep(0.03)  # in a notebook, calls are milliseconds apart


def test_the_thread_checkpoints_a_kernels_calls(tmp_path):
    path = tmp_path / "calls.sqlite"
    rows = 8 * EVERY_ROWS  # ~4 pages a row: unchecked, 8,000 pages of WAL
    with CallLog(path) as log:
        append_rows(log, rows, pause_every=50)
        # each EVERY_ROWS rows the thread copied the WAL back and SQLite rewound it
        assert wal_bytes(path) <= INLINE_PAGES / 2 * 4120
        assert log.count() == rows
    with CallLog(path) as again:
        assert again.count() == rows


def test_wal_stays_bounded_when_a_kernel_appends_without_pause(tmp_path):
    path = tmp_path / "calls.sqlite"
    rows = 20 * EVERY_ROWS
    with CallLog(path) as log:
        # the thread cannot rewind a WAL written to without pause: past INLINE_PAGES the
        # commits checkpoint in line (unchecked, ~4 pages a row: 80 MB here)
        append_rows(log, rows)
        # (a commit that finds the thread checkpointing retries at the next one: a margin)
        assert wal_bytes(path) <= INLINE_PAGES * 1.25 * 4120 < rows * 4 * 4096
        assert log.count() == rows


def test_kill_9_while_appending_loses_no_returned_row(tmp_path):
    path = tmp_path / "calls.sqlite"
    returned = kill_appender(path, 3 * EVERY_ROWS + 17)  # a few checkpoints in, mid-interval

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with CallLog(path) as log:
        stored = set(log.frame()["call_id"])
    assert {f"row-{i}" for i in returned} <= stored
    assert len(stored) <= len(returned) + 1  # at most the row being written when killed


def test_a_large_batch_is_checkpointed_by_the_thread(tmp_path):
    path = tmp_path / "calls.sqlite"
    with CallLog(path) as log:
        before = path.stat().st_size
        log.append_many([CallRecord(call_id=f"b{i}", prompt_preview="x" * 400)
                         for i in range(4 * EVERY_ROWS)])
        # its commit left the copy into the database file to the thread: it happens anyway
        deadline = time.monotonic() + 30
        while path.stat().st_size < before + 4 * EVERY_ROWS * 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert path.stat().st_size >= before + 4 * EVERY_ROWS * 200  # (previews: 200 chars)
        assert log.count() == 4 * EVERY_ROWS
