"""The one place a call's cost is decided: deck prices first, litellm's estimate second."""

from __future__ import annotations

from llmdeck_nb.deck.specs import ModelSpec


def call_cost(spec: ModelSpec, input_tokens: int | None, output_tokens: int | None,
              provider_cost: float | None = None) -> tuple[float | None, str]:
    """(cost in USD, source): source is "deck", "litellm" or "none"."""
    if spec.costs is not None:
        return spec.costs.usd(input_tokens, output_tokens), "deck"
    if provider_cost is not None:
        return provider_cost, "litellm"
    return None, "none"
