"""Where each key variable is found: the environment, a .env file, the key store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from llmdeck_nb.deck.envsubst import substitute
from llmdeck_nb.keys.lookup import stored_names
from llmdeck_nb.redaction import looks_secret

SOURCES = ("environment", ".env", "key store")


def deck_key_names(folder: Path) -> list[str]:
    """Key-like variables the deck's backends.toml refers to (``${OPENAI_API_KEY}``...)."""
    text = (folder / "backends.toml").read_text(encoding="utf-8")
    names: dict[str, None] = {}
    for missing in substitute(text, {}).missing:
        for name in missing.split(" or "):
            if looks_secret(name):
                names[name] = None
    return list(names)


def key_sources(names: list[str], env_file: Path | None = None) -> list[dict[str, Any]]:
    """One row per name: where it is set, and which of those the deck uses (the first)."""
    from dotenv import dotenv_values

    path = env_file or Path.cwd() / ".env"
    dotenv = {k: v for k, v in dotenv_values(path).items() if v} if path.is_file() else {}
    stored = stored_names()
    rows = []
    for name in dict.fromkeys([*names, *stored]):
        found = [source for source, present in zip(SOURCES, (
            bool(os.environ.get(name)), name in dotenv, name in stored)) if present]
        rows.append({"name": name, "used": found[0] if found else "not set",
                     "also_in": ", ".join(found[1:])})
    return rows
