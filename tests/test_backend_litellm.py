"""LiteLLMStrategy: the real litellm SDK against the loopback fake server, per prefix.

litellm is imported once for the whole module (about 3 s); every call is real HTTP.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fake_llm_server import FakeLLMServer
from llmdeck_nb.backends.base import BackendRequest
from llmdeck_nb.backends.litellm_sdk import LiteLLMStrategy, load_litellm
from llmdeck_nb.errors import (
    BackendConnectionError,
    BackendError,
    BackendResponseError,
    BackendTimeoutError,
)
from llmdeck_nb.redaction import Secret

SENTINEL = "sk-test-SENTINEL-0123456789abcdef"
MESSAGES = [{"role": "system", "content": "be brief"},
            {"role": "user", "content": "name three rivers"}]
ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    # one event loop for the module, as in a notebook: litellm caches its clients per loop
    pytest.mark.asyncio(loop_scope="module"),
]

# provider prefix, model id, endpoint suffix, extra, request path, auth header, auth value
PROVIDERS = {
    "anthropic": ("claude-3-5-sonnet-20241022", "", {}, "/v1/messages", "x-api-key", SENTINEL),
    "azure": ("my-deployment", "", {"api_version": "2024-06-01"},
              "/openai/deployments/my-deployment/chat/completions", "api-key", SENTINEL),
    "ollama_chat": ("llama3", "", {}, "/api/chat", "authorization", f"Bearer {SENTINEL}"),
    "mistral": ("mistral-small-latest", "/v1", {}, "/v1/chat/completions", "authorization",
                f"Bearer {SENTINEL}"),
    "gemini": ("gemini-2.5-flash", "/v1beta", {},
               "/v1beta/models/gemini-2.5-flash:generateContent", "x-goog-api-key", SENTINEL),
    "openai": ("fake-model", "/v1", {}, "/v1/chat/completions", "authorization",
               f"Bearer {SENTINEL}"),
    "hosted_vllm": ("fake-model", "/v1", {}, "/v1/chat/completions", "authorization",
                    f"Bearer {SENTINEL}"),
}


@pytest.fixture(scope="module")
def strategy():
    load_litellm()  # once: the import dominates this module's runtime
    return LiteLLMStrategy()


def request_for(server: FakeLLMServer, provider: str, **overrides) -> BackendRequest:
    model_id, suffix, extra = PROVIDERS[provider][:3]
    values = dict(backend=f"my_{provider}", provider=provider, model_id=model_id,
                  messages=MESSAGES, endpoint=server.url + suffix, api_key=Secret(SENTINEL),
                  extra=extra, timeout=5.0)
    values.update(overrides)
    return BackendRequest(**values)


def assert_no_key(exc: BaseException) -> None:
    for text in (str(exc), repr(exc), getattr(exc, "hint", None) or ""):
        assert SENTINEL not in text
    assert exc.__cause__ is None and exc.__context__ is None  # litellm's text is not chained


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_complete_per_prefix(strategy, fake_llm_server, provider):
    res = await strategy.complete(request_for(fake_llm_server, provider))
    assert res.text == "echo: name three rivers"
    assert (res.input_tokens, res.output_tokens) == (5, 4)
    assert res.finish_reason == "stop" and res.http_status == 200
    seen = fake_llm_server.requests[-1]
    _, _, _, path, header, value = PROVIDERS[provider]
    assert seen.path == path
    assert seen.headers[header] == value
    if provider == "azure":
        assert seen.query["api-version"] == "2024-06-01"


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_stream_per_prefix(strategy, fake_llm_server, provider):
    pieces: list[str] = []
    res = await strategy.stream(request_for(fake_llm_server, provider), pieces.append)
    assert "".join(pieces) == res.text == "echo: name three rivers"
    assert len(pieces) >= 2 and res.ttft_s is not None and res.ttft_s > 0
    assert res.output_tokens is not None and res.output_tokens > 0
    if provider in ("openai", "azure", "hosted_vllm"):  # include_usage honoured
        assert fake_llm_server.requests[-1].json["stream_options"] == {"include_usage": True}
        assert (res.input_tokens, res.output_tokens) == (5, 4)


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "mistral"])
async def test_the_backends_headers_reach_the_provider(strategy, fake_llm_server, provider):
    """A backend's `headers` table (a gateway's key under a secret-looking name is a Secret
    once loaded) goes out with each litellm call, as on the httpx path."""
    headers = {"X-Gateway-Key": Secret("gw-key-litellm-0123456789"), "X-Team": "ds"}
    await strategy.complete(request_for(fake_llm_server, provider, extra={"headers": headers}))
    seen = fake_llm_server.requests[-1].headers
    assert (seen["x-gateway-key"], seen["x-team"]) == ("gw-key-litellm-0123456789", "ds")


async def test_params_and_schema_reach_the_provider(strategy, fake_llm_server):
    schema = {"type": "object", "required": ["rivers"],
              "properties": {"rivers": {"type": "array", "items": {"type": "string"}}}}
    res = await strategy.complete(request_for(fake_llm_server, "anthropic", schema=schema,
                                              params={"temperature": 0.3, "max_tokens": 99,
                                                      "top_p": None}))
    assert json.loads(res.text) == {"rivers": ["dummy rivers"]}
    body = fake_llm_server.requests[-1].json
    assert (body["temperature"], body["max_tokens"]) == (0.3, 99) and "top_p" not in body
    assert body["model"] == "claude-3-5-sonnet-20241022"


async def test_litellm_cost_is_reported_when_litellm_knows_the_model(strategy, fake_llm_server):
    req = request_for(fake_llm_server, "openai", model_id="gpt-4o-mini")
    res = await strategy.complete(req)
    assert res.provider_cost_usd is not None and res.provider_cost_usd > 0
    streamed = await strategy.stream(req, lambda _: None)
    assert streamed.provider_cost_usd == pytest.approx(res.provider_cost_usd)
    unknown = await strategy.complete(request_for(fake_llm_server, "hosted_vllm"))
    assert unknown.provider_cost_usd is None


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_429_maps_to_retryable_with_retry_after(strategy, fake_llm_server, provider):
    fake_llm_server.add_fault(status=429, retry_after=7)
    with pytest.raises(BackendError) as info:
        await strategy.complete(request_for(fake_llm_server, provider))
    exc = info.value
    assert (exc.status, exc.retryable, exc.retry_after) == (429, True, 7.0)
    assert f"my_{provider}" in str(exc)
    assert_no_key(exc)


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_401_is_final_and_never_leaks_the_key(strategy, fake_llm_server, provider):
    fake_llm_server.add_fault(status=401, message=f"invalid x-api-key {SENTINEL}")
    with pytest.raises(BackendError) as info:
        await strategy.complete(request_for(fake_llm_server, provider))
    exc = info.value
    assert (exc.status, exc.retryable) == (401, False)
    assert "API key variable" in exc.hint
    assert_no_key(exc)


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "mistral"])
async def test_400_shows_provider_message_and_404_hints_model(strategy, fake_llm_server, provider):
    fake_llm_server.add_fault(status=400, message="max_tokens: too large")
    with pytest.raises(BackendError) as info:
        await strategy.complete(request_for(fake_llm_server, provider))
    assert (info.value.status, info.value.retryable) == (400, False)
    assert "max_tokens: too large" in str(info.value)
    fake_llm_server.add_fault(status=404)
    with pytest.raises(BackendError) as info:
        await strategy.complete(request_for(fake_llm_server, provider))
    assert info.value.status == 404 and "model_id" in info.value.hint


@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_in_streams_are_retryable(strategy, fake_llm_server, provider, status):
    fake_llm_server.add_fault(status=status)
    with pytest.raises(BackendError) as info:
        await strategy.stream(request_for(fake_llm_server, provider), lambda _: None)
    assert (info.value.status, info.value.retryable) == (status, True)
    assert_no_key(info.value)


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_malformed_json_is_a_retryable_response_error(strategy, fake_llm_server, provider):
    fake_llm_server.add_fault(malformed=True)
    with pytest.raises(BackendResponseError) as info:
        await strategy.complete(request_for(fake_llm_server, provider))
    assert info.value.retryable


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_malformed_stream_event_never_gives_a_silent_empty_answer(strategy, fake_llm_server,
                                                                         provider):
    fake_llm_server.add_fault(malformed=True)  # one truncated event before the real ones
    try:
        res = await strategy.stream(request_for(fake_llm_server, provider), lambda _: None)
    except BackendResponseError as exc:
        assert exc.retryable
    else:  # ollama_chat, mistral, hosted_vllm skip the bad event and read the rest
        assert res.text == "echo: name three rivers"


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_cut_stream_is_a_retryable_response_error(strategy, fake_llm_server, provider):
    fake_llm_server.add_fault(cut_stream_after=2)
    pieces: list[str] = []
    with pytest.raises(BackendResponseError) as info:
        await strategy.stream(request_for(fake_llm_server, provider), pieces.append)
    assert info.value.retryable and "cut off" in str(info.value)
    assert "".join(pieces) in ("", "echo: ", "echo: name ")  # litellm may buffer a chunk


@pytest.mark.parametrize("provider", ["anthropic", "openai", "ollama_chat", "gemini"])
async def test_timeout_and_disconnect(strategy, fake_llm_server, provider):
    fake_llm_server.add_fault(delay=1.0)
    with pytest.raises(BackendTimeoutError) as info:
        await strategy.complete(request_for(fake_llm_server, provider, timeout=0.2))
    assert info.value.retryable and info.value.status is None
    fake_llm_server.add_fault(disconnect=True)
    with pytest.raises(BackendConnectionError) as info:
        await strategy.complete(request_for(fake_llm_server, provider))
    assert info.value.retryable


@pytest.mark.parametrize("provider", ["anthropic", "azure", "openai", "ollama_chat", "gemini"])
async def test_connection_refused(strategy, provider):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model_id, suffix, extra = PROVIDERS[provider][:3]
    req = BackendRequest(backend="gone", provider=provider, model_id=model_id, messages=MESSAGES,
                         endpoint=f"http://127.0.0.1:{port}{suffix}", api_key=Secret(SENTINEL),
                         extra=extra, timeout=3)
    with pytest.raises(BackendConnectionError) as info:
        await strategy.complete(req)
    assert info.value.retryable and f"127.0.0.1:{port}" in str(info.value)
    assert_no_key(info.value)


async def test_on_text_exceptions_are_not_disguised(strategy, fake_llm_server):
    def boom(_: str) -> None:
        raise KeyError("from the caller")

    with pytest.raises(KeyError):
        await strategy.stream(request_for(fake_llm_server, "anthropic"), boom)


# --- how litellm is set up ---------------------------------------------------------------------


async def test_provider_extras_become_litellm_keywords():
    strategy = LiteLLMStrategy()
    secret = Secret("aws-secret-SENTINEL-value")
    bedrock = strategy._kwargs(BackendRequest(
        backend="bedrock", provider="bedrock", model_id="anthropic.claude-3", messages=MESSAGES,
        extra={"aws_region": "eu-west-1", "aws_access_key_id": "AKIDEXAMPLE",
               "aws_secret_access_key": secret, "unrelated": "x"}))
    assert bedrock["model"] == "bedrock/anthropic.claude-3"
    assert (bedrock["aws_region_name"], bedrock["aws_secret_access_key"]) == \
        ("eu-west-1", secret.get())
    assert "unrelated" not in bedrock and bedrock["max_retries"] == 0
    vertex = strategy._kwargs(BackendRequest(
        backend="vertexai", provider="vertex_ai", model_id="vertex_ai/gemini-pro",
        messages=MESSAGES, extra={"project": "p1", "location": "europe-west4"}, timeout=9))
    assert vertex["model"] == "vertex_ai/gemini-pro"  # no double prefix
    assert (vertex["vertex_project"], vertex["vertex_location"], vertex["timeout"]) == \
        ("p1", "europe-west4", 9)


async def test_litellm_is_configured_quietly_and_offline(strategy):
    litellm = load_litellm()
    assert litellm.suppress_debug_info is True
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert getattr(litellm, "disable_hf_tokenizer_download", True) is True
    assert litellm.cache is None


async def test_importing_the_backends_does_not_import_litellm():
    code = ("import sys, llmdeck_nb.backends.registry, llmdeck_nb.backends.litellm_sdk, "
            "llmdeck_nb.backends.catalog; print('litellm' in sys.modules)")
    out = subprocess.run(  # noqa: ASYNC221 - the test's loop has nothing else to run meanwhile
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("message", [
    "Item 'api_base' on TypedDict class 'X' is using the `ReadOnly` qualifier.",  # pydantic <2.12
    "Items 'api_base', 'drop_params' on TypedDict class 'MistralRequestRouting' are using the "
    "`ReadOnly` qualifier. Pydantic will not protect items from any mutation.",  # pydantic 2.12+
])
async def test_pydantic_typeddict_warnings_are_silenced_in_a_notebook_process(message):
    # a notebook has no pytest filters: load_litellm() must silence both wordings itself
    code = ("import warnings; from llmdeck_nb.backends.litellm_sdk import load_litellm; "
            f"load_litellm(); warnings.warn({message!r}, UserWarning); print('ok')")
    out = subprocess.run(  # noqa: ASYNC221 - the test's loop has nothing else to run meanwhile
        [sys.executable, "-W", "default", "-c", code], cwd=ROOT, capture_output=True, text=True,
        check=True)
    assert out.stdout.strip() == "ok"
    assert "TypedDict" not in out.stderr
