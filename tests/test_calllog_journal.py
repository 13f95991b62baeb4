"""The call log's journal (llmdeck_nb/calllog/journal.py): a row is on disk when append()
returns and reaches SQLite from a thread, so a call never waits on the file's write lock;
a kernel killed with kill -9 loses no returned row, and no row is stored twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llmdeck_nb.calllog import CallLog, CallRecord
from llmdeck_nb.calllog import journal
from llmdeck_nb.errors import CallLogError

from killed_appender import REPO, kill_appender

pytestmark = pytest.mark.skipif(not journal.AVAILABLE, reason="no fcntl.flock here")



def journals(path: Path) -> list[Path]:
    return sorted(journal.folder(path).glob("*" + journal.SUFFIX))


def stored_ids(path: Path) -> list[str]:
    """call_id of every row in the file, read straight from SQLite (no replay)."""
    conn = sqlite3.connect(path)
    try:
        return [call_id for (call_id,) in conn.execute("SELECT call_id FROM calls ORDER BY id")]
    finally:
        conn.close()


def test_append_returns_while_another_kernel_holds_the_write_lock(tmp_path):
    path = tmp_path / "calls.sqlite"
    log = CallLog(path, timeout=60)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another kernel's long write
    try:
        for i in range(5):  # before the journal, the first of these waited for the lock
            log.append(CallRecord(call_id=f"r{i}"))
        assert stored_ids(path) == []  # not in SQLite yet: in the journal, on disk
        header, *rows = journal._records(journals(path)[0].read_bytes())
        call_id = header["columns"].index("call_id")
        assert [row[call_id] for row in rows] == [f"r{i}" for i in range(5)]
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert list(log.frame()["call_id"]) == [f"r{i}" for i in range(5)]
    log.close()
    assert stored_ids(path) == [f"r{i}" for i in range(5)]
    assert journals(path) == []  # all committed: the journal is removed


def test_another_log_of_the_same_process_sees_the_rows_at_once(tmp_path):
    path = tmp_path / "calls.sqlite"
    writer, reader = CallLog(path), CallLog(path)
    writer.append(CallRecord(call_id="a"))
    assert reader.count() == 1 and list(reader.frame()["call_id"]) == ["a"]
    writer.close()
    reader.close()


def test_kill_9_before_any_commit_loses_no_returned_row(tmp_path):
    path = tmp_path / "calls.sqlite"
    CallLog(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # nothing the kernel writes can reach SQLite
    try:
        returned = kill_appender(path, 300)
        assert len(returned) >= 300  # the appends returned: none waited for the lock
        assert stored_ids(path) == []
    finally:
        other.execute("ROLLBACK")
        other.close()
    with CallLog(path) as log:  # opening replays the dead kernel's journal
        ids = list(log.frame()["call_id"])
    assert ids[:len(returned)] == [f"row-{i}" for i in returned]
    assert len(ids) <= len(returned) + 1  # at most the row being written when killed
    assert journals(path) == []


TWO_PHASES = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from llmdeck_nb.calllog import CallLog, CallRecord
    log = CallLog(sys.argv[2], timeout=60)
    for i in range(10):
        log.append(CallRecord(call_id=f"row-{i}"))
    log.count()  # waits for the ten to be committed
    print("committed", flush=True)
    go = Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.01)
    for i in range(10, 15):
        log.append(CallRecord(call_id=f"row-{i}"))
        print(i, flush=True)
    time.sleep(60)
    """
)


def test_kill_9_after_part_was_committed_stores_each_row_once(tmp_path):
    path, go = tmp_path / "calls.sqlite", tmp_path / "go"
    child = subprocess.Popen([sys.executable, "-c", TWO_PHASES, str(REPO), str(path), str(go)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "committed"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the last five stay in the journal
    try:
        go.touch()
        assert [int(child.stdout.readline()) for _ in range(5)] == list(range(10, 15))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert stored_ids(path) == [f"row-{i}" for i in range(10)]
    with CallLog(path) as first, CallLog(path) as second:  # the journal holds all 15 lines
        assert list(first.frame()["call_id"]) == [f"row-{i}" for i in range(15)]
        assert list(second.frame()["call_id"]) == [f"row-{i}" for i in range(15)]
    assert stored_ids(path) == [f"row-{i}" for i in range(15)]


def test_a_kernel_that_exits_without_closing_its_log_stores_its_rows(tmp_path):
    path = tmp_path / "calls.sqlite"
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "from llmdeck_nb.calllog import CallLog, CallRecord\n"
            "log = CallLog(sys.argv[2])\n"
            "for i in range(50): log.append(CallRecord(call_id=f'x{i}'))\n")
    subprocess.run([sys.executable, "-c", code, str(REPO), str(path)], check=True, timeout=60)
    assert stored_ids(path) == [f"x{i}" for i in range(50)]  # committed at exit
    assert journals(path) == []


def test_a_journal_that_cannot_be_read_is_kept_aside_and_the_log_opens(tmp_path):
    path = tmp_path / "calls.sqlite"
    CallLog(path).close()
    bad = journal.folder(path) / ("1-bad" + journal.SUFFIX)
    bad.parent.mkdir(exist_ok=True)
    bad.write_text("not a journal\n")
    with CallLog(path) as log:
        assert log.count() == 0
    assert not bad.exists()
    assert (bad.parent / (bad.name + ".unreadable")).read_text() == "not a journal\n"


def test_a_closed_log_refuses_rows(tmp_path):
    log = CallLog(tmp_path / "calls.sqlite")
    log.close()
    with pytest.raises(CallLogError, match="closed"):
        log.append(CallRecord(call_id="late"))


def test_a_row_sqlite_refuses_does_not_hold_back_the_others(tmp_path, caplog):
    path = tmp_path / "calls.sqlite"
    with CallLog(path) as log:
        log.append(CallRecord(call_id="before"))
        log.append(CallRecord(call_id=None))  # type: ignore[arg-type]  # NOT NULL column
        log.append(CallRecord(call_id="after"))
        assert list(log.frame()["call_id"]) == ["before", "after"]
        log.append(CallRecord(call_id="later"))  # the writer goes on
        assert list(log.frame()["call_id"]) == ["before", "after", "later"]
    assert "1 rows could not be stored" in caplog.text and "NOT NULL" in caplog.text
    assert journals(path) == []


def test_a_forked_child_writes_a_journal_of_its_own(tmp_path):
    path = tmp_path / "calls.sqlite"
    log = CallLog(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the parent's rows are still pending at the fork
    for i in range(3):
        log.append(CallRecord(call_id=f"parent-{i}"))
    pid = os.fork()
    if pid == 0:  # the child: its rows, its file; the parent's pending rows are not its own
        code = 1
        try:
            log.append(CallRecord(call_id="child"))
            code = 0 if len(journals(path)) == 2 else 2
        finally:
            os._exit(code)  # no atexit: the child's row stays in its journal, for a replay
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    other.execute("ROLLBACK")
    other.close()
    ids = sorted(log.frame()["call_id"])  # the parent's committed, the dead child's replayed
    assert ids == ["child", "parent-0", "parent-1", "parent-2"]
    log.close()
    assert journals(path) == []
