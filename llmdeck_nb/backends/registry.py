"""``strategy`` name (from backends.toml, via the catalog) -> the one shared strategy.

Strategies are built on first use, so importing this module imports neither httpx nor
litellm; each strategy keeps its own connection pools, shared by every call.
"""

from __future__ import annotations

import importlib
import threading

from llmdeck_nb.backends.base import BackendStrategy
from llmdeck_nb.errors import UnknownStrategyError

# kind -> "module:Class", imported on first use
_FACTORIES: dict[str, str] = {
    "openai_compatible": "llmdeck_nb.backends.openai_compatible:OpenAICompatibleStrategy",
    "litellm": "llmdeck_nb.backends.litellm_sdk:LiteLLMStrategy",
    "demo": "llmdeck_nb.backends.demo:DemoStrategy",
}
_instances: dict[str, BackendStrategy] = {}
_lock = threading.Lock()


def known_kinds() -> list[str]:
    return sorted(_FACTORIES)


def get_strategy(kind: str) -> BackendStrategy:
    """The shared strategy instance for ``kind`` ("openai_compatible", "litellm", "demo")."""
    strategy = _instances.get(kind)
    if strategy is not None:
        return strategy
    with _lock:
        strategy = _instances.get(kind)
        if strategy is None:
            target = _FACTORIES.get(kind)
            if target is None:
                raise UnknownStrategyError(
                    f"no backend strategy named '{kind}'",
                    hint="set `strategy` in backends.toml to one of: " + ", ".join(known_kinds()),
                )
            module_name, _, class_name = target.partition(":")
            strategy = getattr(importlib.import_module(module_name), class_name)()
            _instances[kind] = strategy
    return strategy


async def aclose_all() -> None:
    """Release the connections of every strategy built so far (in this event loop): the
    server's shutdown. A strategy used again afterwards opens new connections."""
    for strategy in list(_instances.values()):
        await strategy.aclose()
