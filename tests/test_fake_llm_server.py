"""The fake LLM server itself, driven with raw httpx: each protocol, each fault kind."""

from __future__ import annotations

import json
import statistics
import time

import httpx
import pytest

from fake_llm_server import FakeLLMServer

CHAT = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there world"}]


@pytest.fixture
def client(fake_llm_server: FakeLLMServer):
    with httpx.Client(base_url=fake_llm_server.url, timeout=5) as c:
        yield c


def sse_events(text: str) -> list[dict]:
    return [json.loads(line[6:]) for line in text.splitlines()
            if line.startswith("data: ") and line != "data: [DONE]"]


# --- OpenAI ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/chat/completions"])
def test_openai_json_answer_echoes_last_user_message(client, fake_llm_server, path):
    r = client.post(path, json={"model": "m1", "messages": CHAT},
                    headers={"Authorization": "Bearer sk-abc"})
    assert r.status_code == 200
    body = r.json()
    assert body["choices"][0]["message"]["content"] == "echo: hello there world"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    assert body["model"] == "m1"
    seen = fake_llm_server.requests[-1]
    assert (seen.method, seen.path, seen.model) == ("POST", path, "m1")
    assert seen.headers["authorization"] == "Bearer sk-abc"
    assert seen.json["messages"] == CHAT


def test_openai_content_parts_and_max_tokens(client):
    parts = [{"type": "text", "text": "one two"}, {"type": "text", "text": "three four five"}]
    r = client.post("/v1/chat/completions", json={
        "model": "m", "max_tokens": 3, "messages": [{"role": "user", "content": parts}]})
    choice = r.json()["choices"][0]
    assert choice["message"]["content"] == "echo: one two"
    assert choice["finish_reason"] == "length"
    assert r.json()["usage"]["completion_tokens"] == 3


def test_openai_stream_deltas_finish_usage_and_done(client):
    r = client.post("/v1/chat/completions", json={
        "model": "m", "messages": CHAT, "stream": True, "stream_options": {"include_usage": True}})
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.text.rstrip().endswith("data: [DONE]")
    events = sse_events(r.text)
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert text == "echo: hello there world"
    finals = [e["choices"][0]["finish_reason"] for e in events if e["choices"]]
    assert finals[-1] == "stop" and set(finals[:-1]) == {None}
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 4


def test_openai_stream_without_include_usage_has_no_usage_chunk(client):
    r = client.post("/v1/chat/completions", json={"model": "m", "messages": CHAT, "stream": True})
    assert all("usage" not in e for e in sse_events(r.text))


def test_openai_json_schema_answer_fills_required_properties(client):
    schema = {"type": "object", "required": ["title", "year", "tags", "ok"],
              "properties": {"title": {"type": "string"}, "year": {"type": "integer"},
                             "tags": {"type": "array", "items": {"type": "string"}},
                             "ok": {"type": "boolean"}, "unused": {"type": "string"}}}
    r = client.post("/v1/chat/completions", json={
        "model": "m", "messages": CHAT,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}})
    answer = json.loads(r.json()["choices"][0]["message"]["content"])
    assert set(answer) == {"title", "year", "tags", "ok"}
    assert isinstance(answer["year"], int) and isinstance(answer["tags"], list)


def test_azure_deployment_path_query_and_api_key_header(client, fake_llm_server):
    r = client.post("/openai/deployments/my-dep/chat/completions?api-version=2024-06-01",
                    json={"messages": CHAT}, headers={"api-key": "azure-key-123"})
    assert r.json()["choices"][0]["message"]["content"] == "echo: hello there world"
    seen = fake_llm_server.requests[-1]
    assert seen.query == {"api-version": "2024-06-01"}
    assert seen.headers["api-key"] == "azure-key-123"
    assert seen.model == "my-dep"


def test_models_list(client):
    for path in ("/v1/models", "/models"):
        ids = [m["id"] for m in client.get(path).json()["data"]]
        assert ids == ["fake-model", "fake-model-2"]


# --- Anthropic, Ollama, Gemini -----------------------------------------------------------


def test_anthropic_json_and_stream_events(client, fake_llm_server):
    req = {"model": "claude-x", "max_tokens": 100, "system": "be brief",
           "messages": [{"role": "user", "content": [{"type": "text", "text": "hi you"}]}]}
    body = client.post("/v1/messages", json=req, headers={"x-api-key": "k-123456"}).json()
    assert body["content"] == [{"type": "text", "text": "echo: hi you"}]
    assert body["stop_reason"] == "end_turn"
    assert body["usage"] == {"input_tokens": 4, "output_tokens": 3}
    assert fake_llm_server.requests[-1].headers["x-api-key"] == "k-123456"

    r = client.post("/v1/messages", json={**req, "stream": True})
    names = [line[7:] for line in r.text.splitlines() if line.startswith("event: ")]
    assert names[:2] == ["message_start", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [e["delta"]["text"] for e in sse_events(r.text) if e["type"] == "content_block_delta"]
    assert "".join(deltas) == "echo: hi you"


def test_ollama_chat_json_ndjson_and_tags(client):
    req = {"model": "llama3", "messages": [{"role": "user", "content": "hi there"}]}
    body = client.post("/api/chat", json={**req, "stream": False}).json()
    assert body["message"]["content"] == "echo: hi there"
    assert (body["done"], body["prompt_eval_count"], body["eval_count"]) == (True, 2, 3)
    lines = [json.loads(x) for x in client.post("/api/chat", json=req).text.splitlines()]
    assert "".join(x["message"]["content"] for x in lines) == "echo: hi there"
    assert [x["done"] for x in lines][-1] is True and lines[-1]["eval_count"] == 3
    assert [m["name"] for m in client.get("/api/tags").json()["models"]] == \
        ["fake-model", "fake-model-2"]


def test_unknown_route_with_a_json_body_is_answered_404(client):
    # litellm 1.83 POSTs /api/show after an ollama_chat call, with no timeout: a server
    # that never answers it hangs that thread (and the interpreter's exit) for good
    response = client.post("/api/show", json={"name": "llama3"})
    assert response.status_code == 404 and "no route for POST /api/show" in response.text


def test_gemini_generate_and_stream(client, fake_llm_server):
    req = {"contents": [{"role": "user", "parts": [{"text": "hi gemini"}]}]}
    body = client.post("/v1beta/models/gemini-x:generateContent", json=req).json()
    assert body["candidates"][0]["content"]["parts"][0]["text"] == "echo: hi gemini"
    assert body["usageMetadata"]["candidatesTokenCount"] == 3
    assert fake_llm_server.requests[-1].model == "gemini-x"
    r = client.post("/v1beta/models/gemini-x:streamGenerateContent?alt=sse", json=req)
    events = sse_events(r.text)
    assert "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in events) == \
        "echo: hi gemini"
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"


# --- faults --------------------------------------------------------------------------------


def test_status_fault_with_retry_after_and_openai_error_body(client, fake_llm_server):
    fake_llm_server.add_fault(status=429, retry_after=7)
    r = client.post("/v1/chat/completions", json={"model": "m", "messages": CHAT})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "7"
    assert r.json()["error"]["type"] == "rate_limit_error"
    # consumed: the next request succeeds
    again = client.post("/v1/chat/completions", json={"model": "m", "messages": CHAT})
    assert again.status_code == 200


def test_status_fault_has_provider_shaped_bodies(client, fake_llm_server):
    fake_llm_server.add_fault(status=401, path="/v1/messages", message="bad key")
    fake_llm_server.add_fault(status=503, path="/api/chat")
    r = client.post("/v1/messages", json={"model": "c", "messages": CHAT})
    assert r.status_code == 401
    assert r.json() == {"type": "error", "error": {"type": "authentication_error",
                                                   "message": "bad key"}}
    r = client.post("/api/chat", json={"model": "l", "messages": CHAT})
    assert r.status_code == 503 and isinstance(r.json()["error"], str)


def test_faults_match_model_and_path_fifo_and_times(client, fake_llm_server):
    fake_llm_server.add_fault(status=500, model="b", times=2)
    fake_llm_server.add_fault(status=502)
    fake_llm_server.add_fault(status=503)

    def status(model):
        return client.post("/v1/chat/completions",
                           json={"model": model, "messages": CHAT}).status_code

    assert [status("a"), status("b"), status("a"), status("b"), status("b")] == \
        [502, 500, 503, 500, 200]
    fake_llm_server.add_fault(status=504, times=None)
    assert [status("a"), status("b")] == [504, 504]
    fake_llm_server.reset()
    assert status("a") == 200 and len(fake_llm_server.requests) == 1


def test_malformed_fault_returns_invalid_json_with_200(client, fake_llm_server):
    fake_llm_server.add_fault(malformed=True)
    r = client.post("/v1/chat/completions", json={"model": "m", "messages": CHAT})
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()


def test_off_schema_fault_answers_plain_text_whatever_the_protocol(client, fake_llm_server):
    schema = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}
    openai = {"model": "m", "messages": CHAT, "response_format": {
        "type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}
    anthropic = {"model": "claude-x", "max_tokens": 50, "messages": CHAT,
                 "tools": [{"name": "answer", "input_schema": schema}],
                 "tool_choice": {"type": "tool", "name": "answer"}}
    fake_llm_server.add_fault(off_schema=True, times=2)
    r = client.post("/v1/chat/completions", json=openai)
    assert r.json()["choices"][0]["message"]["content"] == "echo: hello there world"
    r = client.post("/v1/messages", json=anthropic)
    assert r.json()["content"] == [{"type": "text", "text": "echo: hello there world"}]
    # the fault is used up: the schema is honoured again
    r = client.post("/v1/chat/completions", json=openai)
    assert json.loads(r.json()["choices"][0]["message"]["content"]) == {"city": "dummy city"}


def test_malformed_stream_starts_with_one_truncated_event(client, fake_llm_server):
    fake_llm_server.add_fault(malformed=True)
    r = client.post("/v1/chat/completions", json={"model": "m", "messages": CHAT, "stream": True})
    data = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
    with pytest.raises(ValueError):
        json.loads(data[0])
    assert "".join(json.loads(d)["choices"][0]["delta"].get("content", "")
                   for d in data[1:-1] if json.loads(d)["choices"]) == "echo: hello there world"


def test_cut_stream_after_n_chunks(fake_llm_server):
    fake_llm_server.add_fault(cut_stream_after=2)
    received = []
    with httpx.Client(base_url=fake_llm_server.url) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            with client.stream("POST", "/v1/chat/completions",
                               json={"model": "m", "messages": CHAT, "stream": True}) as r:
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        received.append(json.loads(line[6:])["choices"][0]["delta"]["content"])
    assert received == ["echo: ", "hello "]


def test_cut_non_streaming_body(client, fake_llm_server):
    fake_llm_server.add_fault(cut_stream_after=0)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v1/chat/completions", json={"model": "m", "messages": CHAT})


def test_disconnect_fault_drops_connection_without_answer(client, fake_llm_server):
    fake_llm_server.add_fault(disconnect=True)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v1/chat/completions", json={"model": "m", "messages": CHAT})


def test_delay_fault_and_default_delay(client, fake_llm_server):
    fake_llm_server.add_fault(delay=0.15)
    t = time.perf_counter()
    client.post("/v1/chat/completions", json={"model": "m", "messages": CHAT})
    assert time.perf_counter() - t >= 0.15
    fake_llm_server.default_delay = 0.05
    t = time.perf_counter()
    client.get("/v1/models")
    assert 0.05 <= time.perf_counter() - t < 1.0
    with pytest.raises(httpx.ReadTimeout):
        client.get("/v1/models", timeout=0.01)


# --- speed: keep-alive and no Nagle delay --------------------------------------------------


def test_keep_alive_reuses_one_connection_and_is_fast(client, fake_llm_server):
    times = []
    for _ in range(100):
        t = time.perf_counter()
        r = client.post("/v1/chat/completions", json={"model": "m", "messages": CHAT})
        times.append(time.perf_counter() - t)
        assert r.status_code == 200
    assert fake_llm_server.connections_opened == 1
    assert statistics.median(times) < 0.01  # a Nagle/delayed-ACK stall would be ~40 ms


def test_context_manager_stops_server():
    with FakeLLMServer() as server:
        url = server.url
        assert httpx.get(url + "/v1/models").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/v1/models", timeout=1)
