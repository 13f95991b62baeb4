"""The ``%%llm_compare --plot`` chart: every run per target (a strip), its mean marked.

matplotlib is imported here only, when a chart is asked for; the figure is drawn without
pyplot (no global state, no GUI backend) and returned as PNG bytes.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from llmdeck_nb.notebook.views import significant, usd

if TYPE_CHECKING:
    import pandas as pd

    from matplotlib.figure import Figure

    from llmdeck_nb.deck import Deck

POINT_COLOURS = ("#4c72b0", "#dd8452")
TITLE_CHARS = 60


def chart_title(prompt: str | list[dict[str, Any]], runs: int) -> str:
    """``llmdeck compare: "Why do unit tests…" (3 runs per target)``."""
    from llmdeck_nb.engine.messages import text_of

    start = " ".join((prompt if isinstance(prompt, str) else text_of(prompt)).split())
    if len(start) > TITLE_CHARS:
        start = start[: TITLE_CHARS - 1] + "…"
    per = f" ({runs} runs per target)" if runs > 1 else ""
    return f'llmdeck compare: "{start}"{per}'


def shows_demo(frame: pd.DataFrame, deck: Deck) -> bool:
    """True when a row was answered by the offline demo backend."""
    demo = {name for name, backend in deck.backends.items() if backend.provider == "demo"}
    return bool(demo & set(frame["backend"].dropna()))


def runs_chart_png(frame: pd.DataFrame, title: str, *, demo: bool = False) -> bytes:
    buffer = io.BytesIO()
    runs_chart(frame, title, demo=demo).savefig(buffer, format="png", dpi=96)
    return buffer.getvalue()


def runs_chart(frame: pd.DataFrame, title: str, *, demo: bool = False) -> Figure:
    """Latency and cost side by side: one row per target, a point per run, the mean a bar."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    targets = list(dict.fromkeys(str(t) for t in frame["target"]))
    figure = Figure(figsize=(10, 0.55 * len(targets) + 1.9))
    axes = figure.subplots(1, 2, sharey=True)
    for ax, column, label, colour in zip(axes, ("latency_s", "cost_usd"),
                                         ("latency (s)", "cost per call (USD)"), POINT_COLOURS):
        for row, target in enumerate(targets):
            chosen = frame.loc[frame["target"].astype(str) == target, column]
            values = chosen.astype(float).dropna().tolist()
            if not values:
                continue
            offsets = [0.0] if len(values) == 1 else [
                -0.18 + 0.36 * i / (len(values) - 1) for i in range(len(values))]
            ax.scatter(values, [row + o for o in offsets], s=28, alpha=0.75, color=colour, zorder=2,
                       label="each run" if row == 0 else None)
            mean = sum(values) / len(values)
            ax.scatter([mean], [row], marker="|", s=500, linewidths=2.5, color="black", zorder=3,
                       label="mean" if row == 0 else None)
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlim(left=0)
    axes[0].set_yticks(range(len(targets)), targets)
    axes[0].set_ylim(len(targets) - 0.5, -0.5)  # first target on top
    axes[0].xaxis.set_major_formatter(FuncFormatter(lambda v, _: significant(v, 2)))
    axes[1].xaxis.set_major_formatter(FuncFormatter(lambda v, _: usd(v)))
    axes[1].legend(loc="lower right", fontsize="small")
    figure.suptitle(title, fontsize="medium")
    if demo:
        figure.text(0.99, 0.01, "DEMO answers (offline demo backend, no API key)", ha="right",
                    va="bottom", fontsize="small", color="#b00020")
    figure.tight_layout(rect=(0, 0.03 if demo else 0, 1, 1))
    return figure


__all__ = ["chart_title", "runs_chart", "runs_chart_png", "shows_demo"]
