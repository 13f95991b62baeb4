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
  ``prompt_tokens_details.cache_write_tokens``) and Gemini's ``cachedContentTokenCount`` /
  ``thoughtsTokenCount`` into the same fields, so one reader serves them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict


class UsageFields(TypedDict, total=False):
    """The token-count keywords of :class:`~llmdeck_nb.backends.base.BackendResponse`."""

    input_tokens: int | None
    output_tokens: int | None
    cached_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None


def _count(value: object) -> int | None:
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


def _field(obj: object, name: str) -> Any:
    """``obj.name`` or None, read from the pydantic object's ``__dict__``: litellm deletes
    unset fields, and a missing one read with ``getattr`` costs ~10-20 us (pydantic's
    ``__getattr__`` raises inside), several times per call."""
    fields = getattr(obj, "__dict__", None)
    return fields.get(name) if isinstance(fields, dict) else getattr(obj, name, None)


def litellm_usage(usage: object) -> UsageFields:
    """The counts of litellm's ``Usage`` object (litellm copies Anthropic's
    ``cache_creation_input_tokens`` into ``prompt_tokens_details.cache_write_tokens``)."""
    if usage is None:
        return {"input_tokens": None, "output_tokens": None}
    prompt_details = _field(usage, "prompt_tokens_details")
    output_details = _field(usage, "completion_tokens_details")
    written = _field(prompt_details, "cache_write_tokens")
    return {
        "input_tokens": _count(_field(usage, "prompt_tokens")),
        "output_tokens": _count(_field(usage, "completion_tokens")),
        "cached_tokens": _count(_field(prompt_details, "cached_tokens")),
        "cache_write_tokens": _count(written if written is not None
                                     else _field(prompt_details, "cache_creation_tokens")),
        "reasoning_tokens": _count(_field(output_details, "reasoning_tokens")),
    }
