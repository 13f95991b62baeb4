"""llmdeck_nb: send notebook cells to any LLM through a configurable deck.

``import llmdeck_nb`` stays light: the deck, the engine and the notebook front end are
imported on first use (litellm, pandas and ipywidgets only when a call needs them).
The public names are exactly ``__all__`` (tests/test_exported_members.py checks it), so the
helpers this module imports are bound under private names.
"""

from typing import Any as _Any

from llmdeck_nb.lazy import lazy_dir as _lazy_dir
from llmdeck_nb.lazy import lazy_getattr as _lazy_getattr

__version__ = "0.1.0"

_EXPORTS = {
    "load_deck": "llmdeck_nb.deck",
    "Deck": "llmdeck_nb.deck",
    "Resolution": "llmdeck_nb.deck",
    "Session": "llmdeck_nb.engine.session",
    "default_session": "llmdeck_nb.engine.session",
    "Result": "llmdeck_nb.engine.result",
    "panel": "llmdeck_nb.notebook.panel",
    "openai_client": "llmdeck_nb.openai_inprocess",
    "async_openai_client": "llmdeck_nb.openai_inprocess",
}

__all__ = [*_EXPORTS, "__version__", "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: _Any) -> None:
    """``%load_ext llmdeck_nb``: register the magics and print one line about the deck."""
    from llmdeck_nb.notebook.extension import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: _Any) -> None:
    from llmdeck_nb.notebook.extension import unload_ipython_extension as unload

    unload(ipython)


__getattr__ = _lazy_getattr(__name__, _EXPORTS, globals())
__dir__ = _lazy_dir(__all__, globals())
