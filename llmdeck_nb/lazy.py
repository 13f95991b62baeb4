"""Names a package exports but imports only on first use (PEP 562 ``__getattr__``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any


def lazy_getattr(package: str, exports: Mapping[str, str],
                 namespace: MutableMapping[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``exports[name]`` (a module path) when ``name``
    is first asked for, then keeps the value in ``namespace`` (the package's globals)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__


def lazy_dir(public: Iterable[str], namespace: Mapping[str, Any]) -> Callable[[], list[str]]:
    """A module ``__dir__`` that lists the lazy names too (``dir()``, tab completion in
    Jupyter) besides what the module already holds."""
    names = list(public)

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __dir__
