"""Token counts out of a provider's usage block, as :class:`BackendResponse` keywords.

Every strategy reports the same meaning, whatever the provider's shape:

* ``input_tokens``: every prompt token, cached and cache-written ones included;
* ``cached_tokens``: prompt tokens read from the provider's prompt cache;
* ``cache_write_tokens``: prompt tokens written to it (Anthropic bills them at 1.25x);
* ``output_tokens``: every output token, reasoning included (billed as output);
* ``reasoning_tokens``: the part of ``output_tokens`` the model spent thinking.

A count the provider does not report is ``None`` (not 0). Shapes read:

* OpenAI chat (and vLLM, OpenRouter, LiteLLM proxy...): ``prompt_tokens``,
  ``prompt_tokens_details.cached_tokens``, ``completion_tokens``,
  ``completion_tokens_details.reasoning_tokens``; a proxy in front of Anthropic adds
  ``cache_creation_input_tokens``; DeepSeek says ``prompt_cache_hit_tokens``;
* litellm's normalised ``Usage`` (anthropic/, gemini/, bedrock/...): litellm folds
  Anthropic's ``cache_read_input_tokens`` / ``cache_creation_input_tokens`` into
  ``prompt_tokens`` (+ ``prompt_tokens_details.cached_tokens`` and
  ``cache_creation_input_tokens``) and Gemini's ``cachedContentTokenCount`` /
  ``thoughtsTokenCount`` into the same fields, so one reader serves them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

UsageFields = dict[str, int | None]


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def openai_usage(usage: Mapping[str, Any] | None) -> UsageFields:
    """The counts of an OpenAI-shaped ``usage`` object (JSON)."""
    if not usage:
        return {"input_tokens": None, "output_tokens": None}
    prompt_details = usage.get("prompt_tokens_details") or {}
    output_details = usage.get("completion_tokens_details") or {}
    cached = _count(prompt_details.get("cached_tokens"))
    if cached is None:
        cached = _count(usage.get("cache_read_input_tokens", usage.get("prompt_cache_hit_tokens")))
    return {
        "input_tokens": _count(usage.get("prompt_tokens")),
        "output_tokens": _count(usage.get("completion_tokens")),
        "cached_tokens": cached,
        "cache_write_tokens": _count(usage.get("cache_creation_input_tokens")),
        "reasoning_tokens": _count(output_details.get("reasoning_tokens")),
    }


def litellm_usage(usage: Any) -> UsageFields:
    """The counts of litellm's ``Usage`` object (attributes, details may be None)."""
    if usage is None:
        return {"input_tokens": None, "output_tokens": None}
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    output_details = getattr(usage, "completion_tokens_details", None)
    return {
        "input_tokens": _count(getattr(usage, "prompt_tokens", None)),
        "output_tokens": _count(getattr(usage, "completion_tokens", None)),
        "cached_tokens": _count(getattr(prompt_details, "cached_tokens", None)),
        "cache_write_tokens": _count(getattr(usage, "cache_creation_input_tokens", None)),
        "reasoning_tokens": _count(getattr(output_details, "reasoning_tokens", None)),
    }
