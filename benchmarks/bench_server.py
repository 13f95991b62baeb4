"""The deck behind OpenAI's API: `llmdeck serve` and the in-process client vs Session.complete.

Run: python benchmarks/bench_server.py [--calls N] [--total M]
Prints, from one run (ratios and differences matter; these machines are noisy):
  1. per call, interleaved round by round on the same fake server (its own process):
     direct Session.complete, llmdeck_nb.openai_client() (in process), and the openai SDK
     against `llmdeck serve` (a real uvicorn process); differences at the median
     (goal: at most +1 ms each). Also the openai SDK over a transport that returns a
     canned answer at once: the SDK's own cost per call, which both SDK paths include.
  2. requests/s with 64 concurrent clients: AsyncOpenAI against `llmdeck serve`, the
     in-process AsyncOpenAI, and Session.acomplete itself
Cache off everywhere; every call is logged to a real SQLite file, as in a notebook.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

import openai  # noqa: E402

import llmdeck_nb  # noqa: E402
from deck_folders import LOOPBACK_ENV, loopback_deck  # noqa: E402
from llmdeck_nb import load_deck  # noqa: E402
from llmdeck_nb.engine.session import Session  # noqa: E402
from serve_process import start_serve  # noqa: E402

MODEL = "gpt-4o-mini"
CONCURRENCY = 64


def fake_server_process() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, str(TESTS / "fake_llm_server.py")],
                               stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def canned_client() -> openai.OpenAI:
    """The openai SDK over a transport that answers at once: what the SDK itself costs."""
    from llmdeck_nb.openai_inprocess import http

    body = (b'{"id":"c","object":"chat.completion","created":0,"model":"m","choices":[{"index":0,'
            b'"message":{"role":"assistant","content":"echo"},"finish_reason":"stop"}],'
            b'"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}')
    transport = http.MockTransport(lambda request: http.Response(
        200, content=body, headers={"content-type": "application/json"}))
    return openai.OpenAI(api_key="unused", base_url="http://canned/v1",
                         http_client=http.Client(transport=transport), max_retries=0)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def p95_ms(samples: list[float]) -> float:
    return sorted(samples)[int(0.95 * (len(samples) - 1))] * 1000


def sequential(paths: dict, calls: int) -> dict[str, list[float]]:
    """Each round calls every path once, in a rotating order (no position bias)."""
    samples: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for i in range(calls):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            began = time.perf_counter()
            paths[name](f"question {i}")
            samples[name].append(time.perf_counter() - began)
    return samples


async def throughput(call, total: int) -> float:
    """Requests/s with CONCURRENCY clients, each sending its share one after another."""
    async def client(k: int) -> None:
        for i in range(k, total, CONCURRENCY):
            await call(f"concurrent {i}")

    began = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(CONCURRENCY)))
    return total / (time.perf_counter() - began)


def run(calls: int, total: int) -> None:
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    fake, fake_url = fake_server_process()
    served = None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        try:
            folder = loopback_deck(root / "deck", fake_url)
            served = start_serve(folder, {**LOOPBACK_ENV, "LLMDECK_CACHE_DIR": str(root / "state")},
                                 root / "serve.log", ["--no-cache", "--log-level", "warning"])
            deck = load_deck(folder, env=LOOPBACK_ENV)
            session = Session(deck=deck, cache=False, log=root / "calls.sqlite")
            inproc = llmdeck_nb.openai_client(session)
            remote = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)

            def message(text: str) -> list[dict]:
                return [{"role": "user", "content": text}]

            canned = canned_client()
            paths = {
                "Session.complete (direct)": lambda q: session.complete(q, MODEL),
                "openai SDK, canned answer": lambda q: canned.chat.completions.create(
                    model=MODEL, messages=message(q)),
                "openai_client() in process": lambda q: inproc.chat.completions.create(
                    model=MODEL, messages=message(q)),
                "openai SDK -> llmdeck serve": lambda q: remote.chat.completions.create(
                    model=MODEL, messages=message(q)),
            }
            sequential(paths, 50)  # warm-up: connections, imports, SQLite
            print(f"1. {calls} sequential calls per path, interleaved round by round")
            samples = sequential(paths, calls)
            base = median_ms(samples.pop("Session.complete (direct)"))
            sdk = median_ms(samples.pop("openai SDK, canned answer"))
            print(f"  {'Session.complete (direct)':<30} median {base:7.3f} ms")
            print(f"  {'openai SDK, canned answer':<30} median {sdk:7.3f} ms   (the SDK's own cost)")
            for name, values in samples.items():
                added = median_ms(values) - base
                print(f"  {name:<30} median {median_ms(values):7.3f} ms   p95 {p95_ms(values):7.3f} ms"
                      f"   {added:+.3f} ms vs direct, {added - sdk:+.3f} ms beyond the SDK's own")

            async def rates() -> dict[str, float]:
                remote_async = openai.AsyncOpenAI(base_url=served.url + "/v1", api_key="unused",
                                                  max_retries=0)
                inproc_async = llmdeck_nb.async_openai_client(session)
                calls_by_path = {
                    "AsyncOpenAI -> llmdeck serve": lambda q: remote_async.chat.completions.create(
                        model=MODEL, messages=message(q)),
                    "async_openai_client() in process": lambda q: inproc_async.chat.completions.create(
                        model=MODEL, messages=message(q)),
                    "Session.acomplete (direct)": lambda q: session.acomplete(q, MODEL),
                }
                out = {}
                for name, call in calls_by_path.items():
                    await throughput(call, CONCURRENCY * 2)  # warm-up
                    out[name] = await throughput(call, total)
                await remote_async.close()
                return out

            print(f"2. {total} requests from {CONCURRENCY} concurrent clients")
            for name, rate in asyncio.run(rates()).items():
                print(f"  {name:<34} {rate:7.0f} requests/s")
            session.close()
        finally:
            if served is not None:
                served.stop()
            fake.terminate()
            fake.wait()
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--total", type=int, default=2000)
    args = parser.parse_args()
    run(args.calls, args.total)


if __name__ == "__main__":
    main()
