"""The offline demo stands in only when no real backend can serve a call; a real provider
that fails gives an error naming the real cause, never a canned demo answer."""

from __future__ import annotations

import logging

import pytest

from llmdeck_nb import load_deck
from llmdeck_nb.engine.retry import RetryPolicy
from llmdeck_nb.engine.session import Session
from llmdeck_nb.errors import AllAttemptsFailedError

FAKE_KEY = "sk-test-standin-0123456789abcdef"
QUICK = RetryPolicy(base_delay_s=0.001, max_delay_s=0.002)


def packaged(**env: str):
    """The packaged deck (profile auto) with these variables only."""
    return load_deck(env=env)


def test_with_a_key_the_chain_has_no_demo_stand_in():
    deck = packaged(OPENAI_API_KEY=FAKE_KEY)
    chain = deck.resolve("cheap").candidates
    assert [c.backend.name for c in chain] == ["openai"]  # gemini/claude/... were demo stand-ins
    assert all(c.backend.name == "demo" for c in packaged().resolve("cheap").candidates)


def test_an_unreachable_provider_is_an_error_naming_the_host_not_a_demo_answer(tmp_path, caplog):
    deck = packaged(OPENAI_API_KEY=FAKE_KEY, OPENAI_BASE_URL="http://no-such-host.invalid/v1")
    with caplog.at_level(logging.WARNING, logger="llmdeck_nb"), \
            Session(deck=deck, cache=False, log=tmp_path / "calls.sqlite", retry=QUICK) as session:
        with pytest.raises(AllAttemptsFailedError) as failed:
            session.complete("hello")
        backends = set(session.calls().backend)
    message = str(failed.value)
    assert "cannot resolve no-such-host.invalid" in message and "DNS" in message
    assert "demo" not in message.lower() and backends == {"openai"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3 and all("cannot resolve no-such-host.invalid" in w for w in warnings)


def test_a_401_names_the_provider_message(tmp_path, fake_llm_server, caplog):
    deck = packaged(OPENAI_API_KEY=FAKE_KEY, OPENAI_BASE_URL=fake_llm_server.url + "/v1")
    fake_llm_server.add_fault(status=401, times=None,
                              message="Incorrect API key provided: sk-test-****cdef")
    with caplog.at_level(logging.WARNING, logger="llmdeck_nb"), \
            Session(deck=deck, cache=False, log=False, retry=QUICK) as session:
        with pytest.raises(AllAttemptsFailedError) as failed:
            session.complete("hello")
    message = str(failed.value)
    assert "answered HTTP 401 (Unauthorized): Incorrect API key provided" in message
    assert "check the API key variable OPENAI_API_KEY for backend 'openai'" in message
    assert "DEMO" not in message
    assert "HTTP 401" in caplog.text  # the per-attempt warning names the cause too


def test_without_a_key_the_demo_still_answers(tmp_path):
    with Session(deck=packaged(), cache=False, log=False) as session:
        result = session.complete("hello")
    assert result.demo and result.backend == "demo"
