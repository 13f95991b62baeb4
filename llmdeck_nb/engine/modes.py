"""How a Session uses the response cache: ``normal``, ``replay`` or ``refresh``.

* ``normal`` (the default): cached answers are served, misses are sent.
* ``replay``: every answer must come from the cache; a miss is a
  :class:`~llmdeck_nb.errors.ReplayMissError` naming the model and the start of the
  prompt, and nothing is sent. A notebook (and its cassette, see
  :mod:`llmdeck_nb.cache.cassette`) then reruns in CI, on Binder or on a colleague's
  machine with no key and the same answers.
* ``refresh``: every call is sent again and its answer overwrites the cached one.

``Session(mode=...)``, else ``$LLMDECK_MODE``, else ``normal``; ``%llm_mode`` switches.
"""

from __future__ import annotations

import os

from llmdeck_nb.errors import InvalidModeError, ReplayMissError

MODES = ("normal", "replay", "refresh")
MODE_VARIABLE = "LLMDECK_MODE"
PROMPT_START_CHARS = 60


def check_mode(mode: str | None) -> str:
    """``mode``, else ``$LLMDECK_MODE``, else "normal"; a clear error for anything else."""
    where = "mode"
    if mode is None:
        mode, where = os.environ.get(MODE_VARIABLE) or "normal", f"${MODE_VARIABLE}"
    value = mode.strip().lower()
    if value not in MODES:
        raise InvalidModeError(f"{where} = {mode!r} is not a cache mode",
                               hint="use one of: " + ", ".join(MODES))
    return value


def replay_miss(requested: str, prompt: str, cache_on: bool) -> ReplayMissError:
    start = " ".join(prompt.split())
    if len(start) > PROMPT_START_CHARS:
        start = start[:PROMPT_START_CHARS - 3] + "..."
    if not cache_on:
        return ReplayMissError(
            f"replay mode: the response cache is off, so '{requested}' cannot be replayed "
            f"(prompt {start!r}); nothing was sent",
            hint="switch the cache on (%llm_cache on, Session(cache=...)) or leave replay mode "
                 "(%llm_mode normal)")
    return ReplayMissError(
        f"replay mode: no cached answer for '{requested}' and the prompt {start!r}; nothing was "
        "sent",
        hint="import the notebook's cassette (llmdeck cassette import FILE), or run once in normal "
             "mode (%llm_mode normal) to record the answer")


__all__ = ["MODES", "MODE_VARIABLE", "check_mode", "replay_miss"]
