"""The engine against the loopback fake server, each figure next to its raw baseline.

Run: python benchmarks/bench_engine.py [--calls N]
Prints, from one run (ratios matter; these machines are noisy):
  1. per call: raw httpx POST vs Session.acomplete on the OpenAI-compatible path
  2. per call: raw litellm.acompletion vs Session.acomplete on the litellm path
  3. a cache hit end to end (acomplete, and the synchronous complete a notebook uses)
  4. 1,000 calls at concurrency 32: raw httpx gather vs acomplete gather (throughput)
The session logs every call to a real SQLite file, as in a notebook.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import httpx  # noqa: E402

from deck_folders import LOOPBACK_ENV, SENTINEL_KEY, loopback_deck  # noqa: E402
from fake_llm_server import FakeLLMServer  # noqa: E402
from llmdeck_nb import load_deck  # noqa: E402
from llmdeck_nb.engine.session import Session  # noqa: E402


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(0.95 * (len(ordered) - 1))] * 1000


def line(label: str, samples: list[float]) -> tuple[float, float]:
    median, p95 = stats(samples)
    print(f"  {label:<44} median {median:7.3f} ms   p95 {p95:7.3f} ms")
    return median, p95


async def timed(factory, n: int) -> list[float]:
    samples = []
    for i in range(n):
        began = time.perf_counter()
        await factory(i)
        samples.append(time.perf_counter() - began)
    return samples


async def paired(first, second, n: int) -> tuple[list[float], list[float]]:
    """Alternate the two calls so that drift (warm-up, noise) hits both alike."""
    a, b = [], []
    for i in range(n):
        for factory, samples in ((first, a), (second, b)):
            began = time.perf_counter()
            await factory(i)
            samples.append(time.perf_counter() - began)
    return a, b


async def run(calls: int) -> None:
    with FakeLLMServer() as server, tempfile.TemporaryDirectory() as tmp:
        deck = load_deck(loopback_deck(Path(tmp) / "deck", server.url), env=LOOPBACK_ENV)
        session = Session(deck=deck, cache=Path(tmp) / "cache", log=Path(tmp) / "calls.sqlite")
        url = f"{server.url}/v1/chat/completions"
        headers = {"Authorization": f"Bearer {SENTINEL_KEY}"}

        async with httpx.AsyncClient() as client:
            async def raw_httpx(i: int) -> None:
                body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q {i}"}]}
                response = await client.post(url, json=body, headers=headers, timeout=10)
                response.json()

            async def ours(i: int) -> None:
                await session.acomplete(f"q {i}", "gpt-4o-mini", cache=False)

            for warm in (raw_httpx, ours):
                await timed(warm, 50)
            print(f"1. OpenAI-compatible path, {calls} sequential calls each, alternated")
            raw_samples, our_samples = await paired(raw_httpx, ours, calls)
            raw, _ = line("raw httpx.AsyncClient.post", raw_samples)
            mine, _ = line("Session.acomplete (cache off, SQLite log)", our_samples)
            print(f"  ratio: {mine / raw:.2f}x raw httpx (goal <= 1.5x)")

            from llmdeck_nb.backends.litellm_sdk import load_litellm

            litellm = load_litellm()

            async def raw_litellm(i: int) -> None:
                await litellm.acompletion(model="anthropic/claude-haiku-4-5", api_base=server.url,
                                          api_key=SENTINEL_KEY, max_retries=0, timeout=10,
                                          messages=[{"role": "user", "content": f"q {i}"}])

            async def ours_litellm(i: int) -> None:
                await session.acomplete(f"q {i}", "claude-4.5-haiku", cache=False)

            for warm in (raw_litellm, ours_litellm):
                await timed(warm, 30)
            n = max(50, calls // 4)
            print(f"2. litellm path (anthropic/), {n} sequential calls each, alternated")
            raw_samples, our_samples = await paired(raw_litellm, ours_litellm, n)
            raw_l, _ = line("raw litellm.acompletion", raw_samples)
            mine_l, _ = line("Session.acomplete (cache off, SQLite log)", our_samples)
            print(f"  difference: {mine_l - raw_l:+.3f} ms per call (goal <= +0.5 ms)")

            await session.acomplete("cached question", "gpt-4o-mini")

            async def hit(i: int) -> None:
                result = await session.acomplete("cached question", "gpt-4o-mini")
                assert result.cached

            print(f"3. cache hit end to end, {calls} calls")
            line("await Session.acomplete (hit)", await timed(hit, calls))
            sync_samples = []
            for _ in range(calls):
                began = time.perf_counter()
                await asyncio.to_thread(session.complete, "cached question", "gpt-4o-mini")
                sync_samples.append(time.perf_counter() - began)
            line("Session.complete from a thread (hit)", sync_samples)

            total, concurrency = 1000, 32
            print(f"4. {total} calls at concurrency {concurrency}")
            limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
            async with httpx.AsyncClient(limits=limits) as wide:
                async def raw_one(i: int, gate: asyncio.Semaphore) -> None:
                    async with gate:
                        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"c {i}"}]}
                        (await wide.post(url, json=body, headers=headers, timeout=30)).json()

                async def our_one(i: int, gate: asyncio.Semaphore) -> None:
                    async with gate:
                        await session.acomplete(f"c {i}", "gpt-4o-mini", cache=False)

                results = {}
                for label, one in (("raw httpx gather", raw_one), ("Session.acomplete gather", our_one)):
                    gate = asyncio.Semaphore(concurrency)
                    began = time.perf_counter()
                    await asyncio.gather(*(one(i, gate) for i in range(total)))
                    elapsed = time.perf_counter() - began
                    results[label] = total / elapsed
                    print(f"  {label:<44} {elapsed:6.2f} s   {total / elapsed:7.0f} calls/s")
                ratio = results["Session.acomplete gather"] / results["raw httpx gather"]
                print(f"  throughput ratio: {ratio:.2f}x raw httpx (goal >= 0.9x)")
        session.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    asyncio.run(run(parser.parse_args().calls))


if __name__ == "__main__":
    main()
