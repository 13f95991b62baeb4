"""Where llmdeck keeps its state: the response cache and the call log.

``$LLMDECK_CACHE_DIR`` moves both (the notebook tests point it at a temporary folder);
otherwise the per-user cache directory (``~/.cache/llmdeck_nb`` on Linux).
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR_VARIABLE = "LLMDECK_CACHE_DIR"


def state_dir() -> Path:
    configured = os.environ.get(STATE_DIR_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("llmdeck_nb"))


def responses_dir() -> Path:
    return state_dir() / "responses"


def call_log_path() -> Path:
    return state_dir() / "calls.sqlite"
