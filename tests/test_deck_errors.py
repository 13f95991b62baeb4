"""Each deck error says what, where, and what to do; validate collects them all."""

import pytest

from deck_folders import seed_deck, write_deck
from llmdeck_nb import load_deck
from llmdeck_nb.deck.validation import validate_deck
from llmdeck_nb.errors import (
    DeckSchemaError,
    HandleNotFoundError,
    LLMDeckError,
    PresetNotFoundError,
    UnknownProfileError,
)
from llmdeck_nb.engine.session import Session

KEYS = {"OPENAI_API_KEY": "sk-test-openai-0123456789abcdef"}


@pytest.fixture
def deck(tmp_path):
    return load_deck(seed_deck(tmp_path / "inference"), env=KEYS)


def test_unknown_profile_lists_the_available_ones(deck):
    with pytest.raises(UnknownProfileError) as info:
        deck.resolve("gpt-4o-mini", profile="mixd")
    assert str(info.value) == ("routing profile 'mixd' is not defined in routing_profiles.toml\n"
                               "  -> use one of: all_pipelex, mixed")


def test_unknown_handle_suggests_close_names(deck):
    with pytest.raises(HandleNotFoundError) as info:
        deck.resolve("gpt-4o-mni", profile="mixed")
    assert info.value.suggestions[0] == "gpt-4o-mini"
    assert "did you mean 'gpt-4o-mini'" in str(info.value) and "llmdeck models" in str(info.value)


def test_unknown_preset(deck):
    with Session(deck=deck, cache=False, log=False) as session:
        with pytest.raises(PresetNotFoundError) as info:
            session.complete("hi", preset="llm_to_extrct", profile="mixed")
    assert "no preset named 'llm_to_extrct'" in str(info.value)
    assert "did you mean 'llm_to_extract'" in str(info.value)


def test_wrong_types_name_file_and_key_and_lenient_load_keeps_the_rest(tmp_path):
    folder = seed_deck(tmp_path / "inference")
    (folder / "backends" / "openai.toml").write_text(
        '[models.gpt-4o-mini]\ncosts = "cheap"\n\n[models.ok-model]\nmax_tokens = 100\n')
    (folder / "deck" / "overrides.toml").write_text(
        '[llm_presets]\nhot = { llm_handle = "ok-model", temperature = 5 }\n')
    with pytest.raises(DeckSchemaError) as info:
        load_deck(folder, env=KEYS)
    assert "backends/openai.toml: key 'gpt-4o-mini.costs'" in str(info.value)
    deck = load_deck(folder, env=KEYS, strict=False)
    assert "ok-model" in deck.model_names and "gpt-4o-mini" not in deck.model_names
    messages = [p.message for p in validate_deck(deck).errors]
    assert any("key 'llm_presets.hot.temperature'" in m and "less than or equal to 2" in m
               for m in messages)
    assert any("key 'gpt-4o-mini.costs'" in m for m in messages)


def test_every_error_is_one_hierarchy():
    for error in (DeckSchemaError, HandleNotFoundError, PresetNotFoundError, UnknownProfileError):
        assert issubclass(error, LLMDeckError)


def test_a_real_pipelex_style_folder_with_backends_we_do_not_know_loads(tmp_path):
    folder = write_deck(tmp_path / ".pipelex" / "inference", {
        "backends.toml": '''
            [pipelex_gateway]
            display_name = "⭐ Pipelex Gateway"
            enabled = true
            api_key = "${PIPELEX_GATEWAY_API_KEY}"

            [internal] # software-only backend
            enabled = true

            [ollama]
            enabled = true
            endpoint = "http://localhost:11434/v1"
        ''',
        "backends/internal.toml": '[pypdfium2-extract-text]\nmodel_type = "text_extractor"\n',
        "backends/ollama.toml": '[defaults]\nmodel_type = "llm"\nsdk = '
                                '"openai"\n\n["qwen3:8b"]\ncosts = { input = 0, output = 0 }\n',
        "routing_profiles.toml": '''
            active = "pipelex_gateway_first"
            [profiles.pipelex_gateway_first]
            default = "pipelex_gateway"
            fallback_order = ["pipelex_gateway", "ollama"]
            [profiles.pipelex_gateway_first.routes]
            "gpt-*" = "pipelex_gateway"
            [profiles.pipelex_gateway_first.optional_routes]
            "qwen*" = "ollama"
        ''',
        "deck/base_deck.toml": '''
            [aliases]
            base-qwen = "qwen3:8b"
            [llm.presets]
            llm_for_testing = { model = "base-qwen", temperature = 0.5 }
            [extract]
            choice_default = "extract_text_from_visuals"
            [extract.presets]
            extract_text_from_visuals = { model = "mistral-ocr", max_nb_images = 100 }
        ''',
    })
    deck = load_deck(folder, env={})
    assert deck.backends["internal"].available is False
    assert (deck.backends["internal"].unavailable_reason.startswith("not callable from llmdeck "
                                                                    "(Pipelex-internal"))
    # no warning per load
    assert not [p for p in deck.problems if p.key in ("internal", "pipelex_gateway")]
    resolution = deck.resolve("llm_for_testing")
    assert resolution.primary.label == "qwen3:8b@ollama"
    assert not [p for p in validate_deck(deck).errors]


def test_packaged_deck_is_clean_under_every_profile():
    deck = load_deck(env={})
    for profile in deck.profiles:
        report = validate_deck(deck, profile)
        assert not report.errors, (profile, [p.message for p in report.errors])
    # without keys, other profiles warn that their aliases cannot be served; auto does not
    assert not validate_deck(deck).warnings
    assert deck.resolve(deck.default_handle()).primary.backend.name == "demo"
