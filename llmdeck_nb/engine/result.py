"""What a call returns: the answer and everything about how it was obtained."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class History:
    """What history went with one call: shown in the footer."""

    conversation: str
    turns: int
    tokens: int
    dropped: int = 0

    def describe(self) -> str:
        if not self.turns:
            return f"new conversation '{self.conversation}'"
        turns = "1 turn" if self.turns == 1 else f"{self.turns} turns"
        return f"history {turns}, ~{self.tokens:,} tokens ('{self.conversation}')"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try on one candidate (the log has the full row)."""

    number: int
    model: str
    backend: str
    status: str  # ok | error | cache_hit
    error_type: str | None = None
    error: str | None = None
    latency_s: float | None = None


@dataclass(slots=True)
class Result:
    text: str
    model: str
    backend: str
    provider: str
    model_id: str
    profile: str
    requested: str
    call_id: str
    preset: str | None = None
    value: Any = None  # the parsed object when a schema was given, else the text
    latency_s: float | None = None
    ttft_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None  # input read from the provider's prompt cache
    cache_write_tokens: int | None = None  # input written to it
    reasoning_tokens: int | None = None  # part of output_tokens
    cost_usd: float | None = None
    cost_source: str = "none"
    cached: bool = False
    cache_where: str | None = None  # "local" (llmdeck's cache) or "proxy" (a LiteLLM proxy's)
    saved_cost_usd: float | None = None  # llmdeck's cache: what this call cost when first made
    provider_saved_usd: float | None = None  # provider caching: cached tokens x price difference
    finish_reason: str | None = None
    adjustments: tuple[str, ...] = ()
    attempts: list[Attempt] = field(default_factory=list)
    history: History | None = None  # what conversation history went with the call (chat)
    tool_calls: list[dict[str, Any]] | None = None  # when the request passed `tools`

    @property
    def demo(self) -> bool:
        return self.provider == "demo"

    def footer(self) -> str:
        """One line: model, backend, latency, tokens, cost, and whether it came from the cache."""
        parts = [self.model, f"via {self.backend}"]
        if self.latency_s is not None:
            parts.append(f"{self.latency_s:.2f} s")
        if self.input_tokens is not None or self.output_tokens is not None:
            parts.append(self.tokens_text())
        parts.append(format_cost(self.cost_usd))
        if self.cached:
            saved = f", saved {format_cost(self.saved_cost_usd)}" if self.saved_cost_usd else ""
            where = "the proxy's cache" if self.cache_where == "proxy" else "cache"
            parts.append(f"from {where}{saved}")
        if len(self.attempts) > 1:
            parts.append(f"{len(self.attempts)} attempts")
        if self.history is not None:
            parts.append(self.history.describe())
        if self.demo:
            parts.append("DEMO (no API key used)")
        return " · ".join(parts)

    def tokens_text(self) -> str:
        """``2,048 (1,024 cached) -> 300 (120 reasoning) tokens``: input (cached) -> output
        (reasoning); the parentheses only when the provider reported such tokens."""
        cache = [f"{n:,} {label}" for n, label in ((self.cached_tokens, "cached"),
                                                    (self.cache_write_tokens, "cache write")) if n]
        cached = f" ({', '.join(cache)})" if cache else ""
        reasoning = f" ({self.reasoning_tokens:,} reasoning)" if self.reasoning_tokens else ""
        return (f"{self.input_tokens or 0:,}{cached} -> {self.output_tokens or 0:,}{reasoning} "
                "tokens")

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        preview = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return f"Result({preview!r}, {self.footer()})"

    def _repr_markdown_(self) -> str:
        return f"{self.text}\n\n<sub>{html.escape(self.footer())}</sub>"


def format_cost(cost: float | None) -> str:
    if cost is None:
        return "cost unknown"
    if cost == 0:
        return "$0"
    return f"${cost:.6f}" if cost < 0.01 else f"${cost:.4f}"
