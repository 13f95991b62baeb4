"""Deck load and validate times, and resolve() cost (issues: the deck; the deck meets the real world).

Run: python benchmarks/bench_deck.py [--models 40000] [--rounds 5]
Prints:
  * load and validate of the packaged deck, and of a generated deck whose one spec file
    holds --models models (the shape of a real Pipelex spec file: [defaults], quoted names,
    inputs/outputs/costs/max_tokens per model), medians over --rounds, measured interleaved
    (packaged, big, packaged, big...) so that both see the same machine load;
  * median / p99 of 100,000 resolutions (models, aliases, waterfalls, presets, with and
    without per-call parameters).
The machine's load average is printed first: on a shared machine the numbers are noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from llmdeck_nb import load_deck
from llmdeck_nb.deck.validation import validate_deck


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def write_big_deck(root: Path, models: int) -> Path:
    """A deck folder whose backends/openai.toml lists ``models`` models."""
    (root / "backends").mkdir(parents=True)
    (root / "deck").mkdir()
    (root / "backends.toml").write_text('[openai]\napi_key = "${OPENAI_API_KEY}"\n')
    lines = ['[defaults]\nmodel_type = "llm"\nsdk = "openai"\nstructure_method = "instructor/openai_tools"\n']
    for i in range(models):
        lines.append(f'\n["model-{i}.1"]\nmodel_id = "vendor/model-{i}.1"\ninputs = ["text", "images"]\n'
                     f'outputs = ["text", "structured"]\ncosts = {{ input = 0.15, output = 0.6 }}\n'
                     f'max_tokens = 8192\n')
    (root / "backends" / "openai.toml").write_text("".join(lines))
    (root / "routing_profiles.toml").write_text(
        'active = "p"\n[profiles.p]\ndefault = "openai"\n[profiles.p.routes]\n"model-1*" = "openai"\n')
    (root / "deck" / "1_llm_deck.toml").write_text(
        '[llm.aliases]\nfirst = "model-0.1"\n[llm.presets]\nquick = { model = "@first", temperature = 0.2 }\n'
        '[llm.choice_defaults]\nfor_text = "$quick"\n')
    return root


def timed(action) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, result). On a shared machine the CPU
    time says more about our code than the wall time, which includes waiting for a core."""
    began, cpu = time.perf_counter(), time.process_time()
    result = action()
    return time.perf_counter() - began, time.process_time() - cpu, result


def load_and_validate(folders: dict[str, Path | None], rounds: int, env: dict[str, str]) -> None:
    kinds = ("load", "load cpu", "validate", "validate cpu")
    times: dict[str, dict[str, list[float]]] = {name: {k: [] for k in kinds} for name in folders}
    sizes: dict[str, int] = {}
    for _ in range(rounds):
        for name, folder in folders.items():  # interleaved: the same load for both
            wall, cpu, deck = timed(lambda: load_deck(folder, env=env))
            times[name]["load"].append(wall)
            times[name]["load cpu"].append(cpu)
            wall, cpu, report = timed(lambda: validate_deck(deck))
            assert report.usable, [p.message for p in report.errors]
            times[name]["validate"].append(wall)
            times[name]["validate cpu"].append(cpu)
            sizes[name] = len(deck.model_names)
    for name, measured in times.items():
        median = {k: statistics.median(v) * 1000 for k, v in measured.items()}
        print(f"{name:<14} {sizes[name]:>6} models: load {median['load']:7.1f} ms "
              f"(CPU {median['load cpu']:.1f} ms), validate {median['validate']:7.1f} ms "
              f"(CPU {median['validate cpu']:.1f} ms); medians of {rounds} rounds")


def resolve_costs(deck) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg())
          + f" on {os.cpu_count()} CPUs")
    env = {"OPENAI_API_KEY": "sk-bench-0123456789abcdef"}
    with tempfile.TemporaryDirectory() as tmp:
        big = write_big_deck(Path(tmp) / "inference", args.models)
        print(f"spec file: {(big / 'backends' / 'openai.toml').stat().st_size / 1e6:.1f} MB")
        load_and_validate({"packaged deck": None, f"{args.models} models": big}, args.rounds, env)
    print("load average after: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    resolve_costs(load_deck(env=env))


if __name__ == "__main__":
    main()
