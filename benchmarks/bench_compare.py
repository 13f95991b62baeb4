"""``%%llm_compare`` wall time vs one call: 8 targets, 200 ms of server delay each.

The targets run concurrently, so the comparison should take about as long as the slowest
target, not the sum (goal: at most 1.25x one call). Everything goes through a real IPython
shell with the extension loaded, against the loopback fake server (tests/fake_llm_server.py)
with a deck of 8 OpenAI-compatible models; cache off, so every request reaches the server.

    python benchmarks/bench_compare.py [repeats]
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from deck_folders import write_deck
from fake_llm_server import FakeLLMServer

TARGETS = 8
DELAY_S = 0.2
GOAL_RATIO = 1.25


def bench_deck(root: Path, url: str) -> Path:
    models = "\n".join(f'[m{i}]\nmodel_id = "fake-{i}"\ncosts = {{ input = 1.0, output = 2.0 }}\n'
                       for i in range(1, TARGETS + 1))
    return write_deck(root, {
        "backends.toml": f'''
            [local]
            display_name = "Loopback fake server"
            endpoint = "{url}/v1"
            api_key = "sk-local-bench"
        ''',
        "backends/local.toml": "[defaults]\ninputs = [\"text\"]\noutputs = [\"text\"]\n\n" + models,
        "routing_profiles.toml": '''
            active = "bench"
            [profiles.bench]
            default = "local"
        ''',
        "deck/base_deck.toml": '''
            [llm.choice_defaults]
            for_text = "m1"
        ''',
    })


def timed(shell, cell: str) -> float:
    with contextlib.redirect_stdout(io.StringIO()):
        from IPython.utils.capture import capture_output

        with capture_output():
            start = time.perf_counter()
            result = shell.run_cell(cell)
            elapsed = time.perf_counter() - start
    if result.error_in_exec is not None:
        raise RuntimeError(f"{cell.splitlines()[0]}: {result.error_in_exec}")
    return elapsed


def main(repeats: int = 5) -> int:
    from IPython.core.interactiveshell import InteractiveShell

    from llmdeck_nb import load_deck
    from llmdeck_nb.engine.session import Session, set_default_session

    names = ",".join(f"m{i}" for i in range(1, TARGETS + 1))
    with FakeLLMServer() as server, tempfile.TemporaryDirectory() as tmp:
        deck = load_deck(bench_deck(Path(tmp) / "deck", server.url))
        session = Session(deck=deck, cache=False, log=Path(tmp) / "calls.sqlite")
        set_default_session(session)
        shell = InteractiveShell.instance()
        with contextlib.redirect_stdout(io.StringIO()):
            shell.run_line_magic("load_ext", "llmdeck_nb")
        # warm up: imports (pandas), connection pool, event loop
        timed(shell, f"%%llm_compare {names} --no-cache\nwarm up")
        timed(shell, "%%llm m1 --no-cache\nwarm up")
        server.default_delay = DELAY_S
        single = [timed(shell, "%%llm m1 --no-cache\nHow long does one call take?") for _ in range(repeats)]
        compare = [timed(shell, f"%%llm_compare {names} --no-cache\nHow long do eight take?")
                   for _ in range(repeats)]
        frame = shell.user_ns.get("_")
        errors = int(frame.error.notna().sum()) if frame is not None else 0
        session.close()
        set_default_session(None)
    one, all_ = statistics.median(single), statistics.median(compare)
    ratio = all_ / one
    print(f"one %%llm call ({DELAY_S * 1000:.0f} ms server delay): median {one * 1000:.0f} ms "
          f"over {repeats}")
    print(f"%%llm_compare over {TARGETS} targets: median {all_ * 1000:.0f} ms over {repeats} "
          f"(the sum would be ~{TARGETS * one * 1000:.0f} ms)")
    print(f"ratio {ratio:.2f}x one call; goal <= {GOAL_RATIO}x -> {'OK' if ratio <= GOAL_RATIO else 'OVER'}"
          f"{f'; {errors} target errors!' if errors else ''}")
    return 0 if ratio <= GOAL_RATIO and not errors else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
