"""What the notebook offers to choose from: handles under a profile, and how each resolves.

Plain data for the panel's dropdown, ``%llm_presets``, ``%llm_aliases`` and the
``%llm_use`` / ``%llm_profile`` messages. Nothing here decides routing: a handle is resolved
by the deck, and why a model cannot be called is the deck's verdict
(:func:`~llmdeck_nb.deck.verdict.serving_verdict`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmdeck_nb.deck.verdict import Unservable, serving_verdict
from llmdeck_nb.errors import CredentialsMissingError, LLMDeckError

if TYPE_CHECKING:
    from llmdeck_nb.deck.deck import Deck
    from llmdeck_nb.engine.session import Session


@dataclass(frozen=True)
class Choice:
    handle: str
    kind: str  # model | alias | preset
    model: str | None  # the first candidate, when callable
    backend: str | None
    why_not: str | None  # why it cannot be called under the profile
    routed: str | None = None  # the backend the profile sends a model to, even when unavailable

    @property
    def callable(self) -> bool:
        return self.why_not is None

    @property
    def group(self) -> str:
        """``presets``, ``aliases``, ``models on openai`` (where the profile sends it)."""
        if self.kind != "model":
            return {"preset": "presets", "alias": "aliases"}.get(self.kind, self.kind)
        backend = self.backend or self.routed
        return f"models on {backend}" if backend else "models without a route"

    @property
    def target(self) -> str | None:
        return f"{self.model} on {self.backend}" if self.why_not is None else None

    @property
    def label(self) -> str:
        """``precise  (preset, gpt-4o-mini on openai)``, ``gpt-4o-mini  (on openai)``,
        ``claude-x  (unavailable: missing ANTHROPIC_API_KEY)``."""
        if self.why_not:
            return f"{self.handle}  (unavailable: {self.why_not})"
        if self.kind == "model" and self.model == self.handle:
            return f"{self.handle}  (on {self.backend})"
        kind = "" if self.kind == "model" else f"{self.kind}, "
        return f"{self.handle}  ({kind}{self.target})"


def describe(session: Session, handle: str | None = None, profile: str | None = None) -> str:
    """``'precise' -> gpt-4o-mini via openai`` (or why it cannot be called)."""
    try:
        resolution = session.resolve(handle, profile=profile)
    except LLMDeckError as exc:
        name = handle or session.default_model or "the deck default"
        return f"{name} (not callable: {exc.message})"
    primary = resolution.primary
    return f"{resolution.requested} -> {primary.model} via {primary.backend.name}"


def choice(session: Session, handle: str, kind: str, profile: str | None = None) -> Choice:
    name = profile or session.profile
    try:
        resolution = session.deck.resolve(handle, name)
    except LLMDeckError as exc:
        return Choice(handle, kind, None, None, _why_not(session.deck, handle, kind, name, exc),
                      _routed(session, handle, kind, profile))
    primary = resolution.primary
    return Choice(handle, kind, primary.model, primary.backend.name, None)


def _why_not(deck: Deck, handle: str, kind: str, profile: str, exc: LLMDeckError) -> str:
    """A model: the deck's verdict, without the backend (its group names it); an alias or a
    preset: the variables to set, or the resolution error."""
    if kind == "model" and deck.defines(handle) and profile in deck.profiles:
        found = serving_verdict(deck, handle, profile)
        if isinstance(found, Unservable):
            return found.short
    if isinstance(exc, CredentialsMissingError):
        return "missing " + ", ".join(exc.variables)
    return _short(exc.message)


def _routed(session: Session, handle: str, kind: str, profile: str | None) -> str | None:
    if kind != "model":
        return None
    try:
        return session.deck.route(handle, profile or session.profile).backend
    except LLMDeckError:
        return None


def choices(session: Session, profile: str | None = None) -> list[Choice]:
    """Presets, aliases, then models; callable ones first within each kind."""
    deck = session.deck
    out: list[Choice] = []
    for kind, names in (("preset", deck.presets), ("alias", deck.aliases),
                        ("model", deck.model_names)):
        group = [choice(session, name, kind, profile) for name in names]
        out.extend(sorted(group, key=lambda c: not c.callable))
    return out


@dataclass(frozen=True)
class Serving:
    """Whether the next ``%%llm`` can be served, in one sentence, and the variables missing."""

    ok: bool
    text: str
    missing: tuple[str, ...] = ()


def serving_status(session: Session, unreachable: dict[str, str | None] | None = None) -> Serving:
    """What the next ``%%llm`` would use, or why it cannot and how to fix that from the panel."""
    name = f"'{session.default_model}'" if session.default_model else "the deck default"
    where = f"under profile '{session.profile}'"
    try:
        resolution = session.resolve()
    except CredentialsMissingError as exc:
        names = ", ".join(exc.variables)
        return Serving(False,
                       f"{name} cannot be served {where}: backend '{exc.backend}' is missing "
                              f"{names}. Fix it here: choose another profile or model above, or "
                              f"press 'set {exc.variables[0]}' below (or put it in .env), then "
                              "reload.",
                       tuple(exc.variables))
    except LLMDeckError as exc:
        return Serving(False, f"{name} cannot be served {where}: {exc.message}. "
                              "Fix it here: choose another profile or model above.")
    primary = resolution.primary
    failure = (unreachable or {}).get(primary.backend.name)
    target = f"{resolution.requested} -> {primary.model} on {primary.backend.name}"
    if failure:
        return Serving(False, f"{target}, which did not answer the last check ({_short(failure)}). "
                              "Fix it here: choose another profile or model above, or press check "
                              "again.")
    demo = (" (offline demo answers: no key for its provider)"
            if primary.backend.provider == "demo" else "")
    return Serving(True, f"%%llm uses {target}{demo}")


def presets_rows(session: Session) -> list[dict[str, Any]]:
    rows = []
    for name, preset in session.deck.presets.items():
        found = choice(session, name, "preset")
        rows.append({"preset": name, "model": preset.model, "temperature": preset.temperature,
                     "max_tokens": preset.max_tokens, "params": dict(preset.params) or None,
                     "resolves_to": found.target, "note": found.why_not or "",
                     "description": preset.description})
    return rows


def aliases_rows(session: Session) -> list[dict[str, Any]]:
    rows = []
    for name, value in session.deck.aliases.items():
        found = choice(session, name, "alias")
        chain = value if isinstance(value, str) else " | ".join(value)
        rows.append({"alias": name, "kind": "alias" if isinstance(value, str) else "waterfall",
                     "targets": chain, "resolves_to": found.target, "note": found.why_not or ""})
    return rows


def _short(message: str, limit: int = 80) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


__all__ = ["Choice", "Serving", "aliases_rows", "choice", "choices", "describe", "presets_rows",
           "serving_status"]
