"""The packaged default deck (llmdeck_nb/default_deck/inference) is consistent and safe.

These tests read the shipped TOML with the standard library only (no llmdeck code), so
they check what a user gets in the files themselves: every name points somewhere, every
profile can reach the offline demo, no secret is written down, prices are per 1M tokens.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as the package's tomli dependency
    import tomli as tomllib

DECK = Path(__file__).resolve().parents[1] / "llmdeck_nb" / "default_deck" / "inference"
SPEC_DIR = DECK / "backends"
LOCAL_BACKENDS = {"ollama", "lmstudio", "self_hosted", "demo"}  # free to run: costs 0
ALLOWED_INPUTS = {"text", "images", "pdf"}
ALLOWED_OUTPUTS = {"text", "structured"}
KNOWN_CONSTRAINTS = {
    "temperature_must_be_1",
    "temperature_must_be_multiplied_by_2",
    "max_tokens_must_be_high_enough",
}
ENV_REF = re.compile(r"\$\{[^}]+\}")
KEY_LIKE = [
    re.compile(r"sk-(?:proj-|ant-|or-)?[A-Za-z0-9_\-]{20,}"),  # OpenAI, Anthropic, OpenRouter
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),  # Google API key
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\b(?:csk|gsk|xai)-[A-Za-z0-9]{20,}"),  # Cerebras, Groq, xAI
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
]


def load(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


BACKENDS: dict[str, Any] = load(DECK / "backends.toml")
ROUTING: dict[str, Any] = load(DECK / "routing_profiles.toml")
BASE_DECK: dict[str, Any] = load(DECK / "deck" / "base_deck.toml")
SPEC_FILES = sorted(SPEC_DIR.glob("*.toml"))


def model_specs() -> dict[str, dict[str, dict[str, Any]]]:
    """backend -> model name -> spec, with [defaults] shallow-merged under each model."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for path in SPEC_FILES:
        data = load(path)
        defaults = data.pop("defaults", {})
        out[path.stem] = {name: {**defaults, **spec} for name, spec in data.items()}
    return out


SPECS = model_specs()
ALL_MODELS = {name for models in SPECS.values() for name in models}
ALIASES: dict[str, str] = BASE_DECK.get("aliases", {})
WATERFALLS: dict[str, list[str]] = BASE_DECK.get("waterfalls", {})
PRESETS: dict[str, dict[str, Any]] = BASE_DECK.get("llm", {}).get("presets", {})
PROFILES: dict[str, dict[str, Any]] = ROUTING["profiles"]


def all_models_iter():
    for backend, models in SPECS.items():
        for name, spec in models.items():
            yield pytest.param(backend, name, spec, id=f"{backend}:{name}")


def leaf_models(handle: str, seen: tuple[str, ...] = ()) -> set[str]:
    """Every model a handle can reach through aliases and waterfalls."""
    assert handle not in seen, f"cycle: {' -> '.join((*seen, handle))}"
    if handle in ALIASES:
        return leaf_models(ALIASES[handle], (*seen, handle))
    if handle in WATERFALLS:
        found: set[str] = set()
        for entry in WATERFALLS[handle]:
            found |= leaf_models(entry, (*seen, handle))
        return found
    chain = " -> ".join((*seen, handle))
    assert handle in ALL_MODELS, f"{chain}: no model, alias or waterfall named {handle!r}"
    return {handle}


# --- backends.toml <-> backends/*.toml -----------------------------------------------------


def test_every_spec_file_has_a_backend_and_every_backend_a_spec_file():
    spec_names = {p.stem for p in SPEC_FILES}
    assert spec_names == set(BACKENDS), (
        f"spec files without backend: {sorted(spec_names - set(BACKENDS))}; "
        f"backends without spec file: {sorted(set(BACKENDS) - spec_names)}"
    )


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_backend_table_is_complete(name):
    backend = BACKENDS[name]
    assert isinstance(backend.get("enabled"), bool), f"{name}: enabled must be true/false"
    assert isinstance(backend.get("display_name"), str) and backend["display_name"], name
    strategy = backend.get("strategy")
    assert strategy in (None, "openai_compatible", "litellm", "demo"), f"{name}: {strategy!r}"


def test_only_the_demo_backend_serves_any_model():
    assert BACKENDS["demo"]["strategy"] == "demo"
    assert BACKENDS["demo"]["serves_any_model"] is True
    others = [n for n, b in BACKENDS.items() if n != "demo" and b.get("serves_any_model")]
    assert others == []


# --- no secrets in the shipped files -----------------------------------------------------


@pytest.mark.parametrize(
    "path", sorted(DECK.rglob("*.toml")), ids=lambda p: str(p.relative_to(DECK))
)
def test_no_literal_key_like_string_in_any_file(path):
    text = path.read_text(encoding="utf-8")
    for pattern in KEY_LIKE:
        match = pattern.search(text)
        assert match is None, f"{path.name}: looks like a real credential: {match.group(0)[:8]}..."


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_credentials_are_environment_references(name):
    for key in ("api_key", "aws_access_key_id", "aws_secret_access_key"):
        value = BACKENDS[name].get(key)
        if value is not None:
            assert ENV_REF.fullmatch(value), f"{name}.{key} must be a single ${{...}} reference"


# --- model specs ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend,name,spec", list(all_models_iter()))
def test_model_spec_has_required_fields(backend, name, spec):
    where = f"backends/{backend}.toml [{name}]"
    model_id = spec.get("model_id")
    assert isinstance(model_id, str) and model_id.strip(), f"{where}: model_id"
    assert spec.get("model_type") == "llm", f"{where}: model_type"
    costs = spec.get("costs")
    assert isinstance(costs, dict) and {"input", "output"} <= set(costs), f"{where}: costs"
    for kind in ("input", "output"):
        assert isinstance(costs[kind], (int, float)) and costs[kind] >= 0, f"{where}: {kind} cost"
    max_tokens, window = spec.get("max_tokens"), spec.get("context_window")
    assert isinstance(max_tokens, int) and max_tokens > 0, f"{where}: max_tokens"
    assert isinstance(window, int) and window >= max_tokens, f"{where}: context_window"
    assert spec.get("inputs") and set(spec["inputs"]) <= ALLOWED_INPUTS, f"{where}: inputs"
    assert spec.get("outputs") and set(spec["outputs"]) <= ALLOWED_OUTPUTS, f"{where}: outputs"
    assert set(spec.get("constraints", [])) <= KNOWN_CONSTRAINTS, f"{where}: constraints"


@pytest.mark.parametrize("backend,name,spec", list(all_models_iter()))
def test_costs_are_plausible_per_million_tokens(backend, name, spec):
    costs = spec["costs"]
    if backend in LOCAL_BACKENDS:
        assert costs["input"] == costs["output"] == 0, f"{backend}:{name}: local models are free"
        return
    for kind in ("input", "output"):
        # per-1K or per-token prices would show up as tiny numbers
        assert 0.01 <= costs[kind] <= 200, f"{backend}:{name}: {kind} cost is not USD per 1M"
    assert costs["output"] >= costs["input"], f"{backend}:{name}: output cheaper than input?"


@pytest.mark.parametrize("backend,name,spec", list(all_models_iter()))
def test_cache_and_tier_prices_are_plausible(backend, name, spec):
    where = f"backends/{backend}.toml [{name}]"
    costs = spec["costs"]
    assert set(costs) <= {"input", "output", "input_cached", "input_cache_write", "tiers"}, where
    if "input_cached" in costs:  # cache reads cost less than fresh input
        assert 0 < costs["input_cached"] <= costs["input"], f"{where}: input_cached"
    if "input_cache_write" in costs:
        assert costs["input_cache_write"] >= costs["input_cached"], f"{where}: input_cache_write"
    thresholds = [tier["above_tokens"] for tier in costs.get("tiers", [])]
    assert thresholds == sorted(set(thresholds)), f"{where}: tiers ascending"
    for tier in costs.get("tiers", []):
        assert (isinstance(tier["above_tokens"], int)
                and 0 < tier["above_tokens"] <= spec["context_window"])
        assert set(tier) <= {"above_tokens", "input", "output", "input_cached", "input_cache_write"}
        for kind in ("input", "output", "input_cached", "input_cache_write"):
            if kind in tier and kind in costs:  # long prompts cost more, never less
                assert tier[kind] >= costs[kind], (f"{where}: tier above {tier['above_tokens']} "
                                                   f"{kind}")


def test_the_big_providers_carry_cache_prices():
    for backend in ("openai", "anthropic", "google", "azure_openai", "bedrock", "vertexai"):
        missing = [n for n, spec in SPECS[backend].items() if "input_cached" not in spec["costs"]]
        assert missing == [], f"{backend}: no input_cached for {missing}"
    assert all("input_cache_write" in s["costs"] for s in SPECS["anthropic"].values())
    assert SPECS["google"]["gemini-2.5-pro"]["costs"]["tiers"] == [
        {"above_tokens": 200000, "input": 2.5, "output": 15.0, "input_cached": 0.25}]


@pytest.mark.parametrize(
    "backend,name,expected",
    [
        ("openai", "gpt-4o-mini", (0.15, 0.60)),
        ("openai", "gpt-4o", (2.5, 10.0)),
        ("openai", "gpt-5", (1.25, 10.0)),
        ("azure_openai", "gpt-4o-mini", (0.15, 0.60)),
        ("anthropic", "claude-4.5-sonnet", (3.0, 15.0)),
        ("anthropic", "claude-4.5-haiku", (1.0, 5.0)),
        ("google", "gemini-2.5-flash-lite", (0.10, 0.40)),
        ("google", "gemini-2.5-pro", (1.25, 10.0)),
    ],
)
def test_well_known_prices(backend, name, expected):
    costs = SPECS[backend][name]["costs"]
    assert (costs["input"], costs["output"]) == pytest.approx(expected)


def test_shared_model_names_across_backends():
    # the same canonical name is served by several backends, so profiles can swap them
    for name, backends in {
        "gpt-4o-mini": {"openai", "azure_openai"},
        "claude-4.5-sonnet": {"anthropic", "bedrock"},
        "gemini-2.5-flash": {"google", "vertexai"},
        "qwen3-coder": {"ollama", "self_hosted"},
    }.items():
        assert backends <= {b for b, models in SPECS.items() if name in models}, name


def test_demo_model():
    demo = SPECS["demo"]["demo-chat"]
    assert demo["model_id"] == "llmdeck-demo-1"
    assert demo["costs"] == {"input": 0, "output": 0}
    assert (demo["max_tokens"], demo["context_window"]) == (4096, 128000)


# --- routing profiles -----------------------------------------------------------------------


def test_active_profile_exists_and_is_auto():
    assert ROUTING["active"] == "auto"
    assert "auto" in PROFILES


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_routed_backend_exists(profile):
    p = PROFILES[profile]
    targets = [p["default"]] if "default" in p else []
    targets += list(p.get("routes", {}).values()) + list(p.get("optional_routes", {}).values())
    targets += list(p.get("fallback_order", []))
    missing = sorted({t for t in targets if t not in BACKENDS})
    assert not missing, f"profile {profile!r} routes to unknown backends {missing}"
    assert p.get("description"), f"profile {profile!r} needs a description"


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_routes_demo_models_to_demo(profile):
    assert PROFILES[profile].get("routes", {}).get("demo*") == "demo"


def test_one_all_profile_per_real_backend():
    for backend in BACKENDS:
        if backend != "demo":
            assert PROFILES[f"all_{backend}"]["default"] == backend


def test_auto_profile_patterns_are_not_shadowed():
    # first match wins in file order: "gpt-oss*" must come before "gpt-*"
    order = list(PROFILES["auto"]["optional_routes"])
    assert order.index("gpt-oss*") < order.index("gpt-*")
    assert PROFILES["auto"]["default"] == "demo"


def test_mixed_profile_is_the_pipelex_example():
    mixed = PROFILES["mixed"]
    assert mixed["default"] == "openai"
    assert mixed["routes"] == {
        "claude-*": "anthropic",
        "gemini-*": "vertexai",
        "mistral-*": "mistral",
        "gpt-*": "openai",
        "demo*": "demo",
    }


# --- deck: aliases, waterfalls, presets --------------------------------------------------------


def test_aliases_and_waterfalls_do_not_clash_with_models_or_each_other():
    assert not set(ALIASES) & set(WATERFALLS)
    assert not (set(ALIASES) | set(WATERFALLS)) & ALL_MODELS
    assert all(isinstance(v, str) for v in ALIASES.values()), "lists belong under [waterfalls]"
    assert all(isinstance(v, list) and v for v in WATERFALLS.values())


@pytest.mark.parametrize("handle", sorted(ALIASES) + sorted(WATERFALLS))
def test_alias_and_waterfall_targets_exist(handle):
    assert leaf_models(handle)


def test_demo_alias_reaches_the_demo_model():
    assert leaf_models("demo") == {"demo-chat"}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_is_valid(preset):
    p = PRESETS[preset]
    reachable = leaf_models(p["model"])
    assert isinstance(p.get("temperature"), (int, float)) and 0 <= p["temperature"] <= 2
    assert p.get("description")
    max_tokens = p.get("max_tokens")
    if max_tokens is None or max_tokens == "auto":
        return
    assert isinstance(max_tokens, int) and max_tokens > 0, f"{preset}: max_tokens int or 'auto'"
    for model in reachable:
        for backend, models in SPECS.items():
            if model in models:
                assert max_tokens <= models[model]["max_tokens"], (
                    f"preset {preset}: max_tokens {max_tokens} > {backend}:{model} limit"
                )


def test_choice_defaults_name_presets():
    defaults = BASE_DECK["llm"]["choice_defaults"]
    assert defaults == {"for_text": "cheap_llm_for_text", "for_object": "cheap_llm_for_object"}
    assert set(defaults.values()) <= set(PRESETS)


def test_object_presets_reach_only_structured_output_models():
    for model in leaf_models(PRESETS["cheap_llm_for_object"]["model"]):
        for models in SPECS.values():
            if model in models:
                assert "structured" in models[model]["outputs"], model


def test_overrides_file_is_valid_and_inactive():
    assert load(DECK / "deck" / "overrides.toml") == {}
