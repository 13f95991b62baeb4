"""Read a Pipelex-layout inference folder into a :class:`Deck`.

Layouts that load: Pipelex 0.10 (top-level ``default_sdk``, ``[models.X]`` spec tables,
``[llm_presets]``...), 0.11+ (``[defaults]`` in spec files, ``optional_routes``,
``fallback_order``...) and the numbered decks of 2026 (see deck_sections.py).

Every value is type-checked where its file is read (schema.py, specs.py). Problems are
collected, not raised one by one, so ``llmdeck validate`` can show them all; a strict
load raises the first error. Unknown keys are warnings, with a close-match suggestion.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmdeck_nb.backends.catalog import PROVIDER_CATALOG, strategy_for
from llmdeck_nb.deck.deck_sections import DeckChoices, DeckFileReader
from llmdeck_nb.deck.envsubst import Substituted, deck_environment, substitute, supplying_variable
from llmdeck_nb.deck.locate import PROFILE_VARIABLE, locate_deck
from llmdeck_nb.deck.project import find_env_file
from llmdeck_nb.deck.problems import DeckProblem, DeckWarning, ProblemLog
from llmdeck_nb.deck.routing import parse_routes, pattern_problem
from llmdeck_nb.deck.schema import (
    BACKEND_FIELDS,
    PROFILE_FIELDS,
    ROUTING_FILE_FIELDS,
    SPEC_FILE_FIELDS,
    TABLE,
    check_fields,
    from_validation_error,
    type_error,
    url_problem,
)
from llmdeck_nb.deck.specs import BackendConfig, ModelSpec, RoutingProfile
from llmdeck_nb.deck.toml_files import TomlTable, deck_files, parse_toml, read_text, read_toml
from llmdeck_nb.errors import DeckError, DeckNotFoundError, DeckSchemaError
from llmdeck_nb.redaction import Secret, looks_secret, register_url_password

__all__ = ["DeckContent", "DeckProblem", "DeckWarning", "read_deck"]

RATE_LIMIT_KEYS = {"rpm", "tpm", "max_concurrency"}

SPEC_KEYS = {"model_id", "sdk", "model_type", "inputs", "outputs", "costs", "max_tokens",
             "context_window", "max_prompt_images", "prompting_target", "constraints",
             "listed_constraints", "valued_constraints", "enabled", "timeout", *RATE_LIMIT_KEYS}
# Pipelex keys that we read without acting on them, except the token limit (no warning).
PIPELEX_SPEC_KEYS = {"thinking_mode", "structure_method", "rules", "display_name", "description",
                     "x_headers", "extra_headers", "thinking_budget", "reasoning_models",
                     "x-portkey-provider", "variant", "claude_4_tokens_limit", "endpoint_path"}
PORTKEY_PROVIDER = "x-portkey-provider"
# backends.toml keys that BackendConfig holds itself; the others go to its `extra`
BACKEND_OWN_KEYS = {"enabled", "endpoint", "endpoints", "api_key", "display_name", "strategy",
                    "provider", "serves_any_model", "timeout", *RATE_LIMIT_KEYS}


@dataclass
class DeckContent:
    """Everything read from the folder, before any routing decision."""

    folder: Path
    origin: str
    backends: dict[str, BackendConfig] = field(default_factory=dict)
    specs: dict[str, dict[str, ModelSpec]] = field(default_factory=dict)
    # model name -> disabled backends whose spec file lists it (for messages only)
    dormant: dict[str, list[str]] = field(default_factory=dict)
    profiles: dict[str, RoutingProfile] = field(default_factory=dict)
    active_profile: str = ""
    active_source: str = ""
    choices: DeckChoices = field(default_factory=DeckChoices)
    problems: list[DeckProblem] = field(default_factory=list)
    env_file: Path | None = None  # the .env file whose variables the deck saw


class _Reader(ProblemLog):
    def __init__(self, folder: Path, origin: str, env: Mapping[str, str]) -> None:
        self.content = DeckContent(folder=folder, origin=origin)
        super().__init__(self.content.problems)
        self.env = env
        self.unclosed: list[str] = []  # keys whose value has a "${" without "}"
        self.plain: set[str] = set()  # files with no "${": nothing to substitute (fast path)

    # --- helpers -----------------------------------------------------------------------

    def label(self, path: Path) -> str:
        """Paths in messages: relative to the working directory, else to the deck folder."""
        for base in (Path.cwd(), self.content.folder):
            try:
                return str(path.relative_to(base))
            except ValueError:
                continue
        return str(path)

    def read(self, path: Path, *, required: bool) -> TomlTable | None:
        if not path.is_file():
            if required:
                error = DeckNotFoundError(f"{self.label(path)} is missing",
                                          hint="a deck folder needs backends.toml and "
                                          "routing_profiles.toml; `llmdeck init` writes a "
                                          "complete one")
                self.report("error", "files", error.message, file=self.label(path), error=error)
            return None
        label = self.label(path)
        try:
            text = read_text(path, label=label)
            if "${" not in text:
                self.plain.add(label)
            return parse_toml(text, label=label)
        except DeckError as exc:
            self.report("error", "files", exc.message, file=self.label(path), error=exc)
            return None

    def substitute_tree(self, value: Any, key: str, missing: list[str]) -> Any:
        """Substitute every string; wrap secret-looking values in Secret."""
        if isinstance(value, str):
            if "${" not in value:
                return Secret(value) if looks_secret(key) else value
            result: Substituted = substitute(value, self.env)
            missing.extend(m for m in result.missing if m not in missing)
            if result.unclosed:
                self.unclosed.append(key)
            secret = looks_secret(key) or any(looks_secret(name) for name in result.used)
            return Secret(result.value) if secret and not result.missing else result.value
        if isinstance(value, dict):
            return {k: self.substitute_tree(v, k, missing) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute_tree(v, key, missing) for v in value]
        return value

    def unclosed_errors(self, file: str, table: str) -> list[DeckSchemaError]:
        found, self.unclosed = self.unclosed, []
        return [DeckSchemaError(file, f"{table}.{key}", "has a '${' without its closing '}'",
                                hint="write ${NAME}, ${env:NAME} or ${NAME:-default}")
                for key in found]

    # --- backends.toml -----------------------------------------------------------------

    def read_backends(self) -> None:
        path = self.content.folder / "backends.toml"
        data = self.read(path, required=True) or {}
        file = self.label(path)
        for name, table in data.items():
            if not isinstance(table, dict):
                self.errors([type_error(file, name, "a [backend] table", table)], "backends")
                continue
            self.content.backends[name] = self.backend(name, table, file)

    def backend(self, name: str, table: TomlTable, file: str) -> BackendConfig:
        defaults = PROVIDER_CATALOG.get(name)
        for key in table.keys() - BACKEND_FIELDS.keys():
            self.unknown_key(file, f"{name}.{key}", f"backend '{name}'", BACKEND_FIELDS)
        wrong = check_fields(table, BACKEND_FIELDS, file, name)
        enabled = table.get("enabled", True) is not False  # a wrong type is reported below
        display_name = (table.get("display_name")
                        if isinstance(table.get("display_name"), str) else name)
        base: dict[str, Any] = {"name": name, "display_name": display_name, "enabled": enabled,
                                "source": file, "provider": defaults.provider if defaults else name}
        if wrong:
            self.errors(wrong, "backends")
            return BackendConfig(**base, strategy="none",
                                 misconfigured="misconfigured: " + wrong[0].message)
        if defaults is not None and defaults.not_callable and "strategy" not in table:
            return BackendConfig(**base, strategy="none", not_callable=defaults.not_callable,
                                 remote_catalogue=defaults.remote_catalogue)
        missing: list[str] = []
        # Disabled backends are skipped entirely: no substitution (Pipelex rule).
        values = self.substitute_tree(table, name, missing) if enabled else dict(table)
        wrong = self.unclosed_errors(file, name)
        endpoints = values.get("endpoints", values.get("endpoint"))
        if endpoints is None and defaults is not None and defaults.endpoint:
            endpoints = defaults.endpoint
        endpoints = [endpoints] if isinstance(endpoints, str) else list(endpoints or ())
        for endpoint in endpoints:
            register_url_password(endpoint)  # http://user:PASSWORD@host never shows
        if enabled and not missing:
            wrong += [DeckSchemaError(file, f"{name}.endpoint", f"{url!r} {url_problem(url)}",
                                      hint='e.g. endpoint = "http://127.0.0.1:8000/v1"')
                      for url in endpoints if url_problem(url)]
        api_key = values.get("api_key")
        if isinstance(api_key, str):  # a literal or an unresolved reference
            api_key = Secret(api_key) if "${" not in api_key else None
        raw_key = table.get("api_key")
        key_variable = supplying_variable(raw_key, self.env) if isinstance(raw_key, str) else None
        misconfigured = None
        if wrong:
            self.errors(wrong, "backends")
            misconfigured = "misconfigured: " + wrong[0].message
        try:
            first_endpoint = endpoints[0] if endpoints else None
            strategy = strategy_for(name, values.get("strategy"), first_endpoint)
        except DeckError as exc:  # unknown provider without endpoint, or unknown strategy
            strategy, misconfigured = "none", misconfigured or exc.message
            if enabled:
                self.report("warning", "backends",
                            f"{file}: backend '{name}' is {exc.message} ({exc.hint})",
                            file=file, key=name)
        extra = {k: v for k, v in values.items() if k not in BACKEND_OWN_KEYS}
        try:
            return BackendConfig(**{**base,
                                    "provider": str(values.get("provider") or base["provider"])},
                                 strategy=strategy, endpoints=tuple(endpoints), api_key=api_key,
                                 key_variable=key_variable, extra=extra,
                                 missing=tuple(missing), misconfigured=misconfigured,
                                 serves_any_model=values.get("serves_any_model", False),
                                 timeout=values.get("timeout"),
                                 **{k: values[k] for k in RATE_LIMIT_KEYS if k in values})
        except ValidationError as exc:  # a value out of range (rpm = 0...)
            wrong = from_validation_error(exc, file, name)
            self.errors(wrong, "backends")
            return BackendConfig(**base, strategy="none",
                                 misconfigured="misconfigured: " + wrong[0].message)

    # --- backends/<name>.toml ----------------------------------------------------------

    def read_specs(self) -> None:
        spec_dir = self.content.folder / "backends"
        for backend in self.content.backends.values():
            self.content.specs[backend.name] = {}
            path = spec_dir / f"{backend.name}.toml"
            if not backend.enabled:
                self.dormant_names(backend.name, path)
                continue
            if not path.is_file():
                if not backend.serves_any_model and not backend.not_callable:
                    self.report("note", "backends", f"backend '{backend.name}' has no model "
                                f"file backends/{backend.name}.toml: it serves no model",
                                file=self.label(path))
                continue
            data = self.read(path, required=False)
            if data is not None:
                self.content.specs[backend.name] = self.specs_of(backend, data, self.label(path))
        if spec_dir.is_dir():
            for path in sorted(spec_dir.glob("*.toml")):
                if path.stem not in self.content.backends:
                    self.report("note", "backends", f"{self.label(path)}: no backend named "
                                f"'{path.stem}' in backends.toml, file ignored",
                                file=self.label(path))

    def dormant_names(self, backend: str, path: Path) -> None:
        """Model names of a disabled backend, so a message can say where a model is defined."""
        try:
            data = read_toml(path) if path.is_file() else {}
        except DeckError:
            return  # Pipelex does not read a disabled backend's file; neither do we, beyond names
        models = data.get("models")
        names = [k for k, v in data.items() if isinstance(v, dict) and k not in SPEC_FILE_FIELDS]
        names += list(models) if isinstance(models, dict) else []
        for name in names:
            self.content.dormant.setdefault(name, []).append(backend)

    def specs_of(self, backend: BackendConfig, data: TomlTable,
                 file: str) -> dict[str, ModelSpec]:
        if self.errors(check_fields(data, SPEC_FILE_FIELDS, file, ""), "models"):
            data = {k: v for k, v in data.items() if k not in SPEC_FILE_FIELDS}
        defaults: dict[str, Any] = dict(data.get("defaults") or {})
        for key, field_name in (("default_sdk", "sdk"),
                                ("default_prompting_target", "prompting_target"),
                                ("default_model_type", "model_type")):
            if key in data:
                defaults.setdefault(field_name, data[key])
        if "claude_4_tokens_limit" in backend.extra:
            defaults.setdefault("claude_4_tokens_limit", backend.extra["claude_4_tokens_limit"])
        tables = {k: v for k, v in data.items() if k not in SPEC_FILE_FIELDS}
        container = data.get("models")
        if isinstance(container, dict) and all(isinstance(v, dict) for v in container.values()):
            tables.update(container)  # the seed's [models.gpt-4o-mini] form
        missing: list[str] = []
        specs: dict[str, ModelSpec] = {}
        plain = file in self.plain
        for name, table in tables.items():
            if not isinstance(table, dict):
                self.errors([type_error(file, name, "a [model] table", table)], "models")
                continue
            merged = {**defaults, **table} if defaults else table
            if not plain:
                merged = self.substitute_tree(merged, name, missing)
            spec = self.spec(backend, name, merged, file)
            if spec is not None:
                specs[name] = spec
        if missing:
            self.content.backends[backend.name] = backend.model_copy(
                update={"missing": tuple(dict.fromkeys((*backend.missing, *missing)))})
        return specs

    def spec(self, backend: BackendConfig, name: str, table: TomlTable,
             file: str) -> ModelSpec | None:
        fields: dict[str, Any] = {}
        pipelex: dict[str, Any] = {}
        for key, value in table.items():
            if key in SPEC_KEYS:
                fields[key] = value
            elif key in PIPELEX_SPEC_KEYS:
                pipelex[key] = value
            else:
                self.unknown_key(file, f"{name}.{key}", f"model '{name}'",
                                 (*SPEC_KEYS, *PIPELEX_SPEC_KEYS))
        if self.unclosed and self.errors(self.unclosed_errors(file, name), "models"):
            return None
        fields.setdefault("model_id", name)
        if "listed_constraints" in fields:  # Pipelex's name for the list form
            fields["constraints"] = fields.pop("listed_constraints")
        provider = pipelex.get(PORTKEY_PROVIDER)
        if (isinstance(provider, str) and isinstance(fields["model_id"], str)
            and not fields["model_id"].startswith("@")):
            # Portkey's "@provider/model" form
            fields["model_id"] = f"{provider}/{fields['model_id']}"
        try:
            return ModelSpec(name=name, backend=backend.name, pipelex_settings=pipelex,
                             source=file, **fields)
        except ValidationError as exc:
            self.errors(from_validation_error(exc, file, name), "models")
            return None

    # --- routing_profiles.toml ---------------------------------------------------------

    def read_routing(self, env_profile: str | None) -> None:
        path = self.content.folder / "routing_profiles.toml"
        file = self.label(path)
        data = self.read(path, required=True) or {}
        for key in data.keys() - ROUTING_FILE_FIELDS.keys():
            self.unknown_key(file, key, "routing_profiles.toml", ROUTING_FILE_FIELDS)
        if self.errors(check_fields(data, ROUTING_FILE_FIELDS, file, ""), "routing"):
            data = {k: v for k, v in data.items() if k not in ROUTING_FILE_FIELDS or
                    ROUTING_FILE_FIELDS[k].accepts(v)}
        for name, table in (data.get("profiles") or {}).items():
            self.profile(name, table, file)
        if env_profile:
            self.content.active_profile = env_profile
            self.content.active_source = f"${PROFILE_VARIABLE}"
        else:
            self.content.active_profile = str(data.get("active")
                                              or next(iter(self.content.profiles), ""))
            self.content.active_source = f"{file} (active)"

    def profile(self, name: str, table: object, file: str) -> None:
        where = f"profiles.{name}"
        if not isinstance(table, dict):
            self.errors([type_error(file, where, TABLE, table)], "routing")
            return
        for key in table.keys() - PROFILE_FIELDS.keys():
            self.unknown_key(file, f"{where}.{key}", f"profile '{name}'", PROFILE_FIELDS)
        if self.errors(check_fields(table, PROFILE_FIELDS, file, where), "routing"):
            return
        for section in ("routes", "optional_routes"):
            for pattern in table.get(section) or {}:
                why = pattern_problem(pattern)
                if why:
                    self.report("warning", "routing", f"{file}: profile '{name}', {section} "
                                f"pattern '{pattern}' {why}", file=file, key=f"{where}.{section}")
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
            self.errors(from_validation_error(exc, file, where), "routing")

    # --- deck/*.toml -------------------------------------------------------------------

    def read_deck_files(self) -> None:
        label = self.label(self.content.folder / "deck")
        try:
            files = deck_files(self.content.folder, label=label)
        except DeckError as exc:
            self.report("error", "files", exc.message, file=label, error=exc)
            return
        if not files:
            self.report("warning", "files", f"{label}: no deck files: no aliases or presets")
        reader = DeckFileReader(self, self.substitute_tree)
        for path in files:
            data = self.read(path, required=False)
            if data is not None:
                reader.read(data, self.label(path))
        self.content.choices = reader.choices


def read_deck(path: str | Path | None = None, *, env: Mapping[str, str] | None = None,
              env_file: str | Path | None = None) -> DeckContent:
    """Locate and read a deck folder; problems are collected in ``content.problems``."""
    folder, origin = locate_deck(path)
    env_path = None if env is not None else Path(env_file) if env_file else find_env_file()
    environment = dict(env) if env is not None else deck_environment(env_path)
    reader = _Reader(folder, origin, environment)
    reader.content.env_file = env_path if env_path is not None and env_path.is_file() else None
    with _collector_paused():
        reader.read_backends()
        reader.read_specs()
        reader.read_routing(environment.get(PROFILE_VARIABLE))
        reader.read_deck_files()
    return reader.content


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Loading builds many small objects and frees none: the cyclic garbage collector
    would rescan them again and again (half the load time of a 40,000-model deck)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def warn_problems(problems: list[DeckProblem], stacklevel: int) -> None:
    """Warnings of a load as Python warnings, pointing at the caller's line (not ours)."""
    for problem in problems:
        if problem.severity == "warning":
            warnings.warn(problem.message, DeckWarning, stacklevel=stacklevel + 1)
