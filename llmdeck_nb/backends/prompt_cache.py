"""Asking the provider to cache the prompt (``prompt_cache = true``).

OpenAI and Gemini cache long prompt prefixes by themselves (nothing to send). Anthropic
caches only up to the blocks marked ``cache_control: {"type": "ephemeral"}``: llmdeck
marks the system prompt and the last message, so the next call of a conversation (which
resends this whole prompt and adds to it) reads everything before its new turn from
the cache. Two of Anthropic's four allowed breakpoints are used. The marks are written
in litellm's message format (content parts with ``cache_control``), which litellm turns
into Anthropic's (and Bedrock's ``cachePoint``) on the wire.
"""

from __future__ import annotations

from typing import Any

from llmdeck_nb.backends.base import BackendRequest
from llmdeck_nb.json_types import JsonObject

EPHEMERAL = {"type": "ephemeral"}


def needs_cache_marks(request: BackendRequest) -> bool:
    """Claude models (on Anthropic, Bedrock or Vertex AI) cache only what is marked."""
    return request.provider == "anthropic" or (
        request.provider in ("bedrock", "vertex_ai") and "claude" in request.model_id.lower())


def mark_cacheable(messages: list[JsonObject]) -> list[JsonObject]:
    """A copy of ``messages`` with the system prompt and the last message marked cacheable."""
    marked = list(messages)
    indexes = {len(marked) - 1} if marked else set()
    indexes |= {i for i, m in enumerate(marked) if m.get("role") == "system"}
    for i in indexes:
        marked[i] = _marked(marked[i])
    return marked


def _marked(message: JsonObject) -> JsonObject:
    content = message.get("content")
    if isinstance(content, str):
        parts: list[Any] = [{"type": "text", "text": content}]
    elif isinstance(content, list) and content:
        parts = list(content)
    else:
        return message
    last = parts[-1]
    if isinstance(last, dict):
        parts[-1] = {**last, "cache_control": EPHEMERAL}
    return {**message, "content": parts}
