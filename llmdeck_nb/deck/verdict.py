"""Can a routing profile serve one model name? The candidate, or the typed reason why not.

:func:`serving_verdict` is the only classification of routing: ``Deck.resolve`` (its
``skipped`` list and the error it raises when nothing can serve a handle), the routing rows
of ``llmdeck validate`` and ``llmdeck models`` (deck/presentation.py) and the panel's rows
(notebook/choices.py) all read it, so each reason is worded once, in :attr:`Unservable.text`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from llmdeck_nb.deck.resolution import Candidate, frozen_params
from llmdeck_nb.deck.routing import RouteMatch
from llmdeck_nb.deck.specs import BackendConfig, ModelSpec, RoutingProfile


class Reason(Enum):
    """Why a model cannot be served under a profile."""

    UNKNOWN = "unknown"  # no backends/*.toml file lists it
    DORMANT = "dormant"  # only disabled backends list it
    REMOTE = "remote"  # not in the files; routed to a backend whose model list is remote
    NO_ROUTE = "no_route"  # no route of the profile reaches it
    NO_BACKEND = "no_backend"  # routed to a backend backends.toml does not define
    BACKEND_DISABLED = "backend_disabled"  # routed to a backend with enabled = false
    MISSING_KEY = "missing_key"  # routed to a backend whose variables are not set
    MISCONFIGURED = "misconfigured"  # routed to a backend whose table cannot be used
    NOT_CALLABLE = "not_callable"  # routed to a backend llmdeck has no way to call
    NO_SPEC = "no_spec"  # the routed backend does not list it
    SPEC_DISABLED = "spec_disabled"  # its spec says enabled = false

    @property
    def backend_state(self) -> bool:
        """True when the routed backend itself cannot be called (whatever the model)."""
        return self in _BACKEND_STATES


_BACKEND_STATES = frozenset({Reason.BACKEND_DISABLED, Reason.MISSING_KEY, Reason.MISCONFIGURED,
                             Reason.NOT_CALLABLE})


@dataclass(frozen=True)
class Unservable:
    """A model a profile cannot serve, and why; :attr:`text` is the one wording."""

    model: str
    profile: str
    reason: Reason
    backend: str | None  # the backend the profile routes it to
    detail: str  # what varies: the backend's state, the rule, the spec's file, a hint
    missing: tuple[str, ...] = ()  # MISSING_KEY: the variables to set

    @property
    def text(self) -> str:
        """``backend 'openai' is missing OPENAI_API_KEY``, ``no route in profile 'x'
        reaches it``...: what every surface says about this model."""
        reason, backend = self.reason, self.backend
        if reason.backend_state:
            return f"backend '{backend}' is {self.detail}"
        if reason is Reason.UNKNOWN:
            return "not a model in any backends/*.toml file"
        if reason is Reason.NO_ROUTE:
            return f"no route in profile '{self.profile}' reaches it"
        if reason is Reason.NO_BACKEND:
            return (f"routed ({self.detail}) to backend '{backend}', which is not defined in "
                    "backends.toml")
        if reason is Reason.NO_SPEC:
            return f"backend '{backend}' has no spec for it (backends/{backend}.toml)"
        if reason is Reason.SPEC_DISABLED:
            return f"disabled in {self.detail}"
        return self.detail  # DORMANT, REMOTE: where the name is defined, in full

    @property
    def short(self) -> str:
        """The text without its subject where the reader sees the backend already (the
        panel groups models by backend): ``missing OPENAI_API_KEY``."""
        return self.detail if self.reason.backend_state else self.text


class RoutingView(Protocol):
    """What a verdict reads of a deck (:class:`~llmdeck_nb.deck.deck.Deck` is one)."""

    @property
    def backends(self) -> Mapping[str, BackendConfig]: ...

    @property
    def specs(self) -> Mapping[str, Mapping[str, ModelSpec]]: ...

    @property
    def profiles(self) -> Mapping[str, RoutingProfile]: ...

    @property
    def dormant(self) -> Mapping[str, Sequence[str]]: ...

    def defines(self, model: str) -> bool: ...

    def route(self, model: str, profile: str | None = None) -> RouteMatch: ...

    def spec_on(self, model: str, backend: BackendConfig) -> ModelSpec | None: ...


def serving_verdict(deck: RoutingView, model: str, profile: str) -> Candidate | Unservable:
    """One model name under ``profile``: a bare Candidate (no parameters, ``via`` "direct")
    when the routed backend can serve it, else the reason it cannot."""
    match = deck.route(model, profile)
    backend = deck.backends.get(match.backend) if match.backend else None

    def unservable(reason: Reason, detail: str = "", missing: tuple[str, ...] = ()) -> Unservable:
        return Unservable(model, profile, reason, match.backend, detail, missing)

    if not deck.defines(model):
        dormant = deck.dormant.get(model)
        where = dormant_phrase(dormant) if dormant else "not listed in any backends/*.toml file"
        if backend is not None and backend.remote_catalogue:
            return unservable(Reason.REMOTE, f"{where}; profile '{profile}' routes it to backend "
                              f"'{backend.name}', which is {backend.unavailable_reason}")
        return unservable(Reason.DORMANT, where) if dormant else unservable(Reason.UNKNOWN)
    if match.backend is None:
        return unservable(Reason.NO_ROUTE)
    if backend is None:
        return unservable(Reason.NO_BACKEND, match.rule)
    state = backend_reason(backend)
    if state is not None:
        detail = backend.unavailable_reason or ""
        if state is Reason.NOT_CALLABLE:
            detail += _switch_hint(deck, model)
        return unservable(state, detail, backend.missing)
    spec = deck.spec_on(model, backend)
    if spec is None:
        return unservable(Reason.NO_SPEC)
    if not spec.enabled:
        return unservable(Reason.SPEC_DISABLED, spec.source)
    return Candidate(model, spec, backend, frozen_params({}), "direct")


def backend_reason(backend: BackendConfig) -> Reason | None:
    """Why a backend cannot be called, in the order ``unavailable_reason`` words it."""
    if not backend.enabled:
        return Reason.BACKEND_DISABLED
    if backend.not_callable:
        return Reason.NOT_CALLABLE
    if backend.missing:
        return Reason.MISSING_KEY
    if backend.misconfigured:
        return Reason.MISCONFIGURED
    return None


def dormant_phrase(backends: Sequence[str]) -> str:
    """Where a name only disabled backends list is defined, for messages."""
    which = ", ".join(f"'{b}'" for b in backends)
    return (f"defined only in backend {which}, which is disabled" if len(backends) == 1
            else f"defined only in backends {which}, which are disabled")


def _switch_hint(deck: RoutingView, model: str) -> str:
    """"; switch profile: 'direct' serves it (LLMDECK_PROFILE=direct)": a way out."""
    for name in deck.profiles:
        backend = deck.backends.get(deck.route(model, name).backend or "")
        if backend is not None and backend.available and deck.spec_on(model, backend) is not None:
            return f"; switch profile: '{name}' serves it (LLMDECK_PROFILE={name})"
    serving = [b for b, specs in deck.specs.items()
               if model in specs and not deck.backends[b].not_callable]
    if serving:
        return f"; set up backend '{serving[0]}' and switch to a profile that routes to it"
    return "; enable a backend that lists it and switch to a profile that routes to it"


__all__ = ["Reason", "RoutingView", "Unservable", "backend_reason", "dormant_phrase",
           "serving_verdict"]
