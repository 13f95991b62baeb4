"""Per-call overhead of the backend strategies against the loopback fake LLM server.

    python benchmarks/bench_backend_call.py [--calls 500] [--litellm-calls 200]
                                            [--stream-calls 300]

Prints median and p95 per-call latency of
  * a bare ``httpx.AsyncClient.post`` + ``.json()``  vs  ``OpenAICompatibleStrategy.complete``
  * a bare ``litellm.acompletion(model="openai/...")``  vs  ``LiteLLMStrategy.complete``
  * the same two pairs streaming (``stream``: SSE lines read and parsed, deltas collected)
(calls alternate between the two sides so drift hits both alike), and the throughput of
1,000 strategy calls at concurrency 32. Goal: OpenAICompatibleStrategy <= 1.5x raw httpx.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import httpx  # noqa: E402

from fake_llm_server import FakeLLMServer  # noqa: E402
from llmdeck_nb.backends.base import BackendRequest  # noqa: E402
from llmdeck_nb.backends.openai_compatible import OpenAICompatibleStrategy  # noqa: E402
from llmdeck_nb.redaction import Secret  # noqa: E402

KEY = "bench-key-0123456789"
MESSAGES = [{"role": "user", "content": "say something short about benchmarks"}]


def summary(name: str, samples: list[float]) -> float:
    ordered = sorted(samples)
    median = statistics.median(ordered)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(f"  {name:<34} median {median * 1000:7.3f} ms   p95 {p95 * 1000:7.3f} ms")
    return median


async def alternate(calls: int, warmup: int, a, b) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        await a()
        await b()
    times_a: list[float] = []
    times_b: list[float] = []
    clock = time.perf_counter
    for _ in range(calls):
        for fn, out in ((a, times_a), (b, times_b)):
            t = clock()
            await fn()
            out.append(clock() - t)
    return times_a, times_b


async def concurrently(fn, calls: int, concurrency: int) -> tuple[float, list[float]]:
    sem = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one() -> None:
        async with sem:
            t = time.perf_counter()
            await fn()
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    return time.perf_counter() - start, latencies


async def bench_openai_compatible(server: FakeLLMServer, calls: int) -> None:
    url = server.url + "/v1/chat/completions"
    body = {"model": "fake-model", "messages": MESSAGES, "temperature": 0.0}
    headers = {"Authorization": f"Bearer {KEY}"}
    raw_client = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64))
    strategy = OpenAICompatibleStrategy()
    request = BackendRequest(backend="bench", provider="openai", model_id="fake-model",
                             messages=MESSAGES, params={"temperature": 0.0},
                             endpoint=server.url + "/v1", api_key=Secret(KEY), timeout=30)

    async def raw() -> None:
        response = await raw_client.post(url, json=body, headers=headers)
        response.json()["choices"][0]["message"]["content"]

    async def ours() -> None:
        await strategy.complete(request)

    raw_t, ours_t = await alternate(calls, 50, raw, ours)
    print(f"openai-compatible path, {calls} sequential calls each:")
    m_raw = summary("raw httpx.AsyncClient.post", raw_t)
    m_ours = summary("OpenAICompatibleStrategy.complete", ours_t)
    print(f"  ratio (median): {m_ours / m_raw:.2f}x  (goal <= 1.5x)")

    for name, fn in (("raw httpx, one shared client", raw), ("OpenAICompatibleStrategy", ours)):
        for run in ("1st run", "2nd run"):  # the 1st one also grows the connection pool
            elapsed, latencies = await concurrently(fn, 1000, 32)
            median_ms = statistics.median(latencies) * 1000
            print(f"  1,000 calls at concurrency 32, {name:<29} {run}: {elapsed:5.2f} s "
                  f"({1000 / elapsed:4.0f} calls/s, median {median_ms:.1f} ms)")
    await raw_client.aclose()
    await strategy.aclose()


async def bench_litellm(server: FakeLLMServer, calls: int) -> None:
    from llmdeck_nb.backends.litellm_sdk import LiteLLMStrategy, load_litellm

    t = time.perf_counter()
    litellm = load_litellm()
    print(f"litellm path (openai/ prefix), import {time.perf_counter() - t:.2f} s, "
          f"{calls} sequential calls each:")
    strategy = LiteLLMStrategy()
    request = BackendRequest(backend="bench", provider="openai", model_id="fake-model",
                             messages=MESSAGES, params={"temperature": 0.0},
                             endpoint=server.url + "/v1", api_key=Secret(KEY), timeout=30)

    async def raw() -> None:
        await litellm.acompletion(model="openai/fake-model", messages=MESSAGES, temperature=0.0,
                                  api_base=server.url + "/v1", api_key=KEY, timeout=30,
                                  max_retries=0)

    async def ours() -> None:
        await strategy.complete(request)

    raw_t, ours_t = await alternate(calls, 20, raw, ours)
    m_raw = summary("raw litellm.acompletion", raw_t)
    m_ours = summary("LiteLLMStrategy.complete", ours_t)
    print(f"  ratio (median): {m_ours / m_raw:.2f}x")


STREAM_MESSAGES = [{"role": "user", "content": " ".join(f"word{i}" for i in range(40))}]


async def bench_streams(server: FakeLLMServer, calls: int, with_litellm: bool) -> None:
    """A 40-word answer streamed: the strategies' stream() against the bare client loop."""
    import json

    url = server.url + "/v1/chat/completions"
    body = {"model": "fake-model", "messages": STREAM_MESSAGES, "stream": True,
            "stream_options": {"include_usage": True}}
    headers = {"Authorization": f"Bearer {KEY}"}
    raw_client = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64))
    strategy = OpenAICompatibleStrategy()
    request = BackendRequest(backend="bench", provider="openai", model_id="fake-model",
                             messages=STREAM_MESSAGES, params={}, endpoint=server.url + "/v1",
                             api_key=Secret(KEY), timeout=30)
    deltas: list[str] = []

    async def raw() -> None:
        async with raw_client.stream("POST", url, json=body, headers=headers) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:") and line[5:].strip() != "[DONE]":
                    for choice in json.loads(line[5:]).get("choices") or ():
                        deltas.append((choice.get("delta") or {}).get("content") or "")

    async def ours() -> None:
        await strategy.stream(request, deltas.append)

    raw_t, ours_t = await alternate(calls, 30, raw, ours)
    print(f"streaming, 40-word answer, {calls} sequential calls each:")
    m_raw = summary("raw httpx.AsyncClient.stream", raw_t)
    m_ours = summary("OpenAICompatibleStrategy.stream", ours_t)
    print(f"  ratio (median): {m_ours / m_raw:.2f}x")
    await raw_client.aclose()
    await strategy.aclose()
    if not with_litellm:
        return
    from llmdeck_nb.backends.litellm_sdk import LiteLLMStrategy, load_litellm

    litellm = load_litellm()
    lite = LiteLLMStrategy()

    async def raw_lite() -> None:
        response = await litellm.acompletion(
            model="openai/fake-model", messages=STREAM_MESSAGES, api_base=server.url + "/v1",
            api_key=KEY, timeout=30, max_retries=0, stream=True,
            stream_options={"include_usage": True})
        async for chunk in response:
            if chunk.choices:
                deltas.append(chunk.choices[0].delta.content or "")

    async def ours_lite() -> None:
        await lite.stream(request, deltas.append)

    raw_t, ours_t = await alternate(max(calls // 3, 20), 10, raw_lite, ours_lite)
    m_raw = summary("raw litellm.acompletion(stream)", raw_t)
    m_ours = summary("LiteLLMStrategy.stream", ours_t)
    print(f"  ratio (median): {m_ours / m_raw:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--litellm-calls", type=int, default=200)
    parser.add_argument("--stream-calls", type=int, default=300)
    parser.add_argument("--skip-litellm", action="store_true")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, httpx {httpx.__version__}, {os.cpu_count()} CPUs")
    with FakeLLMServer() as server:
        asyncio.run(bench_openai_compatible(server, args.calls))
        if not args.skip_litellm:
            asyncio.run(bench_litellm(server, args.litellm_calls))
        asyncio.run(bench_streams(server, args.stream_calls, not args.skip_litellm))


if __name__ == "__main__":
    main()
