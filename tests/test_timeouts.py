"""Timeouts a user can set (deck, %%llm --timeout, complete(timeout=)), a total budget that
bounds the whole call (streaming included), and a stream retried after a cut shown once."""

from __future__ import annotations

import time

import pytest
from deck_folders import write_deck
from notebooks_magics.shell_fixtures import check_usage_error

from llmdeck_nb import load_deck
from llmdeck_nb.engine.retry import RetryPolicy
from llmdeck_nb.engine.session import Session
from llmdeck_nb.errors import AllAttemptsFailedError, DeckSchemaError, InvalidParameterError

pytest_plugins = ["notebooks_magics.shell_fixtures"]

KEY = "sk-test-timeouts-0123456789abcdef"


def timeout_deck(root, url: str, backend_timeout: str = "", model_timeout: str = ""):
    return load_deck(write_deck(root, {
        "backends.toml": f'''
            [openai]
            endpoint = "{url}/v1"
            api_key = "{KEY}"
            {backend_timeout}
        ''',
        "backends/openai.toml": f'''
            [gpt-4o-mini]
            costs = {{ input = 0.15, output = 0.6 }}
            {model_timeout}
            [slowpoke]
            model_id = "gpt-4o-mini"
        ''',
        "routing_profiles.toml": '''
            active = "only"
            [profiles.only]
            default = "openai"
        ''',
        "deck/base_deck.toml": '''
            [aliases]
            slow = "slowpoke"
        ''',
    }))


def one_try(deck) -> Session:
    return Session(deck=deck, cache=False, log=False, retry=RetryPolicy(attempts_per_candidate=1))


def failure(session: Session, model: str = "gpt-4o-mini", **options) -> str:
    with pytest.raises(AllAttemptsFailedError) as failed:
        session.complete("slow?", model, **options)
    return str(failed.value)


def test_backend_and_model_timeouts_are_honoured_model_first(tmp_path, fake_llm_server):
    fake_llm_server.default_delay = 1.0
    deck = timeout_deck(tmp_path, fake_llm_server.url, "timeout = 0.4", "timeout = 0.2")
    assert (deck.backends["openai"].timeout == 0.4
            and deck.specs["openai"]["gpt-4o-mini"].timeout == 0.2)
    with one_try(deck) as session:
        assert "gave no answer within 0.2s" in failure(session)  # the model's wins
        assert "gave no answer within 0.4s" in failure(session, "slowpoke")  # the backend's
        assert "gave no answer within 0.3s" in failure(session, timeout=0.3)  # the call's
        fake_llm_server.default_delay = 0.0
        assert session.complete("fast", "gpt-4o-mini", timeout=5).text == "echo: fast"


@pytest.mark.parametrize("value", ["0", "-1", "\"soon\"", "inf"])
def test_a_bad_timeout_in_the_deck_is_a_clear_error(tmp_path, value):
    with pytest.raises(DeckSchemaError) as bad:
        timeout_deck(tmp_path, "http://127.0.0.1:9", f"timeout = {value}")
    assert "openai.timeout" in str(bad.value) and "backends.toml" in str(bad.value)


@pytest.mark.parametrize("value", [0, -2, float("nan"), "3"])
def test_a_bad_call_timeout_is_refused_before_sending(tmp_path, fake_llm_server, value):
    with one_try(timeout_deck(tmp_path, fake_llm_server.url)) as session:
        with pytest.raises(InvalidParameterError) as bad:
            session.complete("x", "gpt-4o-mini", timeout=value)
    assert "timeout" in str(bad.value) and "greater than 0" in str(bad.value)
    assert fake_llm_server.requests == []


def test_the_total_budget_bounds_a_trickling_stream(tmp_path, fake_llm_server):
    fake_llm_server.chunk_delay = 0.25  # 40 words: 10 s to stream, each chunk well within 3 s
    deck = timeout_deck(tmp_path, fake_llm_server.url, "timeout = 3")
    started = time.perf_counter()
    with Session(deck=deck, cache=False, log=False, retry=RetryPolicy(total_budget_s=1.5)) as s:
        with pytest.raises(AllAttemptsFailedError) as failed:
            s.complete(" ".join(["word"] * 40), "gpt-4o-mini", stream=True)
    elapsed = time.perf_counter() - started
    assert "total time budget of 1.5s ran out" in str(failed.value)
    assert len(failed.value.attempts) == 1  # not retried: the budget is spent
    assert elapsed < 6, elapsed  # the stream alone would take 10 s


def test_a_retried_stream_is_reset_and_shown_once(tmp_path, fake_llm_server):
    fake_llm_server.add_fault(cut_stream_after=2)
    events: list[str] = []
    deck = timeout_deck(tmp_path, fake_llm_server.url)
    with Session(deck=deck, cache=False, log=False,
                 retry=RetryPolicy(base_delay_s=0.001, max_delay_s=0.002)) as s:
        result = s.complete("part0 part1 part2 part3", "gpt-4o-mini", on_text=events.append,
                            on_reset=lambda: events.append("<reset>"))
    assert "<reset>" in events and events.index("<reset>") > 0  # the cut attempt showed text
    after = events[len(events) - 1 - events[::-1].index("<reset>") + 1:]
    assert "".join(after) == result.text == "echo: part0 part1 part2 part3"
    assert len(result.attempts) == 2


def test_llm_magic_timeout_option_and_stream_reset(ip, run, session, fake_llm_server, monkeypatch):
    from llmdeck_nb.notebook import display

    monkeypatch.setattr(display, "STREAM_REFRESH_S", 0.0)
    session.use_profile("loopback")
    fake_llm_server.default_delay = 1.0
    check_usage_error(run("%%llm gpt-4o-mini --timeout 0.2 --no-cache\nslow"),
                      "gave no answer within 0.2s")
    check_usage_error(run("%%llm gpt-4o-mini --timeout -1\nslow"), "timeout", "greater than 0")
    fake_llm_server.default_delay = 0.0
    fake_llm_server.add_fault(cut_stream_after=2)
    ran = run("%%llm gpt-4o-mini --stream --no-cache\nalpha beta gamma delta")
    assert ran.error is None
    bundles = [o.data for o in ran.outputs]
    cleared = bundles.index({"text/plain": ""})  # the cut attempt's text, withdrawn
    assert any("echo: alpha" in b.get("text/markdown", "") for b in bundles[:cleared])
    answers = [b["text/markdown"] for b in bundles[cleared:] if "text/markdown" in b]
    assert answers[-1] == "echo: alpha beta gamma delta"  # then the retried answer, once


def test_a_call_timeout_of_none_lifts_the_deck_timeout_and_left_out_keeps_it(tmp_path,
                                                                              fake_llm_server):
    fake_llm_server.default_delay = 0.6
    deck = timeout_deck(tmp_path, fake_llm_server.url, "timeout = 0.2")
    with one_try(deck) as session:
        assert "gave no answer within 0.2s" in failure(session)  # left out: the deck's
        assert session.complete("slow", "gpt-4o-mini", timeout=None).text == "echo: slow"


def test_the_session_timeout_is_the_fallback_and_none_means_no_limit(tmp_path, fake_llm_server):
    deck = timeout_deck(tmp_path, fake_llm_server.url)  # no timeout in the deck
    fake_llm_server.default_delay = 0.6
    retry = RetryPolicy(attempts_per_candidate=1)
    with Session(deck=deck, cache=False, log=False, retry=retry, timeout=0.2) as session:
        assert "gave no answer within 0.2s" in failure(session)
    with Session(deck=deck, cache=False, log=False, retry=retry, timeout=None) as session:
        assert session.complete("slow", "gpt-4o-mini").text == "echo: slow"
        fake_llm_server.default_delay = 0.0
        assert session.check(["openai"])["status"].tolist() == ["ok"]  # probes keep their 15 s
    with pytest.raises(InvalidParameterError, match="timeout"):
        Session(deck=deck, cache=False, log=False, timeout=0)


def test_llm_magic_timeout_none_means_no_limit(ip, run, session, fake_llm_server):
    session.use_profile("loopback")
    session.timeout = 0.2  # what calls get where the deck sets no timeout
    fake_llm_server.default_delay = 0.6
    check_usage_error(run("%%llm gpt-4o-mini --no-cache\nslow"), "gave no answer within 0.2s")
    ran = run("%%llm gpt-4o-mini --timeout none --no-cache\nslow")
    assert ran.error is None, ran.stderr
    assert any("echo: slow" in o.data.get("text/markdown", "") for o in ran.outputs)
    check_usage_error(run("%%llm gpt-4o-mini --timeout soon\nslow"), "--timeout", "or none")


def test_a_task_whose_call_ran_out_of_budget_carries_on(tmp_path, fake_llm_server):
    """The budget's timer cancels only the attempt: the same task then makes another call."""
    import asyncio

    deck = timeout_deck(tmp_path, fake_llm_server.url)

    async def two_calls(s: Session) -> tuple[str, str, int]:
        fake_llm_server.default_delay = 2.0
        with pytest.raises(AllAttemptsFailedError) as failed:
            await s.acomplete("slow", "gpt-4o-mini")
        fake_llm_server.default_delay = 0.0
        s.retry = RetryPolicy()
        second = await s.acomplete("fast", "gpt-4o-mini")
        await asyncio.sleep(0.01)  # no cancellation left pending on the task
        task = asyncio.current_task()
        assert task is not None
        return str(failed.value), second.text, task.cancelling()

    with Session(deck=deck, cache=False, log=False, retry=RetryPolicy(total_budget_s=0.5)) as s:
        message, text, cancelling = asyncio.run(two_calls(s))
    assert "total time budget of 0.5s ran out" in message
    assert text == "echo: fast"
    assert cancelling == 0


def test_cancelling_a_call_in_flight_is_a_cancellation_not_a_timeout(tmp_path, fake_llm_server):
    import asyncio

    fake_llm_server.default_delay = 2.0
    deck = timeout_deck(tmp_path, fake_llm_server.url)

    async def cancel_midway(s: Session) -> None:
        call = asyncio.ensure_future(s.acomplete("slow", "gpt-4o-mini"))
        await asyncio.sleep(0.3)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    with Session(deck=deck, cache=False, log=False, retry=RetryPolicy(total_budget_s=30)) as s:
        started = time.perf_counter()
        asyncio.run(cancel_midway(s))
    assert time.perf_counter() - started < 1.5  # not waited out


@pytest.mark.parametrize("timeout", [None, 10.0], ids=["no-timeout", "timeout-past-budget"])
def test_the_total_budget_bounds_a_synchronous_call_whose_own_timeout_does_not(
        tmp_path, fake_llm_server, timeout):
    """complete() reads an answer with blocking I/O when it can; an attempt whose own timeout
    (none, or longer than what is left of the budget) cannot end it in time goes on the
    event loop instead, where the budget stops it."""
    fake_llm_server.default_delay = 3.0
    deck = timeout_deck(tmp_path, fake_llm_server.url)
    started = time.perf_counter()
    with Session(deck=deck, cache=False, log=False, retry=RetryPolicy(total_budget_s=0.5)) as s:
        with pytest.raises(AllAttemptsFailedError) as failed:
            s.complete("slow", "gpt-4o-mini", timeout=timeout)
        elapsed = time.perf_counter() - started
        fake_llm_server.default_delay = 0.0
        assert s.complete("fast", "gpt-4o-mini", timeout=timeout).text == "echo: fast"
    assert "total time budget of 0.5s ran out" in str(failed.value)
    assert elapsed < 2.0, elapsed  # not the server's 3 s
