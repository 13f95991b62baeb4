"""Costs that match the provider's invoice: cached, cache-write and reasoning tokens,
long-context tiers, the savings of both caches.

Every provider case goes over real HTTP to the loopback fake server, which reports usage
in that provider's own shape (FakeLLMServer.set_usage); figures are checked against
hand-computed values (written out in the comments) and against litellm's own pricing of
the same usage. Deck prices are USD per 1M tokens.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

import pandas as pd
import pytest
from deck_folders import write_deck
from packaging.version import Version

from llmdeck_nb import load_deck
from llmdeck_nb.backends.catalog import PROVIDER_CATALOG
from llmdeck_nb.backends.litellm_sdk import load_litellm
from llmdeck_nb.deck.specs import Costs, ModelSpec
from llmdeck_nb.engine.cost import call_cost
from llmdeck_nb.engine.retry import RetryPolicy
from llmdeck_nb.engine.session import Session, set_default_session
from llmdeck_nb.errors import DeckError
from llmdeck_nb.notebook import display

pytest_plugins = ["notebooks_magics.shell_fixtures"]

CENT_MILLIONTH = 1e-8  # USD
KEYS = {"OPENAI_API_KEY": "sk-test-openai-0123456789",
        "ANTHROPIC_API_KEY": "sk-test-anthropic-0123",
        "GEMINI_API_KEY": "test-gemini-key-0123456789"}
SOL = ("{ input = 2.0, output = 10.0, input_cached = 0.1, input_cache_write = 2.5, tiers = ["
       "{ above_tokens = 272000, input = 4.0, output = 15.0, input_cached = 0.2, "
       "input_cache_write = 5.0 }] }")


def pricing_deck(root: Path, url: str) -> Path:
    """OpenAI (httpx), Anthropic and Gemini (litellm) on the fake server, at the packaged
    deck's prices for these models."""
    return write_deck(root, {
        "backends.toml": f'''
            [openai]
            endpoint = "{url}/v1"
            api_key = "${{OPENAI_API_KEY}}"

            [anthropic]
            endpoint = "{url}"
            api_key = "${{ANTHROPIC_API_KEY}}"

            [google]
            endpoint = "{url}/v1beta"
            api_key = "${{GEMINI_API_KEY}}"
        ''',
        "backends/openai.toml": f'''
            ["gpt-6.1-sol"]
            costs = {SOL}

            [plain]
            model_id = "plain-model"
            costs = {{ input = 1.0, output = 2.0 }}

            [unpriced]
            model_id = "unpriced-model"
        ''',
        "backends/anthropic.toml": '''
            ["claude-4.5-sonnet"]
            model_id = "claude-sonnet-4-5-20250929"
            costs = { input = 3.0, output = 15.0, input_cached = 0.3, input_cache_write = 3.75 }
        ''',
        "backends/google.toml": '''
            ["gemini-2.5-pro".costs]
            input = 1.25
            output = 10.0
            input_cached = 0.125
            tiers = [{ above_tokens = 200000, input = 2.5, output = 15.0, input_cached = 0.25 }]
        ''',
        "routing_profiles.toml": '''
            active = "loopback"
            [profiles.loopback]
            default = "openai"
            [profiles.loopback.routes]
            "claude-*" = "anthropic"
            "gemini-*" = "google"
        ''',
        "deck/base_deck.toml": '''
            [llm.presets]
            cached-claude = { model = "claude-4.5-sonnet", prompt_cache = true }
            [llm.choice_defaults]
            for_text = "cached-claude"
        ''',
    })


@pytest.fixture
def session(tmp_path, fake_llm_server, state_dir):
    deck = load_deck(pricing_deck(tmp_path / "deck", fake_llm_server.url), env=KEYS)
    with Session(deck=deck, cache=tmp_path / "cache", log=tmp_path / "calls.sqlite",
                 retry=RetryPolicy(base_delay_s=0.01, max_delay_s=0.02), timeout=10) as s:
        set_default_session(s)
        yield s
    set_default_session(None)


def last_row(session):
    return session.calls().iloc[-1]


def assert_usage(row, input_tokens, cached, cache_write, output, reasoning):
    got = (row.input_tokens, row.cached_tokens, row.cache_write_tokens, row.output_tokens,
           row.reasoning_tokens)
    expected = (input_tokens, cached, cache_write, output, reasoning)
    for name, g, e in zip(("input", "cached", "cache_write", "output", "reasoning"), got, expected):
        assert pd.isna(g) if e is None else g == e, f"{name}: {g!r} != {e!r}"


# --- the arithmetic, by hand ------------------------------------------------------------------


def spec(**costs) -> ModelSpec:
    return ModelSpec(name="m", backend="b", model_id="m", costs=Costs(**costs) if costs else None)


def test_cached_and_cache_write_tokens_at_their_own_prices():
    # 10,000 prompt tokens: 6,000 read from cache, 1,000 written, 3,000 fresh; 500 out
    # 3,000 x 3 + 6,000 x 0.3 + 1,000 x 3.75 + 500 x 15 = 9,000 + 1,800 + 3,750 + 7,500 = 22,050 /
    # 1M
    priced = call_cost(spec(input=3.0, output=15.0, input_cached=0.3, input_cache_write=3.75),
                       10_000, 500, cached_tokens=6_000, cache_write_tokens=1_000)
    assert priced.usd == pytest.approx(0.02205, abs=CENT_MILLIONTH)
    assert priced.source == "deck"
    # 0.0162
    assert priced.provider_saved_usd == pytest.approx(6_000 * 2.7 / 1e6, abs=CENT_MILLIONTH)


def test_the_tier_the_prompt_falls_in_prices_every_token():
    sol = spec(input=2.0, output=10.0, input_cached=0.1, input_cache_write=2.5,
               tiers=[{"above_tokens": 272_000, "input": 4.0, "output": 15.0, "input_cached": 0.2}])
    at_limit = call_cost(sol, 272_000, 1_000)  # not above: 272,000 x 2 + 1,000 x 10 = 554,000 / 1M
    assert (at_limit.usd, at_limit.source) == (pytest.approx(0.554, abs=CENT_MILLIONTH), "deck")
    # above: 172,001 x 4 + 100,000 x 0.2 + 1,000 x 15 = 688,004 + 20,000 + 15,000 = 723,004 / 1M
    above = call_cost(sol, 272_001, 1_000, cached_tokens=100_000)
    assert above.usd == pytest.approx(0.723004, abs=CENT_MILLIONTH)
    assert above.source == "deck+above_272k"
    assert above.provider_saved_usd == pytest.approx(100_000 * 3.8 / 1e6, abs=CENT_MILLIONTH)
    # a price the tier leaves out is the base one: cache writes at 2.5 above the tier too
    # 272,001 - 2,001 = 270,000 x 4 + 2,001 x 2.5 = 1,080,000 + 5,002.5 = 1,085,002.5 / 1M
    written = call_cost(sol, 272_001, 0, cache_write_tokens=2_001)
    assert written.usd == pytest.approx(1.0850025, abs=CENT_MILLIONTH)


def test_a_model_without_cached_prices_charges_them_as_input_and_says_so():
    plain = spec(input=1.0, output=2.0)
    priced = call_cost(plain, 1_000, 10, cached_tokens=600, cache_write_tokens=100)
    assert priced.usd == pytest.approx((1_000 * 1.0 + 10 * 2.0) / 1e6, abs=CENT_MILLIONTH)
    assert priced.source == "deck+cached_at_input_price"
    assert priced.provider_saved_usd == 0
    # no cached tokens: nothing was charged at a borrowed price
    assert call_cost(plain, 1_000, 10, cached_tokens=0).source == "deck"
    assert call_cost(plain, 1_000, 10).provider_saved_usd is None  # provider said nothing


def test_no_deck_price_falls_back_to_litellm_then_to_unknown():
    assert (call_cost(spec(), 10, 10, 0.5).usd, call_cost(spec(), 10, 10, 0.5).source) == (0.5,
                                                                                           "litellm")
    assert (call_cost(spec(), 10, 10).usd, call_cost(spec(), 10, 10).source) == (None, "none")


# --- against litellm's own pricing, for every packaged model ------------------------------------


def packaged_specs():
    deck = load_deck(str(files("llmdeck_nb") / "default_deck" / "inference"), env={})
    for backend, specs in sorted(deck.specs.items()):
        for name, model in sorted(specs.items()):
            if model.costs is not None and model.costs.input and backend != "demo":
                yield pytest.param(backend, model, id=f"{backend}:{name}")


# The litellm whose price table the packaged deck was checked against (the backends/*.toml
# comments say so): an older table (litellm's floor is older) prices some models differently
# or not at all, which says nothing about the deck. A newer one is checked: rerun the script.
PRICE_TABLE = Version("1.106.2")
price_table_checked = pytest.mark.skipif(
    Version(version("litellm")) < PRICE_TABLE,
    reason=f"litellm {version('litellm')}'s price table is older than the one the packaged "
           f"deck was checked against ({PRICE_TABLE})")


@price_table_checked
@pytest.mark.parametrize("backend,model", list(packaged_specs()))
@pytest.mark.parametrize("prompt,cached,written,output,reasoning", [
    (5_000, 3_000, 1_000, 400, 100),  # a conversation: most of the prompt cached
    (300_000, 100_000, 0, 400, 0),  # past every long-context tier
    (150_000, 0, 20_000, 10, 0),  # past Anthropic's 100k tier, writing the cache
])
def test_packaged_prices_match_litellm_for_the_same_usage(backend, model, prompt, cached, written,
                                                          output, reasoning):
    litellm = load_litellm()
    from litellm.types.utils import (CompletionTokensDetailsWrapper,
                                     PromptTokensDetailsWrapper, Usage)

    usage = Usage(prompt_tokens=prompt, completion_tokens=output, total_tokens=prompt + output,
                  prompt_tokens_details=PromptTokensDetailsWrapper(
                      cached_tokens=cached, cache_creation_tokens=written,
                      text_tokens=prompt - cached - written),
                  cache_creation_input_tokens=written, cache_read_input_tokens=cached,
                  completion_tokens_details=CompletionTokensDetailsWrapper(reasoning_tokens=reasoning))
    prefix = PROVIDER_CATALOG[backend].provider
    theirs = sum(litellm.cost_per_token(model=f"{prefix}/{model.model_id}", usage_object=usage))
    ours = call_cost(model, prompt, output, cached_tokens=cached, cache_write_tokens=written)
    assert ours.usd == pytest.approx(theirs, abs=CENT_MILLIONTH)


@price_table_checked
def test_the_packaged_deck_is_what_the_price_script_writes():
    script = Path(__file__).resolve().parents[1] / "scripts" / "deck_prices_from_litellm.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert done.returncode == 0 and "stale: nothing" in done.stdout, (done.stdout
                                                                     + done.stderr[-2000:])


# --- each provider's usage block, over HTTP ------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_openai_compatible_cached_and_reasoning_tokens(session, fake_llm_server, stream):
    fake_llm_server.set_usage(prompt_tokens=2_000, cached_tokens=1_024, reasoning_tokens=300)
    result = session.complete("hi", "gpt-6.1-sol", stream=stream)
    assert fake_llm_server.requests[-1].protocol == "openai"
    # "echo: hi" = 2 words + 300 reasoning = 302 out
    # 976 x 2 + 1,024 x 0.1 + 302 x 10 = 1,952 + 102.4 + 3,020 = 5,074.4 / 1M
    assert result.cost_usd == pytest.approx(0.0050744, abs=CENT_MILLIONTH)
    assert (result.cached_tokens, result.reasoning_tokens, result.cost_source) == (1_024,
                                                                                   300, "deck")
    row = last_row(session)
    assert_usage(row, 2_000, 1_024, None, 302, 300)
    assert row.cost_usd == pytest.approx(0.0050744, abs=CENT_MILLIONTH)
    assert row.provider_saved_usd == pytest.approx(1_024 * 1.9 / 1e6, abs=CENT_MILLIONTH)
    assert "2,000 (1,024 cached) -> 302 (300 reasoning) tokens" in result.footer()
    assert "$0.005074" in result.footer()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_anthropic_cache_reads_and_writes_through_litellm(session, fake_llm_server, stream):
    fake_llm_server.set_usage(prompt_tokens=5_000, cached_tokens=3_000, cache_write_tokens=1_500)
    result = session.complete("hi", "claude-4.5-sonnet", stream=stream)
    sent = fake_llm_server.requests[-1]
    assert sent.protocol == "anthropic"
    # Anthropic said input_tokens = 500, cache_read = 3,000, cache_creation = 1,500, output = 2
    # 500 x 3 + 3,000 x 0.3 + 1,500 x 3.75 + 2 x 15 = 1,500 + 900 + 5,625 + 30 = 8,055 / 1M
    assert result.cost_usd == pytest.approx(0.008055, abs=CENT_MILLIONTH)
    row = last_row(session)
    reasoning = None if pd.isna(row.reasoning_tokens) else 0  # Anthropic reports no thinking count
    assert_usage(row, 5_000, 3_000, 1_500, 2, reasoning)
    assert row.cost_source == "deck"
    assert row.provider_saved_usd == pytest.approx(3_000 * 2.7 / 1e6, abs=CENT_MILLIONTH)
    assert "5,000 (3,000 cached, 1,500 cache write) -> 2 tokens" in result.footer()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_gemini_cached_content_and_thoughts_through_litellm(session, fake_llm_server, stream):
    fake_llm_server.set_usage(prompt_tokens=4_000, cached_tokens=2_048, reasoning_tokens=500)
    result = session.complete("hi", "gemini-2.5-pro", stream=stream)
    assert fake_llm_server.requests[-1].protocol == "gemini"
    # Gemini said promptTokenCount 4,000 (2,048 cached), candidates 2, thoughts 500 -> 502 out
    # 1,952 x 1.25 + 2,048 x 0.125 + 502 x 10 = 2,440 + 256 + 5,020 = 7,716 / 1M
    assert result.cost_usd == pytest.approx(0.007716, abs=CENT_MILLIONTH)
    assert_usage(last_row(session), 4_000, 2_048, None, 502, 500)


def test_gemini_long_prompt_tier(session, fake_llm_server):
    fake_llm_server.set_usage(prompt_tokens=250_000, cached_tokens=100_000)
    result = session.complete("hi", "gemini-2.5-pro")
    # above 200k: 150,000 x 2.5 + 100,000 x 0.25 + 2 x 15 = 375,000 + 25,000 + 30 = 400,030 / 1M
    assert result.cost_usd == pytest.approx(0.40003, abs=CENT_MILLIONTH)
    assert last_row(session).cost_source == "deck+above_200k"


def test_openai_long_prompt_tier_and_the_base_price_just_below_it(session, fake_llm_server):
    fake_llm_server.set_usage(prompt_tokens=300_000)
    above = session.complete("long", "gpt-6.1-sol")
    # 300,000 x 4 + 2 x 15 = 1,200,030 / 1M
    assert above.cost_usd == pytest.approx(1.20003, abs=CENT_MILLIONTH)
    assert above.cost_source == "deck+above_272k"
    fake_llm_server.set_usage(prompt_tokens=272_000)
    below = session.complete("short", "gpt-6.1-sol")  # 272,000 x 2 + 2 x 10 = 544,020 / 1M
    assert below.cost_usd == pytest.approx(0.54402, abs=CENT_MILLIONTH)
    assert below.cost_source == "deck"


def test_model_without_cached_prices_over_http(session, fake_llm_server):
    fake_llm_server.set_usage(prompt_tokens=1_000, cached_tokens=600)
    result = session.complete("hi", "plain")
    # cached tokens at the input price: 1,000 x 1 + 2 x 2 = 1,004 / 1M
    assert result.cost_usd == pytest.approx(0.001004, abs=CENT_MILLIONTH)
    row = last_row(session)
    assert row.cost_source == "deck+cached_at_input_price" and row.cached_tokens == 600
    assert row.provider_saved_usd == 0


def test_a_provider_that_reports_nothing_leaves_the_columns_empty(session, fake_llm_server):
    session.complete("hello there", "plain")  # the fake server's plain usage: no details
    row = last_row(session)
    assert_usage(row, 2, None, None, 3, None)
    assert row.cost_source == "deck" and pd.isna(row.provider_saved_usd)


# --- savings: llmdeck's cache and the provider's ----------------------------------------------


def test_summary_shows_cost_and_both_savings(session, fake_llm_server):
    fake_llm_server.set_usage(prompt_tokens=5_000, cached_tokens=3_000, cache_write_tokens=1_500)
    first = session.complete("hi", "claude-4.5-sonnet")  # 0.008055, provider cache saved 0.0081
    fake_llm_server.reset()  # the price changes do not matter: the hit saves what it cost then
    again = session.complete("hi", "claude-4.5-sonnet")
    assert again.cached and again.cost_usd == 0
    assert again.saved_cost_usd == pytest.approx(first.cost_usd, abs=CENT_MILLIONTH)
    session.complete("hello there", "plain")  # 2 x 1 + 3 x 2 = 8 / 1M, nothing cached
    summary = session.summary().set_index("model")
    claude, plain = summary.loc["claude-4.5-sonnet"], summary.loc["plain"]
    assert (claude.calls, claude.cache_hits, claude.cached_tokens) == (2, 1, 6_000)
    assert claude.cost_usd == pytest.approx(0.008055, abs=CENT_MILLIONTH)
    assert claude.saved_cost_usd == pytest.approx(0.008055, abs=CENT_MILLIONTH)
    assert claude.provider_saved_usd == pytest.approx(0.0081, abs=CENT_MILLIONTH)
    assert (plain.cost_usd == pytest.approx(8e-6, abs=CENT_MILLIONTH)
            and plain.provider_saved_usd == 0)
    line = display.savings_line(session.summary())
    assert line == ("llmdeck: caching saved $0.0162: $0.008055 by llmdeck's response cache "
                    "(calls not sent), $0.008100 by provider caching (cached input tokens)")


def test_magics_show_cached_and_reasoning_tokens(ip, run, session, fake_llm_server):
    fake_llm_server.set_usage(prompt_tokens=2_000, cached_tokens=1_024, reasoning_tokens=300)
    ran = run("%%llm gpt-6.1-sol\nhi")
    footer = ran.bundles("text/plain")[-1]
    assert "2,000 (1,024 cached) -> 302 (300 reasoning) tokens" in footer and "$0.005074" in footer
    frame = run("%%llm_compare gpt-6.1-sol,plain --no-cache\nhi").value
    assert list(frame["cached_tokens"]) == [1_024, 1_024]
    assert list(frame["reasoning_tokens"]) == [300, 300]
    assert frame["cost_usd"].iloc[0] == pytest.approx(0.0050744, abs=CENT_MILLIONTH)
    log = run("%llm_log --summary")
    assert "by provider caching" in log.stdout
    saved = log.value.set_index("model")["provider_saved_usd"]
    assert saved["gpt-6.1-sol"] == pytest.approx(2 * 1_024 * 1.9 / 1e6, abs=CENT_MILLIONTH)
    assert saved["plain"] == 0  # cached at the input price: nothing saved


# --- asking for provider caching
# -------------------------------------------------------------------


def test_prompt_cache_marks_the_system_prompt_and_the_history_for_anthropic(session,
                                                                            fake_llm_server):
    history = [{"role": "system", "content": "You are terse."},
               {"role": "user", "content": "first question"},
               {"role": "assistant", "content": "first answer"},
               {"role": "user", "content": "second question"}]
    session.complete(history, "claude-4.5-sonnet", prompt_cache=True)
    body = fake_llm_server.requests[-1].json
    assert body["system"] == [{"type": "text", "text": "You are terse.",
                               "cache_control": {"type": "ephemeral"}}]
    last = body["messages"][-1]["content"]
    assert (last[-1]["text"] == "second question"
            and last[-1]["cache_control"] == {"type": "ephemeral"})
    assert all("cache_control" not in str(m) for m in body["messages"][:-1])
    assert "prompt_cache" not in body
    # without the option, nothing is marked
    session.complete(history, "claude-4.5-sonnet", prompt_cache=False, cache=False)
    assert "cache_control" not in str(fake_llm_server.requests[-1].json)


def test_prompt_cache_from_a_preset_and_the_magic(ip, run, session, fake_llm_server):
    session.complete("from the preset", "cached-claude")  # preset: prompt_cache = true
    assert "cache_control" in str(fake_llm_server.requests[-1].json["messages"])
    run("%%llm claude-4.5-sonnet --prompt-cache -s 'Be brief.'\nfrom the magic")
    body = fake_llm_server.requests[-1].json
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    # OpenAI caches by itself: the option sends nothing extra, and no unknown parameter
    run("%%llm gpt-6.1-sol --prompt-cache\nto openai")
    body = fake_llm_server.requests[-1].json
    assert "prompt_cache" not in body and "cache_control" not in str(body)


# --- the deck's costs tables
# ------------------------------------------------------------------------


def test_tiers_out_of_order_are_a_clear_deck_error(tmp_path, fake_llm_server):
    root = pricing_deck(tmp_path / "deck", fake_llm_server.url)
    (root / "backends" / "openai.toml").write_text(
        '[bad]\ncosts = { input = 1.0, output = 2.0, tiers = [{ above_tokens = 200000, input = 2.0 '
        '}, { above_tokens = 100000, input = 3.0 }] }\n', encoding="utf-8")
    with pytest.raises(DeckError) as info:
        load_deck(root, env=KEYS)
    message = str(info.value)
    assert "openai.toml" in message and "bad" in message and "ascending" in message


def test_an_unknown_tier_key_is_a_clear_deck_error(tmp_path, fake_llm_server):
    root = pricing_deck(tmp_path / "deck", fake_llm_server.url)
    (root / "backends" / "openai.toml").write_text(
        '[bad]\ncosts = { input = 1.0, output = 2.0, tiers = [{ above = 200000, input = 2.0 }] }\n',
        encoding="utf-8")
    with pytest.raises(DeckError) as info:
        load_deck(root, env=KEYS)
    assert "openai.toml" in str(info.value) and "above" in str(info.value)


def test_pipelex_costs_without_the_new_keys_load_unchanged(tmp_path, fake_llm_server):
    root = pricing_deck(tmp_path / "deck", fake_llm_server.url)
    (root / "backends" / "openai.toml").write_text(
        '[old]\ncosts = { input = 1.0, output = 2.0, output_reasoning = 2.0 }\n', encoding="utf-8")
    costs = load_deck(root, env=KEYS).specs["openai"]["old"].costs
    assert (costs.input, costs.output, costs.input_cached, costs.tiers) == (1.0, 2.0, None, ())
