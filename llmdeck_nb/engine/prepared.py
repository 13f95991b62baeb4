"""What a call to one candidate needs that depends on the candidate alone, worked out once.

``Deck.resolve`` hands out the same :class:`~llmdeck_nb.deck.Candidate` objects for the same
handle, profile and parameters (memoised), so the engine keeps with each one: its
parameters checked (:func:`~llmdeck_nb.engine.params.check_params`), the part of them that
is sent, the template of its cache keys, the parameter columns of its log rows, and its
strategy and rate limiters. A candidate not seen before (another deck, parameters of
another call) is prepared when it is first asked for; one whose parameters cannot be sent
raises every time, and is not kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmdeck_nb.backends.base import BackendStrategy
from llmdeck_nb.backends.registry import get_strategy
from llmdeck_nb.cache.keys import KeyTemplate
from llmdeck_nb.deck import Candidate
from llmdeck_nb.engine.params import check_params
from llmdeck_nb.engine.ratelimit import RateLimiter, limiters_for

#: preset / call option: ask the provider to cache the system prompt and the history
PROMPT_CACHE = "prompt_cache"
#: candidates kept at most (the memo starts over when full)
_KEPT = 1024


@dataclass(frozen=True, slots=True)
class Prepared:
    """One candidate, ready to be called."""

    candidate: Candidate
    params: Mapping[str, Any]  # what is sent: the candidate's, less llmdeck's own options
    prompt_cache: bool  # the `prompt_cache` option (Anthropic cache marks)
    key: KeyTemplate  # the cache keys of its requests
    # the log row's columns: temperature, max_tokens (a whole number), the other params
    temperature: Any
    max_tokens: int | None
    logged_params: Mapping[str, Any]
    strategy: BackendStrategy
    limiters: list[RateLimiter]


_prepared: dict[int, Prepared] = {}


def prepared(candidate: Candidate) -> Prepared:
    """``candidate`` prepared (kept by identity: a Candidate is immutable)."""
    found = _prepared.get(id(candidate))
    if found is not None and found.candidate is candidate:
        return found
    check_params(candidate.params)
    params = candidate.params
    if PROMPT_CACHE in params:  # an llmdeck option (preset or call), not sent as a parameter
        params = {k: v for k, v in params.items() if k != PROMPT_CACHE}
    logged = dict(candidate.params)
    temperature, max_tokens = logged.pop("temperature", None), logged.pop("max_tokens", None)
    backend = candidate.backend
    found = Prepared(
        candidate=candidate, params=params,
        prompt_cache=bool(candidate.params.get(PROMPT_CACHE, False)),
        key=KeyTemplate(backend=backend.name, endpoint=",".join(backend.endpoints),
                        model_id=candidate.spec.model_id, params=params),
        temperature=temperature, max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        logged_params=logged, strategy=get_strategy(backend.strategy),
        limiters=limiters_for(candidate),
    )
    if len(_prepared) >= _KEPT:
        _prepared.clear()
    _prepared[id(candidate)] = found
    return found


__all__ = ["PROMPT_CACHE", "Prepared", "prepared"]
