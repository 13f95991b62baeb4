"""Benchmark of the call log: appends, DataFrame builds, summary.

    python benchmarks/bench_calllog.py [--rows 100000] [--repeat 5] [--appends 2000] [--dir DIR]

Rerunnable: it writes fresh SQLite files in a temporary folder (or --dir, emptied first)
and removes them at the end. Records look like real ones: 4 backends x 3 models,
200-character previews, some errors, retries and cache hits, and prompts with words near
the key shapes the secret scan looks for.

Figures printed (the first three are the goals of issue 13; each repeat runs them in turn,
so drift on a shared machine hits all alike; wall and CPU time are both given, CPU time
being the steadier one on a loaded machine):

* append_many: ``CallLog.append_many`` of all the rows into a fresh file, with how much
  of it is turning records into rows (redaction, JSON, truncation) and how much SQLite;
* frame() of a freshly opened log, twice: the first read ever of the file (every row read
  from SQLite, which then saves the columnar snapshot next to it; with how much of it is
  the bare ``fetchall()`` and how much the snapshot's writing), and a kernel restart's read
  (``CallLog(path).frame()`` with that snapshot: the goal is judged on this one), both
  checked for their typed columns;
* append (one per call): ``CallLog.append`` of one row, as each call (cache hits included)
  does, into the large file: the row converted and written to the journal, committed by
  the log's thread (journal.py); with the row conversion alone, and what committing one
  row in its own transaction costs (what each call paid before the journal);
* frame() warm: the same ``CallLog`` again (the notebook case: refreshing the log view);
  it re-checks the file and reads only rows appended since;
* frame() warm + 100 new rows: the same, after another process appended 100 rows;
* frame(last=50) cold, summary() warm and cold.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmdeck_nb.calllog import COLUMNS, CallLog, CallRecord, hash_prompt
from llmdeck_nb.calllog.frame import (
    BOOL_COLUMNS,
    CATEGORY_COLUMNS,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    TIME_COLUMNS,
)
from llmdeck_nb.calllog.rows import batch as _batch
from llmdeck_nb.calllog.rows import row as _row
from llmdeck_nb.calllog.snapshot import SUFFIX as SNAPSHOT_SUFFIX
from llmdeck_nb.calllog.snapshot import Coverage, sidecar
from llmdeck_nb.calllog.snapshot import write as write_snapshot
from llmdeck_nb.calllog.store import _INSERT, _SELECT_COLUMNS, _gc_paused, _insert
from llmdeck_nb.redaction import register_secret

if TYPE_CHECKING:
    import pandas as pd

#: Fake API keys, registered for the last append figure (no request is sent).
DECK_KEYS = ("sk-bench-0123456789abcdefghijklmnopqrstuv", "AIzaBench0123456789abcdefghijklmnop")

BACKENDS = {
    "openai": ["gpt-4o", "gpt-4o-mini", "o3-mini"],
    "anthropic": ["claude-sonnet-4", "claude-haiku-3.5", "claude-opus-4"],
    "ollama": ["llama3.1-8b", "qwen2.5-7b", "mistral-7b"],
    "demo": ["demo-echo", "demo-slow", "demo-fail"],
}


def make_records(n: int, start: datetime | None = None) -> list[CallRecord]:
    start = start or datetime(2025, 6, 1, tzinfo=timezone.utc)
    pairs = [(b, m) for b, models in BACKENDS.items() for m in models]
    records = []
    for i in range(n):
        backend, model = pairs[i % len(pairs)]
        prompt = f"Question {i}: explain the difference between a list and a tuple. " * 4
        if i % 10 == 3:  # words near the key shapes the secret scan looks for, as in real prompts
            prompt += "Can a tuple be a dict key? How many tokens is this?"
        if i % 100 == 7:  # and a code snippet the scan must look at closely
            prompt += " Why does OpenAI(api_key=os.environ['OPENAI_KEY']) fail?"
        kind = i % 20
        record = CallRecord(
            call_id=f"{i // 2:032x}",
            attempt=1 + i % 2,
            started_at=start + timedelta(seconds=i),
            profile="default",
            requested=model,
            preset="fast" if i % 3 else None,
            backend=backend,
            provider=backend,
            model=model,
            model_id=f"{model}-2025-01-01",
            endpoint_host=f"api.{backend}.com",
            latency_s=0.2 + (i % 97) / 50,
            ttft_s=0.05 + (i % 13) / 100 if i % 2 else None,
            input_tokens=100 + i % 500,
            output_tokens=50 + i % 300,
            cost_usd=(100 + i % 500) * 2.5e-7,
            cost_source="deck",
            stream=bool(i % 2),
            temperature=0.7,
            max_tokens=512,
            params={"top_p": 0.9, "seed": i % 10},
            prompt_hash=hash_prompt(prompt),
            prompt_preview=prompt,
            response_preview=f"Answer {i}: a list is mutable, a tuple is not. " * 5,
            tags=("bench", f"batch{i % 4}"),
            session_id="bench-session",
        )
        if kind == 0:
            record.status = "error"
            record.error_type = "BackendTimeoutError"
            record.error_message = "timed out after 30 s"
            record.http_status = 504
            record.output_tokens = None
            record.cost_usd = None
            record.response_preview = None
        elif kind == 1:
            record.status = "cache_hit"
            record.cache_hit = True
            record.saved_cost_usd = record.cost_usd
            record.cost_usd = 0.0
        records.append(record)
    return records


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float

    def __str__(self) -> str:
        return f"{self.wall:.3f} s (CPU {self.cpu:.3f} s)"


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def timing(fn: Callable[[], object]) -> tuple[Timing, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), result


def median_timing(samples: list[Timing]) -> Timing:
    return Timing(statistics.median(t.wall for t in samples),
                  statistics.median(t.cpu for t in samples))


def median_time(fn: Callable[[], object], repeat: int) -> float:
    return statistics.median(timed(fn)[0] for _ in range(repeat))


def fresh_file(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm", SNAPSHOT_SUFFIX):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def append_many_into(path: Path, records: list[CallRecord]) -> Timing:
    """``append_many`` of ``records`` into a fresh file at ``path`` (opening not counted)."""
    with CallLog(fresh_file(path)) as log:
        took, _ = timing(lambda: log.append_many(records))
        assert log.count() == len(records)
    return took


def cold_frame(path: Path) -> tuple[Timing, pd.DataFrame]:
    """``CallLog(path).frame()`` by a log just opened: from the snapshot next to the file if
    there is one (a kernel restart), else every row from SQLite (which saves the snapshot)."""

    def read() -> pd.DataFrame:
        with CallLog(path) as fresh:
            return fresh.frame()

    took, frame = timing(read)
    return took, frame  # type: ignore[return-value]


def first_frame(path: Path) -> tuple[Timing, pd.DataFrame]:
    """The first ``frame()`` ever of the file: no snapshot yet (it saves one)."""
    sidecar(path).unlink(missing_ok=True)
    return cold_frame(path)


def snapshot_writing(path: Path, frame: pd.DataFrame) -> Timing:
    """Saving ``frame`` as a snapshot (for a file at ``path``): part of a first read."""
    coverage = Coverage("bench", 0, len(frame), len(frame), "bench")
    took, _ = timing(lambda: write_snapshot(path, frame, coverage))
    sidecar(path).unlink()
    return took


def untyped_columns(frame: pd.DataFrame) -> list[str]:
    """The columns whose dtype is not the one llmdeck_nb.calllog.frame documents."""
    expected = {name: "str" for name in COLUMNS}
    expected.update({name: "Int64" for name in INT_COLUMNS})
    expected.update({name: "float64" for name in FLOAT_COLUMNS})
    expected.update({name: "bool" for name in BOOL_COLUMNS})
    expected.update({name: "category" for name in CATEGORY_COLUMNS})
    expected.update({name: "datetime64[us, UTC]" for name in TIME_COLUMNS})
    return [name for name in COLUMNS if str(frame[name].dtype) != expected[name]]


def parts_of_append_many(path: Path, records: list[CallRecord]) -> tuple[Timing, Timing]:
    """append_many's two parts alone, into a fresh file: turning the records into rows, and
    SQLite (executemany of the ready rows, commit)."""
    with CallLog(fresh_file(path)) as log:
        conn = log._connection()
        with _gc_paused():
            converting, (columns, rows) = timing(lambda: _batch(records, log._nullable))

        def insert() -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_insert(columns), rows)
            conn.execute("COMMIT")

        with _gc_paused():
            inserting, _ = timing(insert)
    return converting, inserting


def bare_fetchall(path: Path) -> Timing:
    def fetch() -> object:
        with CallLog(path) as fresh:
            sql = f"SELECT {_SELECT_COLUMNS} FROM calls ORDER BY id"
            return fresh._connection().execute(sql).fetchall()

    return timing(fetch)[0]


def one_call_appends(path: Path, records: list[CallRecord]) -> tuple[float, float, float, float]:
    """Microseconds of ``append`` (the row to the journal; the thread commits it) into the
    file at ``path`` (it grows), median and mean, and the medians of turning the record into
    a row and of an INSERT of it in its own transaction (a call's cost before the journal)."""
    with CallLog(path) as log:
        conn = log._connection()
        whole, convert, insert = [], [], []
        for record in records:
            t0 = time.perf_counter()
            log.append(record)
            t1 = time.perf_counter()
            row = _row(record)
            t2 = time.perf_counter()
            conn.execute(_INSERT, row)
            t3 = time.perf_counter()
            whole.append(t1 - t0)
            convert.append(t2 - t1)
            insert.append(t3 - t2)
    return (statistics.median(whole) * 1e6, statistics.mean(whole) * 1e6,
            statistics.median(convert) * 1e6, statistics.median(insert) * 1e6)


def thread_commits(path: Path, records: list[CallRecord], batch: int = 20) -> float:
    """Microseconds a row of what the journal's thread does off the call: committing
    ``batch`` rows appended meanwhile in one transaction, median over the records."""
    from llmdeck_nb.calllog import journal  # here: bench_ab.py imports this file for older trees

    per_row = []
    with CallLog(path) as log:
        for start in range(0, len(records) - batch + 1, batch):
            for record in records[start:start + batch]:
                log.append(record)
            t0 = time.perf_counter()
            journal.flush_all(path)  # what the thread does (reads do it too)
            per_row.append((time.perf_counter() - t0) / batch)
    return statistics.median(per_row) * 1e6


def load() -> str:
    return "load average {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--appends", type=int, default=2000, help="single appends to time")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    n, repeat = args.rows, args.repeat

    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench_calllog_"))
    if args.dir:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        print(f"{load()}; {os.cpu_count()} CPUs")
        seconds, records = timed(lambda: make_records(n))
        print(f"rows: {n:,}  (records made in {seconds:.2f} s)")
        path, scratch = folder / "many.sqlite", folder / "scratch.sqlite"
        appends, converts, inserts, firsts, colds, fetches, saves = [], [], [], [], [], [], []
        untyped: list[str] = []
        for _ in range(repeat):  # interleaved: each figure once per round
            appends.append(append_many_into(path, records))
            converting, inserting = parts_of_append_many(scratch, records)
            converts.append(converting)
            inserts.append(inserting)
            took, first = first_frame(path)
            firsts.append(took)
            took, df = cold_frame(path)
            colds.append(took)
            untyped = sorted(set(untyped_columns(df)) | set(untyped_columns(first)))
            assert len(df) == len(first) == n
            fetches.append(bare_fetchall(path))
            saves.append(snapshot_writing(scratch, df))
        print(f"append_many({n:,}) into a fresh file, median of {repeat}: "
              f"{median_timing(appends)}  ({median_timing(appends).wall / n * 1e6:.1f} us/row)")
        print(f"  record -> row (redaction, JSON, truncation): {median_timing(converts)}")
        print(f"  SQLite (executemany + commit of ready rows): {median_timing(inserts)}")
        print(f"frame() of {n:,} rows from a freshly opened log, median of {repeat}; typed "
              f"columns: {'all' if not untyped else 'NOT ' + ', '.join(untyped)}")
        print(f"  kernel restart (from the snapshot next to the file): {median_timing(colds)}")
        print(f"  first read ever (every row from SQLite, saves the snapshot): "
              f"{median_timing(firsts)}")
        print(f"    of which the bare cursor.fetchall() (no pandas): {median_timing(fetches)}; "
              f"saving the snapshot: {median_timing(saves)}")
        print(f"  snapshot: {sidecar(path).stat().st_size / 1e6:.1f} MB "
              f"(the log: {path.stat().st_size / 1e6:.1f} MB)")

        log = CallLog(path)
        df = log.frame()  # fills this instance's cache
        warm = median_time(log.frame, repeat)
        other = CallLog(path)
        later = [datetime(2025, 7, 1, tzinfo=timezone.utc)]

        def warm_after_100() -> object:
            later[0] += timedelta(hours=1)
            other.append_many(make_records(100, start=later[0]))  # new calls, later in time
            t0 = time.perf_counter()
            log.frame()
            return time.perf_counter() - t0

        incremental = statistics.median(float(warm_after_100()) for _ in range(repeat))

        def cold_last() -> object:
            with CallLog(path) as fresh:
                return fresh.frame(last=50)

        last_cold = median_time(cold_last, repeat)
        summary_warm = median_time(log.summary, repeat)

        def cold_summary() -> object:
            with CallLog(path) as fresh:
                return fresh.summary()

        summary_cold = median_time(cold_summary, repeat)
        print(f"frame() warm (same CallLog), median of {repeat}: {warm:.3f} s")
        print(f"frame() warm after another process appended 100 rows, median of {repeat}: "
              f"{incremental:.3f} s")
        print(f"frame(last=50) cold, median of {repeat}: {last_cold:.3f} s")
        print(f"summary() warm, median of {repeat}: {summary_warm:.3f} s;  "
              f"cold: {summary_cold:.3f} s")
        print(f"file size: {path.stat().st_size / 1e6:.1f} MB")
        other.close()
        log.close()
        later[0] += timedelta(days=1)
        whole, mean, convert, insert = one_call_appends(path, make_records(args.appends, later[0]))
        print(f"append() of one call's row into that file, median of {args.appends:,}: "
              f"{whole:.0f} us, mean {mean:.0f} us (medians: row conversion {convert:.0f} us, "
              f"INSERT + commit of one row, off the call now {insert:.0f} us)")
        later[0] += timedelta(days=1)
        batched = thread_commits(path, make_records(args.appends, later[0]))
        print(f"  the journal thread's commit of those rows, 20 in one transaction: "
              f"{batched:.0f} us a row (off the call, on whatever runs then)")
        for key in DECK_KEYS:  # a session's deck registers its API keys: redact() looks for them
            register_secret(key)
        later[0] += timedelta(days=1)
        whole, mean, convert, _ = one_call_appends(path, make_records(args.appends, later[0]))
        print(f"  the same with {len(DECK_KEYS)} API keys registered, as a deck does: "
              f"{whole:.0f} us, mean {mean:.0f} us (row conversion {convert:.0f} us)")
        print(load())
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
