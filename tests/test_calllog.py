"""Tests of llmdeck_nb.calllog: records, SQLite store, DataFrame, summary, migrations."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from llmdeck_nb.calllog import (
    COLUMNS,
    PREVIEW_CHARS,
    SCHEMA_VERSION,
    CallLog,
    CallRecord,
    hash_prompt,
    truncate,
)
from llmdeck_nb.calllog import schema
from llmdeck_nb.errors import (
    BackendTimeoutError,
    CallLogError,
    CallLogFilterError,
    CallLogFormatError,
)
from llmdeck_nb.redaction import REDACTED, register_secret

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)

EXPECTED_DTYPES = {
    "call_id": "str",
    "attempt": "Int64",
    "started_at": "datetime64[us, UTC]",
    "profile": "category",
    "requested": "str",
    "preset": "str",
    "backend": "category",
    "provider": "category",
    "model": "category",
    "model_id": "str",
    "status": "category",
    "latency_s": "float64",
    "ttft_s": "float64",
    "input_tokens": "Int64",
    "output_tokens": "Int64",
    "cost_usd": "float64",
    "cost_source": "category",
    "cache_hit": "bool",
    "saved_cost_usd": "float64",
    "error_type": "str",
    "error_message": "str",
    "http_status": "Int64",
    "endpoint_host": "str",
    "stream": "bool",
    "temperature": "float64",
    "max_tokens": "Int64",
    "params": "str",
    "prompt_hash": "str",
    "prompt_preview": "str",
    "response_preview": "str",
    "tags": "str",
    "session_id": "str",
    "cache_key": "str",
    "cache_where": "str",
    "cached_tokens": "Int64",
    "cache_write_tokens": "Int64",
    "reasoning_tokens": "Int64",
    "provider_saved_usd": "float64",
}


def full_record(**overrides) -> CallRecord:
    values = dict(
        call_id="call-0001",
        attempt=2,
        started_at=T0,
        profile="cheap",
        requested="smart",
        preset="fast",
        backend="openai_main",
        provider="openai",
        model="gpt-4o",
        model_id="gpt-4o-2024-08-06",
        endpoint_host="api.openai.com",
        status="ok",
        error_type=None,
        error_message=None,
        http_status=200,
        latency_s=1.25,
        ttft_s=0.375,
        input_tokens=120,
        output_tokens=45,
        cost_usd=0.00123,
        cost_source="deck",
        cache_hit=False,
        saved_cost_usd=None,
        stream=True,
        temperature=0.7,
        max_tokens=256,
        params={"top_p": 0.9, "stop": ["\n\n"], "seed": 7},
        prompt_hash=hash_prompt("Say hi"),
        prompt_preview="Say hi",
        response_preview="Hi!",
        tags=("eval", "fr"),
        session_id="sess-1",
        cache_key="0f" * 32,
        cache_where="local",
        cached_tokens=64,
        cache_write_tokens=8,
        reasoning_tokens=20,
        provider_saved_usd=0.00008,
    )
    values.update(overrides)
    return CallRecord(**values)


def make_log(tmp_path: Path, name: str = "calls.sqlite", **kwargs) -> CallLog:
    return CallLog(tmp_path / "logs" / name, **kwargs)


def read_both(log: CallLog, **filters) -> pd.DataFrame:
    """frame() straight from SQLite and from the warm cache: they must be identical."""
    cold = CallLog(log.path, cache=False)
    try:
        direct = cold.frame(**filters)
    finally:
        cold.close()
    log.frame()  # warm the cache
    cached = log.frame(**filters)
    pd.testing.assert_frame_equal(direct, cached)
    return cached


# --- records ---------------------------------------------------------------------------


def test_record_defaults_let_the_engine_fill_it_in():
    record = CallRecord()
    assert len(record.call_id) == 32 and record.attempt == 1
    assert record.started_at.tzinfo is timezone.utc
    assert (record.status, record.cost_source, record.cache_hit, record.stream) == (
        "ok",
        "none",
        False,
        False,
    )
    assert record.params == {} and record.tags == ()
    assert CallRecord().call_id != record.call_id
    assert not hasattr(record, "__dict__")  # slots
    assert set(COLUMNS) == set(CallRecord.__dataclass_fields__)
    record.set_error(BackendTimeoutError("timed out", backend="b", status=408))
    assert (record.status, record.error_type, record.http_status) == (
        "error",
        "BackendTimeoutError",
        408,
    )
    assert record.error_message == "timed out"


def test_truncate_and_hash():
    assert truncate("short") == "short"
    assert truncate(None) is None
    text = "x" * (PREVIEW_CHARS + 50)
    cut = truncate(text)
    assert len(cut) == PREVIEW_CHARS and cut.endswith("…")
    assert truncate("abcdef", 4) == "abc…"
    assert hash_prompt("a") == hash_prompt("a") != hash_prompt("b")
    assert len(hash_prompt("a")) == 16


# --- round trip ------------------------------------------------------------------------


def test_round_trip_every_field_with_dtypes(tmp_path):
    log = make_log(tmp_path)
    record = full_record()
    log.append(record)
    df = read_both(log)

    assert list(df.columns) == list(COLUMNS)
    assert {c: str(t) for c, t in df.dtypes.items()} == EXPECTED_DTYPES
    row = df.iloc[0]
    for name in COLUMNS:
        expected = getattr(record, name)
        got = row[name]
        if name == "started_at":
            assert got == pd.Timestamp(expected)
        elif name == "params":
            assert json.loads(got) == expected
        elif name == "tags":
            assert got == "eval,fr"
        elif expected is None:
            assert pd.isna(got), name
        elif isinstance(expected, float):
            assert got == pytest.approx(expected), name
        else:
            assert got == expected, name
    assert isinstance(df["params"].iloc[0], str)
    parsed = log.frame(parse_params=True)
    assert parsed["params"].iloc[0] == {"top_p": 0.9, "stop": ["\n\n"], "seed": 7}


def test_missing_values_and_error_row(tmp_path):
    log = make_log(tmp_path)
    log.append(
        CallRecord(
            call_id="c1",
            started_at=T0,
            model="m",
            backend="b",
            status="error",
            error_type="BackendTimeoutError",
            error_message="timed out after 30 s",
            http_status=504,
        )
    )
    df = read_both(log)
    row = df.iloc[0]
    for name in ("latency_s", "ttft_s", "cost_usd", "saved_cost_usd", "temperature"):
        assert math.isnan(row[name])
    for name in ("input_tokens", "output_tokens", "max_tokens"):
        assert row[name] is pd.NA
    assert pd.isna(row["profile"]) and pd.isna(row["session_id"])
    assert row["http_status"] == 504 and row["status"] == "error"
    assert row["params"] == "{}" and row["tags"] == ""
    assert {c: str(t) for c, t in df.dtypes.items()} == EXPECTED_DTYPES


def test_started_at_is_stored_in_utc(tmp_path):
    log = make_log(tmp_path)
    paris = timezone(timedelta(hours=2))
    log.append(CallRecord(call_id="aware", started_at=datetime(2025, 6, 1, 14, 0, tzinfo=paris)))
    log.append(CallRecord(call_id="naive", started_at=datetime(2025, 6, 1, 12, 30)))
    df = log.frame()
    assert list(df["call_id"]) == ["aware", "naive"]
    assert df["started_at"].iloc[0] == pd.Timestamp("2025-06-01T12:00:00Z")
    assert df["started_at"].iloc[1] == pd.Timestamp("2025-06-01T12:30:00Z")
    precise = T0 + timedelta(microseconds=123456)
    log.append(CallRecord(call_id="us", started_at=precise))
    assert log.frame(call_id="us")["started_at"].iloc[0] == pd.Timestamp(precise)


def test_previews_and_error_message_are_truncated(tmp_path):
    log = make_log(tmp_path)
    log.append(
        CallRecord(
            prompt_preview="p" * 1000,
            response_preview="r" * (PREVIEW_CHARS + 1),
            error_message="e" * 10_000,
        )
    )
    row = log.frame().iloc[0]
    assert len(row["prompt_preview"]) == PREVIEW_CHARS and row["prompt_preview"].endswith("…")
    assert len(row["response_preview"]) == PREVIEW_CHARS
    assert row["error_message"].endswith("…") and len(row["error_message"]) < 10_000


def test_frame_is_ordered_by_start_time_and_safe_to_modify(tmp_path):
    log = make_log(tmp_path)
    log.append(CallRecord(call_id="late", started_at=T0 + timedelta(minutes=5)))
    log.append(CallRecord(call_id="early", started_at=T0))
    log.append(CallRecord(call_id="tie", started_at=T0))
    assert list(read_both(log)["call_id"]) == ["early", "tie", "late"]
    df = log.frame()
    df.loc[0, "call_id"] = "changed"
    df["latency_s"] = 9.0
    again = log.frame()
    assert again["call_id"].iloc[0] == "early" and again["latency_s"].isna().all()


def test_empty_log(tmp_path):
    log = make_log(tmp_path)
    df = log.frame()
    assert df.empty and list(df.columns) == list(COLUMNS)
    assert {c: str(t) for c, t in df.dtypes.items() if c not in ("params",)} == {
        c: t for c, t in EXPECTED_DTYPES.items() if c != "params"
    }
    summary = log.summary()
    assert summary.empty and "p95_latency_s" in summary.columns
    assert log.count() == 0 and len(log) == 0


# --- filters ---------------------------------------------------------------------------


@pytest.fixture()
def filter_log(tmp_path) -> CallLog:
    log = make_log(tmp_path)
    records = []
    for i in range(10):
        records.append(
            CallRecord(
                call_id=f"c{i // 2}",
                attempt=1 + i % 2,
                started_at=T0 + timedelta(minutes=i),
                backend="openai" if i < 6 else "anthropic",
                model="gpt-4o" if i % 3 else "claude",
                status="error" if i % 4 == 0 else "ok",
                latency_s=float(i),
            )
        )
    assert log.append_many(records) == 10
    return log


def ids(df: pd.DataFrame) -> list[float]:
    return [int(v) for v in df["latency_s"]]


@pytest.mark.parametrize("warm", [False, True], ids=["sqlite", "cache"])
def test_filters(filter_log, warm):
    log = filter_log if warm else CallLog(filter_log.path, cache=False)
    if warm:
        log.frame()
    assert ids(log.frame()) == list(range(10))
    assert ids(log.frame(since=T0 + timedelta(minutes=7))) == [7, 8, 9]
    assert ids(log.frame(since="2025-06-01T12:08:00Z")) == [8, 9]
    assert ids(log.frame(since="2025-06-01 12:08:00")) == [8, 9]  # naive = UTC
    assert ids(log.frame(since=date(2025, 6, 2))) == []
    assert ids(log.frame(since=date(2025, 6, 1))) == list(range(10))
    assert ids(log.frame(model="claude")) == [0, 3, 6, 9]
    assert ids(log.frame(model=["claude", "gpt-4o"])) == list(range(10))
    assert ids(log.frame(backend="anthropic")) == [6, 7, 8, 9]
    assert ids(log.frame(status="error")) == [0, 4, 8]
    assert ids(log.frame(call_id="c2")) == [4, 5]
    assert ids(log.frame(call_id=["c0", "c4"])) == [0, 1, 8, 9]
    assert ids(log.frame(last=3)) == [7, 8, 9]
    assert ids(log.frame(last=0)) == []
    assert ids(log.frame(last=100)) == list(range(10))
    assert ids(log.frame(backend="openai", status="ok", last=2)) == [3, 5]
    assert ids(log.frame(model=[])) == []
    assert log.count(backend="openai") == 6 and log.count(last=4) == 4
    # categories of a filtered frame are the values present in it
    assert list(log.frame(backend="anthropic")["backend"].cat.categories) == ["anthropic"]


def test_since_relative_to_now(tmp_path):
    log = make_log(tmp_path)
    now = datetime.now(timezone.utc)
    log.append(CallRecord(call_id="old", started_at=now - timedelta(days=3)))
    log.append(CallRecord(call_id="hour", started_at=now - timedelta(minutes=50)))
    log.append(CallRecord(call_id="now", started_at=now))
    for since, expected in [
        (timedelta(hours=1), ["hour", "now"]),
        (timedelta(minutes=10), ["now"]),
        ("1h", ["hour", "now"]),
        ("2 days", ["hour", "now"]),
        ("1w", ["old", "hour", "now"]),
        ("30m", ["now"]),
    ]:
        assert list(log.frame(since=since)["call_id"]) == expected, since


@pytest.mark.parametrize("since", ["yesterday-ish", 12, timedelta(hours=-1)])
def test_bad_since_is_a_clear_error(tmp_path, since):
    log = make_log(tmp_path)
    with pytest.raises(CallLogFilterError, match="since="):
        log.frame(since=since)


def test_negative_last_is_an_error(tmp_path):
    with pytest.raises(CallLogFilterError, match="last="):
        make_log(tmp_path).frame(last=-1)


# --- summary ---------------------------------------------------------------------------


def summary_records() -> list[CallRecord]:
    t = iter(T0 + timedelta(seconds=i) for i in range(100))
    recs = [
        # gpt-4o: call a = error then ok (retry), b ok, c ok, d cache hit
        CallRecord(call_id="a", attempt=1, started_at=next(t), backend="openai", model="gpt-4o",
                   status="error", latency_s=30.0, http_status=504),
        CallRecord(call_id="a", attempt=2, started_at=next(t), backend="openai", model="gpt-4o",
                   latency_s=1.0, input_tokens=100, output_tokens=10, cost_usd=0.01,
                   cost_source="deck"),
        CallRecord(call_id="b", started_at=next(t), backend="openai", model="gpt-4o",
                   latency_s=2.0, input_tokens=200, output_tokens=20, cost_usd=0.02,
                   cost_source="deck"),
        CallRecord(call_id="c", started_at=next(t), backend="openai", model="gpt-4o",
                   latency_s=4.0, input_tokens=None, output_tokens=30, cost_usd=0.03,
                   cost_source="deck"),
        CallRecord(call_id="d", started_at=next(t), backend="openai", model="gpt-4o",
                   status="cache_hit", cache_hit=True, latency_s=0.001, cost_usd=0.0,
                   saved_cost_usd=0.02, input_tokens=200, output_tokens=20),
        # llama on ollama: no cost known, one call, one ok attempt
        CallRecord(call_id="e", started_at=next(t), backend="ollama", model="llama3",
                   latency_s=0.5, input_tokens=7, output_tokens=3),
        # claude: only failures
        CallRecord(call_id="f", started_at=next(t), backend="anthropic", model="claude",
                   status="error", error_type="BackendError"),
    ]
    return recs


@pytest.mark.parametrize("warm", [False, True], ids=["sqlite", "cache"])
def test_summary_numbers(tmp_path, warm):
    log = make_log(tmp_path)
    log.append_many(summary_records())
    if warm:
        log.frame()
    s = log.summary()
    assert list(s.columns) == [
        "backend", "model", "calls", "attempts", "errors", "cache_hits", "cache_hit_rate",
        "p50_latency_s", "p95_latency_s", "input_tokens", "output_tokens", "cached_tokens",
        "reasoning_tokens", "cost_usd", "saved_cost_usd", "provider_saved_usd",
    ]
    by = {(r.backend, r.model): r for r in s.itertuples(index=False)}
    assert set(by) == {("openai", "gpt-4o"), ("ollama", "llama3"), ("anthropic", "claude")}

    gpt = by["openai", "gpt-4o"]
    assert (gpt.calls, gpt.attempts, gpt.errors, gpt.cache_hits) == (4, 5, 1, 1)
    assert gpt.cache_hit_rate == pytest.approx(0.25)
    # latency over the status == "ok" rows only: [1, 2, 4]
    assert gpt.p50_latency_s == pytest.approx(2.0)
    assert gpt.p95_latency_s == pytest.approx(np.quantile([1.0, 2.0, 4.0], 0.95))  # 3.8
    assert gpt.p95_latency_s == pytest.approx(3.8)
    assert (gpt.input_tokens, gpt.output_tokens) == (500, 80)
    assert gpt.cost_usd == pytest.approx(0.06)
    assert gpt.saved_cost_usd == pytest.approx(0.02)

    llama = by["ollama", "llama3"]
    assert (llama.calls, llama.attempts, llama.errors, llama.cache_hits) == (1, 1, 0, 0)
    assert llama.cache_hit_rate == 0.0
    assert llama.p50_latency_s == llama.p95_latency_s == pytest.approx(0.5)
    assert math.isnan(llama.cost_usd)  # unpriced, not free
    assert llama.saved_cost_usd == 0.0

    claude = by["anthropic", "claude"]
    assert (claude.calls, claude.attempts, claude.errors) == (1, 1, 1)
    assert math.isnan(claude.p50_latency_s) and math.isnan(claude.p95_latency_s)
    assert claude.input_tokens == 0

    assert str(s["calls"].dtype) == "int64" and str(s["input_tokens"].dtype) == "Int64"
    assert str(s["cost_usd"].dtype) == "float64"

    only_gpt = log.summary(model="gpt-4o", since=T0 + timedelta(seconds=2))
    assert len(only_gpt) == 1
    row = only_gpt.iloc[0]
    # rows b, c (ok: 2.0, 4.0 s) and d (cache hit)
    assert (row["calls"], row["attempts"], row["errors"], row["cache_hits"]) == (3, 3, 0, 1)
    assert row["p50_latency_s"] == pytest.approx(3.0)


def test_p50_p95_against_pandas_on_many_rows(tmp_path):
    rng = np.random.default_rng(0)
    latencies = rng.exponential(1.0, 200)
    log = make_log(tmp_path)
    log.append_many(
        CallRecord(call_id=f"c{i}", started_at=T0 + timedelta(seconds=i), backend="b",
                   model="m", latency_s=float(v))
        for i, v in enumerate(latencies)
    )
    row = log.summary().iloc[0]
    assert row["p50_latency_s"] == pytest.approx(np.quantile(latencies, 0.5))
    assert row["p95_latency_s"] == pytest.approx(np.quantile(latencies, 0.95))


# --- persistence, processes, threads ---------------------------------------------------


def test_persists_across_reopen(tmp_path):
    path = tmp_path / "deep" / "er" / "calls.sqlite"
    log = CallLog(path)
    assert path.exists() and log.path == path.resolve()
    log.append_many([full_record(call_id=f"c{i}") for i in range(3)])
    before = log.frame()
    log.close()
    log.close()  # twice is fine
    assert "closed" in repr(log)
    with pytest.raises(CallLogError, match="closed"):
        log.append(full_record())

    reopened = CallLog(str(path))  # a new kernel
    assert reopened.count() == 3
    assert "calls.sqlite" in repr(reopened) and "rows=3" in repr(reopened)
    pd.testing.assert_frame_equal(reopened.frame(), before)
    assert reopened.clear() == 3 and reopened.count() == 0
    reopened.close()
    assert CallLog(path).count() == 0


def test_wal_mode_and_busy_timeout(tmp_path):
    log = make_log(tmp_path)
    conn = log._connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_in_memory_log():
    log = CallLog(None)
    assert log.path is None and "in memory" in repr(log)
    log.append(full_record())
    assert log.count() == 1 and log.frame()["model"].iloc[0] == "gpt-4o"


WRITER = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, sys.argv[1])
    from llmdeck_nb.calllog import CallLog, CallRecord
    path, name, n, folder = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    open(os.path.join(folder, "ready-" + name), "w").close()
    while not os.path.exists(os.path.join(folder, "go")):
        time.sleep(0.001)
    log = CallLog(path)  # both processes may be the first to create the file
    first = time.time()
    for i in range(n):
        log.append(CallRecord(call_id=f"{name}-{i}", backend=name, model="m",
                              prompt_preview="x" * 150))
        time.sleep(0.001)  # paced like a kernel, so the two writers surely overlap
    last = time.time()
    log.close()
    print(first, last)
    """
)


def test_two_processes_append_concurrently(tmp_path):
    path = tmp_path / "shared" / "calls.sqlite"  # created by the racing processes themselves
    names = ("kernel_a", "kernel_b")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(REPO), str(path), name, "500", str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{name}").exists() for name in names):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    (tmp_path / "go").touch()
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert "locked" not in err
    (a_first, a_last), (b_first, b_last) = (map(float, out.split()) for out, _ in outputs)
    assert a_first < b_last and b_first < a_last, "the two writers did not overlap in time"

    log = CallLog(path)
    df = log.frame()
    assert len(df) == 1000
    assert df["call_id"].nunique() == 1000
    assert df["backend"].value_counts().to_dict() == {"kernel_a": 500, "kernel_b": 500}


def test_cache_follows_other_writers(tmp_path):
    path = tmp_path / "calls.sqlite"
    reader, writer = CallLog(path), CallLog(path)
    writer.append(CallRecord(call_id="1", started_at=T0))
    assert list(reader.frame()["call_id"]) == ["1"]
    writer.append(CallRecord(call_id="2", started_at=T0 + timedelta(seconds=2)))
    writer.append(CallRecord(call_id="0", started_at=T0 - timedelta(seconds=1), model="new"))
    df = reader.frame()
    assert list(df["call_id"]) == ["0", "1", "2"]  # an earlier-started row lands first
    assert list(df["model"].cat.categories) == ["new"]
    writer.clear()
    assert reader.frame().empty
    writer.append_many([CallRecord(call_id=f"n{i}", started_at=T0) for i in range(3)])
    assert list(reader.frame()["call_id"]) == ["n0", "n1", "n2"]
    # delete one row and add one: same count, must still be seen
    writer._connection().execute("DELETE FROM calls WHERE call_id = 'n1'")
    writer.append(CallRecord(call_id="n3", started_at=T0))
    assert list(reader.frame()["call_id"]) == ["n0", "n2", "n3"]
    assert reader.summary()["attempts"].sum() == 3


def test_threads_share_one_log(tmp_path):
    log = make_log(tmp_path)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(50):
                log.append(CallRecord(call_id=f"t{k}-{i}"))
                if i % 10 == 0:
                    log.frame(last=5)
        except BaseException as exc:  # noqa: BLE001  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert log.count() == 200 and log.frame()["call_id"].nunique() == 200


def test_append_many_is_all_or_nothing(tmp_path):
    log = make_log(tmp_path)
    good = [CallRecord(call_id="ok") for _ in range(3)]
    bad = CallRecord(call_id="bad")
    bad.started_at = "not a datetime"  # type: ignore[assignment]
    with pytest.raises(TypeError):
        log.append_many([*good, bad])
    assert log.count() == 0
    assert log.append_many([]) == 0


# --- schema and migrations -------------------------------------------------------------

V1_DDL = """
CREATE TABLE calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 1, started_at INTEGER NOT NULL,
    profile TEXT, requested TEXT, preset TEXT, backend TEXT, provider TEXT, model TEXT,
    model_id TEXT, endpoint_host TEXT, status TEXT NOT NULL DEFAULT 'ok', error_type TEXT,
    error_message TEXT, http_status INTEGER, latency_s REAL, ttft_s REAL,
    input_tokens INTEGER, output_tokens INTEGER, cost_usd REAL,
    cost_source TEXT NOT NULL DEFAULT 'none', cache_hit INTEGER NOT NULL DEFAULT 0,
    saved_cost_usd REAL, stream INTEGER NOT NULL DEFAULT 0, temperature REAL,
    max_tokens INTEGER, params TEXT NOT NULL DEFAULT '{}', prompt_hash TEXT,
    prompt_preview TEXT, response_preview TEXT, tags TEXT NOT NULL DEFAULT ''
);
CREATE INDEX calls_started_at ON calls (started_at);
CREATE INDEX calls_call_id ON calls (call_id);
PRAGMA user_version = 1;
"""


def test_migration_from_version_1_keeps_rows(tmp_path):
    assert SCHEMA_VERSION == len(schema.MIGRATIONS) >= 5
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(V1_DDL)
    t0_us = int(T0.timestamp() * 1_000_000)
    conn.executemany(
        "INSERT INTO calls (call_id, started_at, backend, model, latency_s, input_tokens, tags)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(f"old{i}", t0_us + i, "openai", "gpt-4o", 0.5 * i, 10 * i, "v1") for i in range(5)],
    )
    conn.commit()
    conn.close()

    log = CallLog(path)
    conn = log._connection()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    columns = [r[1] for r in conn.execute("PRAGMA table_info(calls)")]
    assert {"session_id", "cache_key", "cache_where", "cached_tokens"} <= set(columns)
    turns = [r[1] for r in conn.execute(f"PRAGMA table_info({schema.CONVERSATIONS_TABLE})")]
    assert turns[:4] == ["id", "conversation", "role", "content"]
    log.append(full_record(call_id="new", started_at=T0 + timedelta(hours=1), session_id="s2"))
    df = log.frame()
    assert list(df["call_id"]) == [f"old{i}" for i in range(5)] + ["new"]
    assert df["session_id"].isna().sum() == 5 and df["session_id"].iloc[-1] == "s2"
    assert list(df["input_tokens"].iloc[:5]) == [0, 10, 20, 30, 40]
    assert df["tags"].iloc[0] == "v1"
    log.close()
    # opening again does not migrate twice
    assert CallLog(path).count() == 6


def old_log(path: Path, version: int, columns: str, rows: list[tuple[object, ...]]) -> Path:
    """A log file as llmdeck_nb wrote it at schema ``version``, holding ``rows``."""
    conn = sqlite3.connect(path, isolation_level=None)
    for step in schema.MIGRATIONS[:version]:
        step(conn)
    conn.execute(f"PRAGMA user_version = {version}")
    marks = ", ".join("?" * len(columns.split(",")))
    conn.executemany(f"INSERT INTO calls ({columns}) VALUES ({marks})", rows)
    conn.close()
    return path


def test_migration_from_version_2_adds_usage_columns_and_keeps_rows(tmp_path):
    # a log file as llmdeck_nb wrote it before cached / reasoning tokens were recorded
    t0_us = int(T0.timestamp() * 1_000_000)
    path = old_log(tmp_path / "v2.sqlite", 2,
                   "call_id, started_at, model, input_tokens, cost_usd, cost_source",
                   [(f"v2-{i}", t0_us + i, "gpt-4o", 100 + i, 0.001, "deck") for i in range(3)])

    log = CallLog(path)
    log.append(full_record(call_id="v3", started_at=T0 + timedelta(hours=1)))
    df = read_both(log)
    assert list(df["call_id"]) == ["v2-0", "v2-1", "v2-2", "v3"]
    assert list(df["input_tokens"].iloc[:3]) == [100, 101, 102]
    for column in ("cached_tokens", "cache_write_tokens", "reasoning_tokens", "provider_saved_usd"):
        assert df[column].iloc[:3].isna().all(), column  # old rows: the provider said nothing
    assert (df["cached_tokens"].iloc[-1], df["reasoning_tokens"].iloc[-1]) == (64, 20)
    summary = log.summary()
    assert (summary["cached_tokens"].sum() == 64
            and summary["provider_saved_usd"].sum() == pytest.approx(8e-5))
    log.close()


def test_migration_from_version_6_drops_the_call_id_index_and_keeps_lookups(tmp_path):
    t0_us = int(T0.timestamp() * 1_000_000)
    path = old_log(tmp_path / "v6.sqlite", 6, "call_id, started_at, model",
                   [(f"v6-{i}", t0_us + i, "gpt-4o") for i in range(5)])

    with CallLog(path, cache=False) as log:
        indexes = {row[1] for row in log.query("PRAGMA index_list(calls)")}
        assert "calls_call_id" not in indexes and "calls_started_at" in indexes
        assert list(log.frame(call_id=["v6-3", "v6-1"])["call_id"]) == ["v6-1", "v6-3"]
        assert log.count() == 5


def test_migrations_apply_one_by_one_from_empty():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    assert schema.migrate(conn) == 0
    assert schema.user_version(conn) == SCHEMA_VERSION
    assert schema.migrate(conn) == SCHEMA_VERSION  # nothing left to do


def test_file_from_a_newer_version_is_a_clear_error(tmp_path):
    path = tmp_path / "future.sqlite"
    log = CallLog(path)
    log.close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(CallLogFormatError) as info:
        CallLog(path)
    message = str(info.value)
    assert str(path.resolve()) in message
    assert "newer" in message and "upgrade llmdeck_nb" in message


def test_not_a_call_log_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CallLogError, match=r"junk\.sqlite"):
        CallLog(junk)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE calls (x)")
    conn.commit()
    conn.close()
    with pytest.raises(CallLogFormatError, match="no call log schema version"):
        CallLog(other)


# --- redaction -------------------------------------------------------------------------

SENTINEL = "sk-test-SENTINEL-0123456789abcdef"


def file_bytes(path: Path) -> bytes:
    """The log file and every file next to it: -wal, -shm, the journals in .pending/."""
    files = [p for p in path.parent.glob(path.name + "*") if p.is_file()]
    files += path.parent.glob(path.name + ".pending/*")
    return b"".join(p.read_bytes() for p in files)


def test_secrets_never_reach_the_file(tmp_path):
    register_secret(SENTINEL)
    path = tmp_path / "calls.sqlite"
    log = CallLog(path)
    log.append(
        CallRecord(
            call_id="leaky",
            status="error",
            error_type="AuthenticationError",
            error_message=f"401: invalid api key {SENTINEL} (Authorization: Bearer {SENTINEL})",
            prompt_preview=f"my key is {SENTINEL}, please",
            response_preview=f"I saw {SENTINEL}",
            params={"api_key": SENTINEL, "extra_headers": {"x-key": SENTINEL}, "max_tokens": 9,
                    "stop": [SENTINEL]},
            tags=(f"tag-{SENTINEL}",),
            requested=SENTINEL,
        )
    )
    # a secret straddling the preview cut is redacted before the cut, not cut in half
    log.append(CallRecord(call_id="edge", prompt_preview="a" * (PREVIEW_CHARS - 10) + SENTINEL))
    log.append_many([CallRecord(call_id=f"m{i}", error_message=SENTINEL) for i in range(3)])

    raw = SENTINEL.encode()
    assert (path.parent / (path.name + "-wal")).exists()
    assert list((path.parent / (path.name + ".pending")).glob("*.journal"))  # read too
    assert raw not in file_bytes(path)  # while open: the rows are in the -wal file
    assert b"SENTINEL" not in file_bytes(path)

    df = log.frame()
    text = df.astype(str).to_string()
    assert SENTINEL not in text and "SENTINEL" not in text
    leaky = df.set_index("call_id").loc["leaky"]
    assert REDACTED in leaky["error_message"] and REDACTED in leaky["prompt_preview"]
    params = json.loads(leaky["params"])
    assert params["api_key"] == REDACTED and params["max_tokens"] == 9
    assert params["extra_headers"]["x-key"] == REDACTED and params["stop"] == [REDACTED]
    assert "SENTINEL" not in df.set_index("call_id").loc["edge", "prompt_preview"]

    log.close()  # checkpoint: the rows move into the main file
    assert raw not in file_bytes(path) and b"SENTINEL" not in file_bytes(path)
    assert raw not in path.read_bytes()


def test_append_many_redacts_the_one_leaky_value_of_a_large_batch(tmp_path):
    # rows are converted and tested for secrets column by column: one secret among
    # thousands of clean rows, in any column, is still found and scrubbed
    register_secret(SENTINEL)
    log = make_log(tmp_path)
    clean = [CallRecord(call_id=f"c{i}", prompt_preview=f"question {i}", params={"seed": 1},
                        tags=("eval",)) for i in range(2000)]
    clean[700].response_preview = f"the answer quotes {SENTINEL}"
    clean[1500].model_id = "sk-ant-" + "Q" * 30
    clean[1999].params = {"seed": True}  # equal to {"seed": 1} as a dict, not as JSON
    assert log.append_many(clean) == 2000
    df = log.frame().set_index("call_id")
    assert df.loc["c700", "response_preview"] == f"the answer quotes {REDACTED}"
    assert df.loc["c1500", "model_id"] == REDACTED
    assert df.loc["c1", "prompt_preview"] == "question 1" and df.loc["c1", "tags"] == "eval"
    assert (df.loc["c1998", "params"] == '{"seed": 1}'
            and df.loc["c1999", "params"] == '{"seed": true}')
    log.close()
    assert SENTINEL.encode() not in file_bytes(log.path)


def test_batch_redaction_finds_the_row_after_texts_that_grow_when_lowercased(tmp_path):
    # the batch scan joins a column's texts and maps each hit back to its row: "İ" lowercases
    # to two characters, so positions in the lowercased text drift from the original ones
    register_secret(SENTINEL)
    log = make_log(tmp_path)
    records = [CallRecord(call_id=f"r{i}", prompt_preview="İstanbul " * 15) for i in range(50)]
    records[30].prompt_preview += f" and {SENTINEL}"
    records[40].prompt_preview = "see https://user:hunter2secret@proxy.example/v1 " + "İ" * 20
    records[45].prompt_preview = "İ" * 60 + " Authorization: Bearer abcdefgh12345678"
    log.append_many(records)
    df = log.frame().set_index("call_id")
    assert SENTINEL not in df.loc["r30", "prompt_preview"]
    assert REDACTED in df.loc["r30", "prompt_preview"]
    assert "hunter2secret" not in df.loc["r40", "prompt_preview"]
    assert "abcdefgh12345678" not in df.loc["r45", "prompt_preview"]
    assert df.loc["r29", "prompt_preview"].startswith("İstanbul İstanbul")
    log.close()
    assert SENTINEL.encode() not in file_bytes(log.path)


def test_words_near_key_shapes_are_kept(tmp_path):
    # "key" and "token" alone are not key shapes: a prompt about dict keys stays as written
    log = make_log(tmp_path)
    text = "Can a tuple be a dict key? How many tokens is this? Use the TOKEN budget."
    log.append_many([CallRecord(prompt_preview=text), CallRecord(prompt_preview="?key=abc123456")])
    assert log.frame()["prompt_preview"].tolist() == [text, f"?key={REDACTED}"]


def test_a_single_row_is_stored_as_it_would_be_in_a_batch(tmp_path):
    # append() converts one record value by value, append_many() column by column: the
    # same rows must reach the file, odd values and secrets included
    register_secret(SENTINEL)
    odd = [
        CallRecord(call_id="odd", temperature="abc", max_tokens="many", latency_s=math.inf,
                   input_tokens=3.0, output_tokens=2.5, http_status=True, cache_hit=1,
                   stream=None, started_at=datetime(2025, 6, 1, 12, 0, 0, 1), model=None,
                   error_message=12345, tags=["a,b", 1, True], params={"api_key": "x", "n": 1}),
        CallRecord(call_id="long", prompt_preview="x" * 900 + SENTINEL, cost_usd=float("nan"),
                   response_preview=f"{SENTINEL} " * 3, params={"seed": True}, tags="t1,t2",
                   error_message="e" * 5000, endpoint_host="user:pw@host"),
        CallRecord(call_id="plain", prompt_preview="İ" * 300, ttft_s=0.25, cached_tokens=2**40),
    ]
    one_by_one, batch = make_log(tmp_path, "one.sqlite"), make_log(tmp_path, "many.sqlite")
    for record in odd:
        one_by_one.append(record)
    batch.append_many(odd)
    pd.testing.assert_frame_equal(one_by_one.frame(), batch.frame())
    frame = batch.frame().set_index("call_id")
    assert frame.loc["odd", "input_tokens"] == 3 and pd.isna(frame.loc["odd", "output_tokens"])
    assert pd.isna(frame.loc["long", "cost_usd"]) and pd.isna(frame.loc["odd", "latency_s"])
    assert SENTINEL not in frame.to_string()


def test_a_secret_registered_later_is_redacted_from_params_seen_before(tmp_path):
    # append() remembers the JSON of the params it saw last (calls repeat them): a value
    # that becomes a secret afterwards (a deck loaded later) must not be written from memory.
    # A backslash: JSON escapes it, so only the redaction of the value itself finds it.
    later = "later\\registered-0123456789"
    log = make_log(tmp_path)
    log.append(CallRecord(call_id="before", params={"note": later}))
    register_secret(later)
    log.append(CallRecord(call_id="after", params={"note": later}))
    params = log.frame().set_index("call_id")["params"]
    assert json.loads(params["before"]) == {"note": later}
    assert json.loads(params["after"]) == {"note": REDACTED}


@pytest.mark.parametrize("keys", [1, 40])  # few keys: a needle prefilter; many: the regex
def test_every_form_of_a_registered_key_is_redacted_one_row_or_many(tmp_path, keys):
    import base64

    registered = [f"{chr(65 + i % 26)}{i:02d}q{keys}-key-Xy7Qw9Rt3Lm5Np" for i in range(keys)]
    for key in registered:
        register_secret(key)
    key = registered[-1]
    encoded = base64.b64encode(key.encode()).decode().rstrip("=")[: len(key) * 8 // 6]
    forms = {"value": key, "base64": encoded, "first 12": key[:12] + " (cut)",
             "masked echo": key[:6] + "********" + key[-4:]}
    records = [CallRecord(call_id=name, response_preview=f"the answer quotes {form} here")
               for name, form in forms.items()]
    one, many = make_log(tmp_path, "one.sqlite"), make_log(tmp_path, "many.sqlite")
    for record in records:
        one.append(record)
    many.append_many(records)
    for log in (one, many):
        stored = log.frame().set_index("call_id")["response_preview"]
        for name in forms:
            assert REDACTED in stored[name], (name, stored[name])
            assert key[:12] not in stored[name] and encoded not in stored[name]


def test_key_shaped_strings_are_redacted_even_unregistered(tmp_path):
    log = make_log(tmp_path)
    unknown = "sk-proj-" + "Z" * 40
    log.append(CallRecord(error_message=f"bad key {unknown}", params={"token": "abcdefgh1234"}))
    row = log.frame().iloc[0]
    assert unknown not in row["error_message"]
    assert json.loads(row["params"])["token"] == REDACTED
    log.close()
    assert unknown.encode() not in file_bytes(log.path)


# --- import weight ---------------------------------------------------------------------


def test_import_does_not_load_pandas():
    code = "import sys, llmdeck_nb.calllog; print('pandas' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False False"
    assert "pandas" not in out.stderr


def test_summary_of_the_last_rows_of_a_cold_log(tmp_path):
    path = tmp_path / "calls.sqlite"
    with CallLog(path) as log:
        log.append_many([CallRecord(backend="b", model=m, latency_s=0.1) for m in ("x", "y", "y")])
    with CallLog(path, cache=False) as cold:
        summary = cold.summary(last=2)
    assert list(summary.model) == ["y"] and int(summary.calls.iloc[0]) == 2
