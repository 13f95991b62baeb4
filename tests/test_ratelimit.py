"""Client-side rate limits from the deck, shared by the whole process, and 429 Retry-After,
measured at the loopback server."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from deck_folders import LOOPBACK_ENV, loopback_deck
from loopback import chat_requests, deck_on
from loopback import session_on as loopback_session
from llmdeck_nb import load_deck


def limited_deck(root, url, limits: str, model_limits: str = ""):
    folder = loopback_deck(root, url)
    backends = folder / "backends.toml"
    backends.write_text(backends.read_text().replace("[openai]\n", f"[openai]\n{limits}\n", 1))
    if model_limits:
        specs = folder / "backends" / "openai.toml"
        specs.write_text(specs.read_text().replace("[gpt-4o-mini]\n",
                                                   f"[gpt-4o-mini]\n{model_limits}\n", 1))
    return load_deck(folder, env=LOOPBACK_ENV)


def session_on(deck, tmp_path, name="s"):
    return loopback_session(deck, tmp_path, f"cache-{name}", f"{name}.sqlite")


def arrivals(server) -> list[float]:
    return sorted(r.at for r in chat_requests(server))


def most_in_any_window(times: list[float], width: float) -> int:
    return max(sum(1 for t in times[i:] if t < start + width) for i, start in enumerate(times))


def test_rpm_is_respected_at_the_server(tmp_path, fake_llm_server):
    deck = limited_deck(tmp_path / "deck", fake_llm_server.url, "rpm = 600")  # 10 a second
    with session_on(deck, tmp_path) as session:
        frame = session.batch([f"q{i}" for i in range(25)], "{value}", "gpt-4o-mini",
                              concurrency=16, progress=False)
    assert frame["error"].isna().all()
    times = arrivals(fake_llm_server)
    assert len(times) == 25
    # sent 0.1 s apart; arrivals jitter a little on a loaded machine (the first one opens the
    # connection), so allow one more than 10 a second +1 at the window's edges
    assert most_in_any_window(times, 1.0) <= 12
    assert times[-1] - times[0] >= 24 * 0.1 - 0.3


def test_max_concurrency_caps_requests_in_flight(tmp_path, fake_llm_server):
    fake_llm_server.default_delay = 0.1
    deck = limited_deck(tmp_path / "deck", fake_llm_server.url, "max_concurrency = 3")
    with session_on(deck, tmp_path) as session:
        session.batch([f"q{i}" for i in range(15)], "{value}", "gpt-4o-mini", concurrency=16,
                      progress=False)
    assert fake_llm_server.max_in_flight == 3


def test_model_limits_apply_on_top_of_the_backend_ones(tmp_path, fake_llm_server):
    fake_llm_server.default_delay = 0.1
    deck = limited_deck(tmp_path / "deck", fake_llm_server.url, "max_concurrency = 4",
                        model_limits="max_concurrency = 2")
    with session_on(deck, tmp_path) as session:
        session.batch([f"q{i}" for i in range(8)], "{value}", "gpt-4o-mini", concurrency=8,
                      progress=False)
    assert fake_llm_server.max_in_flight == 2


def test_tpm_spaces_requests_by_their_tokens(tmp_path, fake_llm_server):
    # each request: ~2 prompt tokens (estimate) + max_tokens 100 = ~102; 6,000 tpm = 100 a second,
    # one second's worth at once: two go, the next wait until answers credit their unused tokens
    fake_llm_server.default_delay = 0.5
    deck = limited_deck(tmp_path / "deck", fake_llm_server.url, "tpm = 6000")
    with session_on(deck, tmp_path) as session:
        session.batch([f"q{i}" for i in range(6)], "{value}", "gpt-4o-mini", max_tokens=100,
                      concurrency=6, progress=False)
    times = arrivals(fake_llm_server)
    assert times[1] - times[0] < 0.4 and times[-1] - times[0] >= 0.45


def test_limits_are_shared_by_sessions_threads_and_event_loops(tmp_path, fake_llm_server):
    deck = limited_deck(tmp_path / "deck", fake_llm_server.url, "rpm = 600")
    first, second = session_on(deck, tmp_path, "a"), session_on(deck, tmp_path, "b")
    other_loop = threading.Thread(target=lambda: asyncio.run(
        first.abatch([f"a{i}" for i in range(12)], "{value}", "gpt-4o-mini", progress=False)))
    other_loop.start()
    second.batch([f"b{i}" for i in range(12)], "{value}", "gpt-4o-mini", progress=False)
    other_loop.join()
    first.close()
    second.close()
    times = arrivals(fake_llm_server)
    assert len(times) == 24 and most_in_any_window(times, 1.0) <= 12  # as above


def test_a_burst_of_429s_slows_the_batch_down_instead_of_failing_rows(tmp_path, fake_llm_server):
    fake_llm_server.limit_rate(5, per_s=1.0, retry_after=0.5)  # the provider allows 5 a second
    deck = deck_on(tmp_path / "deck", fake_llm_server.url)
    started = time.perf_counter()
    with session_on(deck, tmp_path) as session:
        frame = session.batch([f"q{i}" for i in range(20)], "{value}", "gpt-4o-mini", concurrency=8,
                              progress=False)
        log = session.calls()
    assert frame["error"].isna().all() and set(frame["backend"]) == {"openai"}  # no row failed over
    assert time.perf_counter() - started >= 1.5
    throttled = log[log.http_status == 429]
    assert len(throttled) > 0 and set(throttled.status) == {"error"}
    # each 429 is an attempt of a row that succeeded
    assert set(throttled.call_id) <= set(log[log.status == "ok"].call_id)
    # they waited: not a retry storm
    assert len(chat_requests(fake_llm_server)) < 20 + 3 * len(throttled)


def test_a_retry_after_too_long_moves_on_as_before(tmp_path, fake_llm_server):
    fake_llm_server.add_fault(status=429, retry_after=120, model="gpt-4o-mini")
    deck = deck_on(tmp_path / "deck", fake_llm_server.url)
    with session_on(deck, tmp_path) as session:
        result = session.complete("hello", "gpt-4o-mini")
    assert result.backend == "backup"  # the fallback answered; nobody waited two minutes


@pytest.mark.parametrize("key, value",
                         [("rpm", "0"), ("max_concurrency", "1.5"), ("tpm", '"lots"')])
def test_bad_limits_are_deck_errors_naming_the_key(tmp_path, fake_llm_server, key, value):
    from llmdeck_nb.errors import DeckError

    with pytest.raises(DeckError, match=key):
        limited_deck(tmp_path / "deck", fake_llm_server.url, f"{key} = {value}")


def test_an_interrupted_batch_gives_its_slots_back(tmp_path, fake_llm_server):
    from llmdeck_nb.engine import loop
    from llmdeck_nb.engine.batch import BatchRun

    fake_llm_server.default_delay = 0.3
    deck = limited_deck(tmp_path / "deck", fake_llm_server.url, "max_concurrency = 2")
    with session_on(deck, tmp_path) as session:
        run = BatchRun(session, [f"q{i}" for i in range(20)], "{value}", "gpt-4o-mini",
                       concurrency=8, progress=False)
        future = loop.submit(run.run())
        while len(chat_requests(fake_llm_server)) < 2:
            time.sleep(0.01)
        run.interrupt()  # 2 requests in flight, 6 rows waiting for a slot: all cancelled
        future.result(timeout=5)
        while fake_llm_server.in_flight:  # the server finishes the cancelled ones in its own time
            time.sleep(0.01)
        fake_llm_server.max_in_flight = 0
        fake_llm_server.default_delay = 0.05
        frame = session.batch([f"r{i}" for i in range(6)], "{value}", "gpt-4o-mini", concurrency=8,
                              progress=False)
    assert frame["error"].isna().all()
    assert fake_llm_server.max_in_flight == 2
