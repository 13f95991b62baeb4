"""Fill the packaged deck's cache and long-context prices from litellm's bundled price table.

Run: python scripts/deck_prices_from_litellm.py [--check]

For every model in llmdeck_nb/default_deck/inference/backends/*.toml that litellm's table
(``litellm.model_cost``, read offline: LITELLM_LOCAL_MODEL_COST_MAP=True) knows, under
``<litellm prefix>/<model_id>`` or ``<model_id>``, the ``costs = { ... }`` line is rewritten
with ``input_cached`` (``cache_read_input_token_cost``), ``input_cache_write``
(``cache_creation_input_token_cost``) and ``tiers`` (``*_above_<N>k_tokens``), in USD per
1M tokens. ``input`` and ``output`` stay as the deck has them (checked by hand); a
difference from litellm's is printed. ``--check`` writes nothing and exits 1 if a file
would change. Run it when litellm is upgraded (then set PRICE_TABLE in tests/test_costs.py
and the backends' comments to that version); nothing is fetched at run time.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SPEC_DIR = ROOT / "llmdeck_nb" / "default_deck" / "inference" / "backends"
sys.path.insert(0, str(ROOT))

from llmdeck_nb.backends.catalog import PROVIDER_CATALOG  # noqa: E402

_TABLE = re.compile(r'^\[\s*"?([^"\]]+)"?\s*\]\s*$')
_COSTS = re.compile(r"^costs\s*=\s*\{.*\}\s*$")
_BASE_TEXT = re.compile(r"\b(input|output)\s*=\s*([0-9.eE+-]+)")
_TIER_KEY = re.compile(r"^input_cost_per_token_above_(\d+)(k?)_tokens$")
_BASE_KEYS = {"input_cached": "cache_read_input_token_cost",
              "input_cache_write": "cache_creation_input_token_cost"}


def per_million(value: float) -> float:
    return round(value * 1_000_000, 6)


def number(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    text = f"{value:.6f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def litellm_entry(model_cost: dict[str, Any], backend: str, model_id: str) -> dict[str, Any] | None:
    defaults = PROVIDER_CATALOG.get(backend)
    prefix = defaults.provider if defaults else backend
    for key in (f"{prefix}/{model_id}", model_id):
        entry = model_cost.get(key)
        if entry and "input_cost_per_token" in entry:
            return entry
    return None


def extra_prices(entry: dict[str, Any]) -> dict[str, Any]:
    """input_cached, input_cache_write and tiers (per 1M) from one litellm table entry."""
    prices: dict[str, Any] = {}
    for ours, theirs in _BASE_KEYS.items():
        if entry.get(theirs) is not None:
            prices[ours] = per_million(entry[theirs])
    tiers = []
    for key in entry:
        match = _TIER_KEY.match(key)
        if not match:
            continue
        label = match.group(1) + match.group(2)
        above = int(match.group(1)) * (1000 if match.group(2) else 1)
        tier = {"above_tokens": above, "input": per_million(entry[key])}
        for ours, theirs in (("output", "output_cost_per_token"), *_BASE_KEYS.items()):
            value = entry.get(f"{theirs}_above_{label}_tokens")
            if value is not None:
                tier[ours] = per_million(value)
        tiers.append(tier)
    if tiers:
        prices["tiers"] = sorted(tiers, key=lambda t: t["above_tokens"])
    return prices


def inline(base_text: str, costs: dict[str, Any]) -> str:
    """``costs = { input = <as written>, output = <as written>, <litellm's extras> }``."""
    def table(values: dict[str, Any]) -> str:
        return "{ " + ", ".join(f"{k} = {number(v)}" for k, v in values.items()) + " }"

    parts = [base_text, *(f"{k} = {number(v)}" for k, v in costs.items() if k != "tiers")]
    if costs.get("tiers"):
        parts.append("tiers = [" + ", ".join(table(t) for t in costs["tiers"]) + "]")
    return "costs = { " + ", ".join(parts) + " }"


def rewrite(path: Path, model_cost: dict[str, Any]) -> str:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    defaults = data.get("defaults", {})
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    table = None
    for i, line in enumerate(lines):
        header = _TABLE.match(line.strip())
        if header:
            table = header.group(1)
            continue
        if table in (None, "defaults") or not _COSTS.match(line.strip()):
            continue
        spec = {**defaults, **data[table]}
        entry = litellm_entry(model_cost, path.stem, spec.get("model_id", table))
        if entry is None:
            continue
        base = {"input": spec["costs"]["input"], "output": spec["costs"]["output"]}
        for kind in ("input", "output"):
            theirs = per_million(entry.get(f"{kind}_cost_per_token") or 0.0)
            if abs(theirs - base[kind]) > 1e-9:
                print(f"{path.name} [{table}]: {kind} = {base[kind]} in the deck, "
                      f"{theirs} in litellm's table (kept the deck's)")
        written: dict[str, str] = {}
        for kind, text in _BASE_TEXT.findall(line.split("tiers")[0]):
            written.setdefault(kind, text)  # the model's own, not a tier's
        base_text = f"input = {written['input']}, output = {written['output']}"
        lines[i] = inline(base_text, extra_prices(entry)) + "\n"
    return "".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args()
    import litellm

    stale = []
    for path in sorted(SPEC_DIR.glob("*.toml")):
        new = rewrite(path, litellm.model_cost)
        if new != path.read_text(encoding="utf-8"):
            stale.append(path.name)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    verb = "stale" if args.check else "updated"
    print(f"{verb}: {', '.join(stale) or 'nothing'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
