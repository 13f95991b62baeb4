"""Reading deck TOML files, with errors that name the file and line."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from llmdeck_nb.errors import DeckSyntaxError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_LINE = re.compile(r"at line (\d+)")


def read_toml(path: Path, *, label: str | None = None) -> dict[str, Any]:
    """Parse one TOML file; a syntax error becomes DeckSyntaxError(file, line)."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        found = _LINE.search(str(exc))
        raise DeckSyntaxError(label or str(path), int(found.group(1)) if found else None, str(exc)) from None
    except UnicodeDecodeError as exc:
        raise DeckSyntaxError(label or str(path), None, f"not UTF-8 text ({exc.reason})") from None


def deck_files(folder: Path) -> list[Path]:
    """``deck/*.toml`` in path order, with ``overrides.toml`` last."""
    deck_dir = folder / "deck"
    if not deck_dir.is_dir():
        return []
    files = sorted(p for p in deck_dir.glob("*.toml") if p.is_file())
    return sorted(files, key=lambda p: p.name == "overrides.toml")
