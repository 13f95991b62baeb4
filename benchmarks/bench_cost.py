"""What pricing from the provider's usage adds to each call, next to what it replaced.

Run: python benchmarks/bench_cost.py [--n N]
Prints, from one run, each pair alternated (microseconds per call, median of 7 rounds):
  1. reading an OpenAI usage block: two ``dict.get`` (before) vs ``openai_usage`` (details)
  2. reading litellm's Usage: two ``getattr`` (before) vs ``litellm_usage``
  3. pricing: ``in x input + out x output`` (before) vs ``call_cost`` (cached, tiers)
  4. the call-log row of a record (``_row``, four more columns than before)
Compare the sum with the per-call figures of benchmarks/bench_engine.py (milliseconds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llmdeck_nb.backends.usage import litellm_usage, openai_usage  # noqa: E402
from llmdeck_nb.calllog.records import CallRecord  # noqa: E402
from llmdeck_nb.calllog.store import _row  # noqa: E402
from llmdeck_nb.deck.specs import Costs, ModelSpec  # noqa: E402
from llmdeck_nb.engine.cost import call_cost  # noqa: E402

OPENAI_USAGE = {"prompt_tokens": 2000, "completion_tokens": 302, "total_tokens": 2302,
                "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 300, "audio_tokens": 0}}
SPEC = ModelSpec(name="gpt-6.1-sol", backend="openai", model_id="gpt-6.1-sol", costs=Costs(
    input=2.0, output=10.0, input_cached=0.1, input_cache_write=2.5,
    tiers=[{"above_tokens": 272000, "input": 4.0, "output": 15.0, "input_cached": 0.2}]))


def per_call_us(fn: Callable[[], object], n: int) -> float:
    began = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - began) / n * 1e6


def pair(label: str, before: Callable[[], object], after: Callable[[], object], n: int) -> float:
    a, b = [], []
    for _ in range(7):  # alternated rounds: drift hits both alike
        a.append(per_call_us(before, n))
        b.append(per_call_us(after, n))
    old, new = statistics.median(a), statistics.median(b)
    print(f"  {label:<40} before {old:6.2f} us   after {new:6.2f} us   added {new - old:+6.2f} us")
    return new - old


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    n = parser.parse_args().n
    from llmdeck_nb.backends.litellm_sdk import load_litellm

    load_litellm()
    from litellm.types.utils import CompletionTokensDetailsWrapper, PromptTokensDetailsWrapper, Usage

    usage = Usage(prompt_tokens=2000, completion_tokens=302, total_tokens=2302,
                  prompt_tokens_details=PromptTokensDetailsWrapper(cached_tokens=1024),
                  completion_tokens_details=CompletionTokensDetailsWrapper(reasoning_tokens=300))
    record = CallRecord(model="gpt-6.1-sol", backend="openai", input_tokens=2000, output_tokens=302,
                        cost_usd=0.005, prompt_preview="hi", response_preview="echo: hi")
    full = CallRecord(model="gpt-6.1-sol", backend="openai", input_tokens=2000, output_tokens=302,
                      cost_usd=0.005, prompt_preview="hi", response_preview="echo: hi",
                      cached_tokens=1024, reasoning_tokens=300, provider_saved_usd=0.0019)
    costs = SPEC.costs
    print(f"per call, {n:,} calls x 7 rounds each")
    added = pair("1. OpenAI usage block", lambda: (OPENAI_USAGE.get("prompt_tokens"),
                                                    OPENAI_USAGE.get("completion_tokens")),
                 lambda: openai_usage(OPENAI_USAGE), n)
    added += pair("2. litellm Usage", lambda: (getattr(usage, "prompt_tokens", None),
                                               getattr(usage, "completion_tokens", None)),
                  lambda: litellm_usage(usage), n)
    added += pair("3. price", lambda: (2000 * costs.input + 302 * costs.output) / 1e6,
                  lambda: call_cost(SPEC, 2000, 302, cached_tokens=1024), n)
    added += pair("4. log row (empty vs filled new columns)", lambda: _row(record), lambda: _row(full),
                  max(1, n // 4))
    print(f"  total added per call: {added:+.2f} us (a loopback call is 1,000-6,000 us)")


if __name__ == "__main__":
    main()
