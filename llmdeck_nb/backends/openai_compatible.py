"""OpenAI-compatible chat over httpx, no litellm: openai, cerebras, groq, xai, openrouter,
lmstudio, ollama's /v1, vLLM, a LiteLLM proxy, any self-hosted server.

``POST {endpoint}/chat/completions`` with ``Authorization: Bearer <key>`` when a key is set;
streaming reads the SSE answer (``stream_options.include_usage`` for token counts).

Connections: pooled ``httpx.AsyncClient`` s per event loop, reused by every call (a
client's pool is per origin, so every endpoint shares them). A call takes the client last
given back with no call in flight (one taken from a stack, however many there are), so
sequential calls share one keep-alive connection, while concurrent ones each get a pool of
their own: httpcore's pool rescans every connection for every queued request
(encode/httpx#3215), which made one shared client 2-3x slower at concurrency 32, and 4
calls per client still 0.75x of raw httpx with 8 clients (benchmarks/run_all.py); one call
per client is 0.9-1.0x. This path is benchmarked against a bare httpx POST
(benchmarks/bench_backend_call.py).

A request goes straight to the transport the client picked for its URL (:func:`_send`):
``client.send`` would add auth and redirect handling, cookies, event hooks and a log line
that these calls do not use, about a fifth of a loopback call. The client still owns the
connection pools, TLS settings and the proxies taken from the environment.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
    no_endpoint_error,
    provider_message,
    response_error,
)
from llmdeck_nb.backends.response_format import response_format_for
from llmdeck_nb.backends.stream_accumulator import StreamAccumulator
from llmdeck_nb.backends.usage import openai_usage
from llmdeck_nb.errors import BackendError
from llmdeck_nb.redaction import revealed

# Keys the strategy sets itself; a deck parameter of the same name is ignored.
_RESERVED = frozenset({"model", "messages", "stream", "stream_options", "response_format"})
_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30.0)
# A LiteLLM proxy sends this header only on answers served from its own cache.
PROXY_CACHE_HEADER = "x-litellm-cache-key"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_loads = json.loads


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One CA bundle load (about 80 ms) shared by every client, not one per client."""
    return httpx.create_ssl_context()


#: What ``httpx.Client`` adds to every request (its default headers), sent as before. Names
#: are lower case, as the deck's extra headers are made, so that one of the same name
#: replaces the default instead of going out twice.
_BASE_HEADERS = {"accept": "*/*", "accept-encoding": "gzip, deflate",
                 "user-agent": f"python-httpx/{httpx.__version__}",
                 "content-type": "application/json"}


@functools.lru_cache(maxsize=64)
def _timeouts(seconds: float | None) -> dict[str, float | None]:
    """The request extension httpcore reads its timeouts from (``None``: no limit)."""
    return httpx.Timeout(seconds).as_dict()


def _request(url: httpx.URL, headers: dict[str, str], body: bytes,
             timeout: float | None) -> httpx.Request:
    return httpx.Request("POST", url, headers=headers, content=body,
                         extensions={"timeout": _timeouts(timeout)})


async def _send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """``client.send(request, stream=True)`` without the client's per-request extras (see the
    module docstring); the answer's body is still to be read, or closed."""
    # _transport_for_url: the one private httpx name used (stable since httpx 0.18); it
    # is how the client applies HTTP(S)_PROXY / NO_PROXY (tests/test_backend_proxy.py)
    response = await client._transport_for_url(request.url).handle_async_request(request)
    response.request = request
    return response


def _send_blocking(client: httpx.Client, request: httpx.Request) -> httpx.Response:
    """:func:`_send` with blocking I/O."""
    response = client._transport_for_url(request.url).handle_request(request)
    response.request = request
    return response


@functools.lru_cache(maxsize=256)
def _chat_url(endpoint: str) -> httpx.URL:
    """Parsed once per endpoint: given a string, httpx parses the URL again for every request
    (a third to a half of building one, benchmarks/run_all.py)."""
    return httpx.URL(endpoint + "/chat/completions")


class _LoopPool:
    """The clients of one event loop; each serves one call at a time."""

    __slots__ = ("clients", "idle", "limits")

    def __init__(self, limits: httpx.Limits) -> None:
        self.limits = limits
        self.clients: list[httpx.AsyncClient] = []
        self.idle: list[httpx.AsyncClient] = []  # no call in flight; the last given back last

    @contextmanager
    def client(self) -> Iterator[httpx.AsyncClient]:
        """The idle client given back last (its connection is the warmest; a new client if
        none is idle), held for the ``with`` block and given back however the block ends
        (httpx's ``request_context()`` is the model)."""
        idle = self.idle
        if idle:
            client = idle.pop()
        else:
            client = httpx.AsyncClient(limits=self.limits, timeout=60.0, verify=_ssl_context())
            self.clients.append(client)
        try:
            yield client
        finally:
            idle.append(client)


class OpenAICompatibleStrategy(BackendStrategy):
    kind = "openai_compatible"
    blocking_complete = True

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
            raise no_endpoint_error(request.backend)
        return endpoint.rstrip("/")

    @staticmethod
    def _headers(request: BackendRequest) -> dict[str, str]:
        headers = _BASE_HEADERS.copy()
        if request.api_key is not None:
            headers["authorization"] = "Bearer " + request.api_key.get()
        extra = request.extra.get("headers") if request.extra else None
        if extra:
            headers.update((str(name).lower(), revealed(value)) for name, value in extra.items())
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
                                 model_id=request.model_id, key_variable=request.key_variable)

    # --- calls ---------------------------------------------------------------------------

    async def complete(self, request: BackendRequest) -> BackendResponse:
        if BLOCKING_IO.get():
            return self._complete_blocking(request)
        endpoint = self._endpoint(request)
        answer_started = False
        with self._pool().client() as client:
            try:
                response = await _send(client, self._post(request, endpoint, False))
                answer_started = True  # the status line arrived: a failure now is a cut answer
                try:
                    await response.aread()
                except BaseException:
                    await response.aclose()
                    raise
            except httpx.HTTPError as exc:
                raise self._transport_error(request, endpoint, exc, answer_started) from None
        return self._answer(request, response)

    def _complete_blocking(self, request: BackendRequest) -> BackendResponse:
        """:meth:`complete` with blocking I/O on the calling thread (same request, same parsing)."""
        endpoint = self._endpoint(request)
        client = self._blocking_client()
        answer_started = False
        try:
            response = _send_blocking(client, self._post(request, endpoint, False))
            answer_started = True
            try:
                response.read()
            except BaseException:
                response.close()
                raise
        except httpx.HTTPError as exc:
            raise self._transport_error(request, endpoint, exc, answer_started) from None
        return self._answer(request, response)

    def _post(self, request: BackendRequest, endpoint: str, stream: bool) -> httpx.Request:
        return _request(_chat_url(endpoint), self._headers(request), self._body(request, stream),
                        request.timeout)

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
        answer = StreamAccumulator(on_text)
        with self._pool().client() as client:
            try:
                response = await _send(client, self._post(request, endpoint, True))
                await self._read_events(request, response, answer)
            except httpx.HTTPError as exc:
                raise self._transport_error(request, endpoint, exc, answer.started) from None
        if not answer.done and answer.finish_reason is None:
            raise response_error(request.backend, "the stream ended before the answer was "
                                 f"complete ({len(answer.parts)} chunks received)", "cut")
        return answer.response(openai_usage(answer.usage), model_id=request.model_id,
                               http_status=response.status_code,
                               proxy_cache_hit=PROXY_CACHE_HEADER in response.headers)

    async def _read_events(self, request: BackendRequest, response: httpx.Response,
                           answer: StreamAccumulator) -> None:
        """Feed a streamed answer's SSE lines to ``answer``, or raise the error it carries."""
        try:
            if response.status_code >= 400:
                await response.aread()
                raise self._status_error(request, response)
            answer.started = True  # a 2xx status line: a failure now is a cut answer
            async for line in response.aiter_lines():  # "event:", ": keep-alive", blank: skipped
                if line.startswith("data:") and _feed_event(request, line[5:].strip(), answer):
                    break
        finally:
            await response.aclose()

    async def probe(self, request: BackendRequest) -> None:
        """``GET {endpoint}/models``; servers without that route get a 1-token completion."""
        endpoint = self._endpoint(request)
        with self._pool().client() as client:
            try:
                response = await client.get(endpoint + "/models", headers=self._headers(request),
                                            timeout=request.timeout)
            except httpx.HTTPError as exc:
                raise self._transport_error(request, endpoint, exc, False) from None
        if response.status_code in (404, 405):
            await self.complete(request)
        elif response.status_code >= 400:
            raise self._status_error(request, response)


def _feed_event(request: BackendRequest, data: str, answer: StreamAccumulator) -> bool:
    """Take the data of one ``data:`` line of the stream; True at ``[DONE]``."""
    if data == "[DONE]":
        answer.done = True
        return True
    try:
        chunk = _loads(data)
        choices = chunk.get("choices") or ()
    except (ValueError, AttributeError) as exc:
        raise response_error(request.backend, _malformed(exc, data)) from None
    if "error" in chunk:
        raise _stream_error(request, chunk)
    usage, model = chunk.get("usage"), chunk.get("model")
    for choice in choices:
        if choice.get("index", 0) == 0:  # n > 1 streams the other choices too: not kept
            delta = choice.get("delta") or {}
            answer.add(delta.get("content"), delta.get("tool_calls"), choice.get("finish_reason"),
                       usage, model)
            return False
    answer.add(None, None, None, usage, model)  # the usage chunk has no choices
    return False


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
                                 model_id=request.model_id, key_variable=request.key_variable)
    return response_error(request.backend, "error inside the stream: " + provider_message(body))
