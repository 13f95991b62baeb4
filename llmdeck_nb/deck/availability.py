"""What is known about a backend: configured, keyed, or seen answering.

A backend with its key set is *available*: we can call it (whether the key is still valid
only a call tells). A local or self-hosted server (ollama, lmstudio, vllm, a LiteLLM proxy,
any custom endpoint without a key) has nothing to check until something answers there, so
it is *configured (not checked)* until a live check (``%llm_check``, ``session.check()``,
``llmdeck validate --live``) has run; then it is *reachable (N ms)* or *unreachable*.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from llmdeck_nb.backends.catalog import DEMO, OPENAI_COMPATIBLE, PROVIDER_CATALOG
from llmdeck_nb.deck.specs import BackendConfig

NOT_CHECKED = "configured (not checked)"


def has_nothing_to_check(backend: BackendConfig) -> bool:
    """True for a server whose key is optional or absent: only a live check says it is up."""
    if backend.strategy == DEMO:
        return False
    known = PROVIDER_CATALOG.get(backend.name)
    if known is not None:
        return not known.key_required and known.strategy == OPENAI_COMPATIBLE
    return backend.api_key is None


def latency_text(seconds: object) -> str:
    """``"12 ms"``; empty for a missing or NaN latency."""
    if not isinstance(seconds, (int, float)) or math.isnan(seconds):
        return ""
    return f"{seconds * 1000:.0f} ms"


def backend_state(backend: BackendConfig, live: Mapping[str, Any] | None = None) -> str:
    """One phrase: why it cannot be used, or what a live check found, or what is known."""
    if not backend.available:
        return backend.unavailable_reason or "unavailable"
    if live is not None and live.get("status") == "ok":
        latency = latency_text(live.get("latency_s"))
        return f"reachable ({latency})" if latency else "reachable"
    if live is not None and live.get("status") == "error":
        return f"unreachable: {live.get('detail') or 'no answer'}"
    if backend.strategy == DEMO:
        return "available (offline demo)"
    return NOT_CHECKED if has_nothing_to_check(backend) else "available (key set)"


__all__ = ["NOT_CHECKED", "backend_state", "has_nothing_to_check", "latency_text"]
