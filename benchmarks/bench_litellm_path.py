"""run_all's litellm figure (Session.acomplete over a bare litellm.acompletion), split in two.

    python benchmarks/bench_litellm_path.py [--calls 100] [--rounds 7]

Each round interleaves three calls to the fake server (its own process), A B C A B C ...:
  raw       litellm.acompletion("anthropic/claude-haiku-4-5"): run_all's baseline
  strategy  LiteLLMStrategy.complete with the request the session builds for that model
  session   Session.acomplete on the same model, cache off, logged: run_all's "ours"
then, as a block of its own, the engine on the httpx path (raw httpx POST, Session.acomplete
on gpt-4o-mini), so the engine's cost is seen after a litellm call and after an httpx call.
Every call pays the tail of the one before it (litellm queues its success logging, ~0.7 ms,
on the event loop), so each litellm-side call follows a litellm call: the split is fair.

Per round: medians of wall time and of the main thread's CPU time (the server's CPU is not
in it). Printed: the medians over rounds of strategy - raw (litellm_sdk's own cost),
session - strategy (the engine and the call log), session - raw (the figure).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests"), str(HERE)]
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx  # noqa: E402

from deck_folders import LOOPBACK_ENV, SENTINEL_KEY, loopback_deck  # noqa: E402
from llmdeck_nb import load_deck  # noqa: E402
from llmdeck_nb.backends.base import BackendRequest  # noqa: E402
from llmdeck_nb.backends.litellm_sdk import LiteLLMStrategy, load_litellm  # noqa: E402
from llmdeck_nb.engine.session import Session  # noqa: E402
from llmdeck_nb.redaction import Secret  # noqa: E402

Call = Callable[[int], Awaitable[object]]


async def one_round(calls: list[Call], n: int, warmup: int) -> list[tuple[float, float]]:
    """(median wall ms, median CPU ms) of each of ``calls``, interleaved."""
    walls: list[list[float]] = [[] for _ in calls]
    cpus: list[list[float]] = [[] for _ in calls]
    for i in range(warmup + n):
        for call, wall, cpu in zip(calls, walls, cpus):
            began, began_cpu = time.perf_counter(), time.thread_time()
            await call(i)
            if i >= warmup:
                wall.append(time.perf_counter() - began)
                cpu.append(time.thread_time() - began_cpu)
    return [(statistics.median(w) * 1000, statistics.median(c) * 1000)
            for w, c in zip(walls, cpus)]


def report(label: str, rounds: list[list[tuple[float, float]]], minus: int, plus: int) -> None:
    walls = [r[plus][0] - r[minus][0] for r in rounds]
    cpus = [r[plus][1] - r[minus][1] for r in rounds]
    print(f"  {label:<46} wall {statistics.median(walls):+.3f} ms   CPU "
          f"{statistics.median(cpus):+.3f} ms   (rounds: "
          + " ".join(f"{w:+.2f}" for w in walls) + ")")


def litellm_calls(url: str, session: Session) -> tuple[Call, Call, Call]:
    """The three sides of the litellm figure (run_all.py takes it with these too): a bare
    acompletion, LiteLLMStrategy.complete with the request the session builds for the
    model, and Session.acomplete."""
    litellm = load_litellm()
    strategy = LiteLLMStrategy()
    key = Secret(LOOPBACK_ENV["ANTHROPIC_API_KEY"])

    async def raw(i: int) -> None:
        await litellm.acompletion(model="anthropic/claude-haiku-4-5", api_base=url,
                                  api_key=SENTINEL_KEY, max_retries=0, timeout=10,
                                  messages=[{"role": "user", "content": f"q {i}"}])

    async def strategy_alone(i: int) -> None:
        await strategy.complete(BackendRequest(
            backend="anthropic", provider="anthropic", model_id="claude-haiku-4-5",
            messages=[{"role": "user", "content": f"q {i}"}], endpoint=url, api_key=key,
            key_variable="ANTHROPIC_API_KEY"))

    async def ours(i: int) -> None:
        await session.acomplete(f"q {i}", "claude-4.5-haiku", cache=False)

    return raw, strategy_alone, ours


async def bench(url: str, session: Session, calls: int, rounds: int) -> None:
    raw, strategy_alone, ours = litellm_calls(url, session)
    headers = {"Authorization": f"Bearer {SENTINEL_KEY}"}
    async with httpx.AsyncClient() as client:
        async def raw_httpx(i: int) -> None:
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q {i}"}]}
            (await client.post(url + "/v1/chat/completions", json=body, headers=headers)).json()

        async def ours_httpx(i: int) -> None:
            await session.acomplete(f"q {i}", "gpt-4o-mini", cache=False)

        lite, plain = [], []
        for number in range(rounds):
            lite.append(await one_round([raw, strategy_alone, ours], calls, 20))
            plain.append(await one_round([raw_httpx, ours_httpx], calls, 20))
            (r, _), (s, _), (o, _) = lite[-1]
            print(f"  round {number + 1}: raw {r:.3f}, strategy {s:.3f}, session {o:.3f} ms; "
                  f"httpx raw {plain[-1][0][0]:.3f}, session {plain[-1][1][0]:.3f} ms", flush=True)
    print(f"medians over {rounds} rounds of {calls} interleaved calls each:")
    report("LiteLLMStrategy.complete - raw acompletion", lite, 0, 1)
    report("Session.acomplete - LiteLLMStrategy.complete", lite, 1, 2)
    report("Session.acomplete - raw acompletion (the figure)", lite, 0, 2)
    report("httpx path: Session.acomplete - raw httpx POST", plain, 0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    from run_all import fake_server, load  # run_all takes litellm_calls from here

    print(f"load average before: {load()}; python {sys.version.split()[0]}, "
          f"litellm {version('litellm')}", flush=True)
    with fake_server() as url, tempfile.TemporaryDirectory() as tmp:
        deck = load_deck(loopback_deck(Path(tmp) / "deck", url), env=LOOPBACK_ENV)
        session = Session(deck=deck, cache=Path(tmp) / "cache", log=Path(tmp) / "calls.sqlite")
        asyncio.run(bench(url, session, args.calls, args.rounds))
        session.close()
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
