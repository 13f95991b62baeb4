"""Real Pipelex folder shapes (0.10, 0.17, the numbered decks of 2026) load, and every
alias, preset and choice default resolves where the files are consistent."""

import contextlib
import io
import warnings

import pytest

from deck_folders import write_deck
from real_layouts import DUMMY_KEYS, LAYOUT_010, LAYOUT_015, LAYOUT_2026
from llmdeck_nb import cli, load_deck
from llmdeck_nb.deck.loader import DeckWarning
from llmdeck_nb.deck.presentation import models_table
from llmdeck_nb.deck.validation import validate_deck
from llmdeck_nb.engine.session import Session
from llmdeck_nb.errors import NotAnLLMError, RoutingError, WrongReferenceKindError


@pytest.fixture
def deck_2026(tmp_path):
    folder = write_deck(tmp_path / ".pipelex" / "inference", LAYOUT_2026)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeckWarning)  # internal, gateway, fal: no warning per load
        return load_deck(folder, env=DUMMY_KEYS)


def test_2026_every_alias_preset_and_choice_resolves_under_a_direct_profile(deck_2026):
    deck = deck_2026
    assert deck.aliases["default-premium"] == "alias:best-claude"  # [llm.aliases] is read
    resolved = {handle: deck.resolve(handle, "direct").primary.label
                for handle in [*deck.aliases, *deck.presets]}
    assert resolved == {
        "best-claude": "claude-4.6-sonnet@anthropic",
        "default-general": "claude-4.6-sonnet@anthropic",
        "default-premium": "claude-4.6-sonnet@anthropic", "default-small": "gpt-4o-mini@openai",
        "default-reasoning": "gpt-5.2@openai", "small-llm": "gpt-4o-mini@openai",
        "writing-factual": "claude-4.6-sonnet@anthropic",
        "testing-structured": "gpt-4o-mini@openai",
        "quick": "gpt-4o-mini@openai", "deep-analysis": "gpt-5.2@openai",
        "haiku": "claude-4.5-haiku@anthropic", "grok": "grok-3-mini@xai",
        "open-weights": "gpt-oss-120b@scaleway",
    }
    # choice defaults carry sigils; "disabled" overrides leave them in force
    assert deck.default_handle() == "@default-general"
    assert deck.default_handle(structured=True) == "$testing-structured"
    assert (deck.resolve(deck.default_handle(structured=True), "direct").preset
            == "testing-structured")


def test_2026_sigils_name_their_kind(deck_2026):
    deck = deck_2026
    assert deck.resolve("@default-small", "direct").kind == "alias"
    assert deck.resolve("preset:writing-factual", "direct").kind == "preset"
    via = [c.via for c in deck.resolve("small-llm", "direct").candidates]
    assert via == ["alias 'default-small'", "waterfall 'small-llm' #3"]  # #1 is on disabled groq
    with pytest.raises(WrongReferenceKindError) as info:
        deck.resolve("@writing-factual", "direct")
    assert str(info.value) == ("'@writing-factual' names an alias, but 'writing-factual' is a "
                               "preset: write '$writing-factual'")
    with pytest.raises(WrongReferenceKindError,
                       match="'\\$default-small' names a preset, but 'default-small' "
                                                      "is an alias: write '@default-small'"):
        deck.resolve("$default-small", "direct")


def test_2026_default_temperature_applies_when_a_preset_gives_none(deck_2026):
    deck = deck_2026
    assert deck.default_temperature == 0.5
    assert deck.resolve("quick", "direct").primary.params["temperature"] == 0.5
    assert deck.resolve("writing-factual", "direct").primary.params["temperature"] == 0.1
    assert deck.resolve("gpt-4o-mini", "direct").primary.params["temperature"] == 0.5


def test_2026_token_limits_and_listed_constraints_apply(deck_2026):
    haiku = deck_2026.resolve("haiku", "direct", max_tokens=20000).primary
    assert haiku.params["max_tokens"] == 8192  # valued_constraints.max_output_tokens_limit
    assert haiku.params["temperature"] == 0.6  # listed_constraints: multiplied by 2
    assert "max_tokens 20000 -> 8192 (the model's limit)" in haiku.adjustments


def test_2026_choice_override_replaces_the_default(tmp_path):
    folder = write_deck(tmp_path / "inference", {
        **LAYOUT_2026,
        "deck/x_custom_llm_deck.toml": '[llm.choice_overrides]\nfor_text = '
                                       '"$writing-factual"\nfor_object = "disabled"\n',
    })
    deck = load_deck(folder, env=DUMMY_KEYS)
    assert deck.default_handle() == "$writing-factual"
    assert deck.default_handle(structured=True) == "$testing-structured"


def test_2026_gateway_and_internal_are_not_callable_and_routing_names_a_profile(deck_2026):
    deck = deck_2026
    for name, why in (("pipelex_gateway", "remote catalogue"), ("internal", "Pipelex-internal"),
                      ("fal", "image generation API")):
        backend = deck.backends[name]
        assert (not backend.available
                and backend.unavailable_reason.startswith(f"not callable from llmdeck ({why}"))
        assert backend.endpoints == ()  # nothing to fetch from
    with pytest.raises(RoutingError) as info:
        deck.resolve("@default-general")  # active profile: all_pipelex_gateway
    message = str(info.value)
    assert "backend 'pipelex_gateway' is not callable from llmdeck (remote catalogue" in message
    assert "switch profile: 'direct' serves it (LLMDECK_PROFILE=direct)" in message


def test_2026_other_model_kinds_load_are_listed_and_refused_by_llm_calls(deck_2026):
    deck = deck_2026
    assert deck.other_decks["img_gen"].presets == {"gen-image": "@default-general"}
    assert deck.other_decks["extract"].choice_default == "@default-extract-document"
    # img_gen's default-general is its own namespace: the LLM alias is untouched
    assert deck.resolve("default-general", "direct").primary.model == "claude-4.6-sonnet"
    types = {row["model"]: row["type"] for row in models_table(deck, "direct")}
    assert types["flux-pro"] == "img_gen" and types["pypdfium2-extract-pdf"] == "text_extractor"
    with pytest.raises(NotAnLLMError,
                       match=r"'gen-image' is an img_gen preset \(deck/2_img_gen_deck.toml\), "
                                            r"not an LLM"):
        deck.resolve("gen-image", "direct")
    with Session(deck=deck, cache=False, log=False, profile="direct") as session:
        with pytest.raises(NotAnLLMError, match="'flux-pro' is an img_gen model"):
            session.complete("a cat", model="flux-pro")


def test_2026_model_only_in_a_disabled_backend_is_named_so(deck_2026):
    with pytest.raises(RoutingError) as info:
        deck_2026.resolve("llama-3.3-70b-versatile", "direct")
    assert str(info.value).startswith("'llama-3.3-70b-versatile' is defined only in backend "
                                      "'groq', which is disabled")


def test_2026_portkey_model_ids_carry_the_provider_slug(deck_2026):
    candidate = deck_2026.resolve("gpt-4o-mini", "all_portkey").primary
    assert (candidate.backend.endpoint, candidate.spec.model_id) == ("https://api.portkey.ai/v1",
                                                                     "@openai/gpt-4o-mini")


def test_new_catalog_backends_have_their_openai_compatible_endpoints(deck_2026):
    deck = deck_2026
    assert deck.backends["xai"].strategy == "openai_compatible"
    assert deck.backends["scaleway"].endpoint == "https://api.scaleway.ai/0123-project/v1"
    assert deck.backends["groq"].endpoint == "https://api.groq.com/openai/v1"


def test_010_layout_resolves_presets_before_same_named_aliases(tmp_path):
    deck = load_deck(write_deck(tmp_path / "inference", LAYOUT_010), env=DUMMY_KEYS)
    assert deck.default_handle() == "$cheap_llm_for_text"  # an alias and a preset share the name
    text = deck.resolve(deck.default_handle())
    assert (text.preset, text.primary.label, text.primary.params["temperature"]) == (
        "cheap_llm_for_text", "gpt-4o-mini@pipelex_inference", 0.5)
    assert deck.backends["pipelex_inference"].endpoint == "https://inference.pipelex.com/v1"
    assert deck.resolve("llm_to_engineer").primary.label == "claude-4-sonnet@pipelex_inference"
    assert deck.resolve("llm_to_engineer", "all_openai").primary.label == "gpt-4o-mini@openai"
    assert not validate_deck(deck).errors


def test_015_layout_optional_routes_and_fallback_order(tmp_path):
    deck = load_deck(write_deck(tmp_path / "inference", LAYOUT_015), env=DUMMY_KEYS)
    assert deck.resolve("base-claude").primary.label == "claude-4.5-sonnet@blackboxai"
    # gpt-* goes to the gateway (not callable); fallback_order finds it on openai
    assert ([c.label for c in deck.resolve("llm_for_factual_writing").candidates]
            == ["gpt-4o-mini@openai"])
    assert deck.resolve(deck.default_handle()).primary.params["temperature"] == 0.1
    assert [c.label for c in deck.resolve("smart_llm").candidates] == [
        "claude-4.5-sonnet@blackboxai", "gpt-4o-mini@openai"]
    assert not validate_deck(deck).errors


@pytest.mark.parametrize("layout, profile", [(LAYOUT_2026, None), (LAYOUT_2026, "direct"),
                                             (LAYOUT_010, None), (LAYOUT_015, None)])
def test_validate_exits_0_on_a_consistent_real_folder_with_dummy_keys(tmp_path, monkeypatch,
                                                                      layout, profile):
    write_deck(tmp_path / ".pipelex" / "inference", layout)
    monkeypatch.chdir(tmp_path)  # found by the search order, as a user's project is
    for name, value in DUMMY_KEYS.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["validate", *(["--profile", profile] if profile else [])])
    report = out.getvalue()
    assert code == 0, report
    problems = [line.strip() for line in report[report.index("PROBLEMS"):].splitlines()[1:]
                if line.strip().startswith(("ERROR", "WARNING"))]
    if layout is LAYOUT_2026 and profile is None:  # the active profile is the gateway's
        assert problems == [
            "WARNING profile 'all_pipelex_gateway' sends 15 alias(es), preset(s) or choice(s) to "
            "backend 'pipelex_gateway', which is not callable from llmdeck (remote catalogue: "
            "Pipelex's servers list its models): switch profile to call them from llmdeck (e.g. "
            "LLMDECK_PROFILE=direct)"]
    else:
        assert problems == []
    assert report.rstrip().endswith("deck is usable")
