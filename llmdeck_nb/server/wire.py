"""OpenAI's wire format, both ways: request bodies in, completion / chunk / error bodies out.

One translation layer: ``llmdeck serve`` and the in-process client of
:mod:`llmdeck_nb.openai_inprocess` both read requests and write answers with these
functions, so the two cannot drift apart. Nothing here imports the server stack.

A request may carry llmdeck's own options in an ``llmdeck`` object (``extra_body`` in
the SDK): ``profile``, ``preset``, ``cache`` (false: skip the cache), ``refresh``, ``tags``
and ``max_cost_usd`` (refuse a call whose worst case costs more). Answers carry an
``llmdeck`` object too (backend, cost, cache hit, attempts).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmdeck_nb.errors import (
    AllAttemptsFailedError,
    BackendError,
    BudgetExceededError,
    BackendTimeoutError,
    CredentialsMissingError,
    DeckError,
    HandleNotFoundError,
    InvalidParameterError,
    LLMDeckError,
    PresetNotFoundError,
    RequestRejectedError,
    UnknownProfileError,
)
from llmdeck_nb.redaction import redact

dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# Generation parameters handed to the backend as they are (deck presets may set them too).
PASSED_PARAMS = frozenset({
    "temperature", "top_p", "max_tokens", "stop", "seed", "presence_penalty",
    "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "tools", "tool_choice",
    "parallel_tool_calls", "reasoning_effort", "verbosity", "prediction", "modalities",
})
# Accepted and not sent on: they do not change the answer.
IGNORED_PARAMS = frozenset({"user", "metadata", "store", "service_tier", "safety_identifier",
                            "prompt_cache_key"})
LLMDECK_OPTIONS = frozenset({"profile", "preset", "cache", "refresh", "tags", "max_cost_usd"})


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class ApiError(Exception):
    """An answer in OpenAI's error format: ``{"error": {message, type, param, code}}``."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.message = redact(message)
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}

    def content(self) -> bytes:
        return dumps(self.body()).encode()


def bad_request(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code="invalid_value" if param else None)


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatRequest:
    """A chat completions request, checked, as Session.acomplete arguments."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    include_usage: bool = False
    schema: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    profile: str | None = None
    preset: str | None = None
    cache: bool = True
    refresh: bool = False
    tags: tuple[str, ...] = ()
    max_cost_usd: float | None = None

    def session_arguments(self, tags: tuple[str, ...] = ()) -> dict[str, Any]:
        return {"prompt": self.messages, "model": self.model, "preset": self.preset,
                "profile": self.profile, "schema": self.schema, "stream": self.stream,
                "cache": self.cache, "refresh": self.refresh, "tags": (*tags, *self.tags),
                "max_cost_usd": self.max_cost_usd, **self.params}


def json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying what is wrong with it."""
    if not body:
        raise bad_request("the request body is empty; send a JSON object")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise bad_request(f"the request body must be a JSON object, not {type(data).__name__}")
    return data


def parse_chat_request(body: bytes) -> ChatRequest:
    data = json_object(body)
    model = data.pop("model", None)
    if not isinstance(model, str) or not model:
        raise bad_request("'model' is required: a deck model, alias or preset (GET /v1/models)",
                          "model")
    messages = _messages(data.pop("messages", None))
    stream = _flag(data.pop("stream", False), "stream")
    stream_options = data.pop("stream_options", None) or {}
    if not isinstance(stream_options, dict):
        raise bad_request("'stream_options' must be an object", "stream_options")
    schema = _schema(data.pop("response_format", None))
    n = data.pop("n", 1)
    if n not in (1, None):
        raise bad_request("only n = 1 is supported (one answer per request)", "n")
    options = data.pop("llmdeck", None) or {}
    if not isinstance(options, dict) or options.keys() - LLMDECK_OPTIONS:
        raise bad_request("'llmdeck' must be an object with some of: "
                          + ", ".join(sorted(LLMDECK_OPTIONS)), "llmdeck")
    if "max_completion_tokens" in data:
        data["max_tokens"] = data.pop("max_completion_tokens")
    params: dict[str, Any] = {}
    for key, value in data.items():
        if key in PASSED_PARAMS:
            if value is not None:  # values are checked by the engine (engine/params.py)
                params[key] = value
        elif key not in IGNORED_PARAMS:
            raise bad_request(f"unrecognized request argument supplied: {key}", key)
    max_cost = options.get("max_cost_usd")
    if max_cost is not None and not (_number(max_cost) and max_cost >= 0):
        raise bad_request("'llmdeck.max_cost_usd' must be a number of dollars",
                          "llmdeck.max_cost_usd")
    tags = options.get("tags") or ()
    if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
        raise bad_request("'llmdeck.tags' must be a list of strings", "llmdeck.tags")
    return ChatRequest(
        model=model, messages=messages, stream=stream,
        include_usage=bool(stream_options.get("include_usage")), schema=schema, params=params,
        profile=options.get("profile"), preset=options.get("preset"),
        cache=_flag(options.get("cache", True), "llmdeck.cache"),
        refresh=_flag(options.get("refresh", False), "llmdeck.refresh"), tags=tuple(tags),
        max_cost_usd=max_cost,
    )


def _flag(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise bad_request(f"'{param}' must be true or false", param)
    return value


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise bad_request("'messages' must be a non-empty list of {role, content} objects",
                          "messages")
    messages = []
    for index, message in enumerate(value):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise bad_request(f"messages[{index}] needs a 'role' among: "
                              + ", ".join(sorted(ROLES)), f"messages[{index}].role")
        if message["role"] == "developer":  # OpenAI's newer name; every backend knows "system"
            message = {**message, "role": "system"}
        messages.append(message)
    return messages


def _schema(value: Any) -> dict[str, Any] | None:
    """``response_format``: text (none), json_object (any object) or json_schema."""
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        schema = (value.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise bad_request("response_format.json_schema.schema must be a JSON schema object",
                              "response_format.json_schema.schema")
        return schema
    raise bad_request("response_format.type must be text, json_object or json_schema",
                      "response_format.type")


# --- answers ---------------------------------------------------------------------------------


def completion_id(call_id: str) -> str:
    return "chatcmpl-" + call_id


def usage_of(result: Any) -> dict[str, int]:
    prompt, completion = result.input_tokens or 0, result.output_tokens or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def extension_of(result: Any) -> dict[str, Any]:
    """What llmdeck adds to an answer: how it was served (the model is the deck's name)."""
    return {"requested": result.requested, "backend": result.backend, "provider": result.provider,
            "model_id": result.model_id, "profile": result.profile, "preset": result.preset,
            "cost_usd": result.cost_usd, "cached": result.cached, "latency_s": result.latency_s,
            "attempts": len(result.attempts), "call_id": result.call_id}


def completion_body(result: Any) -> bytes:
    """A ``chat.completion`` object for a finished Result."""
    message: dict[str, Any] = {"role": "assistant", "content": result.text, "refusal": None}
    if result.tool_calls:
        message["tool_calls"] = result.tool_calls
        message["content"] = result.text or None
    return dumps({
        "id": completion_id(result.call_id), "object": "chat.completion",
        "created": int(time.time()), "model": result.model, "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": finish_reason_of(result)}],
        "usage": usage_of(result), "llmdeck": extension_of(result),
    }).encode()


def finish_reason_of(result: Any) -> str:
    return result.finish_reason or ("tool_calls" if result.tool_calls else "stop")


def sse(payload: Mapping[str, Any] | str) -> bytes:
    """One server-sent event: ``data: <json>`` and a blank line."""
    data = payload if isinstance(payload, str) else dumps(payload)
    return b"data: " + data.encode() + b"\n\n"


DONE = sse("[DONE]")


@dataclass
class ChunkWriter:
    """The ``chat.completion.chunk`` events of one streamed answer."""

    ident: str
    model: str
    created: int = field(default_factory=lambda: int(time.time()))
    started: bool = False

    def chunk(self, choices: list[dict[str, Any]], **more: Any) -> bytes:
        return sse({"id": self.ident, "object": "chat.completion.chunk", "created": self.created,
                    "model": self.model, "system_fingerprint": None, "choices": choices, **more})

    def delta(self, text: str) -> bytes:
        delta = {"content": text} if self.started else {"role": "assistant", "content": text}
        self.started = True
        return self.chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])

    def finish(self, result: Any) -> bytes:
        """The last chunk (tool calls, if any, whole in one delta before it)."""
        self.model = result.model
        calls = b""
        if result.tool_calls:
            delta: dict[str, object] = {
                "tool_calls": [{"index": i, **call} for i, call in enumerate(result.tool_calls)]}
            if not self.started:
                delta["role"], self.started = "assistant", True
            calls = self.chunk([{"index": 0, "delta": delta, "logprobs": None,
                                 "finish_reason": None}])
        choice = {"index": 0, "delta": {} if self.started else {"role": "assistant", "content": ""},
                  "logprobs": None, "finish_reason": finish_reason_of(result)}
        return calls + self.chunk([choice], llmdeck=extension_of(result))

    def usage(self, result: Any) -> bytes:
        return self.chunk([], usage=usage_of(result))


# --- errors ----------------------------------------------------------------------------------

_BACKEND_CLIENT_ERRORS = frozenset({400, 413, 422})


def api_error(exc: BaseException) -> ApiError:
    """The OpenAI-format error a client gets for ``exc``: right status, no traceback."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, AllAttemptsFailedError):
        return _backend_error(exc.last, exc) if isinstance(exc.last, BackendError) else \
            ApiError(502, _text(exc), type="api_error", code="backend_error")
    if isinstance(exc, BackendError):
        return _backend_error(exc, exc)
    if isinstance(exc, (HandleNotFoundError, PresetNotFoundError)):
        param = "model" if isinstance(exc, HandleNotFoundError) else "llmdeck.preset"
        return ApiError(404, _text(exc), param=param, code="model_not_found")
    if isinstance(exc, BudgetExceededError):  # a spending limit: OpenAI's quota error
        return ApiError(429, _text(exc), type="insufficient_quota", code="budget_exceeded",
                        headers={"x-should-retry": "false"})
    if isinstance(exc, UnknownProfileError):
        return ApiError(400, _text(exc), param="llmdeck.profile", code="invalid_value")
    if isinstance(exc, InvalidParameterError):
        return ApiError(400, _text(exc), param=exc.name, code="invalid_value")
    if isinstance(exc, RequestRejectedError):
        return ApiError(400, _text(exc))
    if isinstance(exc, (CredentialsMissingError, DeckError)):
        # the deck cannot serve this model now: the server's configuration, not the request
        return ApiError(503, _text(exc), type="api_error", code="backend_unavailable",
                        headers={"x-should-retry": "false"})
    if isinstance(exc, LLMDeckError):
        return ApiError(400, _text(exc))
    return ApiError(500, f"internal error ({type(exc).__name__}); see the server log",
                    type="api_error", code="internal_error")


def _backend_error(last: BackendError, exc: LLMDeckError) -> ApiError:
    headers = {}
    if isinstance(last, BackendTimeoutError):
        status, code = 504, "backend_timeout"
    elif last.status == 429:
        status, code = 429, "rate_limit_exceeded"
        if last.retry_after is not None:
            headers["retry-after"] = str(max(0, round(last.retry_after)))
    elif last.status in _BACKEND_CLIENT_ERRORS:
        status, code = 400, "backend_rejected_request"
    else:
        status, code = 502, "backend_error"
    kind = {429: "requests", 400: "invalid_request_error"}.get(status, "api_error")
    return ApiError(status, _text(exc), type=kind, code=code, headers=headers)


def _text(exc: LLMDeckError) -> str:
    return str(exc).replace("\n  -> ", " (") + (")" if exc.hint else "")
