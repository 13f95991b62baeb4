"""session.batch / abatch over the loopback server: failing rows, interrupt and resume,
kill -9 and resume, progress, bounded tasks."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from deck_folders import LOOPBACK_ENV
from loopback import chat_requests, deck_on, session_on
from llmdeck_nb.engine import loop
from llmdeck_nb.engine.batch import NOT_RUN, BatchRun, summary_line
from llmdeck_nb.errors import AllAttemptsFailedError, BatchError, PromptTemplateError

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def session(tmp_path, fake_llm_server):
    with session_on(deck_on(tmp_path / "deck", fake_llm_server.url), tmp_path) as s:
        yield s


def tickets(n: int) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"ticket {i} {'FAIL' if i % 10 == 7 else 'fine'}"
                                  for i in range(n)],
                         "priority": [i % 3 for i in range(n)]},
                        index=pd.Index([f"T{i:03d}" for i in range(n)], name="ticket_id"))


def test_200_rows_with_failing_rows_keep_index_columns_and_order(session, fake_llm_server):
    fake_llm_server.add_fault(status=400, text="FAIL", times=None, message="this ticket is cursed")
    rows = tickets(200)
    frame = session.batch(rows, "Label {text} (priority {priority})", "gpt-4o-mini", concurrency=16,
                          progress=False)
    assert list(frame.index) == list(rows.index) and frame.index.name == "ticket_id"
    assert list(frame.columns) == ["text", "priority", "output", "model", "backend", "latency_s",
                                   "input_tokens", "output_tokens", "cost_usd", "cached",
                                   "error", "call_id"]
    failed = frame[frame["text"].str.contains("FAIL")]
    ok = frame[~frame["text"].str.contains("FAIL")]
    assert len(failed) == 20 and len(ok) == 180
    assert failed["error"].str.contains("cursed").all() and failed["output"].isna().all()
    assert ok["error"].isna().all() and not ok["cached"].any()
    # each answer belongs to its own row
    assert (ok["output"] == "echo: Label " + ok["text"] + " (priority " + ok["priority"].astype(str)
            + ")").all()
    assert (ok["cost_usd"] > 0).all() and (ok["input_tokens"] > 0).all()
    assert set(ok["backend"]) == {"openai"} and ok["call_id"].is_unique
    stats = frame.attrs["llmdeck_batch"]
    assert (stats.answered, stats.errors, stats.not_run) == (180, 20, 0)
    assert summary_line(frame).startswith("batch: 200 rows, 180 answered (0 from the cache), 20 "
                                          "errors")
    # every call is in the log: 180 answers, and the failed rows' attempts on both backends
    log = session.calls()
    assert (log.status == "ok").sum() == 180
    assert set(log[log.status == "error"].http_status) == {400}


def test_second_run_is_served_from_the_cache(session, fake_llm_server):
    rows = tickets(30)
    session.batch(rows, "{text}", "gpt-4o-mini", progress=False)
    sent = len(chat_requests(fake_llm_server))
    again = session.batch(rows, "{text}", "gpt-4o-mini", progress=False)
    assert len(chat_requests(fake_llm_server)) == sent == 30
    assert again["cached"].all() and (again["cost_usd"] == 0).all()


@pytest.mark.parametrize("rows, template, expected", [
    (["a", "b"], "say {value}", ["echo: say a", "echo: say b"]),
    (pd.Series(["x", "y"], name="word"), "{word}/{value}", ["echo: x/x", "echo: y/y"]),
    ([{"n": 1}, {"n": 2}], "n={n:03d}", ["echo: n=001", "echo: n=002"]),
])
def test_series_and_lists_are_rows_too(session, rows, template, expected):
    frame = session.batch(rows, template, "gpt-4o-mini", progress=False)
    assert list(frame["output"]) == expected


def test_a_field_no_row_can_fill_fails_before_anything_is_sent(session, fake_llm_server):
    with pytest.raises(PromptTemplateError, match="tex"):
        session.batch(tickets(5), "{tex}", "gpt-4o-mini", progress=False)
    with pytest.raises(BatchError, match="already have column"):
        session.batch(tickets(5).assign(output=1), "{text}", "gpt-4o-mini", progress=False)
    assert chat_requests(fake_llm_server) == []


def test_on_error_raise_stops_at_the_first_failure(session, fake_llm_server):
    fake_llm_server.add_fault(status=400, text="FAIL", times=None)
    with pytest.raises(AllAttemptsFailedError):
        session.batch(tickets(100), "{text}", "gpt-4o-mini", concurrency=2, on_error="raise",
                      progress=False)
    assert len(chat_requests(fake_llm_server)) < 100


def test_schema_gives_parsed_objects(session):
    from pydantic import BaseModel

    class Label(BaseModel):
        label: str

    frame = session.batch(tickets(3), "{text}", "gpt-4o-mini", schema=Label, progress=False)
    assert all(isinstance(v, Label) for v in frame["output"])


def test_progress_bar_counts_rows_cache_hits_errors_and_cost(session, fake_llm_server, capsys):
    fake_llm_server.add_fault(status=400, text="FAIL", times=None)
    session.batch(tickets(20), "{text}", "gpt-4o-mini")
    err = capsys.readouterr().err
    assert "llmdeck batch" in err and "20/20" in err and "errors=2" in err and "cost=$" in err


def test_memory_is_bounded_by_the_concurrency_not_the_rows(session, fake_llm_server):
    seen = []
    session.listeners.append(lambda result: seen.append(len(asyncio.all_tasks())))
    session.batch([f"row {i}" for i in range(400)], "{value}", "gpt-4o-mini", concurrency=8,
                  progress=False)
    assert len(seen) == 400 and max(seen) <= 8 + 3  # workers + the batch + the progress ticker


def test_interrupt_stops_within_a_second_and_a_rerun_sends_only_the_rest(session, fake_llm_server):
    fake_llm_server.default_delay = 0.3
    rows = tickets(40)
    run = BatchRun(session, rows, "{text}", "gpt-4o-mini", concurrency=4, progress=False)
    future = loop.submit(run.run())
    while len(chat_requests(fake_llm_server)) < 10:
        time.sleep(0.01)
    began = time.perf_counter()
    run.interrupt()
    frame = future.result(timeout=5)
    assert time.perf_counter() - began < 1.0
    done = frame[frame["error"].isna()]
    not_run = frame[frame["error"] == NOT_RUN]
    assert len(done) + len(not_run) == 40 and 4 <= len(done) < 40 and not_run["output"].isna().all()
    assert frame.attrs["llmdeck_batch"].stopped == "interrupted"
    assert "interrupted" in summary_line(frame)

    fake_llm_server.default_delay = 0.0
    before = len(chat_requests(fake_llm_server))
    again = session.batch(rows, "{text}", "gpt-4o-mini", concurrency=4, progress=False)
    assert len(chat_requests(fake_llm_server)) - before == len(not_run)
    assert again["error"].isna().all()
    assert again.loc[done.index, "cached"].all() and not again.loc[not_run.index, "cached"].any()


@pytest.mark.parametrize("target", ["main", "other"])
def test_keyboard_interrupt_returns_the_partial_frame(session, fake_llm_server, target):
    """What the kernel's stop button does: SIGINT while batch() waits. ``other``: the signal
    is handled on another thread, so it never wakes the main thread's wait (as one that lands
    just before the wait begins, which a loaded machine once hit: the whole batch ran)."""
    rows = tickets(40)
    session.batch(rows.head(5), "{text}", "gpt-4o-mini", progress=False)  # 5 rows done before
    fake_llm_server.default_delay = 2.0  # no other row can finish before the interrupt lands
    seen = len(chat_requests(fake_llm_server))
    main = threading.main_thread().ident

    def interrupt_when_busy():
        while len(chat_requests(fake_llm_server)) < seen + 4:
            time.sleep(0.01)
        signal.pthread_kill(main if target == "main" else threading.get_ident(), signal.SIGINT)

    threading.Thread(target=interrupt_when_busy, daemon=True).start()
    frame = session.batch(rows, "{text}", "gpt-4o-mini", concurrency=4, progress=False)
    assert frame["error"].head(5).isna().all() and frame["cached"].head(5).all()
    assert (frame["error"].iloc[5:] == NOT_RUN).all()
    assert frame.attrs["llmdeck_batch"].stopped == "interrupted"


KILLED_BATCH = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from loopback import deck_on, session_on
    from test_batch import tickets

    session = session_on(deck_on(Path({root!r}, "deck2"), {url!r}), Path({root!r}))
    # a finished row: its call returned, after its cache entry and log row were written
    session.listeners.append(lambda result: print("FINISHED", result.text, flush=True))
    session.batch(tickets(200), "{{text}}", "gpt-4o-mini", concurrency=4, progress=False)
""")


def test_kill_9_mid_batch_loses_no_finished_row(tmp_path, session, fake_llm_server):
    fake_llm_server.default_delay = 0.05
    code = KILLED_BATCH.format(tests=str(TESTS), root=str(tmp_path), url=fake_llm_server.url)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, **LOOPBACK_ENV})
    finished = []
    for line in child.stdout:
        finished.append(line.removeprefix("FINISHED ").strip())
        if len(finished) == 40:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    finished += [line.removeprefix("FINISHED ").strip() for line in child.stdout]
    assert 40 <= len(finished) < 200

    fake_llm_server.default_delay = 0.0
    with session_on(deck_on(tmp_path / "deck2", fake_llm_server.url), tmp_path) as resumed:
        logged = set(resumed.calls(status="ok")["response_preview"])
        assert set(finished) <= logged  # every finished row's log row survived
        before = len(chat_requests(fake_llm_server))
        frame = resumed.batch(tickets(200), "{text}", "gpt-4o-mini", concurrency=4, progress=False)
    cached = frame[frame["cached"].astype(bool)]
    assert set(finished) <= set(cached["output"])  # ... and its cache entry
    assert len(chat_requests(fake_llm_server)) - before == 200 - len(cached)
    assert frame["error"].isna().all()
