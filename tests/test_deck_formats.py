"""A Pipelex 0.15-style folder, environment substitution, routing precedence, constraints."""

import warnings

import pytest

from deck_folders import write_deck
from llmdeck_nb import load_deck
from llmdeck_nb.deck.envsubst import deck_environment, substitute
from llmdeck_nb.deck.loader import DeckWarning
from llmdeck_nb.errors import AliasCycleError, CredentialsMissingError, RoutingError

NEW_STYLE = {
    "backends.toml": '''
        [openai]
        display_name = "OpenAI"
        api_key = "${env:OPENAI_API_KEY}"

        [google]
        api_key = "${env:GEMINI_API_KEY|env:GOOGLE_API_KEY}"

        [local]
        endpoint = ["${LOCAL_URL:-http://127.0.0.1:9}/v1", "http://127.0.0.1:10/v1"]

        [off]
        enabled = false
        api_key = "${NEVER_SET}"
    ''',
    "backends/openai.toml": '''
        [defaults]
        model_type = "llm"
        sdk = "openai_responses"
        thinking_mode = "none"

        [gpt-4o-mini]
        inputs = ["text", "images", "pdf"]
        outputs = ["text", "structured"]
        costs = { input = 0.15, output = 0.6 }
        max_tokens = 16384

        ["gpt-5.4"]
        costs = { input = 2.5, output = 15.0 }
        valued_constraints = { fixed_temperature = 1 }
        max_tokens = 128000

        [o4-mini]
        model_id = "o4-mini-2025-04-16"
        constraints = ["temperature_must_be_1"]
        costs = { input = 1.1, output = 4.4 }
    ''',
    "backends/google.toml": '''
        [defaults]
        sdk = "google"

        ["gemini-2.5-flash"]
        model_id = "gemini-2.5-flash"
        costs = { input = 0.3, output = 2.5 }
    ''',
    "backends/local.toml": '''
        ["qwen3-coder"]
        costs = { input = 0, output = 0 }

        [gpt-4o-mini]
        model_id = "gpt-4o-mini-local"
    ''',
    "routing_profiles.toml": '''
        active = "native"

        [profiles.native]
        description = "each to its own"
        default = "local"
        fallback_order = ["local"]

        [profiles.native.routes]
        "gpt-4o-mini" = "local"
        "gpt-*" = "openai"
        "o4*" = "openai"
        "*-flash" = "google"
        "*coder*" = "local"

        [profiles.native.optional_routes]
        "gemini-*" = "google"

        [profiles.cloud]
        default = "openai"
        fallback_order = ["local", "openai"]

        [profiles.broken]
        default = "nowhere"
    ''',
    "deck/1_llm_deck.toml": '''
        [aliases]
        base-gpt = "gpt-5.4"
        fast = "gemini-2.5-flash"

        [waterfalls]
        cheap = ["gpt-4o-mini", "not-a-model", "gemini-2.5-flash"]

        [llm.presets]
        precise = { model = "base-gpt", temperature = 0.2, max_tokens = 1000, top_p = 0.9,
                    seed = 7 }
        reason = { model = "o4-mini", temperature = 0.3, reasoning_effort = "high" }

        [llm.choice_defaults]
        for_text = "precise"

        [img_gen]
        choice_default = "whatever"
    ''',
}


@pytest.fixture
def folder(tmp_path):
    return write_deck(tmp_path / "inference", NEW_STYLE)


def test_new_layout_defaults_table_and_quoted_names(folder):
    deck = load_deck(folder, env={"OPENAI_API_KEY": "sk-test-a-0123456789abcdef"})
    spec = deck.specs["openai"]["gpt-5.4"]
    assert (spec.model_id, spec.sdk, spec.model_type) == ("gpt-5.4", "openai_responses", "llm")
    assert spec.pipelex_settings == {"thinking_mode": "none"}
    assert deck.backends["off"].unavailable_reason == "disabled (enabled = false)"
    assert deck.backends["local"].endpoints == ("http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1")


def test_exact_route_beats_pattern_and_patterns_go_in_file_order(folder):
    deck = load_deck(folder, env={"OPENAI_API_KEY": "sk-test-a-0123456789abcdef"})
    assert deck.route("gpt-4o-mini").backend == "local"  # exact, although listed before gpt-*
    assert deck.route("gpt-5.4").rule == "pattern 'gpt-*'"
    assert deck.route("qwen3-coder").rule == "pattern '*coder*'"
    assert deck.route("gemini-2.5-flash").rule == "pattern '*-flash'"


def test_optional_routes_only_when_their_backend_is_available(folder):
    without = load_deck(folder, env={})
    assert without.route("gemini-2.5-pro").backend == "local"  # default
    with_key = load_deck(folder, env={"GOOGLE_API_KEY": "AIza-test-0123456789abcdefghij"})
    assert with_key.route("gemini-2.5-pro").backend == "google"


def test_alternatives_first_set_wins_and_defaults(folder):
    env = {"GEMINI_API_KEY": "gem-test-0123456789", "GOOGLE_API_KEY": "goo-test-0123456789"}
    deck = load_deck(folder, env=env)
    assert deck.backends["google"].api_key.get() == "gem-test-0123456789"
    assert "gem-test" not in repr(deck.backends["google"])
    deck = load_deck(folder, env={"GOOGLE_API_KEY": "goo-test-0123456789"})
    assert deck.backends["google"].api_key.get() == "goo-test-0123456789"
    assert load_deck(folder, env={}).backends["google"].unavailable_reason == (
        "missing GEMINI_API_KEY or GOOGLE_API_KEY")
    local = load_deck(folder, env={"LOCAL_URL": "http://10.0.0.1:8000"}).backends["local"]
    assert local.endpoint == "http://10.0.0.1:8000/v1"


def test_substitution_forms():
    env = {"A": "1", "EMPTY": ""}
    assert substitute("x${A}y${env:A}z${secret:A}", env).value == "x1y1z1"
    assert substitute("${EMPTY:-fallback}", env).value == "fallback"  # empty counts as missing
    result = substitute("${env:NOPE|env:EMPTY}", env)
    assert result.missing == ["NOPE or EMPTY"]
    assert substitute("no placeholders", env).missing == []


def test_real_environment_wins_over_dotenv(tmp_path, monkeypatch):
    dotenv = tmp_path / ".env"
    dotenv.write_text("OPENAI_API_KEY=from-dotenv-0123456789\nONLY_IN_DOTENV=yes\n")
    monkeypatch.setenv("OPENAI_API_KEY", "from-environ-0123456789")
    env = deck_environment(dotenv)
    assert env["OPENAI_API_KEY"] == "from-environ-0123456789"
    assert env["ONLY_IN_DOTENV"] == "yes"


def test_waterfall_skips_unknown_and_unavailable_models(folder):
    deck = load_deck(folder, env={})  # google unavailable
    cheap = deck.resolve("cheap")
    assert [c.label for c in cheap.candidates] == ["gpt-4o-mini@local"]
    reasons = dict(cheap.skipped)
    assert reasons["not-a-model"] == "not a model in any backends/*.toml file"
    assert reasons["gemini-2.5-flash"] == ("backend 'google' is missing GEMINI_API_KEY or "
                                           "GOOGLE_API_KEY")
    assert cheap.primary.via == "waterfall 'cheap' #1"


def test_fallback_order_adds_candidates_on_other_backends(folder):
    deck = load_deck(folder, env={"OPENAI_API_KEY": "sk-test-a-0123456789abcdef"})
    cheap = deck.resolve("gpt-4o-mini", profile="cloud")
    assert [(c.label, c.via) for c in cheap.candidates] == [
        ("gpt-4o-mini@openai", "direct"), ("gpt-4o-mini@local", "fallback_order")]
    assert cheap.candidates[1].spec.model_id == "gpt-4o-mini-local"
    # a backend with no spec for the model adds nothing
    assert ([c.label for c in deck.resolve("gpt-5.4", profile="cloud").candidates]
            == ["gpt-5.4@openai"])


def test_missing_credentials_error_names_the_variable(folder):
    deck = load_deck(folder, env={})
    with pytest.raises(CredentialsMissingError) as info:
        deck.resolve("base-gpt")
    assert info.value.variables == ["OPENAI_API_KEY"]
    assert "OPENAI_API_KEY" in str(info.value) and "-> set OPENAI_API_KEY" in str(info.value)


def test_preset_params_constraints_and_per_call_overrides(folder):
    deck = load_deck(folder, env={"OPENAI_API_KEY": "sk-test-a-0123456789abcdef"})
    precise = deck.resolve("precise")
    assert precise.primary.model == "gpt-5.4"
    # gpt-5.4 has fixed_temperature = 1: applied and reported
    assert dict(precise.primary.params) == {"temperature": 1, "max_tokens": 1000,
                                            "top_p": 0.9, "seed": 7}
    assert precise.primary.adjustments == ("temperature 0.2 -> 1 (gpt-5.4 only accepts 1)",)
    reason = deck.resolve("reason", max_tokens=500)
    assert dict(reason.primary.params) == {"temperature": 1.0, "reasoning_effort": "high",
                                           "max_tokens": 500}
    # a parameter set to None is not sent: it unsets the preset's value
    unset = deck.resolve("reason", max_tokens=500, temperature=None)
    assert dict(unset.primary.params) == {"reasoning_effort": "high", "max_tokens": 500}
    # the memoised resolution is not changed by per-call overrides
    assert "max_tokens" not in deck.resolve("reason").primary.params


def test_profile_per_call_and_from_environment(folder):
    deck = load_deck(folder, env={"LLMDECK_PROFILE": "broken"})
    assert (deck.active_profile, deck.active_source) == ("broken", "$LLMDECK_PROFILE")
    with pytest.raises(RoutingError) as info:
        deck.resolve("qwen3-coder")
    assert "'nowhere'" in str(info.value) and "not defined in backends.toml" in str(info.value)
    assert deck.resolve("qwen3-coder", profile="native").primary.backend.name == "local"


def test_unknown_keys_warn_with_file_and_key_and_loading_goes_on(tmp_path):
    files = dict(NEW_STYLE)
    files["backends/local.toml"] = ('["qwen3-coder"]\ncosts = { input = 0, output = 0 '
                                    '}\ncontext_windw = 5\n')
    folder = write_deck(tmp_path / "inference", files)
    with pytest.warns(DeckWarning,
                      match=r"local.toml: unknown key 'qwen3-coder.context_windw' in model "
                      r"'qwen3-coder' \(ignored\) \(did you mean 'context_window'\?\)"):
        deck = load_deck(folder, env={})
    assert "qwen3-coder" in deck.model_names
    unknown = [p for p in deck.problems if p.section == "unknown_keys" and p.severity == "warning"]
    assert [p.key for p in unknown] == ["qwen3-coder.context_windw"]
    # the non-LLM [img_gen] section loads quietly, in its own namespace
    assert deck.other_decks["img_gen"].choice_default == "whatever"
    assert not [p for p in deck.problems if p.key == "img_gen"]


def test_alias_cycle_is_named(tmp_path):
    files = dict(NEW_STYLE)
    files["deck/2_cycle.toml"] = ('[aliases]\nloop-a = "loop-b"\nloop-b = ["gpt-4o-mini", '
                                  '"loop-c"]\nloop-c = "loop-a"\n')
    deck = load_deck(write_deck(tmp_path / "inference", files), env={})
    with pytest.raises(AliasCycleError) as info:
        deck.resolve("loop-a")
    assert info.value.cycle == ["loop-a", "loop-b", "loop-c", "loop-a"]
    assert "loop-a -> loop-b -> loop-c -> loop-a" in str(info.value)


def test_seed_style_list_alias_under_aliases_and_waterfalls_both_load(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeckWarning)
        deck = load_deck(folder, env={})
    assert deck.aliases["cheap"] == ("gpt-4o-mini", "not-a-model", "gemini-2.5-flash")
