"""The deck's config models (pydantic v2, frozen): what the TOML files say, checked.

Costs are USD per 1 million tokens, as in real Pipelex files.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr,
                      field_validator)

from llmdeck_nb.redaction import Secret

_FROZEN = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

PER_MILLION = 1_000_000

# USD per 1M tokens; an int is accepted, a string is not
Price = Annotated[StrictFloat, Field(ge=0)]
PositiveInt = Annotated[StrictInt, Field(gt=0)]
# Token caps Pipelex spec files put in valued_constraints (0.10) or as a per-model key.
TOKEN_LIMIT_KEYS = ("max_output_tokens_limit",)


@functools.lru_cache(maxsize=256)  # every call's log row asks, for the same few endpoints
def host_of(url: str | None) -> str | None:
    """The host of an endpoint URL: what logs and reports show instead of the whole URL."""
    return urlsplit(url).hostname if url else None


class CostTier(BaseModel):
    """Prices once a prompt is longer than ``above_tokens`` (a long-context tier).

    A price it leaves out is the model's base price of the same kind.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    above_tokens: PositiveInt
    input: Price | None = None
    output: Price | None = None
    input_cached: Price | None = None
    input_cache_write: Price | None = None

    @property
    def label(self) -> str:
        """``above_272k`` (what ``cost_source`` names the tier by)."""
        n = self.above_tokens
        return f"above_{n // 1000}k" if n % 1000 == 0 else f"above_{n}"


class Costs(BaseModel):
    """USD per 1M tokens: the deck's ``costs`` table of a model.

    * ``input_cached``: cached input (cache reads); missing: cached tokens are charged
      at ``input`` (what providers without a cache price bill, and litellm's rule);
    * ``input_cache_write``: input written to the provider's cache (Anthropic's 1.25x);
      missing: charged at ``input``;
    * ``tiers``: a list of ``{ above_tokens = N, input = ..., output = ...,
      input_cached = ..., input_cache_write = ... }``: when the prompt (all input
      tokens, cached ones included) is longer than N, every token of the call is
      charged at that tier's prices (the highest tier the prompt passes applies).

    Other keys (Pipelex's ``output_reasoning``...) are kept and not used. Prices are
    computed in :func:`llmdeck_nb.engine.cost.call_cost`.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    input: Price = 0.0
    output: Price = 0.0
    input_cached: Price | None = None
    input_cache_write: Price | None = None
    tiers: tuple[CostTier, ...] = ()

    @field_validator("tiers")
    @classmethod
    def _ascending(cls, tiers: tuple[CostTier, ...]) -> tuple[CostTier, ...]:
        thresholds = [tier.above_tokens for tier in tiers]
        if thresholds != sorted(set(thresholds)):
            raise ValueError("tiers must have distinct above_tokens in ascending order, "
                             f"got {thresholds}")
        return tiers

    def tier_for(self, prompt_tokens: int) -> CostTier | None:
        """The highest tier whose ``above_tokens`` the prompt passes, if any."""
        chosen = None
        for tier in self.tiers:
            if prompt_tokens > tier.above_tokens:
                chosen = tier
        return chosen


class RateLimits(BaseModel):
    """Client-side limits (``rpm``, ``tpm``, ``max_concurrency``) for a backend or one model.

    Mixed into :class:`BackendConfig` and :class:`ModelSpec`; ``None`` means no limit.
    """

    rpm: float | None = Field(default=None, gt=0, description="requests per minute")
    tpm: float | None = Field(default=None, gt=0, description="tokens (in + out) per minute")
    max_concurrency: int | None = Field(default=None, gt=0,
                                        description="requests in flight at once")

    @property
    def rate_limits(self) -> tuple[float | None, float | None, int | None]:
        return self.rpm, self.tpm, self.max_concurrency


class BudgetSettings(BaseModel):
    """The deck's ``[budget]`` table: spending limits in USD."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_usd: float | None = Field(default=None, ge=0)
    daily_usd: float | None = Field(default=None, ge=0)
    allow_unknown_prices: bool = False


class ModelSpec(RateLimits):
    """One model as one backend serves it (a table in ``backends/<backend>.toml``)."""

    model_config = _FROZEN

    name: str
    backend: str
    model_id: StrictStr
    sdk: StrictStr | None = None
    model_type: StrictStr = "llm"
    inputs: tuple[StrictStr, ...] = ("text",)
    outputs: tuple[StrictStr, ...] = ("text",)
    costs: Costs | None = None  # None: the deck gives no price (litellm's table may)
    max_tokens: PositiveInt | None = None
    context_window: PositiveInt | None = None
    max_prompt_images: Annotated[StrictInt, Field(ge=0)] | None = None
    prompting_target: StrictStr | None = None
    constraints: tuple[StrictStr, ...] = ()  # Pipelex's `listed_constraints` land here too
    valued_constraints: dict[str, Any] = Field(default_factory=dict)
    enabled: StrictBool = True
    # Pipelex keys we read but do not act on (thinking_mode, structure_method, rules...).
    pipelex_settings: dict[str, Any] = Field(default_factory=dict)
    # seconds; wins over the backend's
    timeout: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    source: str = ""
    mirrored: bool = False  # served by a `serves_any_model` backend, borrowed from another spec

    @field_validator("inputs", "outputs", "constraints", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @property
    def output_token_limit(self) -> int | None:
        """The most output tokens a request may ask: ``max_tokens`` or a stricter
        ``valued_constraints.max_output_tokens_limit`` / ``claude_4_tokens_limit``."""
        limits = [self.max_tokens, *(self.valued_constraints.get(k) for k in TOKEN_LIMIT_KEYS),
                  self.pipelex_settings.get("claude_4_tokens_limit")]
        numbers = [v for v in limits if isinstance(v, int) and not isinstance(v, bool) and v > 0]
        return min(numbers) if numbers else None

    @property
    def supports_images(self) -> bool:
        return "images" in self.inputs

    @property
    def supports_structured(self) -> bool:
        return "structured" in self.outputs


class BackendConfig(RateLimits):
    """One backend (a table in ``backends.toml``), after ``${VAR}`` substitution."""

    model_config = _FROZEN

    name: str
    display_name: str
    enabled: StrictBool = True
    strategy: str
    provider: str
    endpoints: tuple[str, ...] = ()
    api_key: Secret | None = None
    key_variable: str | None = None  # the environment variable api_key was read from
    # api_version, aws_region... (secrets wrapped)
    extra: dict[str, Any] = Field(default_factory=dict)
    missing: tuple[str, ...] = ()  # variables that were not set
    misconfigured: str | None = None  # why its table cannot be used (a wrong value, no strategy)
    not_callable: str | None = None  # e.g. "Pipelex-internal": llmdeck has no way to call it
    remote_catalogue: bool = False  # its model list lives on the provider's servers, not in files
    serves_any_model: bool = False
    timeout: float | None = Field(default=None, gt=0, allow_inf_nan=False)  # seconds, per attempt
    source: str = ""

    @property
    def available(self) -> bool:
        return (self.enabled and not self.missing and not self.misconfigured
                and not self.not_callable)

    @property
    def unavailable_reason(self) -> str | None:
        """Why it cannot be called, worded to follow "backend 'x' is ..."."""
        if not self.enabled:
            return "disabled (enabled = false)"
        if self.not_callable:
            return f"not callable from llmdeck ({self.not_callable})"
        if self.missing:
            return "missing " + ", ".join(self.missing)
        return self.misconfigured

    @property
    def endpoint(self) -> str | None:
        return self.endpoints[0] if self.endpoints else None

    @property
    def endpoint_host(self) -> str | None:
        return host_of(self.endpoint)

    def __repr_args__(self) -> list[tuple[str, object]]:  # keep reprs short: no extra values
        return [("name", self.name), ("strategy", self.strategy), ("available", self.available)]


MaxTokens = int | Literal["auto"]


class Preset(BaseModel):
    """A named choice: which model (or alias) plus generation parameters."""

    model_config = _FROZEN

    name: str
    model: StrictStr
    temperature: Annotated[StrictFloat, Field(ge=0, le=2)] | None = None
    max_tokens: MaxTokens | None = None
    description: StrictStr = ""
    prompting_target: StrictStr | None = None
    params: dict[str, Any] = Field(default_factory=dict)  # top_p, reasoning_effort, stop, seed...
    source: str = ""

    @field_validator("max_tokens", mode="before")
    @classmethod
    def _positive(cls, value: Any) -> Any:
        if value is None or value == "auto" or (type(value) is int and value > 0):
            return value
        raise ValueError(f"expected a positive integer or \"auto\", got {value!r}")

    def generation_params(self) -> dict[str, Any]:
        """Parameters to send; ``max_tokens = "auto"`` means let the provider decide."""
        params = dict(self.params)
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if isinstance(self.max_tokens, int):
            params["max_tokens"] = self.max_tokens
        return params


class Route(BaseModel):
    model_config = _FROZEN

    pattern: str
    backend: str
    optional: bool = False


class RoutingProfile(BaseModel):
    """Which backend serves which model name."""

    model_config = _FROZEN

    name: str
    description: str = ""
    default: str | None = None
    routes: tuple[Route, ...] = ()
    fallback_order: tuple[str, ...] = ()
    source: str = ""
