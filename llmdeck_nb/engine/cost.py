"""What a call costs, priced by one function (:func:`call_cost`): deck prices first,
litellm's estimate second. (The session charges an answer served from a cache 0 and
records this price as what it saved.)

With deck prices (USD per 1M tokens, :class:`llmdeck_nb.deck.specs.Costs`)::

    cost = (input - cached - cache_write) x input
           + cached x input_cached + cache_write x input_cache_write
           + output x output

at the prices of the tier the prompt falls in (``input`` counts every prompt token,
cached ones included; ``output`` includes reasoning tokens, which are billed as output).
``cost_source`` says which prices applied: ``deck``, plus ``+above_272k`` when a tier
did, plus ``+cached_at_input_price`` when cached or cache-write tokens had no price of
their own and were charged as input; ``litellm`` (litellm's estimate, when the deck has
no price) or ``none``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from llmdeck_nb.deck.specs import PER_MILLION, ModelSpec

CACHED_AT_INPUT_PRICE = "cached_at_input_price"
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class CallCost:
    """What a call cost, which prices applied, and what provider caching saved."""

    usd: float | None
    source: str
    #: cached tokens x (input price - cached price): what the provider's cache saved
    provider_saved_usd: float | None = None


def call_cost(spec: ModelSpec, input_tokens: int | None, output_tokens: int | None,
              provider_cost: float | None = None, *, cached_tokens: int | None = None,
              cache_write_tokens: int | None = None) -> CallCost:
    """The cost of one call from the usage the provider reported (see the module doc)."""
    costs = spec.costs
    if costs is None:
        if provider_cost is not None:
            return CallCost(provider_cost, "litellm")
        return CallCost(None, "none")
    prompt = input_tokens or 0
    cached, written = cached_tokens or 0, cache_write_tokens or 0
    tier = costs.tier_for(prompt)
    source = "deck"
    input_price, output_price = costs.input, costs.output
    cached_price, write_price = costs.input_cached, costs.input_cache_write
    if tier is not None:
        source += "+" + tier.label
        input_price = _first(tier.input, input_price)
        output_price = _first(tier.output, output_price)
        cached_price = _first(tier.input_cached, cached_price)
        write_price = _first(tier.input_cache_write, write_price)
    if (cached and cached_price is None) or (written and write_price is None):
        source += "+" + CACHED_AT_INPUT_PRICE
    cached_price = _first(cached_price, input_price)
    write_price = _first(write_price, input_price)
    uncached = max(prompt - cached - written, 0)
    usd = (uncached * input_price + cached * cached_price + written * write_price
           + (output_tokens or 0) * output_price) / PER_MILLION
    if cached_tokens is None:  # the provider said nothing about its cache
        return CallCost(usd, source)
    return CallCost(usd, source, cached * (input_price - cached_price) / PER_MILLION)


def _first(value: float | None, default: _T) -> float | _T:
    """``value``, or ``default`` where the deck gives none."""
    return default if value is None else value
