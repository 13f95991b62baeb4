"""OpenAI-compatible chat over httpx, no litellm: openai, cerebras, groq, xai, openrouter,
lmstudio, ollama's /v1, vLLM, a LiteLLM proxy, any self-hosted server.

``POST {endpoint}/chat/completions`` with ``Authorization: Bearer <key>`` when a key is set;
streaming reads the SSE answer (``stream_options.include_usage`` for token counts).

Connections: pooled ``httpx.AsyncClient`` s per event loop, reused by every call (a
client's pool is per origin, so every endpoint shares them). A call takes the first client
with fewer than :data:`CALLS_PER_CLIENT` calls in flight, so sequential calls share one
keep-alive connection, while concurrent ones each get a pool of their own: httpcore's pool
rescans every connection for every queued request (encode/httpx#3215), which made one
shared client 2-3x slower at concurrency 32, and 4 calls per client still 0.75x of raw
httpx with 8 clients (benchmarks/run_all.py); one call per client is 0.9-1.0x. This path
is benchmarked against a bare httpx POST (benchmarks/bench_backend_call.py).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import ssl
import threading
import time
from typing import Any

import httpx

from llmdeck_nb.backends.base import (
    BLOCKING_IO,
    BackendRequest,
    BackendResponse,
    BackendStrategy,
    TextCallback,
    content_text,
)
from llmdeck_nb.backends.catalog import PROVIDER_CATALOG
from llmdeck_nb.backends.errors import (
    error_from_status,
    error_from_transport,
    provider_message,
    response_error,
)
from llmdeck_nb.backends.usage import openai_usage
from llmdeck_nb.errors import BackendError

# Keys the strategy sets itself; a deck parameter of the same name is ignored.
_RESERVED = frozenset({"model", "messages", "stream", "stream_options", "response_format"})
_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30.0)
CALLS_PER_CLIENT = 1  # concurrent calls per httpx client before another client is used
_SCHEMA_NAME = re.compile(r"[^a-zA-Z0-9_-]+")
# A LiteLLM proxy sends this header only on answers served from its own cache.
PROXY_CACHE_HEADER = "x-litellm-cache-key"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_loads = json.loads


def response_format_for(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAI ``response_format`` asking for JSON that follows ``schema``."""
    name = _SCHEMA_NAME.sub("_", str(schema.get("title") or "answer"))[:64] or "answer"
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One CA bundle load (about 80 ms) shared by every client, not one per client."""
    return httpx.create_ssl_context()


class _LoopPool:
    """The clients of one event loop and how many calls each has in flight."""

    __slots__ = ("clients", "in_flight", "limits")

    def __init__(self, limits: httpx.Limits) -> None:
        self.limits = limits
        self.clients: list[httpx.AsyncClient] = []
        self.in_flight: list[int] = []

    def acquire(self) -> tuple[int, httpx.AsyncClient]:
        """The first client with room (a new one if none); the caller decrements its slot."""
        in_flight = self.in_flight
        for slot, busy in enumerate(in_flight):
            if busy < CALLS_PER_CLIENT:
                in_flight[slot] = busy + 1
                return slot, self.clients[slot]
        self.clients.append(httpx.AsyncClient(limits=self.limits, timeout=60.0,
                                              verify=_ssl_context()))
        in_flight.append(1)
        return len(in_flight) - 1, self.clients[-1]


class OpenAICompatibleStrategy(BackendStrategy):
    kind = "openai_compatible"

    def __init__(self, *, limits: httpx.Limits = _LIMITS) -> None:
        self._limits = limits
        self._pools: dict[asyncio.AbstractEventLoop, _LoopPool] = {}
        self._last: tuple[asyncio.AbstractEventLoop, _LoopPool] | None = None
        self._blocking: httpx.Client | None = None
        self._lock = threading.Lock()

    # --- connection pools ----------------------------------------------------------------

    def _pool(self) -> _LoopPool:
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0] is loop:
            return last[1]
        pool = self._pools.get(loop)
        if pool is None:
            # pools of loops that have since closed cannot be awaited any more: drop them
            for old in [lp for lp in self._pools if lp.is_closed()]:
                del self._pools[old]
            pool = self._pools[loop] = _LoopPool(self._limits)
        self._last = (loop, pool)
        return pool

    def _blocking_client(self) -> httpx.Client:
        """The one ``httpx.Client`` of blocking calls (thread-safe; one pool per origin)."""
        client = self._blocking
        if client is None:
            with self._lock:
                if self._blocking is None:
                    self._blocking = httpx.Client(limits=self._limits, timeout=60.0,
                                                  verify=_ssl_context())
                client = self._blocking
        return client

    async def aclose(self) -> None:
        """Close this event loop's clients (others are dropped when their loop closes)."""
        loop = asyncio.get_running_loop()
        pool = self._pools.pop(loop, None)
        if self._last is not None and self._last[0] is loop:
            self._last = None
        if pool is not None:
            for client in pool.clients:
                await client.aclose()
        blocking, self._blocking = self._blocking, None
        if blocking is not None:
            blocking.close()

    # --- request -------------------------------------------------------------------------

    @staticmethod
    def _endpoint(request: BackendRequest) -> str:
        endpoint = request.endpoint
        if not endpoint:
            defaults = (PROVIDER_CATALOG.get(request.backend)
                        or PROVIDER_CATALOG.get(request.provider))
            endpoint = defaults.endpoint if defaults is not None else None
        if not endpoint:
            raise BackendError(
                f"backend '{request.backend}' has no endpoint",
                backend=request.backend,
                hint="set `endpoint = \"http://host:port/v1\"` for it in backends.toml",
            )
        return endpoint.rstrip("/")

    @staticmethod
    def _headers(request: BackendRequest) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if request.api_key is not None:
            headers["Authorization"] = "Bearer " + request.api_key.get()
        extra = request.extra.get("headers") if request.extra else None
        if extra:
            headers.update(extra)
        return headers

    @staticmethod
    def _body(request: BackendRequest, stream: bool) -> bytes:
        body: dict[str, Any] = {"model": request.model_id, "messages": request.messages}
        for key, value in request.params.items():
            if value is not None and key not in _RESERVED:
                body[key] = value
        if request.schema is not None:
            body["response_format"] = response_format_for(request.schema)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return _dumps(body).encode()

    def _status_error(self, request: BackendRequest, response: httpx.Response) -> BackendError:
        return error_from_status(response.status_code, backend=request.backend,
                                 headers=response.headers, body=response.content,
                                 model_id=request.model_id)

    # --- calls ---------------------------------------------------------------------------

    async def complete(self, request: BackendRequest) -> BackendResponse:
        if BLOCKING_IO.get():
            return self._complete_blocking(request)
        endpoint = self._endpoint(request)
        pool = self._pool()
        slot, client = pool.acquire()
        answer_started = False
        try:
            response = await client.send(self._post(client, request, endpoint, False), stream=True)
            answer_started = True  # the status line arrived: a failure now is a cut answer
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        except httpx.HTTPError as exc:
            raise self._transport_error(request, endpoint, exc, answer_started) from None
        finally:
            pool.in_flight[slot] -= 1
        return self._answer(request, response)

    def _complete_blocking(self, request: BackendRequest) -> BackendResponse:
        """:meth:`complete` with blocking I/O on the calling thread (same request, same parsing)."""
        endpoint = self._endpoint(request)
        client = self._blocking_client()
        answer_started = False
        try:
            response = client.send(self._post(client, request, endpoint, False), stream=True)
            answer_started = True
            try:
                response.read()
            except BaseException:
                response.close()
                raise
        except httpx.HTTPError as exc:
            raise self._transport_error(request, endpoint, exc, answer_started) from None
        return self._answer(request, response)

    def _post(self, client: httpx.Client | httpx.AsyncClient, request: BackendRequest, endpoint: str,
              stream: bool) -> httpx.Request:
        return client.build_request("POST", endpoint + "/chat/completions",
                                    content=self._body(request, stream),
                                    headers=self._headers(request), timeout=request.timeout)

    @staticmethod
    def _transport_error(request: BackendRequest, endpoint: str, exc: httpx.HTTPError,
                         answer_started: bool) -> BackendError:
        return error_from_transport(exc, backend=request.backend, endpoint=endpoint,
                                    timeout=request.timeout, answer_started=answer_started)

    def _answer(self, request: BackendRequest, response: httpx.Response) -> BackendResponse:
        """A whole (non-streamed) answer, read: the response or the error it carries."""
        if response.status_code >= 400:
            raise self._status_error(request, response)
        try:
            data = _loads(response.content)
            choice = data["choices"][0]
            message = choice.get("message") or {}
            text = content_text(message.get("content")) or message.get("refusal") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise response_error(request.backend, _malformed(exc, response.content)) from None
        return BackendResponse(
            text=text,
            **openai_usage(data.get("usage")),
            model_id=data.get("model") or request.model_id,
            finish_reason=choice.get("finish_reason"),
            http_status=response.status_code,
            tool_calls=message.get("tool_calls") or None,
            proxy_cache_hit=PROXY_CACHE_HEADER in response.headers,
        )

    async def stream(self, request: BackendRequest, on_text: TextCallback) -> BackendResponse:
        # never blocking: the call's time budget must be able to stop a trickling stream
        endpoint = self._endpoint(request)
        answer = _StreamedAnswer(request, on_text)
        pool = self._pool()
        slot, client = pool.acquire()
        try:
            response = await client.send(self._post(client, request, endpoint, True), stream=True)
            try:
                answer.status = response.status_code
                if answer.status >= 400:
                    await response.aread()
                    raise self._status_error(request, response)
                answer.started = True
                answer.proxy_hit = PROXY_CACHE_HEADER in response.headers
                async for line in response.aiter_lines():
                    if answer.feed(line):
                        break
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            raise self._transport_error(request, endpoint, exc, answer.started) from None
        finally:
            pool.in_flight[slot] -= 1
        return answer.response()

    async def probe(self, request: BackendRequest) -> None:
        """``GET {endpoint}/models``; servers without that route get a 1-token completion."""
        endpoint = self._endpoint(request)
        pool = self._pool()
        slot, client = pool.acquire()
        try:
            response = await client.get(endpoint + "/models", headers=self._headers(request),
                                        timeout=request.timeout)
        except httpx.HTTPError as exc:
            raise error_from_transport(exc, backend=request.backend, endpoint=endpoint,
                                       timeout=request.timeout) from None
        finally:
            pool.in_flight[slot] -= 1
        if response.status_code in (404, 405):
            await self.complete(request)
        elif response.status_code >= 400:
            raise self._status_error(request, response)


class _StreamedAnswer:
    """The answer of a streamed call, built from its SSE lines (blocking or not)."""

    def __init__(self, request: BackendRequest, on_text: TextCallback) -> None:
        self.request = request
        self.on_text = on_text
        self.parts: list[str] = []
        self.usage: dict[str, Any] = {}
        self.finish_reason: str | None = None
        self.model_id: str | None = None
        self.ttft: float | None = None
        self.status: int | None = None
        self.started = False  # a 2xx status line arrived: a failure now is a cut answer
        self.proxy_hit = False
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.done = False
        self.start = time.perf_counter()

    def feed(self, line: str) -> bool:
        """Take one line of the stream; True at ``data: [DONE]``."""
        if not line.startswith("data:"):
            return False  # blank separators, "event:" lines, ": keep-alive" comments
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return True
        try:
            chunk = _loads(data)
            choices = chunk.get("choices") or ()
        except (ValueError, AttributeError) as exc:
            raise response_error(self.request.backend, _malformed(exc, data)) from None
        if "error" in chunk:
            raise _stream_error(self.request, chunk)
        for choice in choices:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("tool_calls"):
                merge_tool_call_deltas(self.tool_calls, delta["tool_calls"])
            piece = delta.get("content")
            if piece:
                if self.ttft is None:
                    self.ttft = time.perf_counter() - self.start
                self.parts.append(piece)
                self.on_text(piece)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        self.model_id = self.model_id or chunk.get("model")
        return False

    def response(self) -> BackendResponse:
        if not self.done and self.finish_reason is None:
            raise response_error(
                self.request.backend,
                f"the stream ended before the answer was complete ({len(self.parts)} chunks received)")
        return BackendResponse(
            text="".join(self.parts),
            **openai_usage(self.usage),
            model_id=self.model_id or self.request.model_id,
            finish_reason=self.finish_reason,
            http_status=self.status,
            ttft_s=self.ttft,
            tool_calls=[self.tool_calls[i] for i in sorted(self.tool_calls)] or None,
            proxy_cache_hit=self.proxy_hit,
        )


def _malformed(exc: Exception, raw: bytes | str) -> str:
    if isinstance(raw, bytes):
        raw = raw[:120].decode("utf-8", "replace")
    return f"not an OpenAI chat answer ({type(exc).__name__}): {raw[:120]!r}"


def _stream_error(request: BackendRequest, chunk: dict[str, Any]) -> BackendError:
    """An ``{"error": ...}`` event inside a 200 stream (vLLM, proxies, OpenRouter)."""
    error = chunk.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    status = code if isinstance(code, int) and 400 <= code < 600 else None
    if status is None and isinstance(code, str) and code.isdigit():
        status = int(code)
    body = json.dumps(chunk)
    if status is not None:
        return error_from_status(status, backend=request.backend, body=body,
                                 model_id=request.model_id)
    return response_error(request.backend, "error inside the stream: " + provider_message(body))


def merge_tool_call_deltas(calls: dict[int, dict[str, Any]], deltas: list[dict[str, Any]]) -> None:
    """Streamed tool calls arrive in pieces (by ``index``); ``arguments`` is concatenated."""
    for delta in deltas:
        call = calls.setdefault(delta.get("index", 0),
                                {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
        call["id"] = delta.get("id") or call["id"]
        function = delta.get("function") or {}
        call["function"]["name"] += function.get("name") or ""
        call["function"]["arguments"] += function.get("arguments") or ""
