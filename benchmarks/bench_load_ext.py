"""How long ``%load_ext llmdeck_nb`` takes in a fresh interpreter (goal: <= 0.15 s).

Each run is a new Python process that creates an IPython InteractiveShell, then times
``%load_ext llmdeck_nb`` alone (deck load and the status line included), and reports
whether litellm, pandas or ipywidgets were imported (none should be). Prints the median.

    python benchmarks/bench_load_ext.py [runs] [--against PATH]

``--against PATH`` also times the llmdeck_nb package found in PATH (e.g. an unpacked older
commit: ``git archive COMMIT llmdeck_nb | tar -x -C PATH``), the two interleaved run by run
on the same machine, and prints the ratio.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

GOAL_S = 0.15

CHILD = r"""
import contextlib, io, json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
out = io.StringIO()
with contextlib.redirect_stdout(out):
    start = time.perf_counter()
    shell.run_line_magic("load_ext", "llmdeck_nb")
    elapsed = time.perf_counter() - start
heavy = [m for m in ("litellm", "pandas", "ipywidgets") if m in sys.modules]
print(json.dumps({"seconds": elapsed, "heavy": heavy, "line": out.getvalue().strip()}))
"""

# the part of it that is the deck alone (pydantic, the deck package, reading the TOML files)
CHILD_DECK = r"""
import json, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
start = time.perf_counter()
from llmdeck_nb.deck import load_deck
load_deck()
print(json.dumps({"seconds": time.perf_counter() - start, "heavy": [], "line": ""}))
"""


def one_run(env: dict[str, str], child: str = CHILD) -> dict:
    # run outside any checkout: `python -c` puts the working folder first on sys.path
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env,
                          check=True, cwd=tempfile.gettempdir())
    return json.loads(done.stdout.strip().splitlines()[-1])


def interleaved(env: dict[str, str], other: str, runs: int) -> tuple[list[float], list[float]]:
    """(this tree's times, ``other``'s times), one run of each in turn."""
    other_env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [other, env.get("PYTHONPATH")]))}
    one_run(other_env)  # warm-up, not counted
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(one_run(env)["seconds"])
        theirs.append(one_run(other_env)["seconds"])
    return ours, theirs


def main(runs: int = 7, against: str | None = None) -> int:
    with tempfile.TemporaryDirectory() as state, tempfile.TemporaryDirectory() as pycache:
        # Bytecode as an installed package has it: written once (to a temporary prefix, so
        # the source tree stays clean) even where PYTHONDONTWRITEBYTECODE is set.
        env = {**os.environ, "LLMDECK_CACHE_DIR": state, "PYTHONPYCACHEPREFIX": pycache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        one_run(env)  # warm the OS file cache and write the .pyc files; not counted
        results = [one_run(env) for _ in range(runs)]
        deck_times = [one_run(env, CHILD_DECK)["seconds"] for _ in range(runs)]
        pairs = interleaved(env, against, runs) if against else None
    times = [r["seconds"] for r in results]
    heavy = sorted({m for r in results for m in r["heavy"]})
    median = statistics.median(times)
    print(f"load line: {results[-1]['line']}")
    print(f"%load_ext llmdeck_nb: median {median * 1000:.0f} ms over {runs} fresh processes "
          f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}); goal <= {GOAL_S * 1000:.0f} ms "
          f"-> {'OK' if median <= GOAL_S else 'OVER'}")
    print(f"  of which loading the deck alone (pydantic, llmdeck_nb.deck, TOML): median "
          f"{statistics.median(deck_times) * 1000:.0f} ms")
    print(f"heavy modules imported: {', '.join(heavy) or 'none (litellm, pandas, ipywidgets stay out)'}")
    if pairs:
        ours, theirs = (statistics.median(times) for times in pairs)
        print(f"interleaved, {runs} runs each: this tree median {ours * 1000:.0f} ms, {against} median "
              f"{theirs * 1000:.0f} ms: ratio {ours / theirs:.2f}")
    return 0 if median <= GOAL_S and not heavy else 1


if __name__ == "__main__":
    args = sys.argv[1:]
    other = args[args.index("--against") + 1] if "--against" in args else None
    numbers = [a for a in args if a.isdigit()]
    sys.exit(main(int(numbers[0]) if numbers else 7, other))
