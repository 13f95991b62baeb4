"""OpenAICompatibleStrategy against the loopback fake server (real HTTP, no patching)."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from fake_llm_server import FakeLLMServer
from llmdeck_nb.backends.base import BackendRequest
from llmdeck_nb.backends.openai_compatible import OpenAICompatibleStrategy
from llmdeck_nb.engine.loop import run_eager
from llmdeck_nb.errors import (
    BackendConnectionError,
    BackendError,
    BackendResponseError,
    BackendTimeoutError,
)
from llmdeck_nb.redaction import Secret

SENTINEL = "sk-test-SENTINEL-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "tell me a joke"}]


@pytest.fixture
async def strategy():
    s = OpenAICompatibleStrategy()
    yield s
    await s.aclose()


def request_for(server: FakeLLMServer, **overrides) -> BackendRequest:
    values = dict(backend="self_hosted", provider="openai", model_id="fake-model",
                  messages=MESSAGES, endpoint=server.url + "/v1", api_key=Secret(SENTINEL),
                  timeout=5.0)
    values.update(overrides)
    return BackendRequest(**values)


def assert_no_key(exc: BaseException) -> None:
    for text in (str(exc), repr(exc), exc.hint or ""):
        assert SENTINEL not in text


async def test_complete_returns_text_tokens_and_sends_bearer_and_params(strategy, fake_llm_server):
    req = request_for(fake_llm_server, params={"temperature": 0.2, "max_tokens": 50,
                                                "seed": 7, "top_p": None})
    res = await strategy.complete(req)
    assert res.text == "echo: tell me a joke"
    assert (res.input_tokens, res.output_tokens) == (4, 5)
    assert (res.finish_reason, res.model_id, res.http_status) == ("stop", "fake-model", 200)
    seen = fake_llm_server.requests[-1]
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {SENTINEL}"
    assert seen.json == {"model": "fake-model", "messages": MESSAGES, "temperature": 0.2,
                         "max_tokens": 50, "seed": 7}  # None params are dropped


async def test_no_key_means_no_authorization_header(strategy, fake_llm_server):
    await strategy.complete(request_for(fake_llm_server, api_key=None))
    assert "authorization" not in fake_llm_server.requests[-1].headers


async def test_a_backends_headers_replace_the_defaults_of_the_same_name(strategy,
                                                                          fake_llm_server):
    """A gateway that wants its own User-Agent or Accept gets it once, whatever the case of
    the name in the deck; other headers are added, a key among them (the loader makes a
    value under a secret-looking name a Secret: it was a TypeError)."""
    extra = {"headers": {"User-Agent": "team-gateway/1", "ACCEPT": "application/json",
                         "X-Team": "ds", "X-Gateway-Key": Secret("gw-key-0123456789abc")}}
    await strategy.complete(request_for(fake_llm_server, extra=extra))
    seen = fake_llm_server.requests[-1].headers
    assert (seen["user-agent"], seen["accept"], seen["x-team"]) == (
        "team-gateway/1", "application/json", "ds")
    assert seen["content-type"] == "application/json"
    assert seen["authorization"] == f"Bearer {SENTINEL}"
    assert seen["x-gateway-key"] == "gw-key-0123456789abc"  # a Secret from the deck: its value


@pytest.mark.parametrize("blocking", [False, True], ids=["async", "blocking"])
def test_a_gzip_compressed_answer_is_read(fake_llm_server, blocking):
    """OpenAI's API compresses answers for a client that accepts it; both read paths do."""
    fake_llm_server.gzip_answers = True
    strategy = OpenAICompatibleStrategy()
    sending = strategy.complete(request_for(fake_llm_server))
    res = run_eager(sending, blocking_io=True) if blocking else asyncio.run(sending)
    assert res.text == "echo: tell me a joke" and res.output_tokens == 5
    assert "gzip" in fake_llm_server.requests[-1].headers["accept-encoding"]


async def test_max_tokens_truncation_reports_length(strategy, fake_llm_server):
    res = await strategy.complete(request_for(fake_llm_server, params={"max_tokens": 2}))
    assert (res.text, res.finish_reason) == ("echo: tell", "length")


async def test_schema_becomes_response_format_and_answer_is_json(strategy, fake_llm_server):
    schema = {"title": "Joke card", "type": "object", "required": ["setup", "rating"],
              "properties": {"setup": {"type": "string"}, "rating": {"type": "integer"}}}
    res = await strategy.complete(request_for(fake_llm_server, schema=schema))
    assert set(json.loads(res.text)) == {"setup", "rating"}
    fmt = fake_llm_server.requests[-1].json["response_format"]
    assert fmt == {"type": "json_schema", "json_schema": {"name": "Joke_card", "schema": schema}}


async def test_stream_calls_on_text_per_delta_with_usage_and_ttft(strategy, fake_llm_server):
    fake_llm_server.chunk_delay = 0.01
    pieces: list[str] = []
    res = await strategy.stream(request_for(fake_llm_server), pieces.append)
    assert pieces == ["echo: ", "tell ", "me ", "a ", "joke"]
    assert res.text == "echo: tell me a joke"
    assert (res.input_tokens, res.output_tokens, res.finish_reason) == (4, 5, "stop")
    assert 0 < res.ttft_s < 1
    body = fake_llm_server.requests[-1].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_calls_reuse_one_pooled_connection(strategy, fake_llm_server):
    for _ in range(5):
        await strategy.complete(request_for(fake_llm_server))
    await strategy.stream(request_for(fake_llm_server), lambda _: None)
    assert fake_llm_server.connections_opened == 1


async def test_concurrent_calls_get_a_client_each_and_later_calls_reuse_them(strategy,
                                                                          fake_llm_server):
    import asyncio

    burst = [request_for(fake_llm_server, messages=[{"role": "user", "content": f"q {i}"}])
             for i in range(8)]
    await asyncio.gather(*(strategy.complete(r) for r in burst))
    opened = fake_llm_server.connections_opened
    assert len(strategy._pool().clients) <= 8
    await asyncio.gather(*(strategy.complete(r) for r in burst))  # the same clients again
    for _ in range(5):  # one after another: the client given back last, on its connection
        await strategy.complete(request_for(fake_llm_server))
    assert fake_llm_server.connections_opened == opened <= 8


async def test_concurrent_calls(strategy, fake_llm_server):
    reqs = [request_for(fake_llm_server, messages=[{"role": "user", "content": f"q {i}"}])
            for i in range(64)]
    results = await asyncio.gather(*(strategy.complete(r) for r in reqs))
    assert [r.text for r in results] == [f"echo: q {i}" for i in range(64)]


# --- errors ----------------------------------------------------------------------------------


async def test_429_is_retryable_with_retry_after(strategy, fake_llm_server):
    fake_llm_server.add_fault(status=429, retry_after=7)
    with pytest.raises(BackendError) as info:
        await strategy.complete(request_for(fake_llm_server))
    exc = info.value
    assert (exc.status, exc.retryable, exc.retry_after) == (429, True, 7.0)
    assert "HTTP 429" in str(exc) and "self_hosted" in str(exc)
    assert_no_key(exc)


async def test_429_retry_after_in_stream(strategy, fake_llm_server):
    fake_llm_server.add_fault(status=429, retry_after=3)
    with pytest.raises(BackendError) as info:
        await strategy.stream(request_for(fake_llm_server), lambda _: None)
    assert (info.value.status, info.value.retryable, info.value.retry_after) == (429, True, 3.0)


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
async def test_server_errors_are_retryable(strategy, fake_llm_server, status):
    fake_llm_server.add_fault(status=status)
    with pytest.raises(BackendError) as info:
        await strategy.complete(request_for(fake_llm_server))
    assert (info.value.status, info.value.retryable) == (status, True)


async def test_401_is_final_points_at_key_and_never_shows_it(strategy, fake_llm_server):
    fake_llm_server.add_fault(status=401, message=f"Incorrect API key provided: {SENTINEL}")
    with pytest.raises(BackendError) as info:
        await strategy.complete(request_for(fake_llm_server))
    exc = info.value
    assert (exc.status, exc.retryable) == (401, False)
    assert "API key variable" in exc.hint
    assert "Incorrect API key provided" in str(exc)
    assert_no_key(exc)


async def test_404_hints_model_id_and_400_shows_provider_message(strategy, fake_llm_server):
    fake_llm_server.add_fault(status=404)
    fake_llm_server.add_fault(status=400, message="temperature must be <= 2")
    with pytest.raises(BackendError) as info:
        await strategy.complete(request_for(fake_llm_server))
    assert info.value.status == 404 and not info.value.retryable
    assert "model_id 'fake-model'" in info.value.hint
    with pytest.raises(BackendError) as info:
        await strategy.complete(request_for(fake_llm_server))
    assert info.value.status == 400 and not info.value.retryable
    assert "temperature must be <= 2" in str(info.value)


async def test_malformed_json_is_a_retryable_response_error(strategy, fake_llm_server):
    fake_llm_server.add_fault(malformed=True)
    with pytest.raises(BackendResponseError) as info:
        await strategy.complete(request_for(fake_llm_server))
    assert info.value.retryable and info.value.status is None
    fake_llm_server.add_fault(malformed=True)
    with pytest.raises(BackendResponseError):
        await strategy.stream(request_for(fake_llm_server), lambda _: None)


async def test_cut_stream_keeps_received_text_and_raises_response_error(strategy, fake_llm_server):
    fake_llm_server.add_fault(cut_stream_after=3)
    pieces: list[str] = []
    with pytest.raises(BackendResponseError) as info:
        await strategy.stream(request_for(fake_llm_server), pieces.append)
    assert pieces == ["echo: ", "tell ", "me "]
    assert info.value.retryable and "cut off" in str(info.value)
    # a stream cut after every chunk but before finish_reason/[DONE] is also incomplete
    fake_llm_server.add_fault(cut_stream_after=99)
    with pytest.raises(BackendResponseError):
        await strategy.stream(request_for(fake_llm_server), lambda _: None)


async def test_cut_body_and_disconnect(strategy, fake_llm_server):
    fake_llm_server.add_fault(cut_stream_after=0)
    with pytest.raises(BackendResponseError):
        await strategy.complete(request_for(fake_llm_server))
    fake_llm_server.add_fault(disconnect=True)
    with pytest.raises(BackendConnectionError) as info:
        await strategy.complete(request_for(fake_llm_server))
    assert info.value.retryable
    # the pool recovers: the next call answers
    assert (await strategy.complete(request_for(fake_llm_server))).text.startswith("echo:")


async def test_timeout_is_retryable_timeout_error(strategy, fake_llm_server):
    fake_llm_server.add_fault(delay=1.0)
    with pytest.raises(BackendTimeoutError) as info:
        await strategy.complete(request_for(fake_llm_server, timeout=0.1))
    assert info.value.retryable and "0.1s" in str(info.value)


async def test_connection_refused_is_retryable_connection_error(strategy):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again at once: nothing listens there
    req = BackendRequest(backend="local", provider="openai", model_id="m", messages=MESSAGES,
                         endpoint=f"http://127.0.0.1:{port}/v1", api_key=Secret(SENTINEL),
                         timeout=2)
    with pytest.raises(BackendConnectionError) as info:
        await strategy.complete(req)
    assert info.value.retryable and f"127.0.0.1:{port}" in str(info.value)
    assert_no_key(info.value)


async def test_unknown_backend_without_endpoint(strategy):
    req = BackendRequest(backend="mystery", provider="mystery", model_id="m", messages=MESSAGES)
    with pytest.raises(BackendError) as info:
        await strategy.complete(req)
    assert "no endpoint" in str(info.value) and not info.value.retryable


async def test_probe_lists_models_and_falls_back_to_a_completion(strategy, fake_llm_server):
    await strategy.probe(request_for(fake_llm_server))
    assert [(r.method, r.path) for r in fake_llm_server.requests] == [("GET", "/v1/models")]
    fake_llm_server.requests.clear()
    fake_llm_server.add_fault(status=404, path="/models")
    await strategy.probe(request_for(fake_llm_server))
    assert [r.method for r in fake_llm_server.requests] == ["GET", "POST"]
    fake_llm_server.add_fault(status=401, path="/models")
    with pytest.raises(BackendError) as info:
        await strategy.probe(request_for(fake_llm_server))
    assert info.value.status == 401


async def test_on_text_exceptions_are_not_disguised(strategy, fake_llm_server):
    def boom(_: str) -> None:
        raise KeyError("from the caller")

    with pytest.raises(KeyError):
        await strategy.stream(request_for(fake_llm_server), boom)
