"""Real providers, one cheap call each: only with LLMDECK_LIVE=1 and that provider's key set.

CI and the default run have neither, so every case skips with its reason.
"""

import os

import pytest

from llmdeck_nb import load_deck
from llmdeck_nb.engine.session import Session

LIVE = os.environ.get("LLMDECK_LIVE") == "1"
CASES = {  # backend -> a cheap model of the packaged deck
    "openai": "gpt-4o-mini", "anthropic": "claude-4.5-haiku", "google": "gemini-2.5-flash-lite",
    "mistral": "mistral-small", "cerebras": "gpt-oss-120b",
}


@pytest.mark.parametrize("backend", sorted(CASES))
def test_one_real_call(backend, tmp_path):
    if not LIVE:
        pytest.skip("live provider tests run only with LLMDECK_LIVE=1")
    deck = load_deck()
    if not deck.backends[backend].available:
        pytest.skip(f"{backend}: {deck.backends[backend].unavailable_reason}")
    with Session(deck=deck, profile=f"all_{backend}", cache=False,
                 log=tmp_path / "calls.sqlite") as s:
        result = s.complete("Reply with the single word: pong", CASES[backend], max_tokens=16)
    assert result.backend == backend and result.text.strip()
    assert result.cost_usd is not None and result.cost_usd > 0
