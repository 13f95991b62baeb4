"""notebooks/conftest.py loaded as a plain module: the clean setting and execute_notebook()."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def notebook_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llmdeck_notebook_runner",
                                                  ROOT / "notebooks" / "conftest.py")
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while it runs
        spec.loader.exec_module(module)
    return module
