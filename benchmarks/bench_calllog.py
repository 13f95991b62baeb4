"""Benchmark of the call log: appends, DataFrame builds, summary.

    python benchmarks/bench_calllog.py [--rows 100000] [--repeat 5] [--dir DIR]

Rerunnable: it writes fresh SQLite files in a temporary folder (or --dir, emptied first)
and removes them at the end. Records look like real ones: 4 backends x 3 models,
200-character previews, some errors, retries and cache hits.

Figures printed:

* append (one per call): ``CallLog.append`` in a loop, each its own transaction;
* append_many: one ``executemany`` transaction;
* frame() cold: a new ``CallLog`` on the file each time, so every row is read from
  SQLite (a kernel's first ``frame()`` after a restart);
* frame() warm: the same ``CallLog`` again (the notebook case: refreshing the log view);
  it re-checks the file and reads only rows appended since;
* frame() warm + 100 new rows: the same, after another process appended 100 rows;
* frame(last=50) cold, summary() warm and cold.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmdeck_nb.calllog import CallLog, CallRecord, hash_prompt  # noqa: E402
from llmdeck_nb.calllog.rows import rows as _rows  # noqa: E402
from llmdeck_nb.calllog.store import _SELECT_COLUMNS  # noqa: E402

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


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def median_time(fn: Callable[[], object], repeat: int) -> float:
    return statistics.median(timed(fn)[0] for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    n, repeat = args.rows, args.repeat

    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench_calllog_"))
    if args.dir:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        seconds, records = timed(lambda: make_records(n))
        print(f"rows: {n:,}  (records made in {seconds:.2f} s)")

        one_by_one = CallLog(folder / "one_by_one.sqlite")

        def append_each() -> None:
            for record in records:
                one_by_one.append(record)

        seconds, _ = timed(append_each)
        print(f"append x {n:,} (one transaction each): {seconds:7.2f} s  "
              f"({seconds / n * 1e6:.0f} us/row)")
        one_by_one.close()

        path = folder / "many.sqlite"
        log = CallLog(path)
        seconds, _ = timed(lambda: log.append_many(records))
        print(f"append_many({n:,}) (one transaction): {seconds:7.2f} s  "
              f"({seconds / n * 1e6:.1f} us/row)")
        assert log.count() == n
        seconds, _ = timed(lambda: _rows(records))
        print(f"  of which record -> row (redaction, JSON, truncation): {seconds:.2f} s")

        def cold_frame() -> object:
            with CallLog(path) as fresh:
                return fresh.frame()

        cold = median_time(cold_frame, repeat)
        df = log.frame()  # fills this instance's cache
        assert len(df) == n
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

        def raw_fetchall() -> object:
            with CallLog(path) as fresh:
                sql = f"SELECT {_SELECT_COLUMNS} FROM calls"
                return fresh._connection().execute(sql).fetchall()

        floor = median_time(raw_fetchall, repeat)
        print(f"frame() of {n:,} rows, cold (new CallLog, all rows read), median of {repeat}: "
              f"{cold:.3f} s")
        print(f"  for reference, a bare cursor.fetchall() of those rows (no pandas): {floor:.3f} s")
        print(f"frame() of {n:,} rows, warm (same CallLog), median of {repeat}:             "
              f"{warm:.3f} s")
        print(f"frame() warm after another process appended 100 rows, median of {repeat}: "
              f"{incremental:.3f} s")
        print(f"frame(last=50) cold, median of {repeat}:                                 "
              f"{last_cold:.3f} s")
        print(f"summary() warm, median of {repeat}: {summary_warm:.3f} s;  "
              f"cold: {summary_cold:.3f} s")
        print(f"file size: {path.stat().st_size / 1e6:.1f} MB")
        other.close()
        log.close()
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
