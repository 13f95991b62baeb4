"""What ``llmdeck backend add|set|enable|disable|remove`` change in a deck's files.

Each function takes a :class:`~llmdeck_nb.deck.editing.DeckEdit`, changes its tomlkit
documents and returns one line per change made; the caller commits (validate, back up,
write). Keys are never written into the deck: ``api_key`` is a ``${VARIABLE}`` reference.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any

import tomlkit

from llmdeck_nb.backends.catalog import LITELLM, OPENAI_COMPATIBLE, PROVIDER_CATALOG
from llmdeck_nb.deck.editing import DeckEdit
from llmdeck_nb.errors import DeckEditError
from llmdeck_nb.redaction import looks_secret

BACKENDS = "backends.toml"
ROUTING = "routing_profiles.toml"
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def spec_file(name: str) -> str:
    return f"backends/{name}.toml"


def _backend_table(edit: DeckEdit, name: str) -> Any:
    backends = edit.document(BACKENDS)
    if name not in backends:
        known = ", ".join(k for k, v in backends.items() if isinstance(v, dict))
        raise DeckEditError(f"no backend named '{name}' in {edit.folder / BACKENDS}",
                            hint=f"known: {known}; add one with `llmdeck backend add`")
    return backends[name]


def add_backend(edit: DeckEdit, name: str, *, kind: str = OPENAI_COMPATIBLE,
                endpoint: str | None = None, key_env: str | None = None,
                models: Sequence[str] = (), provider: str | None = None,
                display_name: str | None = None, profile: str | None = None) -> list[str]:
    if not _NAME.match(name):
        raise DeckEditError(f"'{name}' is not a usable backend name",
                            hint="letters, digits, '_' and '-' only")
    backends = edit.document(BACKENDS)
    if name in backends:
        raise DeckEditError(f"backend '{name}' already exists in {edit.folder / BACKENDS}",
                            hint=f"change it with `llmdeck backend set {name} KEY=VALUE`")
    known = PROVIDER_CATALOG.get(name)
    if kind == OPENAI_COMPATIBLE and not endpoint and not (known and known.endpoint):
        raise DeckEditError(f"backend '{name}' needs --endpoint (its OpenAI-compatible base URL, "
                            "e.g. http://localhost:8000/v1)")
    if kind == LITELLM and not provider and known is None:
        raise DeckEditError(f"a litellm backend named '{name}' needs --provider (litellm's "
                            "prefix, e.g. anthropic, gemini, mistral)")
    if key_env is not None and not _VARIABLE.match(key_env):
        raise DeckEditError(f"--key-env '{key_env}' is not a variable name",
                            hint="e.g. --key-env MY_PROXY_API_KEY (store it with `llmdeck keys "
                                 "set`)")
    table = tomlkit.table()
    table.comment(f"added by `llmdeck backend add` on {date.today().isoformat()}")
    table["display_name"] = display_name or name
    table["strategy"] = kind
    if provider:
        table["provider"] = provider
    if endpoint:
        table["endpoint"] = endpoint
    if key_env:
        table["api_key"] = f"${{{key_env}}}"
    backends.add(tomlkit.nl())
    backends[name] = table
    done = [f"added backend '{name}' ({kind}) to {BACKENDS}"]
    if models:
        done += _add_models(edit, name, models, profile)
    return done


def _add_models(edit: DeckEdit, name: str, models: Sequence[str], profile: str | None) -> list[str]:
    specs = edit.document(spec_file(name))
    if not specs.body:
        specs.add(tomlkit.comment(f"Models of backend '{name}' (llmdeck backend add). model_id is "
                                  "the name the server knows; costs are USD per 1M tokens."))
        defaults = tomlkit.table()
        defaults["inputs"] = ["text"]
        defaults["outputs"] = ["text", "structured"]
        defaults["outputs"].comment("drop \"structured\" if the server cannot follow a JSON schema")
        specs["defaults"] = defaults
    for model in models:
        if model not in specs:
            spec = tomlkit.table()
            spec["model_id"] = model
            specs[model] = spec
    routing = edit.document(ROUTING)
    profiles = routing.get("profiles") or {}
    profile = profile or str(routing.get("active") or next(iter(profiles), ""))
    if profile not in profiles:
        raise DeckEditError(f"no routing profile '{profile}' in {ROUTING}",
                            hint="choose one with --profile: " + ", ".join(profiles))
    table = profiles[profile]
    if "routes" not in table:
        table["routes"] = tomlkit.table()
    for model in models:
        table["routes"][model] = name
    return [f"wrote {len(models)} model(s) to {spec_file(name)}: {', '.join(models)}",
            f"routed them to '{name}' in profile '{profile}' ({ROUTING})"]


def set_values(edit: DeckEdit, name: str, assignments: list[str]) -> list[str]:
    """``KEY=VALUE`` pairs; a VALUE that is a TOML value (true, 3, [..]) is kept typed."""
    table = _backend_table(edit, name)
    done = []
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise DeckEditError(f"'{assignment}' is not KEY=VALUE",
                                hint='e.g. endpoint="http://h/v1"')
        value = _value(raw.strip())
        if looks_secret(key) and not (isinstance(value, str) and "${" in value):
            raise DeckEditError(
                f"refusing to write a literal {key} into the deck files",
                hint=f"store it with `llmdeck keys set VAR` and set {key}='${{VAR}}'")
        table[key] = value
        done.append(f"set {name}.{key} in {BACKENDS}")
    return done


def _value(raw: str) -> Any:
    try:
        return tomlkit.parse(f"v = {raw}")["v"]
    except tomlkit.exceptions.ParseError:
        return raw


def set_enabled(edit: DeckEdit, name: str, enabled: bool) -> list[str]:
    _backend_table(edit, name)["enabled"] = enabled
    return [f"{'enabled' if enabled else 'disabled'} backend '{name}' in {BACKENDS}"]


def remove_backend(edit: DeckEdit, name: str) -> list[str]:
    """The backend's table, its model file, and the routes and fallbacks naming it."""
    _backend_table(edit, name)
    del edit.document(BACKENDS)[name]
    done = [f"removed backend '{name}' from {BACKENDS}"]
    if edit.exists(spec_file(name)):
        edit.remove(spec_file(name))
        done.append(f"removed {spec_file(name)}")
    profiles = edit.document(ROUTING).get("profiles") or {}
    for profile, table in profiles.items():
        for section in ("routes", "optional_routes"):
            routes = table.get(section) or {}
            for pattern in [p for p, backend in routes.items() if backend == name]:
                del routes[pattern]
                done.append(f"removed route '{pattern}' from profile '{profile}'")
        order = table.get("fallback_order")
        if order is not None and name in order:
            order.remove(name)
            done.append(f"removed '{name}' from the fallback_order of profile '{profile}'")
    return done
