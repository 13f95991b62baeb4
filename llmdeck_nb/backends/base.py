"""The interface every kind of backend implements (the seed's BackendStrategy).

The engine never branches on provider: it builds a :class:`BackendRequest` from the
resolved deck candidate and hands it to the strategy registered for that backend's
``strategy`` name. A strategy does one attempt; retries, failover, caching and logging
belong to the engine. A strategy signals failure only by raising a
:class:`llmdeck_nb.errors.BackendError` subclass built by :mod:`llmdeck_nb.backends.errors`
(which sets ``status`` and ``retryable``).
"""

from __future__ import annotations

import base64
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar

from llmdeck_nb.json_types import JsonObject
from llmdeck_nb.redaction import Secret

TextCallback = Callable[[str], None]

#: True while the calling thread waits for this one call and nothing else (a synchronous
#: ``Session.complete``): a strategy may then do its I/O blocking, without event-loop
#: round trips. Set by :func:`llmdeck_nb.engine.loop.run`; strategies may ignore it.
BLOCKING_IO: ContextVar[bool] = ContextVar("llmdeck_blocking_io", default=False)


def content_text(content: object) -> str:
    """Message content as text: a string, or the text parts of a list of parts."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def part_data(part: object) -> tuple[str, bytes] | None:
    """(MIME type, bytes) of an image or file part that holds a base64 data URL, else None."""
    if not isinstance(part, dict):
        return None
    if part.get("type") == "image_url":
        url = (part.get("image_url") or {}).get("url")
    elif part.get("type") == "file":
        url = (part.get("file") or {}).get("file_data")
    else:
        return None
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        return None
    header, _, body = url.partition(";base64,")
    return header[5:], base64.b64decode(body)


@dataclass(frozen=True, slots=True)
class BackendRequest:
    """Everything one attempt needs; built by the engine, never holds a bare key string."""

    backend: str  # backend name in the deck, e.g. "openai", "self_hosted"
    provider: str  # provider family / litellm prefix, e.g. "openai", "anthropic", "azure"
    model_id: str  # the provider's model id (or Azure deployment name)
    messages: list[JsonObject]
    params: Mapping[str, Any] = field(default_factory=dict)  # temperature, max_tokens, top_p...
    endpoint: str | None = None  # base URL; None = provider default
    api_key: Secret | None = None
    key_variable: str | None = None  # the variable that holds api_key (names it in a 401 hint)
    extra: Mapping[str, Any] = field(default_factory=dict)  # api_version, aws_region, ...
    schema: JsonObject | None = None  # JSON schema for structured output
    timeout: float | None = 60.0  # seconds per attempt; None: no limit
    prompt_cache: bool = False  # mark the system prompt and history cacheable (Anthropic)


@dataclass(slots=True)
class BackendResponse:
    text: str
    input_tokens: int | None = None  # every prompt token, cached ones included
    output_tokens: int | None = None  # reasoning tokens included (they are billed as output)
    model_id: str | None = None  # as reported by the provider
    finish_reason: str | None = None
    http_status: int | None = None
    provider_cost_usd: float | None = None  # litellm's own estimate, when it has one
    ttft_s: float | None = None  # time to first token (streaming)
    tool_calls: list[JsonObject] | None = None  # OpenAI-format calls the model asked for
    proxy_cache_hit: bool = False  # a LiteLLM proxy answered from its own cache
    # from the provider's usage block; None where it says nothing (see backends/usage.py)
    cached_tokens: int | None = None  # input read from the provider's prompt cache
    cache_write_tokens: int | None = None  # input written to it (Anthropic)
    reasoning_tokens: int | None = None  # part of output_tokens


class BackendStrategy(ABC):
    """One kind of backend: how to send a chat request and read the answer."""

    kind: ClassVar[str]
    #: complete() reads the answer with blocking I/O and awaits nothing while
    #: :data:`BLOCKING_IO` is set: a synchronous call to it then needs no event loop at all
    blocking_complete: bool = False

    @abstractmethod
    async def complete(self, request: BackendRequest) -> BackendResponse:
        """Send one request and return the whole answer."""

    @abstractmethod
    async def stream(self, request: BackendRequest, on_text: TextCallback) -> BackendResponse:
        """Send one request, call ``on_text`` with each text delta, return the whole answer."""

    async def probe(self, request: BackendRequest) -> None:
        """Cheapest live check that the backend answers; raises BackendError if not."""
        await self.complete(request)

    async def aclose(self) -> None:  # noqa: B027 - optional: most strategies hold nothing
        """Release connections."""
