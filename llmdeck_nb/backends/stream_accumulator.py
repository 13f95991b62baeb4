"""What a streamed answer adds up to, whichever strategy reads the stream.

A strategy turns each chunk of its wire format (SSE lines for the OpenAI-compatible one,
litellm's chunk objects) into the same few facts and hands them to a
:class:`StreamAccumulator`: a text delta, tool-call fragments, a finish reason, usage, the
model id. The accumulator keeps the answer, times the first token and passes every delta
on to ``on_text`` as it arrives. ``on_text`` is the engine's
:class:`~llmdeck_nb.stream_redaction.StreamRedactor` (the redaction boundary for deltas),
so the strategy itself never shows text; an exception ``on_text`` raises is the caller's
own and is remembered as :attr:`StreamAccumulator.callback_error`, so that a strategy
mapping every failure to a BackendError can re-raise it unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from llmdeck_nb.backends.base import BackendResponse, TextCallback
from llmdeck_nb.backends.usage import UsageFields

ToolCall = dict[str, Any]


class StreamAccumulator:
    """The parts of one streamed answer, collected as they arrive."""

    __slots__ = ("_on_text", "_start", "callback_error", "done", "finish_reason", "model_id",
                 "parts", "started", "tool_calls", "ttft", "usage")

    def __init__(self, on_text: TextCallback) -> None:
        self._on_text = on_text
        self._start = time.perf_counter()
        self.parts: list[str] = []
        self.tool_calls: dict[int, ToolCall] = {}
        self.finish_reason: str | None = None
        self.usage: Any = None  # the last usage the stream reported, in its own shape
        self.model_id: str | None = None
        self.ttft: float | None = None
        self.started = False  # the answer began: a transport failure now cuts it off
        self.done = False  # the stream's own end marker arrived (``data: [DONE]``)
        self.callback_error: BaseException | None = None

    def add(self, text: str | None, tool_calls: Iterable[Mapping[str, Any]] | None = None,
            finish_reason: str | None = None, usage: Any = None,
            model_id: str | None = None) -> None:
        """One chunk: its choice-0 delta (text, tool-call fragments, finish reason) and what
        it says besides (usage, kept when present; the model id). One call per chunk."""
        if usage:
            self.usage = usage
        if self.model_id is None:
            self.model_id = model_id
        if tool_calls:
            merge_tool_call_deltas(self.tool_calls, tool_calls)
        if text:
            if self.ttft is None:
                self.ttft = time.perf_counter() - self._start
            self.parts.append(text)
            try:
                self._on_text(text)
            except BaseException as exc:
                self.callback_error = exc
                raise
        if finish_reason:
            self.finish_reason = finish_reason

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def response(self, counts: UsageFields, *, model_id: str, http_status: int | None,
                 provider_cost_usd: float | None = None,
                 proxy_cache_hit: bool = False) -> BackendResponse:
        """The BackendResponse: ``counts`` are the token fields parsed from :attr:`usage`,
        ``model_id`` the request's (used when the stream named none)."""
        return BackendResponse(
            text=self.text,
            **counts,
            model_id=self.model_id or model_id,
            finish_reason=self.finish_reason,
            http_status=http_status,
            provider_cost_usd=provider_cost_usd,
            ttft_s=self.ttft,
            tool_calls=[self.tool_calls[i] for i in sorted(self.tool_calls)] or None,
            proxy_cache_hit=proxy_cache_hit,
        )


def merge_tool_call_deltas(calls: dict[int, ToolCall],
                           deltas: Iterable[Mapping[str, Any]]) -> None:
    """Streamed tool calls arrive in pieces (by ``index``); ``arguments`` is concatenated."""
    for delta in deltas:
        call = calls.setdefault(delta.get("index", 0),
                                {"id": None, "type": "function",
                                 "function": {"name": "", "arguments": ""}})
        call["id"] = delta.get("id") or call["id"]
        function = delta.get("function") or {}
        call["function"]["name"] += function.get("name") or ""
        call["function"]["arguments"] += function.get("arguments") or ""
