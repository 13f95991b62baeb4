"""Deck problems, collected while reading (not raised one by one), so that
``llmdeck validate`` shows them all and ``load_deck(strict=True)`` raises the first error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from llmdeck_nb.deck.schema import suggestion
from llmdeck_nb.errors import DeckError, DeckSchemaError

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class DeckProblem:
    severity: Severity
    section: str  # files, backends, models, routing, aliases, presets, unknown_keys
    message: str
    file: str | None = None
    key: str | None = None
    error: DeckError | None = None  # the exception a strict load raises

    def as_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "section": self.section, "file": self.file,
                "key": self.key, "message": self.message}


class DeckWarning(UserWarning):
    """An unknown key or other non-fatal deck problem (loading goes on)."""


class ProblemLog:
    """Where a reader records what it found wrong."""

    def __init__(self, problems: list[DeckProblem]) -> None:
        self.problems = problems

    def report(self, severity: Severity, section: str, message: str, *, file: str | None = None,
                key: str | None = None, error: DeckError | None = None) -> None:
        self.problems.append(DeckProblem(severity, section, message, file, key, error))

    def errors(self, errors: Iterable[DeckSchemaError], section: str = "files") -> bool:
        """Record schema errors; True when there was at least one."""
        found = False
        for error in errors:
            self.report("error", section, error.message, file=error.file, key=error.key,
                        error=error)
            found = True
        return found

    def unknown_key(self, file: str, key: str, where: str, known: Iterable[str] = ()) -> None:
        leaf = key.rsplit(".", 1)[-1]
        message = f"{file}: unknown key '{key}' in {where} (ignored){suggestion(leaf, known)}"
        self.report("warning", "unknown_keys", message, file=file, key=key)
