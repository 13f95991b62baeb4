"""The Deck: backends, model specs, routing profiles, aliases and presets, loaded.

``Deck.resolve`` answers the one question every call asks. Resolutions without per-call
parameters are memoised per (handle, profile), so after the first call a resolve is a
dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llmdeck_nb.backends.catalog import DEMO
from llmdeck_nb.deck.loader import DeckContent, DeckProblem, read_deck
from llmdeck_nb.deck.resolution import Candidate, HandleKind, Resolution, frozen_params
from llmdeck_nb.deck.routing import RouteMatch, Router
from llmdeck_nb.deck.specs import BackendConfig, BudgetSettings, Costs, ModelSpec, Preset, RoutingProfile
from llmdeck_nb.errors import (
    AliasCycleError,
    CredentialsMissingError,
    DeckError,
    HandleNotFoundError,
    PresetNotFoundError,
    RoutingError,
    UnknownProfileError,
)

FIXED_TEMPERATURE = {"temperature_must_be_1": 1.0}


class Deck:
    """A loaded deck. Build one with :func:`load_deck`."""

    def __init__(self, content: DeckContent) -> None:
        self.folder: Path = content.folder
        self.origin: str = content.origin
        self.backends: dict[str, BackendConfig] = content.backends
        self.specs: dict[str, dict[str, ModelSpec]] = content.specs
        self.profiles: dict[str, RoutingProfile] = content.profiles
        self.active_profile: str = content.active_profile
        self.active_source: str = content.active_source
        self.aliases: dict[str, str | tuple[str, ...]] = content.aliases
        self.presets: dict[str, Preset] = content.presets
        self.choice_defaults: dict[str, str] = content.choice_defaults
        self.cache_settings: dict[str, Any] | None = content.cache_settings
        self.budget: BudgetSettings = content.budget
        self.problems: list[DeckProblem] = content.problems
        self.env_file: Path | None = content.env_file
        self.model_names: tuple[str, ...] = tuple(
            sorted({name for specs in self.specs.values() for name in specs})
        )
        self._model_set = frozenset(self.model_names)
        self._available = frozenset(b.name for b in self.backends.values() if b.available)
        self._routers: dict[str, Router] = {}
        self._resolved: dict[tuple[str, str], Resolution] = {}

    # --- what is in it -----------------------------------------------------------------

    @property
    def source(self) -> str:
        return f"{self.folder} ({self.origin})"

    @property
    def available_backends(self) -> list[str]:
        return [name for name, b in self.backends.items() if b.available]

    def handles(self) -> list[str]:
        """Every name ``resolve`` accepts: models, aliases, presets."""
        return [*self.model_names, *self.aliases, *self.presets]

    def profile(self, name: str | None = None) -> RoutingProfile:
        name = name or self.active_profile
        try:
            return self.profiles[name]
        except KeyError:
            raise UnknownProfileError(name, self.profiles, source="routing_profiles.toml") from None

    def router(self, profile: str | None = None) -> Router:
        name = profile or self.active_profile
        router = self._routers.get(name)
        if router is None:
            router = self._routers[name] = Router(self.profile(name), self._available)
        return router

    def route(self, model: str, profile: str | None = None) -> RouteMatch:
        return self.router(profile).match(model)

    def spec_on(self, model: str, backend: BackendConfig) -> ModelSpec | None:
        """The spec of ``model`` as ``backend`` serves it (borrowed if it serves any model)."""
        spec = self.specs.get(backend.name, {}).get(model)
        if spec is not None or not backend.serves_any_model:
            return spec
        for specs in self.specs.values():
            other = specs.get(model)
            if other is not None:
                return other.model_copy(update={
                    "backend": backend.name, "model_id": model, "sdk": None, "costs": Costs(),
                    "constraints": (), "valued_constraints": {},  # a stand-in takes any parameter
                    "rpm": None, "tpm": None, "max_concurrency": None,  # the other backend's limits
                    "mirrored": True, "source": f"{other.source} (served by {backend.name})"})
        return None

    # --- resolution --------------------------------------------------------------------

    def resolve(self, handle: str, profile: str | None = None, **params: Any) -> Resolution:
        """Resolve a model name, alias or preset under ``profile`` (default: the active one).

        Keyword ``params`` override the preset's generation parameters for this call.
        """
        key = (handle, profile or self.active_profile)
        resolution = self._resolved.get(key)
        if resolution is None:
            resolution = self._resolved[key] = self._resolve(handle, key[1])
        overrides = {k: v for k, v in params.items() if v is not None}
        if not overrides:
            return resolution
        return _with_params(resolution, overrides)

    def resolve_preset(self, preset: str, profile: str | None = None, **params: Any) -> Resolution:
        if preset not in self.presets:
            raise PresetNotFoundError(preset, self.presets)
        return self.resolve(preset, profile, **params)

    def default_handle(self, *, structured: bool = False) -> str:
        """The deck's choice default: ``for_object`` when structured output is wanted."""
        key = "for_object" if structured else "for_text"
        handle = self.choice_defaults.get(key) or self.choice_defaults.get("for_text")
        if not handle:
            raise HandleNotFoundError(f"<{key}>", self.handles())
        return handle

    def _resolve(self, handle: str, profile: str) -> Resolution:
        self.profile(profile)  # unknown profile -> clear error first
        kind: HandleKind
        preset: Preset | None = None
        if handle in self._model_set:
            kind, target = "model", handle
        elif handle in self.aliases:
            kind, target = "alias", handle
        elif handle in self.presets:
            kind, preset = "preset", self.presets[handle]
            target = preset.model
        else:
            raise HandleNotFoundError(handle, self.handles(), profile=profile)
        params = preset.generation_params() if preset else {}
        chain = self.expand(target)
        candidates: list[Candidate] = []
        skipped: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        blocked: list[tuple[str, BackendConfig]] = []
        for model, via in chain:
            found = self._candidate(model, via, profile, params, skipped, blocked)
            if found and (found.model, found.backend.name) not in seen:
                seen.add((found.model, found.backend.name))
                candidates.append(found)
        for model, _ in chain:  # then the profile's fallback_order, for the same models
            for backend_name in self.profile(profile).fallback_order:
                backend = self.backends.get(backend_name)
                if backend is None or not backend.available or (model, backend_name) in seen:
                    continue
                spec = self.spec_on(model, backend)
                if spec is not None and spec.enabled:
                    seen.add((model, backend_name))
                    candidates.append(_candidate(model, spec, backend, params, "fallback_order"))
        if not candidates:
            raise self._no_candidate_error(handle, profile, chain, skipped, blocked)
        # The offline demo stands in only when no real backend can serve this handle: once a
        # real candidate exists, a failure of it is an error, never a canned demo answer.
        real = [c for c in candidates if c.backend.strategy != DEMO]
        if real:
            candidates = real
        candidates.sort(key=lambda c: c.spec.mirrored)
        return Resolution(handle, kind, profile, preset.name if preset else None,
                          tuple(candidates), tuple(skipped))

    def expand(self, target: str) -> list[tuple[str, str]]:
        """Flatten aliases and waterfalls into ordered (name, via) pairs; detect cycles."""
        out: list[tuple[str, str]] = []

        def walk(name: str, via: str, path: tuple[str, ...]) -> None:
            if name in path:
                raise AliasCycleError([*path[path.index(name):], name])
            value = self.aliases.get(name)
            if value is None:
                out.append((name, via))
            elif isinstance(value, str):
                walk(value, f"alias '{name}'", (*path, name))
            else:
                for index, item in enumerate(value, 1):
                    walk(item, f"waterfall '{name}' #{index}", (*path, name))

        walk(target, "direct", ())
        return out

    def _candidate(self, model: str, via: str, profile: str, params: Mapping[str, Any],
                   skipped: list[tuple[str, str]],
                   blocked: list[tuple[str, BackendConfig]]) -> Candidate | None:
        if model not in self._model_set:
            skipped.append((model, "not a model in any backends/*.toml file"))
            return None
        match = self.route(model, profile)
        backend = self.backends.get(match.backend) if match.backend else None
        if match.backend is None:
            skipped.append((model, f"no route in profile '{profile}' reaches it"))
        elif backend is None:
            skipped.append((model, f"routed ({match.rule}) to backend '{match.backend}', "
                                   "which is not defined in backends.toml"))
        elif not backend.available:
            skipped.append((model, f"backend '{backend.name}' is {backend.unavailable_reason}"))
            blocked.append((model, backend))
        else:
            spec = self.spec_on(model, backend)
            if spec is None:
                skipped.append((model, f"backend '{backend.name}' has no spec for it "
                                       f"(backends/{backend.name}.toml)"))
            elif not spec.enabled:
                skipped.append((model, f"disabled in {spec.source}"))
            else:
                return _candidate(model, spec, backend, params, via)
        return None

    def _no_candidate_error(self, handle: str, profile: str, chain: list[tuple[str, str]],
                            skipped: list[tuple[str, str]],
                            blocked: list[tuple[str, BackendConfig]]) -> DeckError | CredentialsMissingError:
        missing = [(m, b) for m, b in blocked if b.enabled and b.missing]
        if missing:
            model, backend = missing[0]
            return CredentialsMissingError(handle, backend.name, backend.missing)
        if all(reason.startswith("not a model") for _, reason in skipped) and len(chain) == 1:
            return HandleNotFoundError(chain[0][0], self.handles(), profile=profile)
        reasons = "; ".join(f"{m}: {r}" for m, r in skipped)
        return RoutingError(f"'{handle}' cannot be served under profile '{profile}': {reasons}",
                            hint="run `llmdeck validate` to see routing for every model, "
                                 "or switch profile")

    # --- presentation --------------------------------------------------------------------

    def summary(self, profile: str | None = None) -> str:
        from llmdeck_nb.deck.presentation import deck_summary

        return deck_summary(self, profile)

    def models_table(self, profile: str | None = None) -> list[dict[str, Any]]:
        from llmdeck_nb.deck.presentation import models_table

        return models_table(self, profile)

    def validate(self, profile: str | None = None):
        from llmdeck_nb.deck.validation import validate_deck

        return validate_deck(self, profile)

    def __repr__(self) -> str:
        return (f"Deck({self.source}, profile={self.active_profile!r}, "
                f"{len(self.available_backends)}/{len(self.backends)} backends available, "
                f"{len(self.model_names)} models)")


def _candidate(model: str, spec: ModelSpec, backend: BackendConfig, params: Mapping[str, Any],
               via: str) -> Candidate:
    final, adjustments = apply_constraints(spec, params)
    return Candidate(model, spec, backend, frozen_params(final), via, adjustments)


def apply_constraints(spec: ModelSpec, params: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Apply a model's constraints to parameters; report each change made."""
    final = dict(params)
    notes: list[str] = []
    fixed = spec.valued_constraints.get("fixed_temperature")
    for constraint in spec.constraints:
        if constraint in FIXED_TEMPERATURE:
            fixed = FIXED_TEMPERATURE[constraint]
    temperature = final.get("temperature")
    if fixed is not None and temperature is not None and temperature != fixed:
        final["temperature"] = fixed
        notes.append(f"temperature {temperature} -> {fixed} ({spec.name} only accepts {fixed})")
    elif "temperature_must_be_multiplied_by_2" in spec.constraints and temperature is not None:
        final["temperature"] = temperature * 2
        notes.append(f"temperature {temperature} -> {temperature * 2} (temperature_must_be_multiplied_by_2)")
    max_tokens = final.get("max_tokens")
    if isinstance(max_tokens, int) and spec.max_tokens and max_tokens > spec.max_tokens:
        final["max_tokens"] = spec.max_tokens
        notes.append(f"max_tokens {max_tokens} -> {spec.max_tokens} (the model's limit)")
    return final, tuple(notes)


def _with_params(resolution: Resolution, overrides: Mapping[str, Any]) -> Resolution:
    candidates = tuple(
        _candidate(c.model, c.spec, c.backend, {**c.params, **overrides}, c.via) for c in resolution.candidates
    )
    return Resolution(resolution.requested, resolution.kind, resolution.profile, resolution.preset,
                      candidates, resolution.skipped)


def load_deck(path: str | Path | None = None, *, env: Mapping[str, str] | None = None,
              env_file: str | Path | None = None, strict: bool = True) -> Deck:
    """Load a deck folder (search order: ``path``, ``$LLMDECK_CONFIG_DIR``,
    ``./.llmdeck/inference``, ``./.pipelex/inference``, the packaged default).

    ``strict`` raises the first problem that makes a file unreadable (syntax, wrong
    types); other problems are kept in ``deck.problems`` for ``llmdeck validate``.
    A backend whose key is missing is loaded and marked unavailable.
    """
    deck = Deck(read_deck(path, env=env, env_file=env_file))
    if strict:
        for problem in deck.problems:
            if problem.error is not None:
                raise problem.error
    return deck
