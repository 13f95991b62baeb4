"""Cache hot path: cache_key(), DiskResponseCache.get (hit), RedisResponseCache.get (hit).

    python benchmarks/bench_cache.py [-n 10000]

Prints median and p95 per call in microseconds. The Redis rows appear when
``redis-server`` is on PATH (a private one is started on a free port and stopped).
Goal: a cache hit end-to-end in the engine under 2 ms, so key + get well under 0.5 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from llmdeck_nb.cache import DiskResponseCache, cache_key  # noqa: E402


def measure(fn: Callable[[], object], n: int) -> tuple[float, float]:
    for _ in range(min(200, n)):  # warm up
        fn()
    timings = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        fn()
        timings.append(clock() - t0)
    timings.sort()
    return statistics.median(timings) / 1000, timings[int(0.95 * (len(timings) - 1))] / 1000


def report(name: str, n: int, fn: Callable[[], object]) -> None:
    median, p95 = measure(fn, n)
    print(f"{name:<44} median {median:8.1f} us   p95 {p95:8.1f} us")


def typical_request() -> dict:
    return {
        "backend": "openai",
        "endpoint": "https://api.openai.com/v1",
        "model_id": "gpt-4.1-mini",
        "messages": [
            {"role": "system", "content": "You are a careful analyst. Answer in three bullets."},
            {"role": "user", "content": "Summarise the following text:\n" + "lorem ipsum " * 50},
        ],
        "params": {"temperature": 0.2, "max_tokens": 400, "top_p": None, "seed": 7},
        "schema": None,
    }


def long_chat_request() -> dict:
    request = typical_request()
    request["messages"] = [
        {"role": ("user", "assistant")[i % 2], "content": f"turn {i} " + "words " * 150}
        for i in range(20)
    ]  # ~20 KB of conversation
    request["schema"] = {"type": "object", "properties": {"bullets": {"type": "array"}}}
    return request


def typical_answer() -> dict:
    return {
        "text": "- point one\n- point two\n- point three " * 30,  # ~1.2 KB
        "input_tokens": 712,
        "output_tokens": 310,
        "cost_usd": 0.00061,
        "model_id": "gpt-4.1-mini-2025-04-14",
        "finish_reason": "stop",
        "created_at": "2025-01-01T12:00:00+00:00",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="iterations per row")
    n = parser.parse_args().n
    print(f"python {sys.version.split()[0]}, {n} iterations per row")

    typical, long_chat = typical_request(), long_chat_request()
    report("cache_key (typical, ~0.7 KB)", n, lambda: cache_key(**typical))
    report("cache_key (20-turn chat + schema, ~20 KB)", n, lambda: cache_key(**long_chat))

    value = typical_answer()
    key = cache_key(**typical)
    with tempfile.TemporaryDirectory() as tmp:
        disk = DiskResponseCache(Path(tmp) / "responses")
        for i in range(1000):  # a realistically non-empty cache
            disk.set(f"{i:064x}", value)
        disk.set(key, value)
        report("DiskResponseCache.get (hit)", n, lambda: disk.get(key))
        report("DiskResponseCache.get (miss)", n, lambda: disk.get("0" * 63 + "z"))
        report("cache_key + DiskResponseCache.get (hit)", n, lambda: disk.get(cache_key(**typical)))
        report("DiskResponseCache.set", min(n, 2000), lambda: disk.set(key, value))
        disk.close()

        try:
            from redis_server import start_redis
        except ImportError:
            start_redis = None
        try:
            server = start_redis(Path(tmp) / "redis") if start_redis else None
        except FileNotFoundError:
            server = None
        if server is None:
            print("(redis-server not on PATH: Redis rows skipped)")
            return
        try:
            from llmdeck_nb.cache import RedisResponseCache

            cache = RedisResponseCache(f"redis://127.0.0.1:{server.port}/0", namespace="bench")
            cache.set(key, value)
            report("RedisResponseCache.get (hit, localhost)", n, lambda: cache.get(key))
            set_n = min(n, 2000)
            report("RedisResponseCache.set (localhost)", set_n, lambda: cache.set(key, value))
            cache.clear()
            cache.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
