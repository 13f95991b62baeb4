"""Old tree vs this one, interleaved: run_all.py's per-call figures and %%llm_compare.

Run: python benchmarks/bench_ab.py OLD_TREE [--rounds N] [--calls N] [--compare-repeats N]
OLD_TREE is a source checkout of the baseline (e.g. ``git archive 19e0633 | tar -x -C /tmp/old``).
Each round runs one child process per tree, alternating (old, new, new, old, ...), each
measuring run_all.py's figures on the package of its tree against the same raw baselines;
the medians over rounds are printed next to ``uptime``'s load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NEW = HERE.parent


def child(tree: Path, calls: int, repeats: int) -> None:
    sys.path.insert(0, str(tree))
    import llmdeck_nb  # from `tree`, before run_all puts this tree first on the path

    assert Path(llmdeck_nb.__file__).resolve().is_relative_to(tree.resolve()), llmdeck_nb.__file__
    import run_all

    figures = []
    with run_all.fake_server() as url, run_all.tempfile.TemporaryDirectory() as tmp:
        deck = run_all.load_deck(run_all.loopback_deck(Path(tmp) / "deck", url),
                                 env=run_all.LOOPBACK_ENV)
        session = run_all.Session(deck=deck, cache=Path(tmp) / "cache",
                                  log=Path(tmp) / "calls.sqlite")
        run_all.sync_call_figure(url, session, calls)
        run_all.async_call_figure(url, session, calls)
        run_all.cache_hit_figures(session, 5 * calls)
        run_all.litellm_figure(url, session, calls // 2)
        session.close()
    if repeats:
        with run_all.fake_server(delay=0.2) as url:
            run_all.compare_figure(url, repeats)
            fan_out_figure(run_all, url, repeats)
    for figure in run_all.FIGURES:
        numbers = [float(n) for n in re.findall(r"[-+]?\d+(?:\.\d+)?", figure.now)]
        parts = figure.name.split(", ")[-1].split(" / ") if len(numbers) > 1 else [""]
        for part, number in zip(parts, numbers):  # "cache hit, sync / async / %%llm": three
            figures.append([f"{figure.name} [{part}]" if part else figure.name, number,
                            figure.note])
    print("RESULT " + json.dumps(figures))


def fan_out_figure(run_all: Any, url: str, repeats: int) -> None:
    """The floor under %%llm_compare's ratio: raw httpx, 8 requests at once vs one, same server."""
    async def run() -> list[list[float]]:
        async with run_all.httpx.AsyncClient() as client:
            async def one(i: int) -> None:
                (await client.post(url + "/v1/chat/completions", json=run_all.body(i))).json()

            async def eight(i: int) -> None:
                await asyncio.gather(*(one(8 * i + k) for k in range(8)))

            return await run_all.ainterleaved([one, eight], repeats, warmup=2)

    one_t, eight_t = asyncio.run(run())
    ratio = run_all.median_ms(eight_t) / run_all.median_ms(one_t)
    run_all.record("raw httpx, 8 requests at once x 200 ms, vs one", "(baseline)", f"{ratio:.2f}x",
                   True, f"{run_all.median_ms(eight_t):.0f} vs {run_all.median_ms(one_t):.0f} ms")


def run_one(tree: Path, calls: int, repeats: int) -> list[list[object]]:
    out = subprocess.run([sys.executable, str(HERE / "bench_ab.py"), str(tree), "--child",
                          "--calls", str(calls), "--compare-repeats", str(repeats)],
                         cwd=HERE, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old", nargs="?", type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--compare-repeats", type=int, default=5)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.old, args.calls, args.compare_repeats)
        return
    print("load before:", os.getloadavg())
    ratios: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    for number in range(args.rounds):
        order = [("old", args.old), ("new", NEW)]
        for label, tree in order if number % 2 == 0 else order[::-1]:
            for name, ratio, note in run_one(tree, args.calls, args.compare_repeats):
                ratios[label].setdefault(str(name), []).append(float(ratio))
                print(f"  round {number + 1} {label}: {name}: {ratio:.3f} ({note})", flush=True)
    print("load after:", os.getloadavg())
    for name in ratios["new"]:
        old, new = (statistics.median(ratios[k][name]) for k in ("old", "new"))
        print(f"{name}: old {old:.3f}, new {new:.3f} (medians of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
