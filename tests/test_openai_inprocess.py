"""llmdeck_nb.openai_client(): the official openai SDK, answered in process by the deck.

The deck is the loopback deck (tests/deck_folders.py): its providers are the fake server.
"""

import asyncio
import json

import openai
import pytest
from pydantic import BaseModel

import llmdeck_nb
from deck_folders import LOOPBACK_ENV, SENTINEL_KEY, loopback_deck
from llmdeck_nb import load_deck
from llmdeck_nb.engine.retry import RetryPolicy
from llmdeck_nb.engine.session import Session

FAST_RETRY = RetryPolicy(base_delay_s=0.01, max_delay_s=0.02)
HELLO = [{"role": "user", "content": "hello there"}]


class City(BaseModel):
    city: str
    population: int


@pytest.fixture
def session(tmp_path, fake_llm_server):
    deck = load_deck(loopback_deck(tmp_path / "deck", fake_llm_server.url), env=LOOPBACK_ENV)
    with Session(deck=deck, cache=tmp_path / "cache", log=tmp_path / "calls.sqlite",
                 retry=FAST_RETRY, timeout=5) as s:
        yield s


@pytest.fixture
def client(session):
    return llmdeck_nb.openai_client(session)


def test_the_client_is_the_real_sdk_and_answers_through_the_deck(client, session, fake_llm_server):
    assert isinstance(client, openai.OpenAI)
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert answer.choices[0].message.content == "echo: hello there"
    assert answer.choices[0].finish_reason == "stop" and answer.model == "gpt-4o-mini"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (2, 3)
    served = answer.model_extra["llmdeck"]
    assert (served["backend"], served["cached"], served["attempts"]) == ("openai", False, 1)
    # the provider got the deck's key, not the SDK's placeholder
    assert fake_llm_server.requests[-1].headers["authorization"] == f"Bearer {SENTINEL_KEY}"
    row = session.calls().iloc[-1]
    assert (row.status, row.model, row.backend, row.tags) == ("ok", "gpt-4o-mini", "openai",
                                                              "openai-client")
    assert row.call_id == served["call_id"]


def test_presets_and_aliases_are_model_names(client, fake_llm_server):
    client.chat.completions.create(model="precise", messages=HELLO)
    body = fake_llm_server.requests[-1].json
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("gpt-4o-mini", 0.1, 200)
    answer = client.chat.completions.create(model="demo", messages=HELLO)
    assert answer.model == "demo-chat" and answer.model_extra["llmdeck"]["backend"] == "demo"


def test_streaming_gives_the_same_text_in_pieces_and_usage(client, session):
    whole = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, extra_body={
        "llmdeck": {"cache": False}}).choices[0].message.content
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True,
                                                 stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices
              and c.choices[0].delta.content]
    assert len(pieces) > 1 and "".join(pieces) == whole
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 5
    assert bool(session.calls().iloc[-1].stream)


def test_json_schema_response_format(client, fake_llm_server):
    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "a city"}],
        response_format={"type": "json_schema", "json_schema": {
            "name": "City", "schema": City.model_json_schema(), "strict": True}})
    assert City.model_validate_json(answer.choices[0].message.content).population == 1
    sent = fake_llm_server.requests[-1].json["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"]["required"] == ["city",
                                                                                           "population"]
    parsed = client.chat.completions.parse(model="gpt-4o-mini", response_format=City,
                                           messages=[{"role": "user", "content": "another city"}])
    assert parsed.choices[0].message.parsed == City(city="dummy city", population=1)


def test_async_client_plain_and_streaming(session):
    client = llmdeck_nb.async_openai_client(session)
    assert isinstance(client, openai.AsyncOpenAI)

    async def calls():
        answer = await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "streamed async"}],
            stream=True)
        pieces = [c.choices[0].delta.content async for c in stream if c.choices
                  and c.choices[0].delta.content]
        many = await asyncio.gather(*(client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"n{i}"}])
                                      for i in range(20)))
        return answer, pieces, many

    answer, pieces, many = asyncio.run(calls())
    assert answer.choices[0].message.content == "echo: hello there"
    assert "".join(pieces) == "echo: streamed async"
    assert sorted(m.choices[0].message.content for m in many) == sorted(f"echo: n{i}"
                                                                        for i in range(20))
    assert (session.calls().tags == "openai-client").sum() == 22


def test_a_cached_answer_is_marked_and_not_sent_again(client, fake_llm_server):
    first = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    second = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.model_extra["llmdeck"]["cached"] and len(fake_llm_server.requests) == 1


def test_failover_is_the_decks_and_each_attempt_is_logged(client, session, fake_llm_server):
    fake_llm_server.add_fault(status=500, times=None, model="gpt-4o-mini")
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    served = answer.model_extra["llmdeck"]
    assert (served["backend"], served["attempts"]) == ("backup", 4)
    rows = session.calls(call_id=served["call_id"])
    assert list(rows.status) == ["error", "error", "error", "ok"]


def test_unknown_model_is_a_404_with_suggestions(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o-mnii", messages=HELLO)
    error = caught.value.body
    assert error["code"] == "model_not_found" and error["param"] == "model"
    assert "did you mean 'gpt-4o-mini'" in error["message"]


@pytest.mark.parametrize(("options", "param"), [
    ({"n": 2}, "n"),
    ({"extra_body": {"frobnicate": True}}, "frobnicate"),
    ({"response_format": {"type": "xml"}}, "response_format.type"),
    ({"extra_body": {"llmdeck": {"profile": "nope"}}}, "llmdeck.profile"),
    ({"temperature": 7}, "temperature"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"stop": [1, 2]}, "stop"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
])
def test_bad_requests_are_400s_naming_the_parameter(client, fake_llm_server, options, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(**{"model": "gpt-4o-mini", "messages": HELLO, **options})
    assert caught.value.body["param"] == param and caught.value.status_code == 400
    assert fake_llm_server.requests == []  # refused before anything was sent


def test_errors_before_the_first_chunk_are_plain_http_errors(client, tmp_path, fake_llm_server):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o-mnii", messages=HELLO, stream=True)
    no_anthropic_key = {k: v for k, v in LOOPBACK_ENV.items() if not k.startswith("ANTHROPIC")}
    deck = load_deck(loopback_deck(tmp_path / "other", fake_llm_server.url), env=no_anthropic_key)
    # 503: the deck cannot serve it now
    with Session(deck=deck, cache=False, log=False) as session, \
            pytest.raises(openai.InternalServerError) as caught:
        llmdeck_nb.openai_client(session).chat.completions.create(
            model="claude-4.5-haiku", messages=HELLO, stream=True)
    assert caught.value.status_code == 503 and "ANTHROPIC_API_KEY" in caught.value.body["message"]
    assert caught.value.response.headers["x-should-retry"] == "false"


def test_backend_rate_limit_is_a_429_and_a_provider_error_never_shows_the_key(client,
                                                                              fake_llm_server):
    # longer than the engine waits
    fake_llm_server.add_fault(status=429, retry_after=90, model="text-only")
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="text-only", messages=HELLO)
    assert caught.value.response.headers["retry-after"] == "90"
    fake_llm_server.add_fault(status=400, times=None, model="text-only",
                              message=f"invalid api key {SENTINEL_KEY}")
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="text-only", messages=HELLO)
    assert (SENTINEL_KEY not in json.dumps(caught.value.body)
            and SENTINEL_KEY not in str(caught.value))
    assert "[redacted]" in caught.value.body["message"]


WEATHER = [{"type": "function", "function": {
    "name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                      "required": ["city"]}}}]
FORCED = {"type": "function", "function": {"name": "weather"}}


def test_tool_calls_come_back_from_a_litellm_backend_too(client, fake_llm_server):
    """claude-4.5-haiku goes through litellm (anthropic/): its tool_use block comes back as
    the same OpenAI tool call, whole or streamed."""
    answer = client.chat.completions.create(model="claude-4.5-haiku", messages=HELLO,
                                            tools=WEATHER, tool_choice=FORCED)
    assert fake_llm_server.requests[-1].protocol == "anthropic"
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert (call.function.name == "weather"
            and json.loads(call.function.arguments) == {"city": "dummy city"})
    streamed = list(client.chat.completions.create(
        model="claude-4.5-haiku", messages=[{"role": "user", "content": "streamed tool"}],
        tools=WEATHER, tool_choice=FORCED, stream=True))
    deltas = [d for c in streamed if c.choices for d in c.choices[0].delta.tool_calls or ()]
    assert deltas[0].function.name == "weather"
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"city": "dummy city"}
    assert streamed[-1].choices[0].finish_reason == "tool_calls"


def test_tools_go_to_the_backend_and_its_tool_calls_come_back(client, fake_llm_server):
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, tools=WEATHER,
                                            tool_choice=FORCED)
    sent = fake_llm_server.requests[-1].json
    assert sent["tools"] == WEATHER and sent["tool_choice"] == FORCED
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert (call.function.name == "weather"
            and json.loads(call.function.arguments) == {"city": "dummy city"})
    streamed = list(client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "streamed tool"}], tools=WEATHER,
        tool_choice=FORCED, stream=True))
    deltas = [d for c in streamed if c.choices for d in c.choices[0].delta.tool_calls or ()]
    assert deltas[0].function.name == "weather"
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"city": "dummy city"}
    assert streamed[-1].choices[0].finish_reason == "tool_calls"
    again = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, tools=WEATHER,
                                           tool_choice=FORCED)  # from the cache: the same calls
    assert (again.model_extra["llmdeck"]["cached"]
            and again.choices[0].message.tool_calls == choice.message.tool_calls)


def test_a_stream_cut_and_retried_midway_ends_in_an_error_not_a_garbled_answer(client,
                                                                               fake_llm_server):
    fake_llm_server.add_fault(cut_stream_after=2, model="gpt-4o-mini")
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "one two three four five"}],
        stream=True)
    with pytest.raises(openai.APIError, match="stream broke off"):
        list(stream)
    clean = client.chat.completions.create(  # the retried answer completed and was cached
        model="gpt-4o-mini", messages=[{"role": "user", "content": "one two three four five"}],
        stream=True)
    assert ("".join(c.choices[0].delta.content or "" for c in clean if c.choices)
            == "echo: one two three four five")


def test_models_list_has_models_aliases_and_presets_with_their_backend(client):
    models = {m.id: m for m in client.models.list()}
    assert models["gpt-4o-mini"].owned_by == "openai"
    assert models["claude-4.5-haiku"].owned_by == "anthropic"
    assert (models["demo"].owned_by == "demo"
            and models["demo"].model_extra["llmdeck"]["kind"] == "alias")
    assert models["precise"].owned_by == "openai" and models["sturdy"].owned_by == "openai"
    assert client.models.retrieve("precise").model_extra["llmdeck"]["kind"] == "preset"


def test_a_spending_limit_is_openais_quota_error_and_nothing_is_sent(client, fake_llm_server):
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=16000,
                                       extra_body={"llmdeck": {"max_cost_usd": 0.000001}})
    assert caught.value.body["code"] == "budget_exceeded" and caught.value.status_code == 429
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert fake_llm_server.requests == []
