"""HTTP status -> BackendError mapping, and the provider catalog / strategy registry."""

from __future__ import annotations

import time
from email.utils import formatdate
from typing import get_args

import pytest

from llmdeck_nb.backends.base import BackendRequest
from llmdeck_nb.backends.catalog import PROVIDER_CATALOG, strategy_for
from llmdeck_nb.backends.errors import (
    Failure,
    error_from_status,
    is_retryable,
    parse_retry_after,
    provider_message,
)
from llmdeck_nb.backends.registry import aclose_all, get_strategy
from llmdeck_nb.errors import BackendError, BackendTimeoutError, UnknownStrategyError
from llmdeck_nb.redaction import Secret


@pytest.mark.parametrize("status,retryable", [
    (400, False), (401, False), (403, False), (404, False), (422, False),
    (408, True), (429, True), (500, True), (502, True), (503, True), (504, True),
])
def test_status_decides_retryable(status, retryable):
    exc = error_from_status(status, backend="b")
    assert isinstance(exc, BackendError)
    assert (exc.status, exc.retryable) == (status, retryable)
    assert f"HTTP {status}" in str(exc)


def test_every_failure_kind_has_a_verdict():
    verdicts = {kind: is_retryable(kind) for kind in get_args(Failure)}
    assert {kind for kind, retried in verdicts.items() if retried} == \
        {"connection", "timeout", "malformed", "cut"}
    assert [s for s in range(400, 600) if is_retryable(s)] == [408, 429, 500, 502, 503, 504, 529]


def test_timeouts_statuses_are_timeout_errors():
    assert isinstance(error_from_status(408, backend="b"), BackendTimeoutError)
    assert isinstance(error_from_status(504, backend="b"), BackendTimeoutError)


def test_retry_after_seconds_http_date_and_ms():
    assert parse_retry_after({"retry-after": "12"}) == 12.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    future = formatdate(time.time() + 30, usegmt=True)
    assert 25 < parse_retry_after({"retry-after": future}) <= 30
    assert parse_retry_after({"retry-after": formatdate(0, usegmt=True)}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after(None) is None
    exc = error_from_status(429, backend="b", headers={"retry-after": "4"})
    assert exc.retry_after == 4.0 and "wait 4s" in exc.hint
    assert error_from_status(400, backend="b", headers={"retry-after": "4"}).retry_after is None


def test_provider_message_shapes():
    assert provider_message('{"error": {"message": "bad temp", "type": "x"}}') == "bad temp"
    assert provider_message(b'{"type": "error", "error": {"message": "overloaded"}}') == \
        "overloaded"
    assert provider_message('{"error": "model not found"}') == "model not found"
    assert provider_message("plain text\n  failure") == "plain text failure"
    assert len(provider_message("x" * 5000)) == 300


def test_hints_and_key_never_in_message():
    key = Secret("sk-test-SENTINEL-0123456789abcdef")
    body = f'{{"error": {{"message": "Incorrect API key provided: {key.get()}"}}}}'
    exc = error_from_status(401, backend="openai", body=body, key_variable="OPENAI_API_KEY")
    assert "OPENAI_API_KEY" in exc.hint
    assert key.get() not in str(exc) and key.get() not in repr(exc)
    assert "model_id 'gpt-x'" in error_from_status(404, backend="b", model_id="gpt-x").hint
    assert "bad temp" in str(error_from_status(400, backend="b", body='{"error": "bad temp"}'))


def test_catalog_strategies_and_unknown_names():
    expected = {
        "openai": "openai_compatible", "cerebras": "openai_compatible",
        "lmstudio": "openai_compatible", "self_hosted": "openai_compatible",
        "groq": "openai_compatible", "xai": "openai_compatible",
        "openrouter": "openai_compatible", "vllm": "openai_compatible",
        "ollama": "openai_compatible", "anthropic": "litellm", "azure_openai": "litellm",
        "vertexai": "litellm", "google": "litellm", "bedrock": "litellm", "mistral": "litellm",
        "demo": "demo", "scaleway": "openai_compatible", "blackboxai": "openai_compatible",
        "huggingface": "openai_compatible", "perplexity": "openai_compatible",
        "portkey": "openai_compatible", "pipelex_inference": "openai_compatible",
        "internal": "none", "pipelex_gateway": "none", "fal": "none", "linkup": "none",
    }
    assert {name: d.strategy for name, d in PROVIDER_CATALOG.items()} == expected
    assert PROVIDER_CATALOG["azure_openai"].provider == "azure"
    assert PROVIDER_CATALOG["google"].provider == "gemini"
    assert PROVIDER_CATALOG["ollama"].endpoint.endswith("/v1")
    assert strategy_for("anthropic", None, None) == "litellm"
    assert strategy_for("my_box", None, "http://10.0.0.5:8000/v1") == "openai_compatible"
    assert strategy_for("openai", "litellm", None) == "litellm"
    with pytest.raises(UnknownStrategyError, match="not a known provider"):
        strategy_for("my_box", None, None)
    with pytest.raises(UnknownStrategyError, match="unknown strategy"):
        strategy_for("openai", "grpc", None)


def test_registry_shares_instances_and_lists_kinds_on_error():
    assert get_strategy("demo") is get_strategy("demo")
    assert get_strategy("openai_compatible").kind == "openai_compatible"
    with pytest.raises(UnknownStrategyError) as info:
        get_strategy("carrier_pigeon")
    assert "demo, litellm, openai_compatible" in str(info.value)


async def test_aclose_all_closes_the_pooled_connections_and_calls_go_on(fake_llm_server):
    strategy = get_strategy("openai_compatible")
    request = BackendRequest(backend="local", provider="openai", model_id="m",
                             messages=[{"role": "user", "content": "hi"}],
                             endpoint=fake_llm_server.url + "/v1", timeout=5)
    await strategy.complete(request)
    clients = list(strategy._pool().clients)
    assert clients and not any(client.is_closed for client in clients)
    await aclose_all()  # what the server does when it shuts down
    assert all(client.is_closed for client in clients)
    assert (await strategy.complete(request)).text == "echo: hi"  # on a new connection
    assert strategy._pool().clients[0] not in clients
    await aclose_all()
