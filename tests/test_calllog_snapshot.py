"""The columnar snapshot kept next to a call log file (llmdeck_nb.calllog.snapshot): a freshly
opened log starts from it and reads only newer rows from SQLite, and it never gives rows that
a plain read of the file would not: stale, foreign, corrupt or hostile snapshots are ignored."""

from __future__ import annotations

import pickle
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llmdeck_nb.calllog import CallLog, CallRecord, store
from llmdeck_nb.calllog.snapshot import sidecar

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch):
    """Save a snapshot after any read of new rows (the real threshold is 10,000 rows)."""
    monkeypatch.setattr(store, "SNAPSHOT_MIN_ROWS", 1)


def varied(n: int, start: datetime = T0, prefix: str = "r") -> list[CallRecord]:
    """Rows with NULLs, every dtype, unicode, empty and NUL-holding texts, out-of-order times."""
    records = []
    for i in range(n):
        kind = i % 5
        records.append(CallRecord(
            call_id=f"{prefix}{i // 2}", attempt=1 + i % 2,
            started_at=start + timedelta(seconds=i if kind else -i),
            profile=None if kind == 4 else "default", backend=("openai", "ollama", None)[i % 3],
            provider="p", model=("gpt-4o", "llama3 🦙", "modèle")[i % 3], model_id=None,
            status=("ok", "error", "cache_hit")[kind % 3], cache_hit=kind == 2,
            latency_s=None if kind == 1 else i / 7, input_tokens=None if kind == 3 else i,
            cached_tokens=2**40 + i if kind == 0 else None, cost_usd=i * 1e-6,
            prompt_preview=("", f"question {i} İstanbul ✓", f"nul\0inside {i}", None,
                            "x" * 300)[kind],
            response_preview=None if kind == 1 else f"answer {i} …",
            error_message="boom" if kind == 1 else None, params={"seed": i % 3},
            tags=("eval", "fr") if kind else (), session_id=f"s{i % 2}",
        ))
    return records


def plain(path: Path) -> pd.DataFrame:
    """frame() read straight from SQLite, as a log without snapshot or cache reads it."""
    with CallLog(path, cache=False) as log:
        return log.frame()


def fresh(path: Path) -> pd.DataFrame:
    """frame() of a freshly opened log (a kernel restart)."""
    with CallLog(path) as log:
        return log.frame()


def rows_read(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """frame() of a freshly opened log, and the row SELECTs it ran on SQLite."""
    statements: list[str] = []
    with CallLog(path) as log:
        log._connection().set_trace_callback(statements.append)
        frame = log.frame()
    return frame, [s for s in statements if s.startswith("SELECT call_id, attempt")]


def test_a_restart_reads_the_snapshot_and_only_newer_rows(tmp_path):
    path = tmp_path / "calls.sqlite"
    with CallLog(path) as log:
        log.append_many(varied(60))
        first = log.frame()  # read every row: saves the snapshot
    assert sidecar(path).exists()
    pd.testing.assert_frame_equal(first, plain(path))

    frame, selects = rows_read(path)
    pd.testing.assert_frame_equal(frame, plain(path))
    assert selects == []  # no row read from SQLite: all of them came from the snapshot
    assert list(frame["model"].cat.categories) == ["gpt-4o", "llama3 🦙", "modèle"]
    assert frame["prompt_preview"].str.contains("\0", regex=False).sum() == 12


WRITER = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]
    from datetime import datetime, timezone
    from llmdeck_nb.calllog import CallLog
    from test_calllog_snapshot import varied
    with CallLog(sys.argv[2]) as log:  # another kernel
        log.append_many(varied(7, datetime(2025, 5, 1, tzinfo=timezone.utc), "other"))
    """
)


def test_rows_appended_by_another_process_join_the_snapshot(tmp_path):
    path = tmp_path / "calls.sqlite"
    with CallLog(path) as log:
        log.append_many(varied(40))
        log.frame()
    subprocess.run([sys.executable, "-c", WRITER, str(REPO), str(path)], check=True)

    frame, selects = rows_read(path)
    assert len(selects) == 1 and "WHERE id > 40 AND id <= 47" in selects[0]
    pd.testing.assert_frame_equal(frame, plain(path))
    assert set(frame["call_id"].iloc[:7]) == {f"other{i}" for i in range(4)}  # started earlier


def test_clear_removes_the_snapshot_and_an_old_copy_is_ignored(tmp_path):
    path = tmp_path / "calls.sqlite"
    with CallLog(path) as log:
        log.append_many(varied(30))
        log.frame()
        shutil.copy(sidecar(path), tmp_path / "saved")
        log.clear()
        assert not sidecar(path).exists()
        log.append_many(varied(30))  # as many rows again, new ids
    shutil.copy(tmp_path / "saved", sidecar(path))  # the snapshot from before clear()
    pd.testing.assert_frame_equal(fresh(path), plain(path))
    assert len(plain(path)) == 30


@pytest.mark.parametrize("change", [
    "DELETE FROM calls WHERE id = 5",
    "UPDATE calls SET model = 'edited' WHERE id = 7",
    "DELETE FROM calls WHERE id = 30",  # the last row the snapshot holds
])
def test_rows_changed_by_another_tool_are_seen(tmp_path, change):
    path = tmp_path / "calls.sqlite"
    with CallLog(path) as log:
        log.append_many(varied(30))
        log.frame()
    warm = CallLog(path)  # a kernel that keeps the frame in memory
    warm.frame()
    conn = sqlite3.connect(path)  # e.g. the sqlite3 shell
    conn.execute(change)
    conn.execute("INSERT INTO calls (call_id, started_at) VALUES ('added', 1)")  # same count
    conn.commit()
    conn.close()
    frame = fresh(path)
    pd.testing.assert_frame_equal(frame, plain(path))
    assert "added" in set(frame["call_id"])
    pd.testing.assert_frame_equal(warm.frame(), plain(path))
    warm.close()


def test_a_snapshot_of_another_log_is_ignored(tmp_path):
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    for path, model in ((a, "model-a"), (b, "model-b")):
        with CallLog(path) as log:  # the same ids, counts and first/last rows
            records = varied(20)
            for record in records[1:-1]:
                record.model = model
            log.append_many(records)
            log.frame()
    shutil.copy(sidecar(a), sidecar(b))
    frame = fresh(b)
    pd.testing.assert_frame_equal(frame, plain(b))
    assert "model-a" not in set(frame["model"])


def write_corrupt(target: Path, how: str) -> None:
    data = target.read_bytes()
    if how == "flipped":
        middle = len(data) // 2
        target.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:])
    elif how == "truncated":
        target.write_bytes(data[: len(data) * 2 // 3])
    elif how == "empty":
        target.write_bytes(b"")
    else:
        target.write_bytes(b"not a snapshot at all" * 50)


@pytest.mark.parametrize("how", ["flipped", "truncated", "empty", "garbage"])
def test_a_corrupt_snapshot_is_ignored_and_replaced(tmp_path, how):
    path = tmp_path / "calls.sqlite"
    with CallLog(path) as log:
        log.append_many(varied(50))
        log.frame()
    write_corrupt(sidecar(path), how)
    pd.testing.assert_frame_equal(fresh(path), plain(path))  # ... and saves a good one
    frame, selects = rows_read(path)
    assert selects == []
    pd.testing.assert_frame_equal(frame, plain(path))


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_snapshot_holding_a_pickle_runs_no_code(tmp_path):
    path = tmp_path / "calls.sqlite"
    with CallLog(path) as log:
        log.append_many(varied(10))
    marker = tmp_path / "pwned"
    payload = np.array([_Exploit(marker)], dtype=object)
    assert pickle.loads(pickle.dumps(payload)) is not None and marker.exists()  # it would run
    marker.unlink()
    with sidecar(path).open("wb") as file:
        np.savez(file, meta=payload, c0=payload)
    pd.testing.assert_frame_equal(fresh(path), plain(path))
    assert not marker.exists()


def test_an_in_memory_log_or_cache_false_writes_no_snapshot(tmp_path):
    path = tmp_path / "calls.sqlite"
    with CallLog(path, cache=False) as log:
        log.append_many(varied(10))
        log.frame()
    assert not sidecar(path).exists()
    with CallLog(None) as memory:
        memory.append_many(varied(10))
        assert len(memory.frame()) == 10


def test_the_log_id_is_kept_with_the_file(tmp_path):
    path = tmp_path / "calls.sqlite"
    with CallLog(path) as log:
        first = log._log_id()
    with CallLog(path) as log:
        assert log._log_id() == first
    with CallLog(tmp_path / "other.sqlite") as other:
        assert other._log_id() != first


def test_a_temporary_file_left_by_a_killed_writer_is_cleaned_up(tmp_path):
    import os

    path = tmp_path / "calls.sqlite"
    with CallLog(path) as log:
        log.append_many(varied(20))
    abandoned = tmp_path / "calls.sqlite-frame.x1y2.tmp"  # a kernel killed while writing
    abandoned.write_bytes(b"half a snapshot")
    os.utime(abandoned, (0, 0))
    recent = tmp_path / "calls.sqlite-frame.a3b4.tmp"  # another kernel writing right now
    recent.write_bytes(b"being written")
    pd.testing.assert_frame_equal(fresh(path), plain(path))
    assert sidecar(path).exists() and not abandoned.exists() and recent.exists()
