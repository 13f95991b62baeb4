"""Plain-text tables for the ``llmdeck`` listings (no pandas: the CLI stays quick)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: column names shown shorter than they are spelled in the rows
HEADERS = {"input_usd_per_1m": "$in/1M", "output_usd_per_1m": "$out/1M"}


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """``rows`` as left-aligned columns under a header line; None shows as an empty cell."""
    cells = [[HEADERS.get(c, c) for c in columns]]
    cells += [["" if r[c] is None else str(r[c]) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells)


__all__ = ["format_table"]
