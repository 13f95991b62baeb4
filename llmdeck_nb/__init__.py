"""llmdeck_nb: send notebook cells to any LLM through a configurable deck.

``import llmdeck_nb`` stays light: the deck, the engine and the notebook front end are
imported on first use (litellm, pandas and ipywidgets only when a call needs them).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_deck": "llmdeck_nb.deck",
    "Deck": "llmdeck_nb.deck",
    "Resolution": "llmdeck_nb.deck",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llmdeck_nb' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
