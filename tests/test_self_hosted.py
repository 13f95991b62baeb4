"""The self-hosted LiteLLM proxy path: the proxy's own cache hits are logged as cache hits
(where = proxy), its key refusals say which variable to set, and the catalog names the
variables the packaged deck really reads."""

from __future__ import annotations

import re

import pytest
from fake_llm_server import LiteLLMProxyBehaviour

from llmdeck_nb import load_deck
from llmdeck_nb.backends.base import BackendRequest
from llmdeck_nb.backends.catalog import PROVIDER_CATALOG
from llmdeck_nb.backends.openai_compatible import OpenAICompatibleStrategy
from llmdeck_nb.deck.locate import PACKAGED_DECK_DIR
from llmdeck_nb.engine.retry import RetryPolicy
from llmdeck_nb.engine.session import Session
from llmdeck_nb.errors import AllAttemptsFailedError, BackendError

MASTER = "sk-master-proxy-0123456789abcdef"
REFUSED = "the proxy refused the key: set LLMDECK_SELF_HOSTED_KEY to its master key"


def proxy_session(server, key: str, tmp_path) -> Session:
    deck = load_deck(env={"LLMDECK_SELF_HOSTED_URL": server.url + "/v1",
                          "LLMDECK_SELF_HOSTED_KEY": key, "LLMDECK_PROFILE": "self_hosted"})
    return Session(deck=deck, cache=False, log=tmp_path / "calls.sqlite",
                   retry=RetryPolicy(base_delay_s=0.001, max_delay_s=0.002))


def test_a_proxy_cache_hit_is_logged_as_a_cache_hit_from_the_proxy(fake_llm_server, tmp_path):
    fake_llm_server.proxy = LiteLLMProxyBehaviour(master_key=MASTER, cache=True)
    with proxy_session(fake_llm_server, MASTER, tmp_path) as session:
        first = session.complete("What is a GPU?", "qwen3-coder")
        second = session.complete("What is a GPU?", "qwen3-coder")
        calls = session.calls()
        summary = session.summary()
    assert (first.cached, first.cache_where) == (False, None)
    assert (second.cached, second.cache_where) == (True, "proxy")
    assert "from the proxy's cache" in second.footer()
    assert list(calls.cache_hit) == [False, True]
    assert list(calls.cache_where.fillna("-")) == ["-", "proxy"]
    assert int(summary.cache_hits.sum()) == 1


@pytest.mark.parametrize("key", ["sk-wrong-0123456789", "sk-local-dummy"])
def test_a_refused_key_says_which_variable_to_set(fake_llm_server, tmp_path, key):
    fake_llm_server.proxy = LiteLLMProxyBehaviour(master_key=MASTER)
    with proxy_session(fake_llm_server, key, tmp_path) as session:
        with pytest.raises(AllAttemptsFailedError) as refused:
            session.complete("hello", "qwen3-coder")
    message = str(refused.value)
    assert "HTTP 400 (Bad Request): No connected db." in message and REFUSED in message
    assert "check the parameters" not in message
    assert len(fake_llm_server.requests) == 1  # not retried


async def test_a_missing_key_500_is_not_retried_and_says_the_same(fake_llm_server):
    fake_llm_server.proxy = LiteLLMProxyBehaviour(master_key=MASTER)
    request = BackendRequest(backend="self_hosted", provider="openai", model_id="qwen3-coder",
                             messages=[{"role": "user", "content": "hi"}],
                             endpoint=fake_llm_server.url + "/v1", api_key=None)
    strategy = OpenAICompatibleStrategy()
    try:
        with pytest.raises(BackendError) as refused:
            await strategy.complete(request)
    finally:
        await strategy.aclose()
    assert (refused.value.status, refused.value.retryable) == (500, False)
    assert REFUSED in refused.value.hint


def test_the_catalog_names_the_variables_the_packaged_deck_reads():
    text = (PACKAGED_DECK_DIR / "backends.toml").read_text(encoding="utf-8")
    packaged = load_deck(env={}).backends
    for name, defaults in PROVIDER_CATALOG.items():
        if name in packaged:
            for variable in (*defaults.key_vars, *defaults.other_vars):
                assert re.search(r"[{|](env:)?" + variable + r"\b", text), (name, variable)
    assert PROVIDER_CATALOG["self_hosted"].key_vars == ("LLMDECK_SELF_HOSTED_KEY",)
