"""Batches: throughput against a raw httpx baseline, rows served from the cache, memory.

Run: python benchmarks/bench_batch.py [--calls 1000] [--rows 100000] [--delay 0.02] [--rounds 3]
Prints, from one run (ratios matter; these machines are noisy):
  1. CALLS distinct prompts at concurrency 32 against the loopback server (in its own
     process, answering after DELAY seconds): Session.abatch (cache and SQLite log on, as
     in a notebook) vs a raw httpx.AsyncClient gather behind a semaphore of 32, rounds
     interleaved; also a raw gather over 8 clients (see raw_gather). Goal: at least 0.9x the
     raw calls/s.
  2. ROWS rows served from the cache (filled first through the in-process demo backend with
     no simulated latency): seconds and microseconds per row. Goal: under 10 s for 100,000.
  3. Peak Python memory (tracemalloc) of a cached batch of ROWS/10 and of ROWS rows, next to
     the size of the result frame: what grows with the rows is the frame, not the batch.
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
import tracemalloc
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

import httpx  # noqa: E402

from deck_folders import LOOPBACK_ENV, SENTINEL_KEY, loopback_deck  # noqa: E402
from llmdeck_nb import load_deck  # noqa: E402
from llmdeck_nb.engine.session import Session  # noqa: E402

CONCURRENCY = 32


def start_server(delay: float) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen([sys.executable, str(TESTS / "fake_llm_server.py"), "--delay", str(delay)],
                              stdout=subprocess.PIPE, text=True)
    return server, server.stdout.readline().strip()


async def raw_gather(url: str, prompts: list[str], clients: int = 1) -> None:
    """``clients=1``: the baseline the issue names. More clients split the 32 connections over
    several pools, as llmdeck's strategy does (httpcore rescans its whole pool for every
    queued request, encode/httpx#3215): the fairer baseline for the engine's own overhead."""
    size = CONCURRENCY // clients
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    headers = {"Authorization": f"Bearer {SENTINEL_KEY}"}
    gate = asyncio.Semaphore(CONCURRENCY)
    pool = [httpx.AsyncClient(limits=limits) for _ in range(clients)]

    async def one(i: int, prompt: str) -> None:
        async with gate:
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}
            response = await pool[i % clients].post(f"{url}/v1/chat/completions", json=body,
                                                    headers=headers, timeout=30)
            response.raise_for_status()
            response.json()

    try:
        await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts)))
    finally:
        for client in pool:
            await client.aclose()


async def throughput(calls: int, delay: float, rounds: int, root: Path) -> None:
    server, url = start_server(delay)
    try:
        deck = load_deck(loopback_deck(root / "deck", url), env=LOOPBACK_ENV)
        print(f"1. {calls} distinct prompts at concurrency {CONCURRENCY}, server delay {delay * 1000:.0f} ms, "
              f"{rounds} rounds interleaved")
        raw_rates, pooled_rates, our_rates = [], [], []
        await raw_gather(url, [f"warm {i}" for i in range(100)])
        for r in range(rounds):
            for clients, rates in ((1, raw_rates), (8, pooled_rates)):
                began = time.perf_counter()
                await raw_gather(url, [f"round {r} raw{clients} question {i}" for i in range(calls)], clients)
                rates.append(calls / (time.perf_counter() - began))
            with Session(deck=deck, cache=root / f"cache-{r}", log=root / f"calls-{r}.sqlite") as session:
                began = time.perf_counter()
                frame = await session.abatch([f"round {r} question {i}" for i in range(calls)], "{value}",
                                             "gpt-4o-mini", concurrency=CONCURRENCY, progress=False)
                our_rates.append(calls / (time.perf_counter() - began))
            assert frame["error"].isna().all() and not frame["cached"].any()
            print(f"  round {r + 1}: raw httpx, 1 client {raw_rates[-1]:6.0f} calls/s   8 clients "
                  f"{pooled_rates[-1]:6.0f} calls/s   Session.abatch {our_rates[-1]:6.0f} calls/s")
        raw, pooled = statistics.median(raw_rates), statistics.median(pooled_rates)
        ours = statistics.median(our_rates)
        print(f"  median calls/s: raw 1 client {raw:.0f}, raw 8 clients {pooled:.0f}, abatch {ours:.0f}: "
              f"{ours / raw:.2f}x the issue's baseline (goal >= 0.9x), {ours / pooled:.2f}x the pooled one")
    finally:
        server.terminate()
        server.wait()


def demo_deck(root: Path):
    folder = loopback_deck(root / "demo-deck", "http://127.0.0.1:9")
    backends = folder / "backends.toml"
    backends.write_text(backends.read_text().replace('strategy = "demo"', 'strategy = "demo"\nlatency_s = 0'))
    return load_deck(folder, env=LOOPBACK_ENV)


def cached_rows(rows: int, root: Path) -> None:
    deck = demo_deck(root)
    prompts = [f"classify ticket {i}" for i in range(rows)]
    with Session(deck=deck, cache=root / "rows-cache", log=root / "rows.sqlite", profile="offline") as session:
        began = time.perf_counter()
        first = session.batch(prompts, "{value}", "demo-chat", concurrency=64, progress=False)
        filled = time.perf_counter() - began
        assert first["error"].isna().all()
        print(f"2. {rows:,} rows from the cache (filled first: demo backend, no latency, {filled:.1f} s, "
              f"{filled / rows * 1e6:.0f} us/row)")
        for label, progress in (("progress bar off", False), ("progress bar on (text, stderr)", True)):
            began = time.perf_counter()
            frame = session.batch(prompts, "{value}", "demo-chat", concurrency=64, progress=progress)
            elapsed = time.perf_counter() - began
            assert frame["cached"].all()
            print(f"  {label:<32} {elapsed:6.2f} s   {elapsed / rows * 1e6:5.0f} us/row (goal < 100 us/row)")
        for n in (rows // 10, rows):
            tracemalloc.start()
            frame = session.batch(prompts[:n], "{value}", "demo-chat", concurrency=64, progress=False)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            size = frame.memory_usage(deep=True).sum()
            print(f"3. peak Python memory, {n:>7,} cached rows: {peak / 1e6:7.1f} MB "
                  f"(result frame {size / 1e6:.1f} MB, {(peak - size) / 1e6:.1f} MB besides)")
            del frame


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--delay", type=float, default=0.02, help="server answer delay, seconds")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(throughput(args.calls, args.delay, args.rounds, Path(tmp)))
        cached_rows(args.rows, Path(tmp))


if __name__ == "__main__":
    main()
