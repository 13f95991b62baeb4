"""One retry verdict: both strategies, against the real fake server, agree with
``backends.errors.is_retryable`` for every status and failure kind; a 401 names the
deck's key variable (never its value)."""

from __future__ import annotations

import inspect
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
from pydantic import BaseModel

from deck_folders import write_deck
from fake_llm_server import FakeLLMServer
from llmdeck_nb import load_deck
from llmdeck_nb.backends.base import BackendRequest, BackendStrategy
from llmdeck_nb.backends.errors import Failure, is_retryable
from llmdeck_nb.backends.litellm_sdk import LiteLLMStrategy, load_litellm
from llmdeck_nb.backends.openai_compatible import OpenAICompatibleStrategy
from llmdeck_nb.engine.retry import RetryPolicy
from llmdeck_nb.engine.session import Session
from llmdeck_nb.engine.structured import schema_spec
from llmdeck_nb.errors import AllAttemptsFailedError, BackendError, SchemaMismatchError
from llmdeck_nb.redaction import Secret

KEY = "sk-test-RETRY-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "one two three four five"}]
# (strategy, provider, endpoint suffix, model): the OpenAI wire over httpx, the OpenAI
# wire through litellm (the openai SDK), Anthropic's wire through litellm (httpx)
STRATEGIES = [("openai_compatible", "openai", "/v1", "fake-model"),
              ("litellm", "openai", "/v1", "fake-model"),
              ("litellm", "anthropic", "", "claude-3-5-sonnet-20241022")]


class City(BaseModel):
    name: str
    population: int


def keeps_provider_status() -> bool:
    """litellm's exceptions keep the provider's status (``provider_status_code``) since a
    release after 1.89; before, anthropic/ reported Anthropic's 529 as 500, nothing else."""
    init = load_litellm().exceptions.InternalServerError.__init__
    return "provider_status_code" in inspect.signature(init).parameters


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again at once: nothing listens there


Attempt = Callable[[BackendStrategy, FakeLLMServer, BackendRequest], Awaitable[object]]


async def complete(strategy: BackendStrategy, server: FakeLLMServer,
                   request: BackendRequest) -> object:
    return await strategy.complete(request)


async def stream(strategy: BackendStrategy, server: FakeLLMServer,
                 request: BackendRequest) -> object:
    return await strategy.stream(request, lambda _: None)


async def off_schema(strategy: BackendStrategy, server: FakeLLMServer,
                     request: BackendRequest) -> object:
    """What the engine does with a structured answer: parse it against the schema."""
    wanted = schema_spec(City)
    assert wanted is not None
    response = await strategy.complete(replace(request, schema=wanted.json_schema))
    return wanted.parse(response.text, request.backend)


# failure -> (fault to inject, how the attempt is made, request overrides)
CASES: dict[int | Failure, tuple[dict[str, object], Attempt, dict[str, object]]] = {
    429: ({"status": 429}, complete, {}),
    500: ({"status": 500}, complete, {}),
    503: ({"status": 503}, stream, {}),
    529: ({"status": 529}, complete, {}),
    400: ({"status": 400}, complete, {}),
    401: ({"status": 401}, stream, {}),
    "timeout": ({"delay": 1.0}, complete, {"timeout": 0.2}),
    "connection": ({}, complete, {"endpoint": "closed"}),
    "cut": ({"cut_stream_after": 2}, stream, {}),
    "schema_mismatch": ({"off_schema": True}, off_schema, {}),
}
EXPECTED = {429: True, 500: True, 503: True, 529: True, 400: False, 401: False,
            "timeout": True, "connection": True, "cut": True, "schema_mismatch": False}


@pytest.fixture
async def strategies():
    openai_compatible = OpenAICompatibleStrategy()
    yield {"openai_compatible": openai_compatible, "litellm": LiteLLMStrategy()}
    await openai_compatible.aclose()


@pytest.mark.parametrize("failure", list(CASES), ids=str)
async def test_every_strategy_gives_the_one_verdict(strategies, fake_llm_server, failure):
    fault, attempt, overrides = CASES[failure]
    verdicts = {}
    for kind, provider, suffix, model in STRATEGIES:
        endpoint = fake_llm_server.url + suffix
        if overrides.get("endpoint") == "closed":
            endpoint = f"http://127.0.0.1:{closed_port()}{suffix}"
        request = BackendRequest(backend="b", provider=provider, model_id=model,
                                 messages=MESSAGES, endpoint=endpoint, api_key=Secret(KEY),
                                 timeout=float(overrides.get("timeout", 5.0)))
        if fault:
            fake_llm_server.add_fault(**fault)
        with pytest.raises(BackendError) as info:
            await attempt(strategies[kind], fake_llm_server, request)
        if isinstance(failure, int):  # the provider's own status, whatever litellm maps it to
            assert info.value.status == (500 if (failure, provider) == (529, "anthropic")
                                         and not keeps_provider_status() else failure)
        if failure == "schema_mismatch":
            assert isinstance(info.value, SchemaMismatchError)
        verdicts[f"{kind}:{provider}"] = info.value.retryable
        fake_llm_server.reset()
    assert set(verdicts.values()) == {EXPECTED[failure]} == {is_retryable(failure)}, verdicts


# --- 401: the hint names the deck's key variable -------------------------------------------


@pytest.fixture
def team_deck(tmp_path, fake_llm_server):
    """Key variables the catalog does not know: the hint can only have them from the deck."""
    folder = write_deck(tmp_path / "deck", {
        "backends.toml": f'''
            [openai]
            endpoint = "{fake_llm_server.url}/v1"
            api_key = "${{TEAM_OPENAI_KEY}}"

            [anthropic]
            endpoint = "{fake_llm_server.url}"
            api_key = "${{env:UNSET_CLAUDE_KEY|env:TEAM_CLAUDE_KEY}}"
        ''',
        "backends/openai.toml": '''
            [gpt-4o-mini]
            costs = { input = 0.15, output = 0.6 }
        ''',
        "backends/anthropic.toml": '''
            ["claude-4.5-haiku"]
            model_id = "claude-haiku-4-5"
            costs = { input = 1.0, output = 5.0 }
        ''',
        "routing_profiles.toml": '''
            active = "team"
            [profiles.team]
            default = "openai"
            [profiles.team.routes]
            "claude-*" = "anthropic"
        ''',
        "deck/base_deck.toml": '''
            [aliases]
            fast = "gpt-4o-mini"
        ''',
    })
    return load_deck(folder, env={"TEAM_OPENAI_KEY": KEY, "TEAM_CLAUDE_KEY": KEY + "-claude"})


@pytest.mark.parametrize("model,variable", [("gpt-4o-mini", "TEAM_OPENAI_KEY"),
                                            ("claude-4.5-haiku", "TEAM_CLAUDE_KEY")])
@pytest.mark.parametrize("streamed", [False, True])
def test_a_401_names_the_key_variable_of_the_backend(team_deck, fake_llm_server, caplog,
                                                     model, variable, streamed):
    fake_llm_server.add_fault(status=401, times=None, message="bad key {key}")
    with caplog.at_level(logging.WARNING, logger="llmdeck_nb"), \
            Session(deck=team_deck, cache=False, log=False, retry=RetryPolicy()) as session, \
            pytest.raises(AllAttemptsFailedError) as failed:
        session.complete("hello", model, stream=streamed, on_text=lambda _: None)
    error = failed.value
    assert len(error.attempts) == 1  # a 401 is not retried
    assert f"check the API key variable {variable} for backend" in str(error)
    for text in (str(error), repr(error), error.hint or "", caplog.text):
        assert KEY not in text
