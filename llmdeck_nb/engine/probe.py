"""Live checks: one cheap request per available backend, with status and latency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from llmdeck_nb.backends.base import BackendRequest
from llmdeck_nb.backends.registry import get_strategy
from llmdeck_nb.errors import LLMDeckError

if TYPE_CHECKING:
    import pandas as pd

    from llmdeck_nb.deck import Deck
    from llmdeck_nb.deck.specs import BackendConfig

COLUMNS = ["backend", "strategy", "endpoint_host", "model", "status", "latency_s", "detail"]
#: the longest a probe waits for a backend (a shorter session timeout wins)
PROBE_TIMEOUT_S = 15.0


def probe_timeout(session_timeout: float | None) -> float:
    """The probe's timeout under a session's (``None``: the session sets no limit)."""
    return PROBE_TIMEOUT_S if session_timeout is None else min(session_timeout, PROBE_TIMEOUT_S)


async def check_backends(deck: Deck, names: Iterable[str] | None, timeout: float) -> pd.DataFrame:
    import pandas as pd

    wanted = list(names) if names is not None else deck.available_backends
    rows = await asyncio.gather(*(_probe(deck, deck.backends.get(n), n, timeout) for n in wanted))
    return pd.DataFrame(rows, columns=COLUMNS)


async def _probe(deck: Deck, backend: BackendConfig | None, name: str,
                 timeout: float) -> dict[str, Any]:
    row: dict[str, Any] = {"backend": name, "strategy": None, "endpoint_host": None, "model": None,
                           "status": "skipped", "latency_s": None, "detail": None}
    if backend is None:
        row["detail"] = "not defined in backends.toml"
        return row
    row.update(strategy=backend.strategy, endpoint_host=backend.endpoint_host)
    if not backend.available:
        row["detail"] = backend.unavailable_reason
        return row
    specs = deck.specs.get(backend.name) or {}
    spec = next((s for s in specs.values() if s.enabled and s.model_type == "llm"), None)
    row["model"] = spec.name if spec else None
    request = BackendRequest(
        backend=backend.name, provider=backend.provider, model_id=spec.model_id if spec else "",
        messages=[{"role": "user", "content": "ping"}], params={"max_tokens": 1},
        endpoint=backend.endpoint, api_key=backend.api_key, key_variable=backend.key_variable,
        extra=backend.extra, timeout=timeout,
    )
    began = time.perf_counter()
    try:
        await get_strategy(backend.strategy).probe(request)
    except LLMDeckError as exc:
        row.update(status="error", detail=exc.message)
    else:
        row.update(status="ok", detail="answered")
    row["latency_s"] = time.perf_counter() - began
    return row
