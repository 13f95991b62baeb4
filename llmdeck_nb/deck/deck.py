"""The Deck: backends, model specs, routing profiles, aliases and presets, loaded.

``Deck.resolve`` answers the one question every call asks. Resolutions without per-call
parameters are memoised per (handle, profile), so after the first call a resolve is a
dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from llmdeck_nb.backends.catalog import DEMO
from llmdeck_nb.deck.deck_sections import NO_OVERRIDE, OtherDeck
from llmdeck_nb.deck.loader import DeckContent, read_deck, warn_problems
from llmdeck_nb.deck.problems import DeckProblem
from llmdeck_nb.deck.references import ReferenceKind, parse_reference, spelled
from llmdeck_nb.deck.resolution import Candidate, HandleKind, Resolution, frozen_params
from llmdeck_nb.deck.routing import RouteMatch, Router
from llmdeck_nb.deck.specs import (
    BackendConfig,
    BudgetSettings,
    Costs,
    ModelSpec,
    Preset,
    RoutingProfile,
)
from llmdeck_nb.deck.verdict import (
    Reason,
    Unservable,
    Verdicts,
    dormant_phrase,
    served_on,
)
from llmdeck_nb.errors import (
    AliasCycleError,
    AliasDepthError,
    CredentialsMissingError,
    HandleNotFoundError,
    LLMDeckError,
    NotAnLLMError,
    PresetNotFoundError,
    RoutingError,
    UnknownProfileError,
    WrongReferenceKindError,
)

FIXED_TEMPERATURE = {"temperature_must_be_1": 1.0}
# Alias chains are walked iteratively; these bounds turn a runaway deck into one message.
MAX_CHAIN_DEPTH = 64  # aliases within aliases
MAX_CHAIN_ENTRIES = 10_000  # models a waterfall of waterfalls may expand to


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
        choices = content.choices
        self.aliases: dict[str, str | tuple[str, ...]] = choices.aliases
        self.presets: dict[str, Preset] = choices.presets
        self.choice_defaults: dict[str, str] = choices.choice_defaults
        self.choice_overrides: dict[str, str] = choices.choice_overrides
        self.default_temperature: float | None = choices.default_temperature
        self.other_decks: dict[str, OtherDeck] = choices.other_decks
        self.cache_settings: dict[str, Any] | None = choices.cache_settings
        self.budget: BudgetSettings = choices.budget
        self.dormant: dict[str, list[str]] = content.dormant
        self.problems: list[DeckProblem] = content.problems
        self.env_file: Path | None = content.env_file
        self.model_names: tuple[str, ...] = tuple(
            sorted({name for specs in self.specs.values() for name in specs})
        )
        self._model_set = frozenset(self.model_names)
        self._available = frozenset(b.name for b in self.backends.values() if b.available)
        self._routers: dict[str, Router] = {}
        self._resolved: dict[tuple[str, str], Resolution] = {}
        # ... and with per-call parameters of plain values (the panel's, a cell's --temperature)
        self._with_params: dict[tuple[object, ...], Resolution] = {}

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

    def defines(self, model: str) -> bool:
        """True when a backends/*.toml file (of an enabled backend) lists ``model``."""
        return model in self._model_set

    def routing_profile(self, name: str | None = None) -> RoutingProfile:
        name = name or self.active_profile
        try:
            return self.profiles[name]
        except KeyError:
            raise UnknownProfileError(name, self.profiles, source="routing_profiles.toml") from None

    def router(self, profile: str | None = None) -> Router:
        name = profile or self.active_profile
        router = self._routers.get(name)
        if router is None:
            router = self._routers[name] = Router(self.routing_profile(name), self._available)
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

        Keyword ``params`` override the preset's generation parameters for this call; a
        parameter set to ``None`` is not sent (it unsets the preset's or the deck's value).
        """
        key = (handle, profile or self.active_profile)
        resolution = self._resolved.get(key)
        if resolution is None:
            resolution = self._resolved[key] = self._resolve(handle, key[1])
        if not params:
            return resolution
        if not all(type(value) in _PLAIN_VALUES for value in params.values()):
            return _with_params(resolution, params)  # a list or a table: not a memo key
        params_key = (*key, *((name, type(value), value) for name, value in params.items()))
        found = self._with_params.get(params_key)
        if found is None:
            if len(self._with_params) >= _PARAMS_MEMO_SIZE:
                self._with_params.clear()
            found = self._with_params[params_key] = _with_params(resolution, params)
        return found

    def resolve_preset(self, preset: str, profile: str | None = None, *, model: str | None = None,
                       **params: Any) -> Resolution:
        """A preset by name; with ``model``, that model with the preset's parameters.
        Keyword ``params`` override the preset's for this call."""
        if preset not in self.presets:
            raise PresetNotFoundError(preset, self.presets)
        if model is None:
            return self.resolve(preset, profile, **params)
        merged = {**self.presets[preset].generation_params(), **params}
        return self.resolve(model, profile, **merged)

    def default_handle(self, *, structured: bool = False) -> str:
        """The deck's choice: ``for_object`` when structured output is wanted, from the
        choice overrides first (unless "disabled"), then the choice defaults."""
        key = "for_object" if structured else "for_text"
        handle = (self.choice_overrides.get(key) or self.choice_defaults.get(key)
                  or self.choice_defaults.get("for_text"))
        if not handle or handle == NO_OVERRIDE:
            raise HandleNotFoundError(f"<{key}>", self.handles())
        return self.choice_handle(handle)

    def choice_handle(self, handle: str) -> str:
        """A choice default names a preset first (Pipelex 0.10 decks give an alias and a
        preset the same name, e.g. ``cheap_llm_for_text``): such a name becomes ``$name``."""
        if handle in self.presets and handle in self.aliases:
            return spelled("preset", handle)
        return handle

    def _resolve(self, handle: str, profile: str) -> Resolution:
        self.routing_profile(profile)  # unknown profile -> clear error first
        kind, target, preset = self._classify(handle, profile)
        params = preset.generation_params() if preset else {}
        if self.default_temperature is not None:
            params.setdefault("temperature", self.default_temperature)
        chain = self.expand(target)
        candidates: list[Candidate] = []
        unservable: list[Unservable] = []
        seen: set[tuple[str, str]] = set()
        verdict = Verdicts(self, profile)
        for model, via in chain:
            found = verdict(model)
            if isinstance(found, Unservable):
                unservable.append(found)
            elif (model, found.backend.name) not in seen:
                seen.add((model, found.backend.name))
                candidates.append(_candidate(model, found.spec, found.backend, params, via))
        for model, _ in chain:  # then the profile's fallback_order, for the same models
            for backend_name in self.routing_profile(profile).fallback_order:
                if (model, backend_name) in seen:
                    continue
                served = served_on(self, model, backend_name)
                if served is not None:
                    seen.add((model, backend_name))
                    candidates.append(_candidate(model, served.spec, served.backend, params,
                                                 "fallback_order"))
        if not candidates:
            raise self._no_candidate_error(handle, profile, chain, unservable)
        # The offline demo stands in only when no real backend can serve this handle: once a
        # real candidate exists, a failure of it is an error, never a canned demo answer.
        real = [c for c in candidates if c.backend.strategy != DEMO]
        if real:
            candidates = real
        candidates.sort(key=lambda c: c.spec.mirrored)
        return Resolution(handle, kind, profile, preset.name if preset else None,
                          tuple(candidates), tuple((u.model, u.text) for u in unservable))

    def _classify(self, handle: str, profile: str) -> tuple[HandleKind, str, Preset | None]:
        """What a handle names: (kind, what to expand, the preset if it is one)."""
        wanted, name = parse_reference(handle)
        if wanted is not None:
            self._check_kind(handle, wanted, name)
            if wanted == "alias":
                return "alias", name, None
            return "preset", self.presets[name].model, self.presets[name]
        if name in self._model_set:
            if all(spec.model_type != "llm" for spec in self.specs_of(name)):
                raise NotAnLLMError(f"'{name}' is {self._what(name)}, not an LLM",
                                    hint="%%llm and complete() send only LLM models (model_type = "
                                         "\"llm\")")
            return "model", name, None
        if name in self.aliases:
            return "alias", name, None
        if name in self.presets:
            return "preset", self.presets[name].model, self.presets[name]
        what = self._what(name)
        if what is None:
            raise HandleNotFoundError(handle, self.handles(), profile=profile)
        if name in self.dormant:
            raise RoutingError(f"'{name}' is {what}", hint="set enabled = true for that backend in "
                               "backends.toml (and its key), or pick another model")
        raise NotAnLLMError(f"'{name}' is {what}, not an LLM",
                            hint="%%llm and complete() send only LLM models and presets")

    def _check_kind(self, reference: str, wanted: ReferenceKind, name: str) -> None:
        """A sigil must name its kind: ``@x`` an alias, ``$x`` a preset."""
        names = self.aliases if wanted == "alias" else self.presets
        if name in names:
            return
        what = self._what(name)
        if what is None:
            raise HandleNotFoundError(reference, [spelled(wanted, n) for n in names])
        fix = ""
        if name in self.aliases or name in self.presets:
            fix = f": write '{spelled('alias' if name in self.aliases else 'preset', name)}'"
        elif name in self._model_set:
            fix = f": write '{name}' (no sigil) for a model"
        raise WrongReferenceKindError(f"'{reference}' names "
                                      f"{'an alias' if wanted == 'alias' else 'a preset'}, but "
                                      f"'{name}' is {what}{fix}")

    def specs_of(self, model: str) -> list[ModelSpec]:
        """Every spec of a model name, on every (enabled) backend that lists it."""
        return [specs[model] for specs in self.specs.values() if model in specs]

    def _what(self, name: str) -> str | None:
        """What a bare name is, for messages: "a preset",
        "an img_gen preset (deck/2_img_gen_deck.toml)"..."""
        if name in self.aliases:
            return "an alias"
        if name in self.presets:
            return "a preset"
        specs = self.specs_of(name)
        if specs:
            kind = specs[0].model_type
            return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} model ({specs[0].source})"
        for deck in self.other_decks.values():
            for what, names in (("alias", deck.aliases), ("preset", deck.presets)):
                if name in names:
                    return (f"{'an' if deck.kind[0] in 'aeiou' else 'a'} {deck.kind} {what} "
                            f"({deck.source.get(name)})")
        backends = self.dormant.get(name)
        return dormant_phrase(backends) if backends else None

    def expand(self, target: str) -> list[tuple[str, str]]:
        """Flatten aliases, waterfalls and preset references into ordered (model, via)
        pairs. Iterative, so a deep chain cannot overflow the stack; cycles are named and
        runaway chains stopped (MAX_CHAIN_DEPTH, MAX_CHAIN_ENTRIES)."""
        out: list[tuple[str, str]] = []
        path: list[str] = []  # the aliases being expanded, outermost first
        frames: list[Iterator[tuple[str, str]]] = [iter([(target, "direct")])]
        steps = 0
        while frames:
            item = next(frames[-1], None)
            if item is None:
                frames.pop()
                if path:
                    path.pop()
                continue
            steps += 1
            if steps > MAX_CHAIN_ENTRIES:
                raise AliasDepthError(target, f"expands to more than {MAX_CHAIN_ENTRIES:,} entries")
            reference, via = item
            name, value, label = self._chain_node(reference)
            if value is None:
                out.append((name, via))
                continue
            if name in path:
                raise AliasCycleError([*path[path.index(name):], name])
            if len(path) >= MAX_CHAIN_DEPTH:
                raise AliasDepthError(target, f"nests aliases more than {MAX_CHAIN_DEPTH} deep "
                                      f"(at '{path[-1]}' -> '{name}')")
            path.append(name)
            frames.append(iter([(value, label)] if isinstance(value, str) else
                               [(v, f"waterfall '{name}' #{i}") for i, v in enumerate(value, 1)]))
        return out

    def _chain_node(self, reference: str) -> tuple[str, str | tuple[str, ...] | None, str]:
        """(name, what it expands to or None for a model, the `via` of its entries)."""
        wanted, name = parse_reference(reference)
        if wanted is not None:
            self._check_kind(reference, wanted, name)
        if wanted != "preset" and name in self.aliases:
            return name, self.aliases[name], f"alias '{name}'"
        if (wanted == "preset" or name not in self._model_set) and name in self.presets:
            return name, self.presets[name].model, f"preset '{name}'"
        return name, None, ""

    def _no_candidate_error(self, handle: str, profile: str, chain: list[tuple[str, str]],
                            unservable: list[Unservable]) -> LLMDeckError:
        missing = [u for u in unservable if u.reason is Reason.MISSING_KEY]
        if missing:
            return CredentialsMissingError(handle, str(missing[0].backend), missing[0].missing)
        if len(chain) == 1 and all(u.reason is Reason.UNKNOWN for u in unservable):
            return HandleNotFoundError(chain[0][0], self.handles(), profile=profile)
        reasons = "; ".join(f"{u.model}: {u.text}" for u in unservable)
        return RoutingError(f"'{handle}' cannot be served under profile '{profile}': {reasons}",
                            hint="run `llmdeck validate` to see routing for every model, "
                                 "or switch profile")

    def __repr__(self) -> str:
        return (f"Deck({self.source}, profile={self.active_profile!r}, "
                f"{len(self.available_backends)}/{len(self.backends)} backends available, "
                f"{len(self.model_names)} models)")


def _candidate(model: str, spec: ModelSpec, backend: BackendConfig, params: Mapping[str, Any],
               via: str) -> Candidate:
    final, adjustments = apply_constraints(spec, params)
    return Candidate(model, spec, backend, frozen_params(final), via, adjustments,
                     frozen_params(params))


def apply_constraints(spec: ModelSpec,
                      params: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
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
        notes.append(f"temperature {temperature} -> {temperature * 2} "
                     "(temperature_must_be_multiplied_by_2)")
    if "temperature_unsupported" in spec.constraints and "temperature" in final:
        notes.append(f"temperature {final.pop('temperature')} dropped ({spec.name} takes no "
                     "temperature)")
    max_tokens, limit = final.get("max_tokens"), spec.output_token_limit
    if isinstance(max_tokens, int) and limit and max_tokens > limit:
        final["max_tokens"] = limit
        notes.append(f"max_tokens {max_tokens} -> {limit} (the model's limit)")
    return final, tuple(notes)


#: parameter values that make a memo key (immutable, compared by value and type: 1 is not True)
_PLAIN_VALUES = frozenset({str, int, float, bool, type(None)})
#: resolutions with per-call parameters kept at most (the memo starts over when full)
_PARAMS_MEMO_SIZE = 256


def _with_params(resolution: Resolution, overrides: Mapping[str, Any]) -> Resolution:
    candidates = tuple(
        _candidate(c.model, c.spec, c.backend, _merged(c.asked or c.params, overrides), c.via)
        for c in resolution.candidates
    )
    return Resolution(resolution.requested, resolution.kind, resolution.profile, resolution.preset,
                      candidates, resolution.skipped)


def _merged(params: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with ``overrides`` applied; an override of ``None`` removes the parameter."""
    merged = {**params, **overrides}
    return {name: value for name, value in merged.items() if value is not None}


def load_deck(path: str | Path | None = None, *, env: Mapping[str, str] | None = None,
              env_file: str | Path | None = None, strict: bool = True) -> Deck:
    """Load a deck folder (search order: ``path``, ``$LLMDECK_CONFIG_DIR``,
    ``./.llmdeck/inference``, ``./.pipelex/inference``, the packaged default).

    ``strict`` raises the first problem that makes a file unreadable (syntax, wrong
    types); other problems are kept in ``deck.problems`` for ``llmdeck validate``.
    A backend whose key is missing is loaded and marked unavailable. Warnings (unknown
    keys...) are issued as :class:`DeckWarning`, pointing at the caller's line.
    """
    deck = Deck(read_deck(path, env=env, env_file=env_file))
    if strict:
        for problem in deck.problems:
            if problem.error is not None:
                raise problem.error
    warn_problems(deck.problems, stacklevel=2)
    return deck
