"""The call path over real HTTP: routing, cache, retries, failover, pre-checks, the log."""

import logging
import time

import pytest
from pydantic import BaseModel

from deck_folders import LOOPBACK_ENV, SENTINEL_KEY, loopback_deck
from fake_llm_server import FakeLLMServer
from llmdeck_nb import load_deck
from llmdeck_nb.engine.retry import RetryPolicy
from llmdeck_nb.engine.session import Session
from llmdeck_nb.errors import AllAttemptsFailedError, RequestRejectedError, SchemaMismatchError

FAST_RETRY = RetryPolicy(base_delay_s=0.01, max_delay_s=0.02)


@pytest.fixture
def session(tmp_path, fake_llm_server):
    deck = load_deck(loopback_deck(tmp_path / "deck", fake_llm_server.url), env=LOOPBACK_ENV)
    with Session(deck=deck, cache=tmp_path / "cache", log=tmp_path / "calls.sqlite",
                 retry=FAST_RETRY, timeout=5) as s:
        yield s


def test_openai_compatible_call_sends_key_and_costs_from_deck_prices(session, fake_llm_server):
    result = session.complete("hello there", "gpt-4o-mini")
    assert result.text == "echo: hello there"
    assert (result.backend, result.model_id, result.cached) == ("openai", "gpt-4o-mini", False)
    sent = fake_llm_server.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {SENTINEL_KEY}"
    assert (result.cost_usd
            == pytest.approx((result.input_tokens * 0.15 + result.output_tokens * 0.6) / 1e6))
    assert result.cost_source == "deck"
    row = session.calls().iloc[-1]
    assert ((row.status, row.backend, row.model, row.cost_source)
            == ("ok", "openai", "gpt-4o-mini", "deck"))


def test_preset_parameters_reach_the_server(session, fake_llm_server):
    session.complete("hi", "precise")
    body = fake_llm_server.requests[-1].json
    assert (body["temperature"], body["max_tokens"]) == (0.1, 200)
    row = session.calls().iloc[-1]
    assert (row.preset, row.temperature, row.max_tokens) == ("precise", 0.1, 200)


def test_second_identical_call_is_a_cache_hit_with_its_own_row(session, fake_llm_server, caplog):
    first = session.complete("cache me", "gpt-4o-mini")
    with caplog.at_level(logging.INFO, logger="llmdeck_nb"):
        second = session.complete("cache me", "gpt-4o-mini")
    assert second.cached and second.text == first.text and second.cost_usd == 0
    assert second.saved_cost_usd == pytest.approx(first.cost_usd)
    assert len(fake_llm_server.requests) == 1
    assert "served from the cache" in caplog.text and "cache me" not in caplog.text
    hit = session.calls().iloc[-1]
    assert (hit.status, bool(hit.cache_hit), hit.cost_usd) == ("cache_hit", True, 0.0)
    assert (hit.input_tokens == first.input_tokens
            and hit.saved_cost_usd == pytest.approx(first.cost_usd))
    # refresh calls again and overwrites; cache=False skips the cache entirely
    assert not session.complete("cache me", "gpt-4o-mini", refresh=True).cached
    assert not session.complete("cache me", "gpt-4o-mini", cache=False).cached
    assert len(fake_llm_server.requests) == 3
    assert session.cache.stats().hits == 1


def test_a_different_parameter_is_a_different_cache_entry(session, fake_llm_server):
    session.complete("same", "gpt-4o-mini", temperature=0.1)
    assert not session.complete("same", "gpt-4o-mini", temperature=0.9).cached


def test_server_error_is_retried_and_every_attempt_is_logged(session, fake_llm_server):
    fake_llm_server.add_fault(status=500)
    result = session.complete("retry me", "gpt-4o-mini")
    assert [a.status for a in result.attempts] == ["error", "ok"]
    rows = session.calls(call_id=result.call_id)
    assert list(rows.attempt) == [1, 2]
    assert (rows.iloc[0].status, rows.iloc[0].http_status) == ("error", 500)
    assert rows.iloc[0].error_type == "BackendError"


def test_rate_limit_honours_retry_after(session, fake_llm_server):
    fake_llm_server.add_fault(status=429, retry_after=0.3)
    began = time.perf_counter()
    result = session.complete("slow down", "gpt-4o-mini")
    assert time.perf_counter() - began >= 0.3
    assert [a.status for a in result.attempts] == ["error", "ok"]


def test_client_error_is_not_retried_but_fails_over_to_the_next_candidate(session, fake_llm_server):
    fake_llm_server.add_fault(status=401, model="gpt-4o-mini")
    result = session.complete("who am i", "gpt-4o-mini")
    # fallback_order = ["backup"]: the same model on the backup backend
    assert ([(a.backend, a.status) for a in result.attempts]
            == [("openai", "error"), ("backup", "ok")])
    assert result.model_id == "backup-mini" and result.backend == "backup"


def test_waterfall_fails_over_to_the_next_model(session, fake_llm_server):
    fake_llm_server.add_fault(status=503, times=None, model="gpt-4o-mini")
    fake_llm_server.add_fault(status=503, times=None, model="backup-mini")
    result = session.complete("anyone?", "sturdy")
    assert result.model == "claude-4.5-haiku" and result.backend == "anthropic"
    assert result.attempts[-1].status == "ok"
    assert fake_llm_server.requests[-1].path == "/v1/messages"  # litellm's anthropic path


def test_failures_are_never_cached(session, fake_llm_server):
    fake_llm_server.add_fault(status=500, times=None)
    with pytest.raises(AllAttemptsFailedError) as info:
        session.complete("doomed", "gpt-4o-mini")
    assert len(info.value.attempts) == 6  # 3 on openai, 3 on backup (fallback_order)
    assert "see %llm_log" in str(info.value)
    fake_llm_server.reset()
    assert not session.complete("doomed", "gpt-4o-mini").cached


def test_timeout_is_retried(session, fake_llm_server):
    fake_llm_server.add_fault(delay=1.0)
    result = session.complete("take your time", "gpt-4o-mini", timeout=0.3)
    assert result.attempts[0].error_type == "BackendTimeoutError"
    assert result.attempts[-1].status == "ok"


def test_malformed_answer_is_an_error_attempt(session, fake_llm_server):
    fake_llm_server.add_fault(malformed=True)
    result = session.complete("garbled", "gpt-4o-mini")
    assert result.attempts[0].error_type == "BackendResponseError"


def test_streaming_delivers_deltas_and_time_to_first_token(session, fake_llm_server):
    deltas: list[str] = []
    result = session.complete("one two three four five six", "gpt-4o-mini", stream=True,
                              on_text=deltas.append)
    assert len(deltas) > 1 and "".join(deltas) == result.text
    assert result.ttft_s is not None and result.ttft_s <= result.latency_s
    assert bool(session.calls().iloc[-1].stream)


def test_sync_calls_run_on_the_calling_thread_even_inside_a_running_loop(session):
    # as in a notebook kernel, whose event loop is running while a cell runs: the call,
    # its deltas and a listener's nested call all happen on this thread, and the
    # kernel's loop is the running loop again afterwards
    import asyncio
    import threading

    seen: list[str] = []
    nested: list[str] = []

    def listener(result):
        seen.append(threading.current_thread().name)
        if not nested:  # a display hook that itself calls the session
            nested.append("calling")
            nested[0] = session.complete("from the listener", "gpt-4o-mini", cache=False).text

    session.listeners.append(listener)

    async def cell() -> None:
        kernel = asyncio.get_running_loop()
        deltas: list[tuple[str, str]] = []
        def on_text(text: str) -> None:
            deltas.append((text, threading.current_thread().name))

        result = session.complete("one two three", "gpt-4o-mini", stream=True, cache=False,
                                  on_text=on_text)
        assert result.text == "echo: one two three" == "".join(t for t, _ in deltas)
        assert {name for _, name in deltas} == {threading.current_thread().name}
        assert asyncio.get_running_loop() is kernel
        await asyncio.sleep(0)  # the kernel's loop still works

    asyncio.run(cell())
    assert nested == ["echo: from the listener"]
    assert seen[0] == threading.current_thread().name


def test_sync_cache_hit_inside_a_running_loop_and_a_nested_call_from_its_listener(session,
                                                                                 fake_llm_server):
    # a hit is answered on the calling thread without any event loop; a listener's nested
    # call that does go out still works, and the kernel's loop is running again afterwards
    import asyncio

    session.complete("cached already", "gpt-4o-mini")
    nested: list[str] = []

    def listener(result):
        if result.cached and not nested:
            nested.append(session.complete("not cached", "gpt-4o-mini", cache=False).text)

    session.listeners.append(listener)

    async def cell() -> None:
        kernel = asyncio.get_running_loop()
        deltas: list[str] = []
        hit = session.complete("cached already", "gpt-4o-mini", on_text=deltas.append)
        assert hit.cached and deltas == [hit.text] == ["echo: cached already"]
        assert asyncio.get_running_loop() is kernel
        await asyncio.sleep(0)

    asyncio.run(cell())
    assert nested == ["echo: not cached"]
    assert len(fake_llm_server.requests) == 2


def test_a_sync_call_read_with_blocking_io_needs_no_event_loop(session, fake_llm_server):
    # an OpenAI-compatible answer read with blocking I/O: no event loop at all (as a cache
    # hit); a stream, and a retry's wait, go on on the thread's own loop
    import asyncio

    loops: list[object] = []
    session.listeners.append(lambda result: loops.append(asyncio.events._get_running_loop()))
    assert session.complete("goes out", "gpt-4o-mini", cache=False).text == "echo: goes out"
    session.complete("streamed", "gpt-4o-mini", cache=False, stream=True)
    fake_llm_server.add_fault(status=500)
    retried = session.complete("retried", "gpt-4o-mini", cache=False)
    assert [a.status for a in retried.attempts] == ["error", "ok"]
    assert loops[0] is None
    assert all(isinstance(loop, asyncio.AbstractEventLoop) for loop in loops[1:])
    assert session.calls().status.tolist()[-3:] == ["ok", "error", "ok"]


def test_identical_sync_calls_from_two_threads_at_once_go_out_once(session, fake_llm_server):
    # each thread runs its synchronous calls on a loop of its own: the in-flight grouping
    # still spans them, so the second thread waits and reads the first one's answer
    from concurrent.futures import ThreadPoolExecutor

    fake_llm_server.add_fault(delay=0.5)  # the first request is slow: the second overlaps it
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(session.complete, "same question", "gpt-4o-mini")
        time.sleep(0.2)
        second = pool.submit(session.complete, "same question", "gpt-4o-mini")
        results = [first.result(timeout=30), second.result(timeout=30)]
    assert len(fake_llm_server.requests) == 1
    assert sorted(r.cached for r in results) == [False, True]
    assert results[0].text == results[1].text == "echo: same question"


def test_stream_cut_midway_is_retried(session, fake_llm_server):
    fake_llm_server.add_fault(cut_stream_after=2)
    result = session.complete("a b c d e f g h", "gpt-4o-mini", stream=True)
    assert result.attempts[0].status == "error" and result.text == "echo: a b c d e f g h"


class City(BaseModel):
    name: str
    population: int


def test_schema_returns_a_parsed_object(session):
    result = session.complete("Largest city in France?", "gpt-4o-mini", schema=City)
    assert isinstance(result.value, City)


def test_schema_mismatch_is_not_retried_but_fails_over_to_the_next_candidate(session,
                                                                              fake_llm_server):
    fake_llm_server.add_fault(off_schema=True, model="gpt-4o-mini")
    result = session.complete("Largest city in Spain?", "gpt-4o-mini", schema=City)
    assert isinstance(result.value, City)
    assert ([(a.backend, a.status) for a in result.attempts]
            == [("openai", "error"), ("backup", "ok")])
    assert result.attempts[0].error_type == "SchemaMismatchError"


def test_schema_mismatch_everywhere_names_the_schema(session, fake_llm_server):
    fake_llm_server.add_fault(off_schema=True, times=None)
    with pytest.raises(AllAttemptsFailedError, match="does not match the schema") as info:
        session.complete("Largest city in Italy?", "gpt-4o-mini", schema=City)
    assert isinstance(info.value.last, SchemaMismatchError) and not info.value.last.retryable
    assert len(info.value.attempts) == 2  # once per candidate: a mismatch is not retried


def test_schema_skips_models_without_structured_output(session):
    with pytest.raises(RequestRejectedError, match="text-only@openai has no structured output"):
        session.complete("x", "text-only", schema=City)


def test_prompt_longer_than_the_context_window_is_refused_before_sending(session, fake_llm_server):
    with pytest.raises(RequestRejectedError,
                       match="exceeds tiny-context@openai's context window of 50"):
        session.complete("word " * 400, "tiny-context")
    assert fake_llm_server.requests == []


def test_images_only_go_to_models_that_take_them(session, fake_llm_server):
    image = [{"role": "user", "content": [{"type": "text", "text": "what is this"},
                                          {"type": "image_url",
                                           "image_url": {"url": "data:image/png;base64,AAAA"}}]}]
    with pytest.raises(RequestRejectedError, match="does not take images"):
        session.complete(image, "text-only")
    assert session.complete(image, "gpt-4o-mini").text == "echo: what is this"


def test_round_robin_across_endpoints(tmp_path, fake_llm_server):
    with FakeLLMServer() as second:
        deck = load_deck(loopback_deck(tmp_path / "deck", fake_llm_server.url,
                                       second_url=second.url),
                         env=LOOPBACK_ENV)
        with Session(deck=deck, cache=tmp_path / "cache", log=False) as s:
            for i in range(4):
                s.complete(f"call {i}", "gpt-4o-mini")
                assert s.complete(f"call {i}", "gpt-4o-mini").cached  # takes no endpoint's turn
        assert len(fake_llm_server.requests) == 2 and len(second.requests) == 2


def test_demo_backend_works_with_no_key_and_says_so(tmp_path):
    with Session(cache=False, log=False) as s:  # the packaged deck
        result = s.complete("What is the capital of France?", "demo")
    assert result.backend == "demo" and result.cost_usd == 0
    assert "demo" in result.text.lower() and "DEMO" in result.footer()


def test_missing_key_falls_back_to_demo_under_auto(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with Session(deck=load_deck(env={}), cache=False, log=False) as s:
        result = s.complete("hi", "gpt-4o-mini")
    assert (result.model, result.backend) == ("gpt-4o-mini", "demo")


def test_calls_filters_and_summary(session, fake_llm_server):
    session.complete("a", "gpt-4o-mini")
    session.complete("a", "gpt-4o-mini")  # cache hit
    session.complete("b", "claude-4.5-haiku")
    assert set(session.calls(backend="anthropic").model) == {"claude-4.5-haiku"}
    assert len(session.calls(status="cache_hit")) == 1
    summary = session.summary().set_index("model")
    assert summary.loc["gpt-4o-mini", "calls"] == 2
    assert summary.loc["gpt-4o-mini", "cache_hit_rate"] == 0.5


def test_check_probes_each_backend(tmp_path, fake_llm_server):
    deck = load_deck(loopback_deck(tmp_path / "deck", fake_llm_server.url), env=LOOPBACK_ENV)
    with Session(deck=deck, cache=False, log=False) as s:
        frame = s.check(["openai", "demo", "nowhere"]).set_index("backend")
    assert frame.loc["openai", "status"] == "ok" and frame.loc["openai", "latency_s"] > 0
    assert frame.loc["demo", "status"] == "ok"
    assert frame.loc["nowhere", "detail"] == "not defined in backends.toml"


def test_check_reports_a_dead_backend(tmp_path):
    deck = load_deck(loopback_deck(tmp_path / "deck", "http://127.0.0.1:9"), env=LOOPBACK_ENV)
    with Session(deck=deck, cache=False, log=False) as s:
        row = s.check(["openai"]).iloc[0]
    assert row.status == "error" and "127.0.0.1" in row.detail


def test_redis_cache_shared_between_sessions(tmp_path, fake_llm_server, redis_server):
    deck = load_deck(loopback_deck(tmp_path / "deck", fake_llm_server.url), env=LOOPBACK_ENV)
    with Session(deck=deck, cache={"url": redis_server}, log=False) as first:
        first.cache.clear()
        first.complete("team question", "gpt-4o-mini")
    with Session(deck=deck, cache=redis_server, log=False) as second:
        assert second.complete("team question", "gpt-4o-mini").cached
    assert len(fake_llm_server.requests) == 1


def test_reload_follows_the_search_order_and_sees_new_keys(tmp_path, monkeypatch, fake_llm_server):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLMDECK_CONFIG_DIR", raising=False)
    with Session(cache=False, log=False) as s:
        assert s.deck.origin == "packaged default"
        # like `llmdeck init`
        loopback_deck(tmp_path / ".llmdeck" / "inference", fake_llm_server.url)
        monkeypatch.setenv("OPENAI_API_KEY", SENTINEL_KEY)
        s.reload()
        assert s.deck.origin == "project" and s.profile == "loopback"
        assert s.complete("after reload", "gpt-4o-mini").backend == "openai"
