"""Can a routing profile serve one model name? Where (backend + spec), or the typed reason why not.

:func:`serving_verdict` is the only classification of routing: ``Deck.resolve`` (its
``skipped`` list and the error it raises when nothing can serve a handle), the routing rows
of ``llmdeck validate`` and ``llmdeck models`` (deck/presentation.py) and the panel's rows
(notebook/choices.py) all read it, so each reason is worded once, in :attr:`Unservable.text`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple, Protocol

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


@dataclass(frozen=True, slots=True)
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


class Served(NamedTuple):
    """The backend that serves a model, and the model's spec there (a tuple: verdicts are
    made for every model of a deck, so they are cheap to build)."""

    backend: BackendConfig
    spec: ModelSpec


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


def serving_verdict(deck: RoutingView, model: str, profile: str,
                    match: RouteMatch | None = None) -> Served | Unservable:
    """One model name under ``profile``: the routed backend and the model's spec there when
    that backend can serve it, else the reason it cannot. ``match``: the route
    of ``model`` under ``profile``, when the caller has it already."""
    return Verdicts(deck, profile)(model, match)


class Verdicts:
    """:func:`serving_verdict` for many models under one profile (every model of a deck, for
    ``llmdeck validate`` and ``llmdeck models``): which backends are available is worked out
    once, here, not once per model."""

    __slots__ = ("_available", "_deck", "_profile")

    def __init__(self, deck: RoutingView, profile: str) -> None:
        self._deck, self._profile = deck, profile
        self._available = {name: b for name, b in deck.backends.items() if b.available}

    def __call__(self, model: str, match: RouteMatch | None = None) -> Served | Unservable:
        deck = self._deck
        match = match or deck.route(model, self._profile)
        backend = self._available.get(match.backend or "")
        if backend is not None and deck.defines(model):
            served = _served_by(deck, model, backend)
            if served is not None:
                return served
        reason, detail = _why_not(deck, model, self._profile, match)
        routed = deck.backends.get(match.backend or "")
        missing = routed.missing if routed is not None and reason is Reason.MISSING_KEY else ()
        return Unservable(model, self._profile, reason, match.backend, detail, missing)


def _why_not(deck: RoutingView, model: str, profile: str, match: RouteMatch) -> tuple[Reason, str]:
    """(reason, detail) for a model that ``serving_verdict`` found the profile cannot serve."""
    backend = deck.backends.get(match.backend) if match.backend else None
    if not deck.defines(model):
        dormant = deck.dormant.get(model)
        where = dormant_phrase(dormant) if dormant else "not listed in any backends/*.toml file"
        if backend is not None and backend.remote_catalogue:
            return Reason.REMOTE, (f"{where}; profile '{profile}' routes it to backend "
                                   f"'{backend.name}', which is {backend.unavailable_reason}")
        return (Reason.DORMANT, where) if dormant else (Reason.UNKNOWN, "")
    if match.backend is None:
        return Reason.NO_ROUTE, ""
    if backend is None:
        return Reason.NO_BACKEND, match.rule
    state = backend_reason(backend)
    if state is not None:
        detail = backend.unavailable_reason or ""
        hint = _switch_hint(deck, model) if state is Reason.NOT_CALLABLE else ""
        return state, detail + hint
    spec = deck.spec_on(model, backend)
    if spec is None:
        return Reason.NO_SPEC, ""
    return Reason.SPEC_DISABLED, spec.source  # available, listed: only its spec says no


def served_on(deck: RoutingView, model: str, backend_name: str) -> Served | None:
    """``model`` on a backend named outright (a profile's ``fallback_order``, another
    profile's route), when that backend is available and has an enabled spec for it."""
    backend = deck.backends.get(backend_name)
    if backend is None or not backend.available:
        return None
    return _served_by(deck, model, backend)


def _served_by(deck: RoutingView, model: str, backend: BackendConfig) -> Served | None:
    """``model`` on an available ``backend``, when its spec there is enabled."""
    spec = deck.spec_on(model, backend)
    if spec is None or not spec.enabled:
        return None
    return Served(backend, spec)


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
        if served_on(deck, model, deck.route(model, name).backend or "") is not None:
            return f"; switch profile: '{name}' serves it (LLMDECK_PROFILE={name})"
    serving = [b for b, specs in deck.specs.items()
               if model in specs and not deck.backends[b].not_callable]
    if serving:
        return f"; set up backend '{serving[0]}' and switch to a profile that routes to it"
    return "; enable a backend that lists it and switch to a profile that routes to it"


__all__ = ["Reason", "RoutingView", "Served", "Unservable", "Verdicts", "backend_reason",
           "dormant_phrase", "served_on", "serving_verdict"]
