"""Sessions over the loopback fake server, as the batch, budget, replay and rate-limit tests make
them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deck_folders import LOOPBACK_ENV, loopback_deck
from llmdeck_nb import load_deck
from llmdeck_nb.deck import Deck
from llmdeck_nb.engine.retry import RetryPolicy
from llmdeck_nb.engine.session import Session

FAST_RETRY = RetryPolicy(base_delay_s=0.01, max_delay_s=0.02)


def deck_on(root: Path, url: str) -> Deck:
    return load_deck(loopback_deck(root, url), env=LOOPBACK_ENV)


def session_on(deck: Deck, folder: Path, cache: str = "cache", log: str = "calls.sqlite",
               **kwargs: Any) -> Session:
    """A session with its cache and log in ``folder`` (names given, so two can share or not)."""
    kwargs.setdefault("timeout", 10)
    return Session(deck=deck, cache=folder / cache, log=folder / log, retry=FAST_RETRY, **kwargs)


def chat_requests(server: Any) -> list[Any]:
    """The chat requests the fake server received (probes and model lists left out)."""
    return [r for r in server.requests if r.protocol == "openai"]
