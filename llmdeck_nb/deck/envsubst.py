"""`${...}` substitution in deck strings, and the environment it reads.

Forms: ``${VAR}``, ``${env:VAR}``, ``${secret:VAR}`` (read from the environment too),
``${env:A|env:B}`` (first one set wins) and our ``${VAR:-default}``. An empty variable
counts as missing, as in Pipelex. The real environment wins over a ``.env`` file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from llmdeck_nb.deck.project import find_env_file

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_UNCLOSED = re.compile(r"\$\{(?![^}]*\})")  # a "${" with no "}" after it
_SOURCES = ("env:", "secret:")


def deck_environment(env_file: str | Path | None = None) -> Mapping[str, str]:
    """The variables a deck sees: os.environ, then ``env_file`` (default: the nearest
    ``.env``, see :func:`llmdeck_nb.deck.project.find_env_file`), then the key store
    (``llmdeck keys set``)."""
    path = Path(env_file) if env_file else find_env_file()
    merged: dict[str, str] = {}
    if path is not None and path.is_file():
        from dotenv import dotenv_values

        merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    merged.update(os.environ)
    from llmdeck_nb.keys.lookup import with_key_store

    return with_key_store(merged)


@dataclass
class Substituted:
    """The result of substituting one string: its value, and what was missing."""

    value: str
    missing: list[str] = field(default_factory=list)
    used: list[str] = field(default_factory=list)  # variable names that supplied a value
    unclosed: bool = False  # "${NAME" without its "}": the text is kept, the loader reports it


def _lookup(expression: str, env: Mapping[str, str]) -> tuple[str | None, list[str], str | None]:
    """Evaluate the inside of one ``${...}``: (value or None, names tried, name used)."""
    default: str | None = None
    if ":-" in expression:
        expression, default = expression.split(":-", 1)
    names = []
    for alternative in expression.split("|"):
        alternative = alternative.strip()
        for prefix in _SOURCES:
            if alternative.startswith(prefix):
                alternative = alternative[len(prefix) :]
                break
        names.append(alternative)
        value = env.get(alternative)
        if value:
            return value, names, alternative
    return default, names, None


def supplying_variable(text: str, env: Mapping[str, str]) -> str | None:
    """The variable a ``${...}`` reference takes its value from (the first one set), or None
    for a literal, a default or an unset variable."""
    used = substitute(text, env).used
    return used[0] if used else None


def substitute(text: str, env: Mapping[str, str]) -> Substituted:
    """Replace every ``${...}`` in ``text``; names of unset variables go to ``missing``."""
    if "${" not in text:
        return Substituted(text)
    result = Substituted(text)

    def replace(match: re.Match[str]) -> str:
        value, names, used = _lookup(match.group(1), env)
        if used:
            result.used.append(used)
        if value is None:
            result.missing.append(" or ".join(names))
            return match.group(0)
        return value

    result.value = _PLACEHOLDER.sub(replace, text)
    result.unclosed = _UNCLOSED.search(text) is not None
    return result
