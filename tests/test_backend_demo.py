"""DemoStrategy: offline, deterministic, labelled answers."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from llmdeck_nb.backends.base import BackendRequest
from llmdeck_nb.backends.demo import DEMO_LABEL, DemoStrategy
from llmdeck_nb.backends.registry import get_strategy

FAST = {"latency_s": 0.0}


def request(prompt: str = "Summarise the plot of Hamlet in two sentences", **overrides):
    values = dict(backend="demo", provider="demo", model_id="demo-model",
                  messages=[{"role": "user", "content": prompt}], extra=FAST)
    values.update(overrides)
    return BackendRequest(**values)


async def test_answer_is_labelled_references_the_prompt_and_costs_nothing():
    res = await DemoStrategy().complete(request())
    assert res.text.startswith(DEMO_LABEL)
    assert "set an API key" in res.text
    assert "Summarise the plot of Hamlet in two sentences" in res.text
    assert "(8 words)" in res.text and "hamlet" in res.text
    assert res.provider_cost_usd == 0.0 and res.finish_reason == "stop"
    assert res.input_tokens == 8 and res.output_tokens == len(res.text.split())


async def test_same_request_same_answer_different_request_different_answer():
    demo = DemoStrategy()
    first = await demo.complete(request())
    again = await demo.complete(request())
    assert first.text == again.text
    other = await demo.complete(request("What is the capital of Peru?"))
    assert other.text != first.text and "capital" in other.text
    assert (await demo.complete(request(model_id="other"))).text != first.text


async def test_content_parts_are_read():
    parts = [{"type": "text", "text": "Explain"}, {"type": "text", "text": "tides briefly"}]
    res = await DemoStrategy().complete(request(messages=[{"role": "user", "content": parts}]))
    assert "Explain tides briefly" in res.text


async def test_code_prompt_gets_a_runnable_python_block():
    res = await DemoStrategy().complete(request("Write a Python function that reverses words"))
    assert res.text.startswith(DEMO_LABEL)
    code = res.text.split("```python\n", 1)[1].split("```", 1)[0]
    out = subprocess.run(  # noqa: ASYNC221 - the test's loop has nothing else to run meanwhile
        [sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("[")


async def test_schema_answer_is_conforming_json():
    schema = {"type": "object", "required": ["title", "year", "score", "tags", "kind", "done"],
              "properties": {"title": {"type": "string"},
                             "year": {"type": "integer", "minimum": 1900, "maximum": 2000},
                             "score": {"type": "number"},
                             "tags": {"type": "array", "items": {"type": "string"},
                                      "minItems": 2},
                             "kind": {"enum": ["film", "book"]},
                             "done": {"type": "boolean"},
                             "optional": {"type": "string"}}}
    res = await DemoStrategy().complete(request(schema=schema))
    data = json.loads(res.text)
    assert set(data) == set(schema["required"])
    assert isinstance(data["year"], int) and 1900 <= data["year"] <= 2000
    assert isinstance(data["score"], float) and isinstance(data["done"], bool)
    assert len(data["tags"]) == 2 and data["kind"] in ("film", "book")
    assert "demo" in data["title"]


async def test_max_tokens_truncates():
    res = await DemoStrategy().complete(request(params={"max_tokens": 5}))
    assert res.output_tokens == 5 and res.finish_reason == "length"


async def test_stream_yields_several_chunks_that_make_the_same_text():
    demo = DemoStrategy()
    pieces: list[str] = []
    streamed = await demo.stream(request(extra={"latency_s": 0.02}), pieces.append)
    assert 3 <= len(pieces) <= 8
    assert "".join(pieces) == streamed.text == (await demo.complete(request())).text
    assert 0 < streamed.ttft_s < 0.5


async def test_default_latency_is_small_and_override_works():
    req = request(extra={})
    t = time.perf_counter()
    await DemoStrategy().complete(req)
    assert 0.015 <= time.perf_counter() - t < 0.5
    t = time.perf_counter()
    await DemoStrategy().complete(request())
    assert time.perf_counter() - t < 0.015


@pytest.mark.parametrize("kind", ["demo"])
async def test_registry_returns_the_demo_strategy(kind):
    strategy = get_strategy(kind)
    assert isinstance(strategy, DemoStrategy)
    await strategy.probe(request())  # offline: always answers
