"""Reading deck TOML files, with errors that name the file and line.

Parsing goes through rtoml (Rust): tomllib, pure Python, needs about 4 s for a
40,000-model spec file; rtoml keeps table order, which routes depend on.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import Any

import rtoml

from llmdeck_nb.errors import DeckSyntaxError, DeckUnreadableError

_LINE = re.compile(r"at line (\d+)")

# A parsed TOML table. Its values are checked where each key is read (deck/schema.py's
# `Expect`s, the pydantic models), so the alias names the shape and leaves the values open.
TomlTable = dict[str, Any]


def unreadable(label: str, exc: OSError, what: str = "file") -> DeckUnreadableError:
    """An OS error on a deck file or folder, as a deck error that says what to do."""
    reason = exc.strerror or errno.errorcode.get(exc.errno or 0, "") or type(exc).__name__
    hint = ("give the user running llmdeck read access (e.g. chmod u+r), or point --deck / "
            "$LLMDECK_CONFIG_DIR at a folder you can read")
    return DeckUnreadableError(f"{label}: cannot read this {what} ({reason.lower()})", hint=hint)


def read_toml(path: Path, *, label: str | None = None) -> TomlTable:
    """Parse one TOML file; a syntax error becomes DeckSyntaxError(file, line)."""
    return parse_toml(read_text(path, label=label), label=label or str(path))


def read_text(path: Path, *, label: str | None = None) -> str:
    """A deck file's text; unreadable or not UTF-8 -> a DeckError naming the file."""
    label = label or str(path)
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DeckSyntaxError(label, None, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise unreadable(label, exc) from None


def parse_toml(text: str, *, label: str) -> TomlTable:
    try:
        return rtoml.loads(text)
    except rtoml.TomlParsingError as exc:
        found = _LINE.search(str(exc))
        raise DeckSyntaxError(label, int(found.group(1)) if found else None, str(exc)) from None


def deck_files(folder: Path, *, label: str = "deck") -> list[Path]:
    """``deck/*.toml`` in name order (``1_llm_deck.toml``, ``2_...``, ``x_custom_...``),
    with ``overrides.toml`` last. An unreadable ``deck/`` folder raises DeckError."""
    deck_dir = folder / "deck"
    if not deck_dir.is_dir():
        return []
    try:
        entries = list(deck_dir.iterdir())
    except OSError as exc:
        raise unreadable(label + "/", exc, "folder") from None
    files = sorted((p for p in entries if p.suffix == ".toml" and p.is_file()),
                   key=lambda p: p.name)
    return sorted(files, key=lambda p: p.name == "overrides.toml")
