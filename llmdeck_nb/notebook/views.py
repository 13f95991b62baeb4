"""How the DataFrames of the magics are shown: readable numbers, no empty columns, names
kept whole. Formatting applies to the displayed object only.

A magic marks the frame it returns (:func:`mark`); the notebook's HTML formatter asks
:func:`view_html` for it. The mark belongs to that one object, not to its ``attrs`` (which
pandas copies into derived frames), so ``df[["target", "cost_usd"]]`` or ``df.head()`` show
as ordinary DataFrames, and no value of any frame is ever changed: costs stay floats.
"""

from __future__ import annotations

import html
import math
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

COMPARE, GRID, LOG, SUMMARY = "compare", "grid", "log", "summary"
#: %llm_log's default columns, in order (``--all`` gives every column)
LOG_COLUMNS = ("started_at", "model", "backend", "status", "latency_s", "input_tokens",
               "output_tokens", "cached_tokens", "reasoning_tokens", "cost_usd", "cache_hit",
               "error_message", "tags")
NAME_COLUMNS = ("target", "profile", "backend", "model", "requested")
NOWRAP = {"white-space": "nowrap"}
TEXT_CELL = {"white-space": "pre-wrap", "text-align": "left", "vertical-align": "top"}
ERROR_STYLE = {**TEXT_CELL, "color": "#b00020", "min-width": "14em", "max-width": "30em"}
GREY = "color:#888;font-size:smaller"

_marked: dict[int, tuple[weakref.ref[Any], str]] = {}


# --- numbers -------------------------------------------------------------------------------


def significant(value: Any, digits: int = 3) -> str:
    """``0.000035123`` -> ``0.0000351``, ``12.3456`` -> ``12.3``, ``1234.5`` -> ``1,234``:
    ``digits`` significant digits, never scientific notation; "" for missing values."""
    if _missing(value):
        return ""
    value = float(value)
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def usd(value: Any) -> str:
    """``$0.000035``, ``$0.0123``, ``$0``; "" when unknown."""
    if _missing(value):
        return ""
    return "$" + significant(value, 2 if abs(float(value)) < 0.01 else 3)


def seconds(value: Any) -> str:
    """Latency to the millisecond: ``0.049``; "" when unknown."""
    return "" if _missing(value) else f"{float(value):.3f}"


def percent(value: Any) -> str:
    return "" if _missing(value) else f"{float(value):.0%}"


def _missing(value: Any) -> bool:
    """None, NaN, NaT or pd.NA."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, (int, str, bool)):
        return False
    import pandas as pd

    return bool(pd.isna(value)) if pd.api.types.is_scalar(value) else False


def size(n_bytes: int) -> str:
    """``512 bytes``, ``12 KB``, ``3.4 MB``."""
    if n_bytes < 1024:
        return f"{n_bytes} bytes"
    if n_bytes < 1024 * 1024:
        return f"{round(n_bytes / 1024)} KB"
    return f"{n_bytes / 1024 / 1024:.1f} MB"


# --- marking -------------------------------------------------------------------------------


def mark(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Show ``frame`` (this object only) with the ``kind`` view."""
    key = id(frame)
    _marked[key] = (weakref.ref(frame), kind)
    weakref.finalize(frame, _marked.pop, key, None)
    return frame


def kind_of(frame: pd.DataFrame) -> str | None:
    found = _marked.get(id(frame))
    return found[1] if found is not None and found[0]() is frame else None


def view_html(frame: pd.DataFrame) -> str:
    render = _RENDERERS.get(kind_of(frame) or "")
    return render(frame) if render else frame._repr_html_()


# --- the views -----------------------------------------------------------------------------


def _table(frame: pd.DataFrame, formats: dict[str, Callable[[Any], str]],
           styles: dict[str, dict[str, str]] | None = None,
           order: list[Any] | None = None) -> str:
    """``frame`` as an HTML table: columns that carry nothing (all missing or empty text) left
    out, ``formats`` per column, names kept whole, errors in red. Written out from the rows'
    Python values: pandas' Styler (and column-wise emptiness checks) took about 15 ms for the
    eight rows of a ``%%llm_compare``, half of what the cell added to the calls themselves.
    ``order``: the columns in the order shown (all of them, rearranged)."""
    names = [str(c) for c in frame.columns]
    renders = [formats.get(c, _text) for c in names]
    rows = [[render(value) for render, value in zip(renders, values)]
            for values in frame.to_numpy(dtype=object).tolist()]
    position = {c: i for i, c in enumerate(frame.columns)}
    shown = [i for i in ([position[c] for c in order] if order else range(len(names)))
             if not rows or any(row[i] for row in rows)]
    cell_styles = {**dict.fromkeys(NAME_COLUMNS, NOWRAP), "error": ERROR_STYLE,
                   "error_message": ERROR_STYLE, **(styles or {})}
    attributes = {i: _style_attribute(cell_styles.get(names[i])) for i in shown}
    head = "".join(f"<th>{_escape(names[i])}</th>" for i in shown)
    body = "".join(
        f"<tr><th>{_escape(str(index))}</th>"
        + "".join(f"<td{attributes[i]}>{_escape(row[i])}</td>" for i in shown) + "</tr>"
        for index, row in zip(frame.index, rows))
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"


def _style_attribute(style: dict[str, str] | None) -> str:
    return f' style="{"; ".join(f"{k}: {v}" for k, v in style.items())}"' if style else ""


def _escape(text: str) -> str:
    return html.escape(text, quote=False)  # cell text: quotes need no escaping


def _text(value: Any) -> str:
    return "" if _missing(value) else str(value)


def compare_html(frame: pd.DataFrame) -> str:
    """One row per target: errors next to the target, outputs wrapped, costs readable."""
    columns = list(frame.columns)
    if "error" in columns and frame["error"].notna().any():  # visible without scrolling
        columns.remove("error")
        columns.insert(columns.index("target") + 1 if "target" in columns else 0, "error")
    return _table(frame, {"cost_usd": usd, "latency_s": seconds, "ttft_s": seconds},
                  {"output": {**TEXT_CELL, "min-width": "24em", "max-width": "60em"}}, columns)


def grid_html(frame: pd.DataFrame) -> str:
    """Targets as columns, the answers next to each other, the metrics below."""
    labels = [str(t) if "run" not in frame.columns else f"{t} #{r}" for t, r in
              zip(frame["target"], frame["run"] if "run" in frame.columns else frame["target"])]
    head = "".join(f"<th style='text-align:left;white-space:nowrap'>{html.escape(label)}</th>"
                   for label in labels)
    answers = []
    for _, row in frame.iterrows():
        if isinstance(row.get("error"), str):
            answers.append(f"<td style='vertical-align:top;color:#b00020;white-space:pre-wrap;"
                           f"max-width:40em'>{html.escape(row['error'])}</td>")
        else:
            output = html.escape(str(row.get("output") or ""))
            answers.append(f"<td style='vertical-align:top;text-align:left;white-space:pre-wrap;"
                           f"min-width:16em;max-width:40em'>{output}</td>")
    metrics = []
    for name, render in (("model", str), ("backend", str), ("latency_s", seconds), ("tokens", None),
                         ("cost_usd", usd), ("cached", lambda v: "yes" if v is True else "")):
        if render is None:
            values = [f"{_int(i)} -> {_int(o)}" if not (_missing(i) and _missing(o)) else ""
                      for i, o in zip(frame["input_tokens"], frame["output_tokens"])]
        else:
            values = ["" if _missing(v) else render(v) for v in frame[name]]
        if any(values):
            metrics.append(f"<tr><th style='{GREY};text-align:left'>{name}</th>"
                           + "".join(f"<td style='{GREY};white-space:nowrap'>{html.escape(v)}</td>"
                                     for v in values)
                           + "</tr>")
    return (f"<table><thead><tr><th></th>{head}</tr></thead><tbody>"
            f"<tr><th style='vertical-align:top;text-align:left'>answer</th>{''.join(answers)}</tr>"
            f"{''.join(metrics)}</tbody></table>")


def _int(value: Any) -> str:
    return "?" if _missing(value) else f"{int(value):,}"


def log_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """%llm_log's compact view: the columns a reader scans, as a new (marked) frame."""
    return mark(frame[[c for c in LOG_COLUMNS if c in frame.columns]].copy(), LOG)


def log_html(frame: pd.DataFrame) -> str:
    shown = frame.copy()
    if "started_at" in shown.columns:
        shown["started_at"] = shown["started_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    if {"input_tokens", "output_tokens"} <= set(shown.columns):
        tokens = [f"{_int(i)} -> {_int(o)}" if not (_missing(i) and _missing(o)) else ""
                  for i, o in zip(shown.pop("input_tokens"), shown.pop("output_tokens"))]
        shown.insert(min(5, len(shown.columns)), "tokens", tokens)
    if "cache_hit" in shown.columns:
        shown["cache_hit"] = ["yes" if hit else "" for hit in shown["cache_hit"]]
    shown = shown.rename(columns={"started_at": "time (UTC)", "latency_s": "latency (s)",
                                  "cost_usd": "cost", "cache_hit": "cached",
                                  "error_message": "error"})
    return _table(shown, {"latency (s)": seconds, "cost": usd})


def summary_html(frame: pd.DataFrame) -> str:
    formats: dict[str, Callable[[Any], str]] = {
        "cache_hit_rate": percent, "p50_latency_s": seconds, "p95_latency_s": seconds,
        "cost_usd": usd, "saved_cost_usd": usd, "provider_saved_usd": usd}
    return _table(frame, formats)


_RENDERERS: dict[str, Callable[[Any], str]] = {COMPARE: compare_html, GRID: grid_html,
                                               LOG: log_html, SUMMARY: summary_html}


__all__ = ["COMPARE", "GRID", "LOG", "LOG_COLUMNS", "SUMMARY", "compare_html",
           "grid_html", "kind_of", "log_frame", "log_html", "mark", "percent", "seconds",
           "significant", "size", "summary_html", "usd", "view_html"]
