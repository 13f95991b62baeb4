"""What every call asks the deck: which models, on which backends, with which parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from llmdeck_nb.deck.specs import BackendConfig, ModelSpec

HandleKind = Literal["model", "alias", "preset"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One model on one backend, ready to call. The key stays inside ``backend`` as a Secret."""

    model: str
    spec: ModelSpec
    backend: BackendConfig
    params: Mapping[str, Any]  # merged generation parameters (read-only)
    via: str  # how the chain reached it: "direct", "alias 'x'", "waterfall 'cheap' #2"...
    adjustments: tuple[str, ...] = ()  # constraints applied, e.g. "temperature 0.2 -> 1"
    # the parameters before constraints (re-applied per call)
    asked: Mapping[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.model}@{self.backend.name}"

    def __repr__(self) -> str:
        return (
            f"Candidate(model={self.model!r}, backend={self.backend.name!r}, "
            f"model_id={self.spec.model_id!r}, params={dict(self.params)!r}, via={self.via!r})"
        )


@dataclass(frozen=True, slots=True)
class Resolution:
    """A handle resolved under one profile: the ordered fallback candidates."""

    requested: str
    kind: HandleKind
    profile: str
    preset: str | None
    candidates: tuple[Candidate, ...]
    skipped: tuple[tuple[str, str], ...] = ()  # (model, why it cannot be used)

    @property
    def primary(self) -> Candidate:
        return self.candidates[0]

    @property
    def chain(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.candidates)

    def __repr__(self) -> str:
        skipped = f", skipped={len(self.skipped)}" if self.skipped else ""
        return (
            f"Resolution({self.requested!r} [{self.kind}] profile={self.profile!r} "
            f"-> {' | '.join(self.chain)}{skipped})"
        )


def frozen_params(params: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(params))
