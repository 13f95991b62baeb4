"""Deck load time and resolve() cost (issue: the deck).

Run: python benchmarks/bench_deck.py
Prints: median load time of the packaged deck (fresh parse each time), and median / p99
of 100,000 resolutions (a mix of models, aliases, waterfalls and presets, with and
without per-call parameters).
"""

from __future__ import annotations

import statistics
import time

from llmdeck_nb import load_deck


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    load_times = []
    for _ in range(30):
        began = time.perf_counter()
        deck = load_deck(env={})
        load_times.append(time.perf_counter() - began)
    print(f"load packaged deck: median {statistics.median(load_times) * 1000:.1f} ms, "
          f"min {min(load_times) * 1000:.1f} ms over {len(load_times)} loads "
          f"({len(deck.model_names)} models, {len(deck.backends)} backends)")

    handles = [*deck.model_names[:10], *list(deck.aliases)[:5], *list(deck.presets)[:5]]
    for handle in handles:  # first resolution builds and memoises
        deck.resolve(handle)
    for label, kwargs in (("no per-call params", {}), ("with temperature=0.3", {"temperature": 0.3})):
        samples = []
        n = 100_000
        clock = time.perf_counter_ns
        for i in range(n):
            handle = handles[i % len(handles)]
            began = clock()
            deck.resolve(handle, **kwargs)
            samples.append(clock() - began)
        print(f"resolve ({label}): median {statistics.median(samples) / 1000:.2f} us, "
              f"p99 {percentile(samples, 0.99) / 1000:.2f} us over {n:,} resolutions")


if __name__ == "__main__":
    main()
