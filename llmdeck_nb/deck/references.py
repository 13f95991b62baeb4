"""Model references in deck files (the 2026 Pipelex syntax, from the deck files' header):
``@name`` or ``alias:name`` names an alias, ``$name`` or ``preset:name`` names a preset, a
bare name is a model, an alias or a preset (looked up in that order).

References appear in a preset's ``model``, in choice defaults and overrides, in alias
values and in waterfall entries.
"""

from __future__ import annotations

from typing import Literal

ReferenceKind = Literal["alias", "preset"]

_SIGILS: tuple[tuple[str, ReferenceKind], ...] = (
    ("@", "alias"), ("alias:", "alias"), ("$", "preset"), ("preset:", "preset"))


def parse_reference(text: str) -> tuple[ReferenceKind | None, str]:
    """``"@default-premium"`` -> ``("alias", "default-premium")``;
    a bare name -> ``(None, name)``."""
    for sigil, kind in _SIGILS:
        if text.startswith(sigil):
            return kind, text[len(sigil):]
    return None, text


def spelled(kind: ReferenceKind, name: str) -> str:
    """How to write a reference to ``name`` as ``kind``: ``@name`` or ``$name``."""
    return ("@" if kind == "alias" else "$") + name
