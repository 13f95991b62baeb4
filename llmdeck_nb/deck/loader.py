"""Read a Pipelex-layout inference folder into a :class:`Deck`.

Both layouts load: Pipelex 0.10 (top-level ``default_sdk``, ``[llm_presets]`` with
``llm_handle``, list aliases, ``[llm_choice_defaults]``, ``[models.X]`` spec tables) and
0.11+ (``[defaults]`` in spec files, ``[waterfalls]``/``[fallbacks]``, ``[llm.presets]``
with ``model``, ``[llm.choice_defaults]``, ``optional_routes``, ``fallback_order``).

Problems are collected, not raised one by one, so ``llmdeck validate`` can show them
all. Only what makes the deck unreadable (a file that does not parse, a value of the
wrong type) raises when loading strictly; unknown keys are warnings.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from llmdeck_nb.backends.catalog import PROVIDER_CATALOG, strategy_for
from llmdeck_nb.deck.envsubst import Substituted, deck_environment, substitute
from llmdeck_nb.deck.locate import PROFILE_VARIABLE, locate_deck
from llmdeck_nb.deck.project import find_env_file
from llmdeck_nb.deck.routing import parse_routes
from llmdeck_nb.deck.specs import BackendConfig, BudgetSettings, ModelSpec, Preset, RoutingProfile
from llmdeck_nb.deck.toml_files import deck_files, read_toml
from llmdeck_nb.errors import DeckError, DeckNotFoundError, DeckSchemaError
from llmdeck_nb.redaction import Secret, looks_secret, register_url_password

Severity = Literal["error", "warning", "note"]

RATE_LIMIT_KEYS = {"rpm", "tpm", "max_concurrency"}
BACKEND_KEYS = {"enabled", "endpoint", "endpoints", "api_key", "display_name", "strategy",
                "provider", "serves_any_model", "timeout", *RATE_LIMIT_KEYS}
SPEC_KEYS = {"model_id", "sdk", "model_type", "inputs", "outputs", "costs", "max_tokens",
             "context_window", "max_prompt_images", "prompting_target", "constraints",
             "valued_constraints", "enabled", "timeout", *RATE_LIMIT_KEYS}
# Pipelex keys that we read without acting on them (no warning).
PIPELEX_SPEC_KEYS = {"thinking_mode", "structure_method", "rules", "display_name", "description",
                     "x_headers", "thinking_budget", "reasoning_models"}
SPEC_FILE_KEYS = {"defaults", "default_sdk", "default_prompting_target", "default_model_type",
                  "models"}
PROFILE_KEYS = {"description", "default", "routes", "optional_routes", "fallback_order"}
PRESET_KEYS = {"model", "llm_handle", "temperature", "max_tokens", "description",
               "prompting_target"}
# Pipelex deck sections about other kinds of models: kept quiet, listed as notes.
NON_LLM_SECTIONS = {"extract", "img_gen", "search", "doc_gen", "judgment", "ocr"}


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


@dataclass
class DeckContent:
    """Everything read from the folder, before any routing decision."""

    folder: Path
    origin: str
    backends: dict[str, BackendConfig] = field(default_factory=dict)
    specs: dict[str, dict[str, ModelSpec]] = field(default_factory=dict)
    profiles: dict[str, RoutingProfile] = field(default_factory=dict)
    active_profile: str = ""
    active_source: str = ""
    aliases: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    presets: dict[str, Preset] = field(default_factory=dict)
    choice_defaults: dict[str, str] = field(default_factory=dict)
    cache_settings: dict[str, Any] | None = None  # llmdeck's [cache] table, e.g. { url = "redis://..." }
    budget: BudgetSettings = field(default_factory=BudgetSettings)  # llmdeck's [budget] table
    problems: list[DeckProblem] = field(default_factory=list)
    env_file: Path | None = None  # the .env file whose variables the deck saw


class _Reader:
    def __init__(self, folder: Path, origin: str, env: Mapping[str, str]) -> None:
        self.content = DeckContent(folder=folder, origin=origin)
        self.env = env

    # --- helpers -----------------------------------------------------------------------

    def label(self, path: Path) -> str:
        """Paths in messages: relative to the working directory, else to the deck folder."""
        for base in (Path.cwd(), self.content.folder):
            try:
                return str(path.relative_to(base))
            except ValueError:
                continue
        return str(path)

    def problem(self, severity: Severity, section: str, message: str, *, file: str | None = None,
                key: str | None = None, error: DeckError | None = None) -> None:
        self.content.problems.append(DeckProblem(severity, section, message, file, key, error))

    def unknown_key(self, file: str, key: str, where: str) -> None:
        message = f"{file}: unknown key '{key}' in {where} (ignored)"
        self.problem("warning", "unknown_keys", message, file=file, key=key)
        warnings.warn(message, DeckWarning, stacklevel=4)

    def schema_error(self, file: str, table: str, exc: ValidationError) -> None:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            key = f"{table}.{loc}" if loc else table
            error = DeckSchemaError(file, key, err["msg"])
            self.problem("error", "files", str(error.message), file=file, key=key, error=error)

    def read(self, path: Path, *, required: bool) -> dict[str, Any] | None:
        if not path.is_file():
            if required:
                error = DeckNotFoundError(f"{self.label(path)} is missing",
                                          hint="a deck folder needs backends.toml and routing_profiles.toml; "
                                          "`llmdeck init` writes a complete one")
                self.problem("error", "files", error.message, file=self.label(path), error=error)
            return None
        try:
            return read_toml(path, label=self.label(path))
        except DeckError as exc:
            self.problem("error", "files", exc.message, file=self.label(path), error=exc)
            return None

    def substitute_tree(self, value: Any, key: str, missing: list[str]) -> Any:
        """Substitute every string; wrap secret-looking values in Secret."""
        if isinstance(value, str):
            result: Substituted = substitute(value, self.env)
            missing.extend(m for m in result.missing if m not in missing)
            secret = looks_secret(key) or any(looks_secret(name) for name in result.used)
            return Secret(result.value) if secret and not result.missing else result.value
        if isinstance(value, dict):
            return {k: self.substitute_tree(v, k, missing) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute_tree(v, key, missing) for v in value]
        return value

    # --- backends.toml -----------------------------------------------------------------

    def read_backends(self) -> None:
        path = self.content.folder / "backends.toml"
        data = self.read(path, required=True) or {}
        file = self.label(path)
        for name, table in data.items():
            if not isinstance(table, dict):
                self.unknown_key(file, name, "backends.toml (expected a [backend] table)")
                continue
            self.content.backends[name] = self.backend(name, table, file)

    def backend(self, name: str, table: dict[str, Any], file: str) -> BackendConfig:
        defaults = PROVIDER_CATALOG.get(name)
        enabled = table.get("enabled", True)
        missing: list[str] = []
        # Disabled backends are skipped entirely: no substitution (Pipelex rule).
        values = self.substitute_tree(table, name, missing) if enabled is True else dict(table)
        endpoints = values.get("endpoints", values.get("endpoint"))
        if endpoints is None and defaults is not None and defaults.endpoint:
            endpoints = defaults.endpoint
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        for endpoint in endpoints or ():
            register_url_password(str(endpoint))  # http://user:PASSWORD@host never shows
        api_key = values.get("api_key")
        if isinstance(api_key, str):  # a literal or an unresolved reference
            api_key = Secret(api_key) if "${" not in api_key else None
        extra = {k: v for k, v in values.items() if k not in BACKEND_KEYS}
        problem = None
        try:
            strategy = strategy_for(name, values.get("strategy"), endpoints[0] if endpoints else None)
        except DeckError as exc:  # unknown provider without endpoint, or unknown strategy
            strategy, problem = "none", exc.message
            if enabled is True:
                self.problem("warning", "backends", f"{file}: {exc.message} ({exc.hint})", file=file, key=name)
        try:
            return BackendConfig(
                name=name,
                display_name=str(values.get("display_name") or name),
                enabled=enabled,
                strategy=strategy,
                provider=str(values.get("provider") or (defaults.provider if defaults else name)),
                endpoints=tuple(str(e) for e in endpoints or ()),
                api_key=api_key,
                extra=extra,
                missing=tuple(missing),
                problem=problem,
                serves_any_model=values.get("serves_any_model", False),
                timeout=values.get("timeout"),
                **{k: values[k] for k in RATE_LIMIT_KEYS if k in values},
                source=file,
            )
        except ValidationError as exc:
            self.schema_error(file, name, exc)
            return BackendConfig(name=name, display_name=name, enabled=False, strategy="none",
                                 provider=name, source=file)

    # --- backends/<name>.toml ----------------------------------------------------------

    def read_specs(self) -> None:
        spec_dir = self.content.folder / "backends"
        for backend in self.content.backends.values():
            self.content.specs[backend.name] = {}
            if not backend.enabled:
                continue
            path = spec_dir / f"{backend.name}.toml"
            if not path.is_file():
                if not backend.serves_any_model:
                    self.problem("note", "backends", f"backend '{backend.name}' has no model file "
                                 f"backends/{backend.name}.toml: it serves no model", file=self.label(path))
                continue
            data = self.read(path, required=False)
            if data is not None:
                self.content.specs[backend.name] = self.specs_of(backend, data, self.label(path))
        if spec_dir.is_dir():
            for path in sorted(spec_dir.glob("*.toml")):
                if path.stem not in self.content.backends:
                    self.problem("warning", "backends", f"{self.label(path)}: no backend named "
                                 f"'{path.stem}' in backends.toml, file ignored", file=self.label(path))

    def specs_of(self, backend: BackendConfig, data: dict[str, Any], file: str) -> dict[str, ModelSpec]:
        defaults: dict[str, Any] = dict(data.get("defaults") or {})
        if "default_sdk" in data:
            defaults.setdefault("sdk", data["default_sdk"])
        if "default_prompting_target" in data:
            defaults.setdefault("prompting_target", data["default_prompting_target"])
        if "default_model_type" in data:
            defaults.setdefault("model_type", data["default_model_type"])
        tables = {k: v for k, v in data.items() if k not in SPEC_FILE_KEYS}
        container = data.get("models")
        if isinstance(container, dict) and all(isinstance(v, dict) for v in container.values()):
            tables.update(container)  # the seed's [models.gpt-4o-mini] form
        missing: list[str] = []
        specs: dict[str, ModelSpec] = {}
        for name, table in tables.items():
            if not isinstance(table, dict):
                self.unknown_key(file, name, f"backends/{backend.name}.toml")
                continue
            merged = {**defaults, **table}
            merged = self.substitute_tree(merged, name, missing)
            spec = self.spec(backend.name, name, merged, file)
            if spec is not None:
                specs[name] = spec
        if missing:
            self.content.backends[backend.name] = backend.model_copy(
                update={"missing": tuple(dict.fromkeys((*backend.missing, *missing)))})
        return specs

    def spec(self, backend: str, name: str, table: dict[str, Any], file: str) -> ModelSpec | None:
        fields = {k: v for k, v in table.items() if k in SPEC_KEYS}
        pipelex = {k: v for k, v in table.items() if k in PIPELEX_SPEC_KEYS}
        for key in table.keys() - SPEC_KEYS - PIPELEX_SPEC_KEYS:
            self.unknown_key(file, f"{name}.{key}", f"model '{name}'")
        fields.setdefault("model_id", name)
        try:
            return ModelSpec(name=name, backend=backend, pipelex_settings=pipelex, source=file, **fields)
        except ValidationError as exc:
            self.schema_error(file, name, exc)
            return None

    # --- routing_profiles.toml ---------------------------------------------------------

    def read_routing(self, env_profile: str | None) -> None:
        path = self.content.folder / "routing_profiles.toml"
        file = self.label(path)
        data = self.read(path, required=True) or {}
        for key in data.keys() - {"active", "profiles"}:
            self.unknown_key(file, key, "routing_profiles.toml")
        for name, table in (data.get("profiles") or {}).items():
            if not isinstance(table, dict):
                self.unknown_key(file, f"profiles.{name}", "routing_profiles.toml")
                continue
            for key in table.keys() - PROFILE_KEYS:
                self.unknown_key(file, f"profiles.{name}.{key}", f"profile '{name}'")
            try:
                self.content.profiles[name] = RoutingProfile(
                    name=name,
                    description=table.get("description", ""),
                    default=table.get("default"),
                    routes=parse_routes(table.get("routes") or {}, optional=False)
                    + parse_routes(table.get("optional_routes") or {}, optional=True),
                    fallback_order=tuple(table.get("fallback_order") or ()),
                    source=file,
                )
            except ValidationError as exc:
                self.schema_error(file, f"profiles.{name}", exc)
        if env_profile:
            self.content.active_profile, self.content.active_source = env_profile, f"${PROFILE_VARIABLE}"
        else:
            self.content.active_profile = str(data.get("active") or next(iter(self.content.profiles), ""))
            self.content.active_source = f"{file} (active)"

    # --- deck/*.toml -------------------------------------------------------------------

    def read_deck_files(self) -> None:
        files = deck_files(self.content.folder)
        if not files:
            self.problem("warning", "files", f"{self.label(self.content.folder / 'deck')}: no deck "
                         "files: no aliases or presets")
        for path in files:
            data = self.read(path, required=False)
            if data is not None:
                self.deck_file(data, self.label(path))

    def deck_file(self, data: dict[str, Any], file: str) -> None:
        # A later file's value replaces the whole value of a key (an alias, a preset).
        for section in ("aliases", "waterfalls", "fallbacks"):
            for name, target in (data.get(section) or {}).items():
                if isinstance(target, list):
                    self.content.aliases[name] = tuple(str(t) for t in target)
                elif isinstance(target, str):
                    self.content.aliases[name] = target
                else:
                    error = DeckSchemaError(file, f"{section}.{name}", "must be a model name or a list of names")
                    self.problem("error", "aliases", error.message, file=file, key=f"{section}.{name}", error=error)
        llm = data.get("llm") or {}
        presets = {**(data.get("llm_presets") or {}), **(llm.get("presets") or {})}
        for name, table in presets.items():
            self.preset(name, table, file)
        choices = {**(data.get("llm_choice_defaults") or {}), **(llm.get("choice_defaults") or {})}
        self.content.choice_defaults.update({k: str(v) for k, v in choices.items()})
        for key in llm.keys() - {"presets", "choice_defaults"}:
            self.unknown_key(file, f"llm.{key}", "[llm]")
        if isinstance(data.get("cache"), dict):
            missing: list[str] = []
            self.content.cache_settings = self.substitute_tree(data["cache"], "cache", missing)
            for name in missing:
                self.problem("warning", "files", f"{file}: [cache] needs {name}; using the default "
                             "disk cache", file=file, key="cache")
            if missing:
                self.content.cache_settings = None
        if "budget" in data:
            self.budget_table(data["budget"], file)
        known = {"aliases", "waterfalls", "fallbacks", "llm", "llm_presets", "llm_choice_defaults", "cache",
                 "budget"}
        for key in data.keys() - known:
            if key in NON_LLM_SECTIONS:
                self.problem("note", "unknown_keys", f"{file}: [{key}] is about non-LLM models; "
                             "llmdeck ignores it", file=file, key=key)
            else:
                self.unknown_key(file, key, "deck file")

    def budget_table(self, table: Any, file: str) -> None:
        """``[budget] session_usd = 5.0, daily_usd = 20.0`` (a later file replaces the table)."""
        if not isinstance(table, dict):
            error = DeckSchemaError(file, "budget", "must be a table",
                                    hint="e.g. [budget] then session_usd = 5.0 and daily_usd = 20.0")
            self.problem("error", "files", error.message, file=file, key="budget", error=error)
            return
        try:
            self.content.budget = BudgetSettings(**table)
        except ValidationError as exc:
            self.schema_error(file, "budget", exc)

    def preset(self, name: str, table: Any, file: str) -> None:
        if not isinstance(table, dict) or not (table.get("model") or table.get("llm_handle")):
            error = DeckSchemaError(file, f"presets.{name}", "a preset needs `model` (or `llm_handle`)",
                                    hint='e.g. my_preset = { model = "gpt-4o-mini", temperature = 0.2 }')
            self.problem("error", "presets", error.message, file=file, key=name, error=error)
            return
        fields = {k: v for k, v in table.items() if k in PRESET_KEYS}
        model = fields.pop("model", None) or fields.pop("llm_handle")
        fields.pop("llm_handle", None)
        params = {k: v for k, v in table.items() if k not in PRESET_KEYS}
        try:
            self.content.presets[name] = Preset(name=name, model=model, params=params, source=file, **fields)
        except ValidationError as exc:
            self.schema_error(file, f"presets.{name}", exc)


def read_deck(path: str | Path | None = None, *, env: Mapping[str, str] | None = None,
              env_file: str | Path | None = None) -> DeckContent:
    """Locate and read a deck folder; problems are collected in ``content.problems``."""
    folder, origin = locate_deck(path)
    env_path = None if env is not None else Path(env_file) if env_file else find_env_file()
    environment = dict(env) if env is not None else deck_environment(env_path)
    reader = _Reader(folder, origin, environment)
    reader.content.env_file = env_path if env_path is not None and env_path.is_file() else None
    reader.read_backends()
    reader.read_specs()
    reader.read_routing(environment.get(PROFILE_VARIABLE))
    reader.read_deck_files()
    return reader.content
