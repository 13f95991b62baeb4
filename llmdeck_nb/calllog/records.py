"""One row of the call log: :class:`CallRecord`, one per call *attempt*.

A call (one ``call_id``) can have several attempts: retries on the same model and
failover to the next candidate each add a row with the next ``attempt`` number; a cache
hit is a single row with ``status="cache_hit"``.

Field names follow the OpenTelemetry GenAI conventions where one exists
(``gen_ai.provider.name`` -> ``provider``, ``gen_ai.request.model`` -> ``model_id``,
``gen_ai.usage.input_tokens`` -> ``input_tokens``, ``error.type`` -> ``error_type``,
``server.address`` -> ``endpoint_host``...), flattened to one word each so that they are
readable DataFrame columns.

Every field has a default, so the engine can create a record when the attempt starts
and fill in status, latency, tokens and cost as they become known. Redaction and
truncation happen in the store (:mod:`llmdeck_nb.calllog.store`), so the engine may
assign the full prompt/response text to the preview fields.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

#: Length of ``prompt_preview`` / ``response_preview`` once stored (including the "…").
PREVIEW_CHARS = 200
#: ``error_message`` is capped at this length (error pages can be whole HTML documents).
ERROR_CHARS = 2000
ELLIPSIS = "…"

Status = Literal["ok", "error", "cache_hit"]
#: "deck" may carry qualifiers: "deck+above_272k", "deck+cached_at_input_price"
#: (see :mod:`llmdeck_nb.engine.cost`).
CostSource = str
CacheWhere = Literal["local", "proxy"]


def truncate(text: str | None, limit: int = PREVIEW_CHARS) -> str | None:
    """``text`` cut to at most ``limit`` characters, ending with "…" when it was cut."""
    if text is None or len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    return text[: limit - 1] + ELLIPSIS


def new_call_id() -> str:
    """A fresh call id (32 hex characters)."""
    return uuid.uuid4().hex


def hash_prompt(text: str | bytes) -> str:
    """A short stable hash of a prompt (first 16 hex digits of SHA-256), to group repeats."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(slots=True)
class CallRecord:
    """One attempt of one call. See the module docstring for the conventions."""

    # identity
    call_id: str = field(default_factory=new_call_id)
    attempt: int = 1
    started_at: datetime = field(default_factory=utcnow)
    # what was asked and where it went
    profile: str | None = None
    requested: str | None = None
    preset: str | None = None
    backend: str | None = None
    provider: str | None = None
    model: str | None = None
    model_id: str | None = None
    endpoint_host: str | None = None
    # outcome
    status: Status = "ok"
    error_type: str | None = None
    error_message: str | None = None
    http_status: int | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    # usage and cost
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    cost_source: CostSource = "none"
    cache_hit: bool = False
    cache_where: str | None = None  # "local" (llmdeck's cache) or "proxy" (a LiteLLM proxy's)
    saved_cost_usd: float | None = None
    # request parameters
    stream: bool = False
    temperature: float | None = None
    max_tokens: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    # content (previews are redacted and truncated to PREVIEW_CHARS when stored)
    prompt_hash: str | None = None
    prompt_preview: str | None = None
    response_preview: str | None = None
    tags: tuple[str, ...] = ()
    session_id: str | None = None
    cache_key: str | None = None  # the response-cache entry the answer is stored under (cassettes)
    # provider caching and reasoning (None where the provider says nothing)
    cached_tokens: int | None = None  # input read from the provider's prompt cache
    cache_write_tokens: int | None = None  # input written to it
    reasoning_tokens: int | None = None  # part of output_tokens
    provider_saved_usd: float | None = None  # what provider caching saved on this attempt

    @property
    def ok(self) -> bool:
        return self.status != "error"

    def set_error(self, exc: BaseException) -> None:
        """Mark this attempt failed with ``exc`` (type, message, HTTP status if it has one)."""
        self.status = "error"
        self.error_type = getattr(exc, "error_type", None) or type(exc).__name__
        self.error_message = str(exc)
        status = getattr(exc, "status", None)
        if isinstance(status, int):
            self.http_status = status


#: Column order of :meth:`CallLog.frame` (and of the SELECT that feeds it).
COLUMNS: tuple[str, ...] = (
    "call_id",
    "attempt",
    "started_at",
    "profile",
    "requested",
    "preset",
    "backend",
    "provider",
    "model",
    "model_id",
    "status",
    "latency_s",
    "ttft_s",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "cost_source",
    "cache_hit",
    "saved_cost_usd",
    "error_type",
    "error_message",
    "http_status",
    "endpoint_host",
    "stream",
    "temperature",
    "max_tokens",
    "params",
    "prompt_hash",
    "prompt_preview",
    "response_preview",
    "tags",
    "session_id",
    "cache_key",
    "cache_where",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "provider_saved_usd",
)

assert set(COLUMNS) == set(CallRecord.__dataclass_fields__), "COLUMNS out of sync with CallRecord"
