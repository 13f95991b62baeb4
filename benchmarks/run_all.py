"""Every speed goal of llmdeck_nb in one run, printed as one table: figure, goal, now, pass/miss.

    python benchmarks/run_all.py [--quick]

Where a raw baseline exists (httpx, litellm), ours and the baseline are measured
interleaved in the same run (A B A B ...) and the figure is their ratio (or difference),
so drift of a shared machine hits both alike. The fake LLM server runs in its own process
(tests/fake_llm_server.py), so it does not compete with the client for the GIL. The load
average is printed before and after: on a busy machine absolute times are noisy, the
ratios less so. ``--quick`` takes fewer samples (a smoke run, not for quoting).

The other scripts in this folder break each figure down further.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(HERE)]

import httpx  # noqa: E402

from bench_calllog import (  # noqa: E402
    append_many_into,
    cold_frame,
    first_frame,
    make_records,
    median_timing,
    untyped_columns,
)
from bench_compare import bench_deck  # noqa: E402
from bench_load_ext import CHILD as LOAD_EXT_CHILD  # noqa: E402
from deck_folders import LOOPBACK_ENV, SENTINEL_KEY, loopback_deck  # noqa: E402
from llmdeck_nb import load_deck  # noqa: E402
from llmdeck_nb.engine.session import Session, set_default_session  # noqa: E402


@dataclass
class Figure:
    name: str
    goal: str
    now: str
    ok: bool
    note: str = ""


FIGURES: list[Figure] = []


def record(name: str, goal: str, now: str, ok: bool, note: str = "") -> None:
    FIGURES.append(Figure(name, goal, now, ok, note))
    print(f"  {name}: {now} (goal {goal}) {'pass' if ok else 'MISS'}{f'  [{note}]' if note else ''}",
          flush=True)


def load() -> str:
    return os.getloadavg().__repr__() if hasattr(os, "getloadavg") else "n/a"


@contextlib.contextmanager
def fake_server(delay: float = 0.0) -> Iterator[str]:
    """tests/fake_llm_server.py in a process of its own; yields its URL."""
    child = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_llm_server.py"),
                              "--delay", str(delay)], stdout=subprocess.PIPE, text=True)
    try:
        yield child.stdout.readline().strip()
    finally:
        child.terminate()
        child.wait(10)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def interleaved(fns: list[Callable[[int], object]], n: int, warmup: int = 30) -> list[list[float]]:
    for i in range(warmup):
        for fn in fns:
            fn(i)
    samples: list[list[float]] = [[] for _ in fns]
    for i in range(n):
        for fn, out in zip(fns, samples):
            began = time.perf_counter()
            fn(i)
            out.append(time.perf_counter() - began)
    return samples


async def ainterleaved(fns: list[Callable[[int], Awaitable[object]]], n: int,
                       warmup: int = 30) -> list[list[float]]:
    for i in range(warmup):
        for fn in fns:
            await fn(i)
    samples: list[list[float]] = [[] for _ in fns]
    for i in range(n):
        for fn, out in zip(fns, samples):
            began = time.perf_counter()
            await fn(i)
            out.append(time.perf_counter() - began)
    return samples


def body(i: int, prefix: str = "q") -> dict:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"{prefix} {i}"}]}


# --- the figures --------------------------------------------------------------------------


def load_ext_figure(runs: int) -> None:
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryDirectory() as pycache:
        env = {**os.environ, "LLMDECK_CACHE_DIR": state, "PYTHONPYCACHEPREFIX": pycache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.pop("LLMDECK_CONFIG_DIR", None)

        def one() -> dict:
            done = subprocess.run([sys.executable, "-c", LOAD_EXT_CHILD], capture_output=True,
                                  text=True, env=env, check=True, cwd=state)
            return json.loads(done.stdout.strip().splitlines()[-1])

        first = one()  # writes the .pyc files and remembers the load line
        results = [one() for _ in range(runs)]
    times = [r["seconds"] for r in results]
    heavy = sorted({m for r in results for m in r["heavy"]})
    now = statistics.median(times) * 1000
    record("%load_ext llmdeck_nb, fresh process", "<= 60 ms", f"{now:.0f} ms", now <= 60 and not heavy,
           f"first load with these deck inputs {first['seconds'] * 1000:.0f} ms; heavy imports: "
           f"{', '.join(heavy) or 'none'}")


def sync_call_figure(url: str, session: Session, n: int) -> None:
    headers = {"Authorization": f"Bearer {SENTINEL_KEY}"}
    with httpx.Client() as client:
        def raw(i: int) -> None:
            client.post(url + "/v1/chat/completions", json=body(i), headers=headers).json()

        def ours(i: int) -> None:
            session.complete(f"q {i}", "gpt-4o-mini", cache=False)

        raw_t, ours_t = interleaved([raw, ours], n)
    ratio = median_ms(ours_t) / median_ms(raw_t)
    record("Session.complete (sync) vs raw httpx.Client", "<= 1.3x", f"{ratio:.2f}x", ratio <= 1.3,
           f"{median_ms(ours_t):.3f} vs {median_ms(raw_t):.3f} ms")


def async_call_figure(url: str, session: Session, n: int) -> None:
    headers = {"Authorization": f"Bearer {SENTINEL_KEY}"}

    async def run() -> list[list[float]]:
        async with httpx.AsyncClient() as client:
            async def raw(i: int) -> None:
                (await client.post(url + "/v1/chat/completions", json=body(i), headers=headers)).json()

            async def ours(i: int) -> None:
                await session.acomplete(f"q {i}", "gpt-4o-mini", cache=False)

            return await ainterleaved([raw, ours], n)

    raw_t, ours_t = asyncio.run(run())
    ratio = median_ms(ours_t) / median_ms(raw_t)
    record("await Session.acomplete vs raw httpx.AsyncClient", "<= 1.15x", f"{ratio:.2f}x",
           ratio <= 1.15, f"{median_ms(ours_t):.3f} vs {median_ms(raw_t):.3f} ms")


def cache_hit_figures(session: Session, n: int) -> None:
    session.complete("cached question", "gpt-4o-mini")
    sync = interleaved([lambda i: session.complete("cached question", "gpt-4o-mini")], n)[0]

    async def run() -> list[float]:
        async def hit(i: int) -> None:
            await session.acomplete("cached question", "gpt-4o-mini")

        return (await ainterleaved([hit], n))[0]

    async_t = asyncio.run(run())
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    shell = InteractiveShell.instance()
    set_default_session(session)
    with capture_output():
        shell.run_line_magic("load_ext", "llmdeck_nb")
        magic = interleaved([lambda i: shell.run_cell_magic("llm", "gpt-4o-mini", "cached question")], n)[0]
        shell.run_line_magic("unload_ext", "llmdeck_nb")
    set_default_session(None)
    s, a, m = median_ms(sync), median_ms(async_t), median_ms(magic)
    record("cache hit, sync / async / %%llm", "<= 0.25 / 0.15 / 0.8 ms", f"{s:.2f} / {a:.2f} / {m:.2f} ms",
           s <= 0.25 and a <= 0.15 and m <= 0.8)


def throughput_figure(url: str, session: Session, total: int, rounds: int = 5) -> None:
    headers = {"Authorization": f"Bearer {SENTINEL_KEY}"}
    concurrency, clients_n = 32, 8

    async def run() -> tuple[list[float], list[float]]:
        clients = [httpx.AsyncClient() for _ in range(clients_n)]
        gate = asyncio.Semaphore(concurrency)

        async def raw_one(i: int) -> None:
            async with gate:
                client = clients[i % clients_n]
                (await client.post(url + "/v1/chat/completions", json=body(i, "c"), headers=headers)).json()

        async def our_one(i: int) -> None:
            async with gate:
                await session.acomplete(f"c {i}", "gpt-4o-mini", cache=False)

        rates: tuple[list[float], list[float]] = ([], [])
        sides = [(raw_one, rates[0]), (our_one, rates[1])]
        for round_ in range(rounds + 1):  # round 0 only warms the pools
            for one, out in sides if round_ % 2 else sides[::-1]:  # who goes first alternates
                began = time.perf_counter()
                await asyncio.gather(*(one(i) for i in range(total)))
                if round_:
                    out.append(total / (time.perf_counter() - began))
        for client in clients:
            await client.aclose()
        return rates

    raw_r, our_r = asyncio.run(run())
    ratio = statistics.median(ours / raw for ours, raw in zip(our_r, raw_r))  # round by round
    record(f"{total:,} prompts at concurrency 32 vs raw httpx, 8 clients", ">= 1.0x", f"{ratio:.2f}x",
           ratio >= 1.0, f"{statistics.median(our_r):.0f} vs {statistics.median(raw_r):.0f} calls/s, "
           f"median of {rounds} rounds' ratios")


def litellm_figure(url: str, session: Session, n: int) -> None:
    """Session.acomplete vs a bare acompletion; the strategy alone in between (each of the
    three follows a litellm call) splits the extra into litellm_sdk's and the engine's."""
    from bench_litellm_path import litellm_calls

    async def run() -> list[list[float]]:
        return await ainterleaved(list(litellm_calls(url, session)), n, warmup=20)

    raw_t, alone_t, ours_t = asyncio.run(run())
    extra = median_ms(ours_t) - median_ms(raw_t)
    record("litellm path, extra over raw litellm.acompletion", "<= +0.3 ms", f"{extra:+.2f} ms",
           extra <= 0.3, f"{median_ms(ours_t):.3f} vs {median_ms(raw_t):.3f} ms; LiteLLMStrategy "
           f"alone {median_ms(alone_t) - median_ms(raw_t):+.2f} ms, engine and log "
           f"{median_ms(ours_t) - median_ms(alone_t):+.2f} ms")


def calllog_figures(rows: int, repeat: int) -> None:
    """append_many into a fresh file, its first frame() ever (from SQLite, saves the snapshot),
    then a freshly opened log's frame() (a kernel restart: from the snapshot), ``repeat``
    times in turn. The goal is judged on the restart; the first read is in the note."""
    records = make_records(rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calls.sqlite"
        appends, firsts, colds, untyped = [], [], [], []
        for _ in range(repeat):
            appends.append(append_many_into(path, records))
            took, frame = first_frame(path)
            firsts.append(took)
            untyped = untyped_columns(frame)
            took, frame = cold_frame(path)
            colds.append(took)
            untyped += untyped_columns(frame)
    appended, first, cold = median_timing(appends), median_timing(firsts), median_timing(colds)
    record(f"call log: append_many of {rows:,} rows", "<= 0.5 s", f"{appended.wall:.2f} s",
           appended.wall <= 0.5, f"CPU {appended.cpu:.2f} s, median of {repeat}")
    typed = "typed" if not untyped else "NOT typed: " + ", ".join(sorted(set(untyped)))
    record(f"call log: DataFrame of {rows:,} rows, freshly opened (restart, snapshot)",
           "<= 0.5 s, typed", f"{cold.wall:.2f} s, {typed}", cold.wall <= 0.5 and not untyped,
           f"CPU {cold.cpu:.2f} s, median of {repeat}; the first read ever (no snapshot yet, "
           f"saves it): {first.wall:.2f} s")


def compare_figure(url: str, repeats: int) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    names = ",".join(f"m{i}" for i in range(1, 9))
    with tempfile.TemporaryDirectory() as tmp:
        deck = load_deck(bench_deck(Path(tmp) / "deck", url))
        session = Session(deck=deck, cache=False, log=Path(tmp) / "calls.sqlite")
        set_default_session(session)
        shell = InteractiveShell.instance()
        with capture_output():
            shell.run_line_magic("load_ext", "llmdeck_nb")
            shell.run_cell(f"%%llm_compare {names} --no-cache\nwarm up")
            one, all_ = [], []
            for _ in range(repeats):  # interleaved: one call, then the comparison
                for cell, out in (("%%llm m1 --no-cache\none call", one),
                                  (f"%%llm_compare {names} --no-cache\neight calls", all_)):
                    began = time.perf_counter()
                    shell.run_cell(cell)
                    out.append(time.perf_counter() - began)
            shell.run_line_magic("unload_ext", "llmdeck_nb")
        set_default_session(None)
        session.close()
    ratio = statistics.median(all_) / statistics.median(one)
    record("%%llm_compare, 8 targets x 200 ms, vs one call", "<= 1.1x", f"{ratio:.2f}x", ratio <= 1.1,
           f"{median_ms(all_):.0f} vs {median_ms(one):.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (smoke run)")
    quick = parser.parse_args().quick
    calls, hits = (100, 300) if quick else (500, 2000)
    print(f"load average before: {load()}; python {sys.version.split()[0]}, {os.cpu_count()} CPUs",
          flush=True)
    load_ext_figure(5 if quick else 11)
    with fake_server() as url, tempfile.TemporaryDirectory() as tmp:
        deck = load_deck(loopback_deck(Path(tmp) / "deck", url), env=LOOPBACK_ENV)
        session = Session(deck=deck, cache=Path(tmp) / "cache", log=Path(tmp) / "calls.sqlite")
        sync_call_figure(url, session, calls)
        async_call_figure(url, session, calls)
        cache_hit_figures(session, hits)
        throughput_figure(url, session, 1000, 2 if quick else 5)
        litellm_figure(url, session, calls // 2)
        session.close()
    calllog_figures(100_000, 1 if quick else 3)
    with fake_server(delay=0.2) as url:
        compare_figure(url, 3 if quick else 7)
    print(f"load average after: {load()}\n")
    width = max(len(f.name) for f in FIGURES)
    print(f"| {'figure':<{width}} | goal | now | pass/miss |")
    print(f"|{'-' * (width + 2)}|---|---|---|")
    for f in FIGURES:
        print(f"| {f.name:<{width}} | {f.goal} | {f.now} | {'pass' if f.ok else 'miss'} |")
    return 0 if all(f.ok for f in FIGURES) else 1


if __name__ == "__main__":
    sys.exit(main())
