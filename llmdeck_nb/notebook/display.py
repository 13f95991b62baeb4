"""How the magics' answers, footers, messages and frames are rendered (chat turns:
chat_view.py; DataFrame formatting: views.py; the widgets: panel.py).

Everything goes out as a MIME bundle with a ``text/plain`` fallback, so a terminal IPython
shows readable text and Jupyter shows the rich version.
"""

from __future__ import annotations

import html
import json
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from llmdeck_nb.engine.result import format_cost
from llmdeck_nb.errors import LLMDeckError

if TYPE_CHECKING:
    import pandas as pd

    from llmdeck_nb.deck import Deck
    from llmdeck_nb.engine.result import Result

FORMATS = ("markdown", "text", "code", "json", "html")
FOOTER_STYLE = "color:#888;font-size:smaller"
STREAM_REFRESH_S = 0.05  # at most ~20 display updates a second while streaming

_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:\n)?```", re.DOTALL)


# --- errors and short messages ------------------------------------------------------------


def usage_error(exc: LLMDeckError) -> UsageError:
    """A user-fixable error, shown by IPython as one message without a traceback."""
    return UsageError(str(exc))


def one_line(exc: LLMDeckError) -> str:
    return f"{exc.message} -> {exc.hint}" if exc.hint else exc.message


def say(text: str) -> None:
    """A short status line (``llmdeck: ...``)."""
    print(text)


# --- answers ----------------------------------------------------------------------------


def show_result(result: Result, fmt: str, *, footer: bool = True, parsed: bool = False) -> None:
    """The answer rendered per ``fmt``, then the grey footer.

    ``parsed``: the answer is a parsed object the magic returns (``--schema``), so only
    the footer is shown here; the object itself is the cell's output.
    """
    from IPython.display import display

    if not parsed:
        display(answer_bundle(result.text, fmt), raw=True)
    if footer:
        display(footer_bundle(result), raw=True)


def answer_bundle(text: str, fmt: str) -> dict[str, str]:
    if fmt == "text":
        return {"text/plain": text}
    if fmt == "html":
        return {"text/html": text, "text/plain": text}
    if fmt == "code":
        code = extract_code(text)
        return {"text/markdown": f"```python\n{code}\n```", "text/plain": code}
    if fmt == "json":
        pretty = pretty_json(text)
        if pretty is None:
            return {"text/plain": text}
        return {"text/markdown": f"```json\n{pretty}\n```", "text/plain": pretty}
    return {"text/markdown": text, "text/plain": text}


def footer_text(result: Result) -> str:
    parts = [result.footer(), *result.adjustments]
    return " · ".join(parts)


def footer_bundle(result: Result) -> dict[str, str]:
    text = footer_text(result)
    return {"text/html": f'<div style="{FOOTER_STYLE}">{html.escape(text)}</div>',
            "text/plain": text}


def extract_code(text: str) -> str:
    """The code in an answer: the fenced blocks' contents, or the whole text if none."""
    blocks = [block.strip("\n") for block in _FENCE.findall(text)]
    if blocks:
        return "\n\n".join(blocks)
    return text.strip()


def pretty_json(text: str) -> str | None:
    body = extract_code(text) if "```" in text else text.strip()
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return None


class StreamView:
    """Shows text as it arrives, then the final rendering, in one display area.

    In Jupyter (or anything that keeps display ids) the area appears with the first
    tokens and is updated in place, at most every :data:`STREAM_REFRESH_S`; a plain
    terminal gets the deltas printed as they come.
    """

    def __init__(self, shell: Any) -> None:
        from IPython.core.displaypub import DisplayPublisher

        self._inline = type(getattr(shell, "display_pub", None)) is DisplayPublisher
        self._parts: list[str] = []
        self._last = 0.0
        self._handle: Any = None

    def __call__(self, delta: str) -> None:
        self._parts.append(delta)
        if self._inline:
            print(delta, end="", flush=True)
            return
        now = time.perf_counter()
        if now - self._last >= STREAM_REFRESH_S:
            self._last = now
            text = "".join(self._parts)
            self._show({"text/markdown": text, "text/plain": text})

    def reset(self) -> None:
        """An attempt failed after showing text and the call goes on: clear what it showed,
        so the answer that follows is seen once (a terminal gets a line saying so)."""
        self._parts.clear()
        if self._inline:
            print("\n[llmdeck: the answer was cut off; trying again]", flush=True)
        elif self._handle is not None:
            self._show({"text/plain": ""})

    def finish(self, result: Result, fmt: str, *, footer: bool = True,
               parsed: bool = False) -> None:
        from IPython.display import display

        if self._inline:
            print()
        elif not parsed:
            self._show(answer_bundle(result.text, fmt))
        elif self._handle is not None:  # the parsed object is the cell's output: clear the JSON
            self._show({"text/plain": ""})
        if footer:
            display(footer_bundle(result), raw=True)

    def _show(self, bundle: dict[str, str]) -> None:
        from IPython.display import display

        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)


# --- tables -------------------------------------------------------------------------------


def to_frame(rows: Sequence[dict[str, Any]] | pd.DataFrame,
             columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows (plain dicts from the deck or the notebook) as a DataFrame; pandas imported here."""
    import pandas as pd

    if isinstance(rows, pd.DataFrame):
        return rows
    return pd.DataFrame(list(rows), columns=list(columns) if columns else None)


def mark_compare(frame: pd.DataFrame, *, grid: bool = False) -> pd.DataFrame:
    """Show this compare frame (and only it, not frames derived from it) readably: see
    :mod:`llmdeck_nb.notebook.views`; ``grid``: targets as columns, answers side by side."""
    from llmdeck_nb.notebook import views

    return views.mark(frame, views.GRID if grid else views.COMPARE)


def frame_html(frame: pd.DataFrame) -> str | None:
    """HTML for a DataFrame: the frames the magics return get their view; others as usual."""
    from llmdeck_nb.notebook.views import view_html

    return view_html(frame)


#: where DataFrame lives, by name, so registering does not import pandas (pandas 3 says
#: "pandas", pandas 2 "pandas.core.frame")
_FRAME_TYPE_NAMES = (("pandas", "DataFrame"), ("pandas.core.frame", "DataFrame"))


def register_frame_formatter(shell: Any) -> None:
    formatter = shell.display_formatter.formatters["text/html"]
    for module, name in _FRAME_TYPE_NAMES:
        formatter.for_type_by_name(module, name, frame_html)


def unregister_frame_formatter(shell: Any) -> None:
    formatter = shell.display_formatter.formatters["text/html"]
    for key in _FRAME_TYPE_NAMES:
        if formatter.deferred_printers.get(key) is frame_html:
            del formatter.deferred_printers[key]
    for cls, printer in list(formatter.type_printers.items()):
        if printer is frame_html:  # bound to the class once a frame was shown
            del formatter.type_printers[cls]


def savings_line(summary: pd.DataFrame) -> str | None:
    """What caching saved over a ``%llm_log --summary`` table, in one line (None: nothing)."""
    ours = float(summary["saved_cost_usd"].sum())
    provider = float(summary["provider_saved_usd"].sum())
    if not ours and not provider:
        return None
    return (f"llmdeck: caching saved {format_cost(ours + provider)}: {format_cost(ours)} by "
            f"llmdeck's response cache (calls not sent), {format_cost(provider)} by provider "
            "caching (cached input tokens)")


def show_chart(frame: pd.DataFrame, title: str = "llmdeck compare", *, demo: bool = False) -> None:
    """Every run's latency and cost per target, the mean marked (``%%llm_compare --plot``)."""
    from IPython.display import Image, display

    from llmdeck_nb.notebook.charts import runs_chart_png

    display(Image(data=runs_chart_png(frame, title, demo=demo), format="png"))


def cache_line(stats: Any, used: bool = True) -> str:
    """``llmdeck: 1 hit, 1 miss (50%), 12 KB used; 2 entries in the disk cache at ...``"""
    from llmdeck_nb.notebook.views import size

    hits = "1 hit" if stats.hits == 1 else f"{stats.hits} hits"
    misses = "1 miss" if stats.misses == 1 else f"{stats.misses} misses"
    rate = f" ({stats.hit_rate:.0%})" if stats.hit_rate is not None else ""
    entries = "1 entry" if stats.entries == 1 else f"{stats.entries} entries"
    use = "" if used else "; NOT used by calls now (%llm_cache on)"
    return (f"llmdeck: {hits}, {misses}{rate}, {size(stats.bytes)} used; {entries} in the "
            f"{stats.kind} cache at {stats.location}{use}")


# --- listings -----------------------------------------------------------------------------


def profiles_listing(profiles: dict[str, Any], active: str) -> str:
    width = max((len(name) for name in profiles), default=4)
    lines = []
    for name, profile in profiles.items():
        mark = "*" if name == active else " "
        description = getattr(profile, "description", "") or ""
        lines.append(f"{mark} {name:<{width}}  {description}".rstrip())
    return "\n".join(lines)


def calls_table_html(rows: Iterable[dict[str, Any]]) -> str:
    """The panel's table of recent calls (newest first); failed attempts in red."""
    rows = list(rows)
    if not rows:
        return f'<div style="{FOOTER_STYLE}">no calls in the log yet</div>'
    columns = ("time (UTC)", "model", "backend", "status", "latency", "cost", "cached", "error")
    head = "".join(f"<th style='text-align:left;padding:0 8px'>{h}</th>" for h in columns)
    body = []
    for row in rows:
        cells = (row["time"], row["model"], row["backend"], row["status"], row["latency"],
                 row["cost"], "yes" if row["cached"] else "", row["error"])
        colour = "color:#b00020;" if row["status"] == "error" else ""
        style = (f"{colour}padding:0 8px;white-space:nowrap;max-width:40em;overflow:hidden;"
                 "text-overflow:ellipsis")
        body.append("<tr>"
                    + "".join(f"<td style='{style}'>{html.escape(str(c or ''))}</td>"
                              for c in cells) + "</tr>")
    return (f"<div style='{FOOTER_STYLE}'>recent calls (every kernel's, from the call log)</div>"
            f"<table style='font-size:smaller'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


# --- the deck status line (%load_ext, %llm_reload, %llm_check, the panel) ----------------


def load_line(deck: Deck, profile: str, live: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """``llmdeck: profile auto, 4 of 12 backends available (demo, openai; configured (not
    checked): ollama), deck ../.llmdeck/inference, keys from ../.env``; after a live check,
    what it found (``live``: its rows)."""
    from llmdeck_nb.deck.availability import NOT_CHECKED, backend_state, has_nothing_to_check

    available = deck.available_backends
    groups: dict[str, list[str]] = {"": [], NOT_CHECKED: [], "unreachable": []}
    for name in available:
        state = backend_state(deck.backends[name], (live or {}).get(name))
        if state.startswith("unreachable"):
            groups["unreachable"].append(name)
        elif state == NOT_CHECKED and has_nothing_to_check(deck.backends[name]):
            groups[NOT_CHECKED].append(name)
        else:
            groups[""].append(name)
    listing = "; ".join(f"{label}: {', '.join(names)}" if label else ", ".join(names)
                        for label, names in groups.items() if names)
    parts = [f"profile {profile}",
             f"{len(available)} of {len(deck.backends)} backends available ({listing or 'none'})",
             deck_location(deck)]
    if deck.env_file is not None:
        parts.append(f"keys from {_shown(deck.env_file)}")
    return "llmdeck: " + ", ".join(parts)


def deck_location(deck: Deck) -> str:
    """``deck .llmdeck/inference``, ``deck /x/deck (from $LLMDECK_CONFIG_DIR)``, or
    ``packaged default deck``."""
    if deck.origin == "packaged default":
        return "packaged default deck"
    shown = _shown(Path(deck.folder))
    return f"deck {shown}" if deck.origin == "project" else f"deck {shown} (from {deck.origin})"


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is near (``../.env``), else whole."""
    try:
        shown = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if shown.startswith(".." + os.sep + "..") else shown


__all__ = [
    "FORMATS",
    "StreamView",
    "answer_bundle",
    "cache_line",
    "calls_table_html",
    "deck_location",
    "extract_code",
    "footer_bundle",
    "frame_html",
    "load_line",
    "mark_compare",
    "one_line",
    "savings_line",
    "say",
    "show_chart",
    "show_result",
    "to_frame",
    "usage_error",
]
