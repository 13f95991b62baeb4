"""`llmdeck serve` as a real process (uvicorn) on a free loopback port, with the official
openai SDK as the client and the loopback fake server as the provider behind the deck."""

import asyncio
import json
import subprocess

import httpx
import openai
import pytest
from pydantic import BaseModel

from deck_folders import SENTINEL_KEY, loopback_deck
from fake_llm_server import FakeLLMServer
from serve_process import LLMDECK, start_serve

TOKEN = "serve-token-for-tests-0123456789"
HELLO = [{"role": "user", "content": "hello there"}]


class City(BaseModel):
    city: str
    population: int


@pytest.fixture(scope="module")
def provider():
    with FakeLLMServer() as server:
        yield server


@pytest.fixture(scope="module")
def served(tmp_path_factory, provider):
    root = tmp_path_factory.mktemp("serve")
    deck = loopback_deck(root / "deck", provider.url)
    env = {"OPENAI_API_KEY": SENTINEL_KEY, "LLMDECK_CACHE_DIR": str(root / "state"),
           "LLMDECK_SERVE_TOKEN": TOKEN}
    process = start_serve(deck, env, root / "serve.log", ["--timeout", "1"])
    yield process
    process.stop()


@pytest.fixture
def fake(provider):
    provider.reset()
    yield provider
    provider.reset()


@pytest.fixture
def client(served, fake):
    return openai.OpenAI(base_url=served.url + "/v1", api_key=TOKEN, max_retries=0)


def api(served, method, path, **kwargs):
    return httpx.request(method, served.url + path, headers={"Authorization": f"Bearer {TOKEN}"},
                         timeout=30, **kwargs)


def test_chat_completion_through_the_server(client, fake):
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert answer.choices[0].message.content == "echo: hello there"
    assert answer.usage.total_tokens == 5 and answer.model_extra["llmdeck"]["backend"] == "openai"
    assert fake.requests[-1].headers["authorization"] == f"Bearer {SENTINEL_KEY}"  # the deck's key


def test_streaming_through_the_server(client):
    chunks = list(client.chat.completions.create(
        model="precise", messages=[{"role": "user", "content": "one two three four"}], stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three four" and len(chunks) >= 6
    assert chunks[-1].usage.completion_tokens == 5


def test_async_client_and_json_schema_through_the_server(served, fake):
    client = openai.AsyncOpenAI(base_url=served.url + "/v1", api_key=TOKEN, max_retries=0)

    async def calls():
        parsed = await client.chat.completions.parse(
            model="gpt-4o-mini", response_format=City, messages=[{"role": "user",
                                                                  "content": "a city"}])
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "async stream"}],
            stream=True)
        pieces = [c.choices[0].delta.content async for c in stream if c.choices
                  and c.choices[0].delta.content]
        await client.close()
        return parsed, pieces

    parsed, pieces = asyncio.run(calls())
    assert parsed.choices[0].message.parsed == City(city="dummy city", population=1)
    assert "".join(pieces) == "echo: async stream"


def test_64_concurrent_clients_each_get_their_answer_and_a_log_row(served, fake):
    client = openai.AsyncOpenAI(base_url=served.url + "/v1", api_key=TOKEN, max_retries=0)
    tag = "concurrency-test"

    async def calls():
        answers = await asyncio.gather(*(client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"client {i}"}],
            extra_body={"llmdeck": {"tags": [tag]}}) for i in range(64)))
        await client.close()
        return answers

    answers = asyncio.run(calls())
    assert [a.choices[0].message.content for a in answers] == [f"echo: client {i}"
                                                               for i in range(64)]
    rows = api(served, "GET", "/api/calls", params={"model": "gpt-4o-mini"}).json()["data"]
    mine = [r for r in rows if tag in (r["tags"] or "")]
    assert len(mine) == 64 and {r["status"] for r in mine} == {"ok"}
    assert {r["call_id"] for r in mine} == {a.model_extra["llmdeck"]["call_id"] for a in answers}


def test_models_endpoint(client):
    models = {m.id: m.owned_by for m in client.models.list()}
    assert models["gpt-4o-mini"] == "openai" and models["precise"] == "openai"
    assert models["demo"] == "demo" and models["claude-4.5-haiku"] == "anthropic"


def test_unknown_model_and_bad_requests_in_openai_error_format(client, served):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt4o-mini", messages=HELLO)
    assert "did you mean 'gpt-4o-mini'" in caught.value.body["message"]
    for body, status in ((b"{not json", 400), (b'{"model": "gpt-4o-mini"}', 400),
                         (b'{"model": "gpt-4o-mini", "messages": [{"content": "x"}]}', 400),
                         (b"[1, 2]", 400)):
        answer = api(served, "POST", "/v1/chat/completions", content=body)
        error = answer.json()["error"]
        assert answer.status_code == status and set(error) == {"message", "type", "param", "code"}
        assert "Traceback" not in answer.text
    assert api(served, "GET", "/v1/nothing-here").json()["error"]["code"] == "unknown_url"
    assert api(served, "DELETE", "/api/backends").status_code == 405


def test_request_bodies_are_size_limited(served):
    answer = api(served, "POST", "/v1/chat/completions", content=b" " * (9 * 1024 * 1024))
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "request_too_large"


def test_backend_failures_become_502_504_and_429(client, fake):
    fake.add_fault(status=503, times=None, model="text-only")
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="text-only", messages=HELLO)
    assert caught.value.status_code == 502 and caught.value.body["code"] == "backend_error"
    fake.reset()
    fake.add_fault(status=429, retry_after=120, model="text-only")
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="text-only", messages=HELLO)
    assert caught.value.response.headers["retry-after"] == "120"
    fake.add_fault(delay=1.5, times=None, model="tiny")  # the server's --timeout is 1 s
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="tiny-context",
                                       messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 504 and caught.value.body["code"] == "backend_timeout"


def test_token_is_required_and_health_is_open(served):
    assert httpx.get(served.url + "/health").json()["status"] == "ok"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        answer = httpx.get(served.url + "/v1/models", headers=headers)
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_api_key"
        assert TOKEN not in answer.text
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=served.url + "/v1", api_key="not-the-token", max_retries=0) \
            .chat.completions.create(model="gpt-4o-mini", messages=HELLO)


def test_binding_off_loopback_needs_a_token(tmp_path):
    deck = loopback_deck(tmp_path / "deck", "http://127.0.0.1:9")
    refused = subprocess.run([LLMDECK, "serve", "--deck", str(deck), "--host", "0.0.0.0"],
                             capture_output=True, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin", "LLMDECK_CACHE_DIR": str(tmp_path)})
    assert refused.returncode == 1
    assert "refusing to serve on 0.0.0.0 without a token" in refused.stderr
    assert "--token" in refused.stderr and "Traceback" not in refused.stderr


def test_management_backends_and_live_test(served, fake):
    backends = {b["name"]: b for b in api(served, "GET", "/api/backends").json()["data"]}
    assert backends["openai"]["available"] and backends["openai"]["last_check"] is None
    assert not backends["anthropic"]["available"]
    assert backends["anthropic"]["reason"] == "missing ANTHROPIC_API_KEY"
    tested = api(served, "POST", "/api/backends/openai/test").json()
    assert tested["status"] == "ok" and tested["latency_s"] > 0
    assert fake.requests[-1].path == "/v1/models"
    again = {b["name"]: b for b in api(served, "GET", "/api/backends").json()["data"]}
    assert again["openai"]["last_check"]["status"] == "ok"
    missing = api(served, "POST", "/api/backends/opnai/test")
    assert (missing.status_code == 404
            and "did you mean 'openai'" in missing.json()["error"]["message"])
    skipped = api(served, "POST", "/api/backends/anthropic/test").json()
    assert skipped["status"] == "skipped" and "ANTHROPIC_API_KEY" in skipped["detail"]


def test_management_routes_resolve_and_calls(served, client):
    routes = api(served, "GET", "/api/routes", params={"profile": "offline"}).json()
    assert routes["profile"] == "offline"
    assert {r["backend"] for r in routes["routes"]} == {"demo"}
    default = {r["model"]: r for r in api(served, "GET", "/api/routes").json()["routes"]}
    assert (default["claude-4.5-haiku"]["available"] is False
            and "ANTHROPIC_API_KEY" in default["claude-4.5-haiku"]["problem"])
    bad = api(served, "GET", "/api/routes", params={"profile": "nope"})
    assert bad.status_code == 400 and "loopback" in bad.json()["error"]["message"]
    resolved = api(served, "POST", "/api/resolve",
                   json={"model": "sturdy", "temperature": 0.3}).json()
    assert [c["backend"] for c in resolved["candidates"]] == ["openai", "backup"]
    assert resolved["candidates"][0]["params"] == {"temperature": 0.3}
    assert [s["model"] for s in resolved["skipped"]] == ["claude-4.5-haiku"]
    client.chat.completions.create(model="text-only",
                                   messages=[{"role": "user", "content": "logged"}])
    calls = api(served, "GET", "/api/calls",
                params={"model": "text-only", "since": "1h"}).json()["data"]
    assert calls[-1]["prompt_preview"] == "logged" and calls[-1]["tags"] == "serve"
    assert api(served, "GET", "/api/calls", params={"since": "yesterday-ish"}).status_code == 400


def test_no_key_or_token_in_any_response_or_log_line(served, client, fake):
    fake.add_fault(status=401, message=f"bad key {SENTINEL_KEY}", model="text-only")
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="text-only", messages=HELLO)
    assert SENTINEL_KEY not in json.dumps(caught.value.body)
    everything = [api(served, "GET", path).text
                  for path in ("/api/backends", "/api/calls", "/v1/models")]
    output = served.read_output()
    assert "Uvicorn running on" in output and "POST /v1/chat/completions" in output
    for text in [*everything, output]:
        assert SENTINEL_KEY not in text and TOKEN not in text
