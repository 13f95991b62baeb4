"""The seed document's own examples, loaded verbatim."""

import pytest

from deck_folders import seed_deck
from llmdeck_nb import load_deck
from llmdeck_nb.errors import CredentialsMissingError, HandleNotFoundError

KEYS = {"OPENAI_API_KEY": "sk-test-openai-0123456789abcdef",
        "ANTHROPIC_API_KEY": "sk-ant-test-0123456789abcdef"}


@pytest.fixture
def folder(tmp_path):
    return seed_deck(tmp_path / "inference")


def test_seed_loads_with_no_key_and_marks_every_backend_unavailable(folder):
    deck = load_deck(folder, env={})
    assert deck.active_profile == "all_pipelex"
    assert deck.backends["openai"].unavailable_reason == "missing OPENAI_API_KEY"
    assert deck.backends["azure_openai"].unavailable_reason == (
        "missing AZURE_API_BASE, AZURE_API_KEY, AZURE_API_VERSION")
    assert deck.available_backends == []
    assert set(deck.model_names) == {"gpt-4o-mini", "gpt-4-turbo", "claude-4-sonnet",
                                     "claude-4.1-opus", "claude-3-sonnet"}


def test_seed_models_table_form_and_costs(folder):
    deck = load_deck(folder, env=KEYS)
    spec = deck.specs["openai"]["gpt-4o-mini"]
    assert (spec.model_id, spec.sdk, spec.max_tokens, spec.max_prompt_images) == ("gpt-4o-mini",
                                                                                  "openai",
                                                                                  128000, 100)
    assert spec.inputs == ("text", "images") and spec.supports_structured
    assert spec.costs.input == 0.00015
    # default_sdk (0.10 form) applies to every anthropic model
    assert deck.specs["anthropic"]["claude-4-sonnet"].sdk == "anthropic"


def test_mixed_profile_routes_by_wildcard_then_default(folder):
    deck = load_deck(folder, env=KEYS)
    assert deck.route("claude-4-sonnet", "mixed").backend == "anthropic"
    assert deck.route("gemini-2.5-pro", "mixed").backend == "vertexai"
    assert deck.route("mistral-large", "mixed").backend == "mistral"
    assert deck.route("gpt-4-turbo", "mixed").rule == "pattern 'gpt-*'"
    assert deck.route("o4-mini", "mixed").rule == "default"
    resolution = deck.resolve("gpt-4-turbo", profile="mixed")
    assert resolution.primary.backend.name == "openai"
    assert resolution.primary.spec.model_id == "gpt-4-turbo"


def test_all_pipelex_profile_needs_its_key(folder):
    deck = load_deck(folder, env=KEYS)
    with pytest.raises(CredentialsMissingError) as info:
        deck.resolve("gpt-4o-mini")  # active profile all_pipelex
    assert "PIPELEX_INFERENCE_API_KEY" in str(info.value)


def test_seed_aliases_presets_and_overrides(folder):
    deck = load_deck(folder, env=KEYS)
    best = deck.resolve("best-claude", profile="mixed")
    assert (best.kind, best.primary.model, best.primary.spec.model_id) == (
        "alias", "claude-4.1-opus", "claude-opus-4-1-20250805")
    # the fallback chain keeps claude and skips gemini (no spec anywhere)
    chain = deck.resolve("llm_to_engineer", profile="mixed")
    assert [c.model for c in chain.candidates] == ["claude-4.1-opus"]
    assert chain.skipped == (("gemini-2.5-pro", "not a model in any backends/*.toml file"),)
    # overrides.toml replaced the preset and added an alias
    extract = deck.resolve("llm_to_extract", profile="mixed")
    assert extract.primary.model == "gpt-4o-mini"
    assert dict(extract.primary.params) == {"temperature": 0.2}
    assert (deck.resolve("my_custom_model", profile="mixed").primary.spec.model_id
            == "claude-3-sonnet-20240229")
    # choice defaults name presets
    assert deck.default_handle() == "cheap_llm_for_text"
    assert deck.default_handle(structured=True) == "cheap_llm_for_object"
    text = deck.resolve(deck.default_handle(), profile="mixed")
    assert (text.preset, dict(text.primary.params)) == ("cheap_llm_for_text", {"temperature": 0.5})


def test_max_tokens_auto_lets_the_provider_decide(folder):
    deck = load_deck(folder, env=KEYS)
    with pytest.raises(HandleNotFoundError) as info:
        deck.resolve("llm_to_reason", profile="mixed")  # o4-mini has no spec in the seed
    assert info.value.handle == "o4-mini"
    assert deck.presets["llm_to_reason"].generation_params() == {"temperature": 1}


def test_a_preset_lends_its_parameters_to_a_model_named_with_it(folder):
    """``complete(model=..., preset=...)``: that model, with the preset's parameters; the
    deck resolves it (Deck.resolve_preset), the session adds its own overrides on top."""
    from llmdeck_nb.engine.session import Session

    deck = load_deck(folder, env=KEYS)
    lent = deck.resolve_preset("llm_to_extract", "mixed", model="gpt-4-turbo", max_tokens=50)
    assert lent.primary.model == "gpt-4-turbo"
    assert dict(lent.primary.params) == {"temperature": 0.2, "max_tokens": 50}
    assert deck.resolve_preset("llm_to_extract", "mixed").primary.model == "gpt-4o-mini"
    with Session(deck=deck, cache=False, log=False) as session:
        session.params["temperature"] = 0.7
        resolved = session.resolve("gpt-4-turbo", preset="llm_to_extract", profile="mixed")
    assert (resolved.primary.model, dict(resolved.primary.params)) == ("gpt-4-turbo",
                                                                       {"temperature": 0.7})
