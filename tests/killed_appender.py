"""A kernel appending call rows without pause, killed with kill -9 (the call log's crash tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

APPENDER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from llmdeck_nb.calllog import CallLog, CallRecord
    log = CallLog(sys.argv[2], timeout=60)
    i = 0
    while True:
        log.append(CallRecord(call_id=f"row-{i}", prompt_preview="p" * 300))
        print(i, flush=True)  # after append() returned: this row must survive kill -9
        i += 1
    """
)


def kill_appender(path: Path, rows: int) -> list[int]:
    """Start a kernel appending rows to ``path``, kill -9 it after ``rows`` returned; the
    numbers of the rows whose append returned."""
    child = subprocess.Popen([sys.executable, "-c", APPENDER, str(REPO), str(path)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    returned = []
    for line in child.stdout:
        returned.append(int(line))
        if len(returned) == rows:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    return returned + [int(line) for line in child.stdout if line.strip()]
