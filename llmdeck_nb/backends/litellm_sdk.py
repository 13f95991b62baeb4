"""Providers with their own wire protocols (anthropic, azure, gemini, vertex_ai, bedrock,
mistral...) through the litellm SDK, imported on first use only (about 3 s, 170 MB).

One ``litellm.acompletion`` per attempt with ``max_retries=0`` and an explicit timeout:
retries, caching and failover stay in the engine (litellm's own cache and ``num_retries``
are never used). Failures are mapped by the exception's ``status_code`` (not its class),
refined by its cause chain for timeouts, refused connections and malformed or cut answers.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Mapping
from typing import Any

from llmdeck_nb.backends.base import BackendRequest, BackendResponse, BackendStrategy, TextCallback
from llmdeck_nb.backends.errors import (
    connection_error,
    error_from_status,
    provider_message,
    response_error,
    shorten,
    timeout_error,
    unexpected_error,
)
from llmdeck_nb.backends.prompt_cache import mark_cacheable, needs_cache_marks
from llmdeck_nb.backends.response_format import response_format_for
from llmdeck_nb.backends.stream_accumulator import StreamAccumulator
from llmdeck_nb.backends.usage import litellm_usage
from llmdeck_nb.errors import BackendConnectionError, BackendError
from llmdeck_nb.redaction import redact_logger, revealed

# request.extra key -> litellm keyword, per provider prefix.
_EXTRA_ARGS: dict[str, dict[str, str]] = {
    "azure": {"api_version": "api_version", "azure_ad_token": "azure_ad_token"},
    "vertex_ai": {
        "vertex_project": "vertex_project", "project": "vertex_project",
        "vertex_location": "vertex_location", "location": "vertex_location",
        "vertex_credentials": "vertex_credentials", "credentials": "vertex_credentials",
    },
    "bedrock": {
        "aws_region_name": "aws_region_name", "aws_region": "aws_region_name",
        "region": "aws_region_name",
        "aws_access_key_id": "aws_access_key_id",
        "aws_secret_access_key": "aws_secret_access_key",
        "aws_session_token": "aws_session_token",
    },
}
# Keywords the strategy owns; deck parameters of the same name are ignored.
_RESERVED = frozenset({
    "model", "messages", "stream", "stream_options", "api_base", "api_key", "timeout",
    "max_retries", "num_retries", "caching", "cache", "response_format", "mock_response",
})
# Cause-chain class names (aiohttp/httpx/openai) that tell what really happened.
_CONNECT_FAILED = {"ConnectError", "ClientConnectorError", "ConnectionRefusedError",
                   "gaierror", "ClientConnectorDNSError"}
_DROPPED = {"ServerDisconnectedError", "ConnectionResetError", "BrokenPipeError"}
_CUT = {"ClientPayloadError", "ContentLengthError", "TransferEncodingError",
        "RemoteProtocolError", "IncompleteRead"}
_CLIENT_TIMEOUT = {"ReadTimeout", "ConnectTimeout", "WriteTimeout", "PoolTimeout", "TimeoutError",
                   "SocketTimeoutError", "ServerTimeoutError", "APITimeoutError"}
# Statuses litellm reports only when the provider answered them: mapped by status before the
# cause chain is read (litellm raises 422 and 500 itself, e.g. for an unparsable answer, so
# those are mapped by the chain first). Whether a status is retried is error_from_status's call.
_PROVIDER_REFUSALS = frozenset({400, 401, 403, 404, 405, 413})

# pydantic's "Item 'x' on TypedDict class ..." and, for several at once (pydantic 2.12+),
# "Items 'x', 'y' on TypedDict class ... are using the `ReadOnly` qualifier".
TYPEDDICT_WARNING = r"Items? '.*' on TypedDict class"

_import_lock = threading.Lock()
_litellm: Any = None


def load_litellm() -> Any:
    """Import litellm once, offline-safe and quiet (see docs/architecture.md, import weight)."""
    global _litellm
    if _litellm is None:
        with _import_lock:
            if _litellm is None:
                # otherwise the import downloads a price file (hangs on a silent network),
                # and the first anthropic/ structured-output call fetches a beta-header
                # table with a blocking 5 s httpx.get inside the event loop
                os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
                os.environ.setdefault("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")
                import litellm

                litellm.suppress_debug_info = True
                for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):  # DEBUG prints kwargs
                    redact_logger(name)
                # pydantic warns once per litellm TypedDict on the first anthropic stream;
                # in a notebook that is a red box the user can do nothing about
                warnings.filterwarnings("ignore", message=TYPEDDICT_WARNING, category=UserWarning)
                if hasattr(litellm, "disable_hf_tokenizer_download"):
                    litellm.disable_hf_tokenizer_download = True  # else ~23 s offline stalls
                _litellm = litellm
    return _litellm


class LiteLLMStrategy(BackendStrategy):
    kind = "litellm"

    # --- request -------------------------------------------------------------------------

    @staticmethod
    def model_name(request: BackendRequest) -> str:
        prefix = request.provider + "/"
        model_id = request.model_id
        return model_id if model_id.startswith(prefix) else prefix + model_id

    def _kwargs(self, request: BackendRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model_name(request),
            "messages": (mark_cacheable(request.messages)
                         if request.prompt_cache and needs_cache_marks(request)
                         else request.messages),
            "timeout": request.timeout,  # litellm's default is 6000 s
            "max_retries": 0,  # the OpenAI SDK under openai/ and azure/ retries twice otherwise
        }
        if request.endpoint:
            kwargs["api_base"] = request.endpoint
        if request.api_key is not None:
            kwargs["api_key"] = request.api_key.get()
        for key, value in request.params.items():
            if value is not None and key not in _RESERVED:
                kwargs[key] = value
        if request.schema is not None:
            kwargs["response_format"] = response_format_for(request.schema)
        headers = request.extra.get("headers") if request.extra else None
        if headers:  # the backend's own `headers` table, as on the httpx path
            kwargs["extra_headers"] = {str(name): revealed(value)
                                       for name, value in headers.items()}
        mapping = _EXTRA_ARGS.get(request.provider)
        if mapping and request.extra:
            for key, value in request.extra.items():
                target = mapping.get(key)
                if target is not None and value is not None:
                    kwargs[target] = revealed(value)
        return kwargs

    # --- calls ---------------------------------------------------------------------------

    async def complete(self, request: BackendRequest) -> BackendResponse:
        litellm = load_litellm()
        try:
            response = await litellm.acompletion(**self._kwargs(request))
            choice = response.choices[0]
            text = choice.message.content or ""
        except Exception as exc:  # noqa: BLE001 - every litellm failure becomes a BackendError
            error = map_litellm_error(exc, request)
        else:
            usage = getattr(response, "usage", None)
            hidden = getattr(response, "_hidden_params", None) or {}
            return BackendResponse(
                text=text if isinstance(text, str) else str(text),
                **litellm_usage(usage),
                model_id=getattr(response, "model", None) or request.model_id,
                finish_reason=choice.finish_reason,
                http_status=200,
                provider_cost_usd=_cost(hidden.get("response_cost")),
                tool_calls=[_tool_call(call) for call in choice.message.tool_calls or ()] or None,
            )
        raise error  # outside the except block: the litellm exception is not chained

    async def stream(self, request: BackendRequest, on_text: TextCallback) -> BackendResponse:
        litellm = load_litellm()
        kwargs = self._kwargs(request)
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
        answer = StreamAccumulator(on_text)
        try:
            response = await litellm.acompletion(**kwargs)
            answer.started = True  # a transport failure from now on cuts the answer off
            async for chunk in response:
                _add_chunk(answer, chunk)
        except Exception as exc:  # every litellm failure becomes a BackendError
            if exc is answer.callback_error:
                raise  # the caller's own on_text failed: unchanged
            error = map_litellm_error(exc, request, mid_stream=answer.started)
        else:
            counts = litellm_usage(answer.usage)
            if not answer.parts and not counts.get("output_tokens") \
                    and answer.finish_reason in (None, "stop"):
                # litellm's anthropic/ and gemini/ stream readers end a stream quietly, with
                # finish_reason "stop", when an event does not parse: not a real answer
                raise response_error(request.backend, "the stream ended without any text")
            return answer.response(
                counts, model_id=request.model_id, http_status=200,
                provider_cost_usd=_stream_cost(litellm, kwargs["model"], answer.usage))
        raise error  # outside the except block: the litellm exception is not chained


def _add_chunk(answer: StreamAccumulator, chunk: Any) -> None:
    """One litellm stream chunk (OpenAI-shaped objects) into the answer."""
    choices = chunk.choices
    choice = choices[0] if choices else None
    delta = choice.delta if choice is not None else None
    calls = getattr(delta, "tool_calls", None)
    answer.add(delta.content if delta is not None else None,
               [_tool_call(call, delta=True) for call in calls] if calls else None,
               choice.finish_reason if choice is not None else None,
               getattr(chunk, "usage", None), getattr(chunk, "model", None))


def _tool_call(call: Any, *, delta: bool = False) -> dict[str, Any]:
    """A litellm tool call (or a streamed piece of one, by ``index``) in the OpenAI shape
    the openai_compatible path returns: plain dicts, as the cache and the log store them."""
    function = getattr(call, "function", None)
    shaped: dict[str, Any] = {
        "id": getattr(call, "id", None), "type": getattr(call, "type", None) or "function",
        "function": {"name": getattr(function, "name", None),
                     "arguments": getattr(function, "arguments", None)},
    }
    if delta:
        shaped["index"] = getattr(call, "index", 0) or 0
    return shaped


def _cost(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _stream_cost(litellm: Any, model: str, usage: Any) -> float | None:
    """litellm's price for a streamed answer (streams carry no ``response_cost``); the
    whole usage object, so cached and cache-write tokens are priced as litellm prices them."""
    if None in (getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None)):
        return None
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(model=model, usage_object=usage)
    except Exception:  # noqa: BLE001 - unknown model: no litellm price
        return None
    return _cost(prompt_cost + completion_cost)


# --- error mapping -----------------------------------------------------------------------


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps: causes, contexts and litellm's
    ``original_exception`` (newer litellm wraps stream failures in a
    ``MidStreamFallbackError`` whose ``__context__`` is only a ``StopAsyncIteration``)."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending and len(seen) < 12:
        current = pending.pop(0)
        if any(current is e for e in seen):
            continue
        seen.append(current)
        for link in (current.__cause__, current.__context__,
                     getattr(current, "original_exception", None)):
            if isinstance(link, BaseException):
                pending.append(link)
    return seen


def _status_of(exc: BaseException) -> int | None:
    """The provider's HTTP status: ``provider_status_code`` where litellm keeps it apart
    from the status it maps to (anthropic/ reports Anthropic's 529 "overloaded" as 500)."""
    for name in ("provider_status_code", "status_code"):
        status = getattr(exc, name, None)
        try:
            if status is not None:
                return int(status)
        except (TypeError, ValueError):
            continue
    return None


def _headers_of(exc: BaseException) -> Mapping[str, str] | None:
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        return {str(k).lower(): str(v) for k, v in dict(headers).items()}
    except (TypeError, ValueError):
        return None


def _detail(exc: BaseException) -> str:
    """The provider's message out of litellm's wrapped text, without tracebacks."""
    text = str(getattr(exc, "message", None) or exc)
    text = text.split("Traceback (most recent call last)")[0]
    if "{" in text:
        return provider_message(text)
    for marker in ("Exception - ", "Error - "):
        if marker in text:
            text = text.split(marker, 1)[1]
            break
    return shorten(text)


def map_litellm_error(exc: BaseException, request: BackendRequest, *,
                      mid_stream: bool = False) -> BackendError:
    """Any litellm exception -> the BackendError the engine retries (or not) on.

    ``mid_stream``: the failure came while an answer was being read. A transport failure
    there (litellm 1.94+ reports a cut or unparsable stream as a ``MidStreamFallbackError``
    around an ``APIConnectionError``, status 500; older releases ended it as a complete
    answer, hence the floor in pyproject.toml) is a cut answer, not a provider error.
    """
    error = _mapped(exc, request)
    if mid_stream and isinstance(error, BackendConnectionError):
        return response_error(request.backend, "the answer was cut off: " + _detail(exc), "cut")
    return error


def _mapped(exc: BaseException, request: BackendRequest) -> BackendError:
    if isinstance(exc, BackendError):
        return exc
    backend = request.backend
    status = _status_of(exc)
    chain = _chain(exc)
    names = {type(e).__name__ for e in chain}
    if status in _PROVIDER_REFUSALS:
        return _status_error(exc, status, request)
    if names & _CONNECT_FAILED:
        return connection_error(backend, request.endpoint, _detail(exc))
    if names & _CLIENT_TIMEOUT:  # a server's own 408 has none of these: mapped by status
        return timeout_error(backend, request.timeout)
    if any(isinstance(e, json.JSONDecodeError) for e in chain):
        return response_error(backend, "malformed JSON: " + _detail(exc))
    if names & _CUT:
        return response_error(backend, "the answer was cut off: " + _detail(exc), "cut")
    if names & _DROPPED:
        return connection_error(backend, request.endpoint, _detail(exc))
    if "APIConnectionError" in names and "HTTPStatusError" not in names:
        # openai/ and azure/ report transport failures as "500 Connection error."
        return connection_error(backend, request.endpoint, _detail(exc))
    if status is not None and status >= 400:
        return _status_error(exc, status, request)
    return unexpected_error(backend, f"{request.provider}/{request.model_id}", exc, _detail(exc),
                            status)


def _status_error(exc: BaseException, status: int, request: BackendRequest) -> BackendError:
    return error_from_status(status, backend=request.backend, headers=_headers_of(exc),
                             body=_detail(exc), model_id=request.model_id,
                             key_variable=request.key_variable)
