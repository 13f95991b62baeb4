"""A loopback fake LLM server with fault injection, for tests and benchmarks.

One asyncio HTTP/1.1 server (keep-alive, TCP_NODELAY, headers and body written in one
send) running in a background thread on ``127.0.0.1`` and a free port. It speaks enough of
each provider's wire protocol for the real clients (httpx, litellm ``openai/``,
``hosted_vllm/``, ``litellm_proxy/``, ``azure/``, ``anthropic/``, ``ollama_chat/``,
``ollama/``, ``mistral/``, ``gemini/``):

=============================================  ==============================================
POST /v1/chat/completions, /chat/completions   OpenAI chat (JSON, or SSE when ``stream``)
POST /openai/deployments/<dep>/chat/completions Azure OpenAI (same answers; ``api-key``)
POST /v1/messages                              Anthropic messages (JSON, or SSE events)
POST /api/chat, /api/generate; GET /api/tags   Ollama (JSON, or NDJSON when streaming)
POST .../models/<m>:generateContent            Gemini (``:streamGenerateContent?alt=sse``)
GET /v1/models, /models                        model list for probes
=============================================  ==============================================

Answers are deterministic: ``"echo: <last user message text>"``; token counts are
whitespace word counts (at least 1), or what :meth:`FakeLLMServer.set_usage` scripts
(cached, cache-write and reasoning tokens, a prompt size), reported in each provider's
own usage shape, in streams too; ``max_tokens`` (or the provider's equivalent)
truncates the answer to that many words with a "length" finish reason; a JSON schema
(``response_format``, Ollama ``format``, Gemini ``responseSchema``) yields a JSON object
with dummy values for the schema's required properties; an OpenAI request whose
``tool_choice`` names one of its ``tools`` gets a call of that tool (dummy arguments).

Usage::

    with FakeLLMServer() as server:
        server.add_fault(status=429, retry_after=2)       # next matching request fails
        httpx.post(server.url + "/v1/chat/completions", json={...})
        assert server.requests[-1].headers["authorization"] == "Bearer ..."

or the function-scoped pytest fixture ``fake_llm_server`` defined at the bottom.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import gzip
import hashlib
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

__all__ = ["FakeLLMServer", "FakeUsage", "Fault", "LiteLLMProxyBehaviour", "RecordedRequest",
           "fake_llm_server"]

_GEMINI_PATH = re.compile(r"/models/([^/:]+):(generateContent|streamGenerateContent)$")
_AZURE_PATH = re.compile(r"/openai/deployments/([^/]+)/chat/completions$")
_WORD = re.compile(r"\S+\s*")
MALFORMED_BODY = b'{"id": "fake-malformed", "choices": [{"message": {"content": "unterminat'


# --- public data ---------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request the server received. Header names are lower-cased."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    body: bytes = b""
    model: str | None = None  # from the body, the Azure deployment or the Gemini path
    protocol: str = ""  # "openai", "anthropic", "ollama", "gemini", "models", ...
    at: float = 0.0  # time.monotonic() when the request arrived


@dataclass
class Fault:
    """One scripted misbehaviour; see :meth:`FakeLLMServer.add_fault`."""

    status: int | None = None
    delay: float = 0.0
    retry_after: float | str | None = None
    malformed: bool = False
    cut_stream_after: int | None = None
    times: int | None = 1  # None: every matching request until reset()
    model: str | None = None
    path: str | None = None
    message: str | None = None
    disconnect: bool = False
    text: str | None = None  # only requests whose body contains this text (a prompt's marker)
    off_schema: bool = False  # answer as if no JSON schema / JSON mode had been asked for

    def matches(self, path: str, model: str | None, body: bytes = b"") -> bool:
        if self.path is not None and self.path not in path:
            return False
        if self.text is not None and self.text.encode() not in body:
            return False
        return self.model is None or self.model == model


@dataclass
class FakeUsage:
    """Scripted token counts; see :meth:`FakeLLMServer.set_usage`."""

    prompt_tokens: int | None = None  # None: the prompt's word count
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    def openai(self, answer: _Answer) -> dict[str, Any]:
        """``prompt_tokens`` includes cached ones, ``completion_tokens`` reasoning ones."""
        output = answer.completion_tokens + self.reasoning_tokens
        usage: dict[str, Any] = {
            "prompt_tokens": answer.prompt_tokens, "completion_tokens": output,
            "total_tokens": answer.prompt_tokens + output,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens,
                                          "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0}}
        if self.cache_write_tokens:  # what a LiteLLM proxy in front of Anthropic adds
            usage["cache_creation_input_tokens"] = self.cache_write_tokens
        return usage

    def anthropic(self, answer: _Answer) -> dict[str, Any]:
        """``input_tokens`` excludes cache reads and writes; thinking is in ``output_tokens``."""
        uncached = answer.prompt_tokens - self.cached_tokens - self.cache_write_tokens
        return {"input_tokens": max(uncached, 0),
                "cache_creation_input_tokens": self.cache_write_tokens,
                "cache_read_input_tokens": self.cached_tokens,
                "output_tokens": answer.completion_tokens + self.reasoning_tokens}

    def gemini(self, answer: _Answer) -> dict[str, Any]:
        """``promptTokenCount`` includes cached ones; thoughts are counted apart; zero
        counts are left out, as Gemini does."""
        usage = {"promptTokenCount": answer.prompt_tokens,
                 "candidatesTokenCount": answer.completion_tokens,
                 "totalTokenCount": answer.prompt_tokens + answer.completion_tokens
                 + self.reasoning_tokens}
        if self.cached_tokens:
            usage["cachedContentTokenCount"] = self.cached_tokens
        if self.reasoning_tokens:
            usage["thoughtsTokenCount"] = self.reasoning_tokens
        return usage


# --- answers -------------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    """Text of a message content: a string, or a list of parts ({"text": ...} / strings)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
        return " ".join(texts)
    return str(content)


def _words(text: str) -> int:
    return max(1, len(text.split()))


def dummy_for_schema(schema: Any, name: str = "value") -> Any:
    """A value of the schema's type; objects get their required properties filled."""
    if not isinstance(schema, dict):
        return "echo"
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return dummy_for_schema(schema[key][0], name)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties") or {}
        wanted = schema.get("required", list(props))
        return {key: dummy_for_schema(props.get(key, {}), key) for key in wanted}
    if kind == "array":
        return [dummy_for_schema(schema.get("items", {}), name)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return f"dummy {name}"


def _without_schema(payload: dict[str, Any]) -> dict[str, Any]:
    """The request without what asks for JSON (each provider's way), for ``off_schema``."""
    plain = {k: v for k, v in payload.items()
             if k not in ("response_format", "format", "output_format", "tools", "tool_choice")}
    for key in ("generationConfig", "generation_config"):
        if isinstance(plain.get(key), dict):
            plain[key] = {k: v for k, v in plain[key].items()
                          if "schema" not in k.lower() and "mime" not in k.lower()}
    return plain


def _json_answer(schema: Any) -> str:
    return json.dumps(dummy_for_schema(schema), separators=(", ", ": "))


@dataclass
class _Answer:
    text: str
    prompt_tokens: int
    completion_tokens: int
    truncated: bool
    model: str

    @property
    def pieces(self) -> list[str]:
        size = _CHUNK_CHARS.get()
        if size:
            return [self.text[i:i + size] for i in range(0, len(self.text), size)] or [self.text]
        return _WORD.findall(self.text) or [self.text]


def _make_answer(texts: list[str], last_user: str, model: str, max_tokens: Any,
                 schema: Any = None, json_mode: bool = False) -> _Answer:
    prompt_tokens = max(1, sum(len(t.split()) for t in texts))
    quoted = _QUOTED_KEY.get()
    if schema is not None:
        text = _json_answer(schema)
        if quoted:  # every string value of the object quotes the key
            text = text.replace('"dummy ', f'"dummy {quoted} ')
    elif json_mode:
        text = json.dumps({"echo": last_user})
    else:
        text = f"echo: {last_user}" + (f" (your key is {quoted})" if quoted else "")
    truncated = False
    if isinstance(max_tokens, int) and max_tokens > 0 and schema is None and not json_mode:
        pieces = _WORD.findall(text)
        if len(pieces) > max_tokens:
            text = "".join(pieces[:max_tokens]).rstrip()
            truncated = True
    return _Answer(text, prompt_tokens, _words(text), truncated, model)


_RESPONSE_HEADERS: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar(
    "response_headers", default={})  # noqa: B039 - read only; each request sets its own
# the request's API key when the server quotes it back in answers (``quote_key``)
_QUOTED_KEY: contextvars.ContextVar[str | None] = contextvars.ContextVar("quoted_key", default=None)
# the request accepts a gzip-compressed answer and the server sends one (``gzip_answers``)
_GZIP: contextvars.ContextVar[bool] = contextvars.ContextVar("gzip", default=False)
# characters per stream chunk (None: one word per chunk)
_CHUNK_CHARS: contextvars.ContextVar[int | None] = contextvars.ContextVar("chunk_chars",
                                                                          default=None)


@dataclass
class LiteLLMProxyBehaviour:
    """What a LiteLLM proxy (1.x, no database) does that a plain server does not, as
    measured on litellm[proxy] 1.108: with ``master_key`` set, a request without a key gets
    500 ``Authentication Error, No api key passed in.`` and any other key 400 ``No connected
    db.`` (it is looked up as a virtual key); with ``cache``, a repeat of an identical
    request is answered from its cache with an ``x-litellm-cache-key`` header."""

    master_key: str | None = None
    cache: bool = False
    seen: set[str] = dataclasses.field(default_factory=set)

    def refusal(self, key: str | None) -> tuple[int, bytes] | None:
        if self.master_key is None or key == self.master_key:
            return None
        if not key:
            error = {"message": "Authentication Error, No api key passed in.",
                     "type": "auth_error", "param": "None", "code": "500"}
            return 500, json.dumps({"error": error}).encode()
        error = {"message": "No connected db.", "type": "no_db_connection", "param": "None",
                 "code": "400"}
        return 400, json.dumps({"error": error}).encode()

    def cache_headers(self, body: bytes) -> dict[str, str]:
        digest = hashlib.sha256(body).hexdigest()
        hit = self.cache and digest in self.seen
        if self.cache:
            self.seen.add(digest)
        return {"x-litellm-cache-key": digest} if hit else {}


def _request_key(headers: dict[str, str]) -> str | None:
    """The API key a request carries (Bearer, Anthropic ``x-api-key``, Azure ``api-key``)."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get("x-api-key") or headers.get("api-key") or headers.get("x-goog-api-key")


def _with_key(fault: Fault, key: str) -> Fault:
    """``{key}`` / ``{masked_key}`` (OpenAI's ``sk-abcd****wxyz`` echo) in a fault message."""
    masked = key[:8] + "*" * 20 + key[-4:]
    message = (fault.message or "").replace("{key}", key).replace("{masked_key}", masked)
    return dataclasses.replace(fault, message=message)


# --- the server ----------------------------------------------------------------------------


class _Cut(Exception):
    """Raised inside a handler to drop the connection (cut stream / disconnect fault)."""


class FakeLLMServer:
    """Loopback fake LLM server; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.default_delay = 0.0  # seconds, before every response
        self.chunk_delay = 0.0  # seconds between stream chunks
        self.models = ["fake-model", "fake-model-2"]
        self.record_requests = True  # False for long benchmarks: keep no request history
        self.quote_key = False  # True: every answer quotes the request's API key back
        self.gzip_answers = False  # True: whole JSON answers gzip-compressed when accepted
        self.chunk_chars: int | None = None  # stream chunks of this many characters (else words)
        self.proxy: LiteLLMProxyBehaviour | None = None  # act like a LiteLLM proxy (see there)
        self.usage: FakeUsage | None = None  # scripted token counts (set_usage)
        self._faults: list[Fault] = []
        self._rate_limit: tuple[int, float, float | None] | None = None
        self._accepted: deque[float] = deque()  # arrival times of requests within the rate limit
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._counter = 0
        self.connections_opened = 0  # accepted TCP connections (keep-alive reuses them)
        self.in_flight = 0  # requests being handled now, and the most at once since reset()
        self.max_in_flight = 0

    # -- lifecycle --

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeLLMServer:
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fake-llm-server",
                                        daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start_server(), loop)
        future.result(timeout=10)
        return self

    async def _start_server(self) -> None:
        self._server = await asyncio.start_server(self._serve_connection, self.host, self.port,
                                                  backlog=512, limit=4 * 1024 * 1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            tasks = [t for t in self._tasks if not t.done()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()
            self._loop = self._thread = self._server = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- scripting --

    def add_fault(
        self,
        status: int | None = None,
        delay: float = 0.0,
        retry_after: float | str | None = None,
        malformed: bool = False,
        cut_stream_after: int | None = None,
        times: int | None = 1,
        model: str | None = None,
        path: str | None = None,
        *,
        message: str | None = None,
        disconnect: bool = False,
        text: str | None = None,
        off_schema: bool = False,
    ) -> Fault:
        """Script the next ``times`` requests matching ``model``/``path`` (None: any).

        Faults are consumed first-in first-out among those that match a request; ``path``
        matches as a substring of the request path, ``model`` equals the body's model (or
        Azure deployment / Gemini model in the path). On a match, in order: sleep ``delay``;
        ``disconnect`` closes the connection without answering; ``status`` answers that
        HTTP error with a provider-shaped body (``message`` overrides its text) and
        ``Retry-After`` when given; ``malformed`` answers 200 with invalid JSON (a stream
        gets one invalid event); ``cut_stream_after=N`` drops the connection after N text
        chunks of a stream (a non-streaming answer is cut halfway through its body).
        ``text`` matches requests whose body contains it (e.g. a marker in some prompts).
        ``off_schema`` answers plain text, as a model that ignores the requested JSON schema.
        ``{key}`` and ``{masked_key}`` in ``message`` become the request's API key, in full
        or masked the way OpenAI echoes it (``server.quote_key = True`` quotes it in answers).
        ``times=None`` repeats until :meth:`reset`.
        """
        fault = Fault(status=status, delay=delay, retry_after=retry_after, malformed=malformed,
                      cut_stream_after=cut_stream_after, times=times, model=model, path=path,
                      message=message, disconnect=disconnect, text=text,
                      off_schema=off_schema)
        with self._lock:
            self._faults.append(fault)
        return fault

    def limit_rate(self, requests: int | None, per_s: float = 1.0,
                   retry_after: float | None = 1.0) -> None:
        """Like a provider's rate limit: more than ``requests`` chat requests in any ``per_s``
        seconds are answered 429 (with ``Retry-After``); ``None`` lifts the limit. Requests
        answered 429 do not count against the limit."""
        with self._lock:
            self._rate_limit = (requests, per_s, retry_after) if requests else None
            self._accepted.clear()

    def _over_rate(self, now: float) -> bool:
        with self._lock:
            if self._rate_limit is None:
                return False
            requests, per_s, _ = self._rate_limit
            while self._accepted and self._accepted[0] <= now - per_s:
                self._accepted.popleft()
            if len(self._accepted) >= requests:
                return True
            self._accepted.append(now)
            return False

    def set_usage(self, *, prompt_tokens: int | None = None, cached_tokens: int = 0,
                  cache_write_tokens: int = 0, reasoning_tokens: int = 0) -> FakeUsage:
        """Report these counts in every answer until :meth:`reset`, in each provider's shape:
        ``prompt_tokens`` (all input, cached included; None: the prompt's word count) of
        which ``cached_tokens`` were read from and ``cache_write_tokens`` written to the
        prompt cache; ``reasoning_tokens`` spent thinking, on top of the answer's words.
        """
        self.usage = FakeUsage(prompt_tokens, cached_tokens, cache_write_tokens, reasoning_tokens)
        return self.usage

    def _usage(self, answer: _Answer, protocol: str) -> dict[str, Any]:
        """The usage block of ``answer`` in the shape ``protocol`` reports it."""
        script = self.usage
        if script is None:
            if protocol == "anthropic":
                return {"input_tokens": answer.prompt_tokens,
                        "output_tokens": answer.completion_tokens}
            if protocol == "gemini":
                return {"promptTokenCount": answer.prompt_tokens,
                        "candidatesTokenCount": answer.completion_tokens,
                        "totalTokenCount": answer.prompt_tokens + answer.completion_tokens}
            return {"prompt_tokens": answer.prompt_tokens,
                    "completion_tokens": answer.completion_tokens,
                    "total_tokens": answer.prompt_tokens + answer.completion_tokens}
        if script.prompt_tokens is not None:
            answer.prompt_tokens = script.prompt_tokens
        return getattr(script, protocol)(answer)

    def reset(self) -> None:
        """Forget faults, scripted usage, recorded requests and the rate limit; back to no delay."""
        self.usage = None
        with self._lock:
            self._faults.clear()
            self._rate_limit = None
            self._accepted.clear()
        self.requests.clear()
        self.connections_opened = 0
        self.max_in_flight = self.in_flight
        self.default_delay = 0.0
        self.chunk_delay = 0.0

    @property
    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def _take_fault(self, path: str, model: str | None, body: bytes = b"") -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.matches(path, model, body):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            del self._faults[i]
                    return fault
        return None

    # -- HTTP plumbing --

    async def _serve_connection(self, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self._writers.add(writer)
        self.connections_opened += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, _version = lines[0].split(" ", 2)
                except ValueError:
                    return
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, _, value = line.partition(":")
                        key, value = name.strip().lower(), value.strip()
                        # a repeated header reads as its values joined (RFC 9110 5.3)
                        headers[key] = f"{headers[key]}, {value}" if key in headers else value
                body = await self._read_body(reader, headers)
                if body is None:
                    return
                keep_alive = headers.get("connection", "").lower() != "close"
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    await self._handle(writer, method, target, headers, body, keep_alive)
                except _Cut:
                    writer.transport.abort()
                    return
                except Exception as exc:  # noqa: BLE001 - a bug here: say so, never hang
                    error = {"error": {"message": f"fake server bug: {exc!r}", "type": "bug"}}
                    await self._send(writer, 500, json.dumps(error).encode(), False)
                    break
                finally:
                    self.in_flight -= 1
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes | None:
        try:
            if "content-length" in headers:
                return await reader.readexactly(int(headers["content-length"]))
            if "chunked" in headers.get("transfer-encoding", "").lower():
                parts = []
                while True:
                    size_line = await reader.readuntil(b"\r\n")
                    size = int(size_line.split(b";")[0].strip(), 16)
                    if size == 0:
                        await reader.readuntil(b"\r\n")
                        return b"".join(parts)
                    parts.append(await reader.readexactly(size))
                    await reader.readexactly(2)
            return b""
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                ValueError):
            return None

    @staticmethod
    def _head(status: int, content_type: str, length: int | None, keep_alive: bool,
              extra: dict[str, str] | None = None) -> bytes:
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "X"
        lines = [f"HTTP/1.1 {status} {reason}", f"content-type: {content_type}"]
        if length is None:
            lines.append("transfer-encoding: chunked")
        else:
            lines.append(f"content-length: {length}")
        lines.append("connection: keep-alive" if keep_alive else "connection: close")
        extra = {**_RESPONSE_HEADERS.get(), **(extra or {})}
        if extra:
            lines.extend(f"{k}: {v}" for k, v in extra.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send(self, writer: asyncio.StreamWriter, status: int, body: bytes,
                    keep_alive: bool, content_type: str = "application/json",
                    extra: dict[str, str] | None = None) -> None:
        writer.write(self._head(status, content_type, len(body), keep_alive, extra) + body)
        await writer.drain()

    async def _send_json(self, writer: asyncio.StreamWriter, payload: Any, keep_alive: bool,
                         fault: Fault | None, status: int = 200) -> None:
        body = MALFORMED_BODY if fault and fault.malformed else json.dumps(payload).encode()
        if fault is not None and fault.cut_stream_after is not None:
            # headers promise the whole body; half of it arrives, then the connection drops
            head = self._head(status, "application/json", len(body), keep_alive)
            writer.write(head + body[: len(body) // 2])
            await writer.drain()
            raise _Cut
        if _GZIP.get():  # as OpenAI's API answers a client that accepts it
            await self._send(writer, status, gzip.compress(body), keep_alive,
                             extra={"content-encoding": "gzip"})
            return
        await self._send(writer, status, body, keep_alive)

    async def _stream(self, writer: asyncio.StreamWriter, content_type: str,
                      preamble: list[bytes], chunks: list[bytes], epilogue: list[bytes],
                      fault: Fault | None) -> None:
        """Chunked response: preamble events, text chunks (cut/malformed apply), epilogue."""
        cut = fault.cut_stream_after if fault else None
        if fault is not None and fault.malformed and chunks:
            chunks = [self._truncated(chunks[0]), *chunks]

        def frame(data: bytes) -> bytes:
            return b"%x\r\n%s\r\n" % (len(data), data)

        pending = self._head(200, content_type, None, True) + b"".join(map(frame, preamble))
        for i, chunk in enumerate(chunks):
            if cut is not None and i >= cut:
                break
            writer.write(pending + frame(chunk))
            pending = b""
            await writer.drain()
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        if cut is not None:  # no closing events, no terminating chunk: the peer sees a cut
            if pending:
                writer.write(pending)
                await writer.drain()
            raise _Cut
        writer.write(pending + b"".join(map(frame, epilogue)) + b"0\r\n\r\n")
        await writer.drain()

    @staticmethod
    def _truncated(event: bytes) -> bytes:
        """The event in its protocol's framing, with its JSON cut short (invalid)."""
        body = event.rstrip(b"\r\n")
        return body[: len(body) * 3 // 5] + event[len(body):]

    # -- dispatch --

    async def _handle(self, writer: asyncio.StreamWriter, method: str, target: str,
                      headers: dict[str, str], body: bytes, keep_alive: bool) -> None:
        split = urlsplit(target)
        path = split.path
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        payload: Any = None
        if body:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
        protocol, model = self._classify(method, path, payload)
        now = time.monotonic()
        if self.record_requests:
            self.requests.append(RecordedRequest(method, path, query, headers, payload, body,
                                                 model, protocol, now))
        if protocol not in ("models", "ollama_tags", "health") and self._over_rate(now):
            limit = self._rate_limit
            await self._send_error(writer, protocol or "openai", 429, keep_alive,
                                   Fault(status=429, retry_after=limit[2] if limit else None))
            return
        fault = self._take_fault(path, model, body)
        key = _request_key(headers)
        _RESPONSE_HEADERS.set({})  # per request (a keep-alive connection serves several)
        if self.proxy is not None and protocol == "openai":
            refusal = self.proxy.refusal(key)
            if refusal is not None:
                status, body = refusal
                await self._send(writer, status, body, keep_alive)
                return
            _RESPONSE_HEADERS.set(self.proxy.cache_headers(body))
        _QUOTED_KEY.set(key if self.quote_key else None)
        _GZIP.set(self.gzip_answers and "gzip" in headers.get("accept-encoding", ""))
        _CHUNK_CHARS.set(self.chunk_chars)
        if fault is not None and fault.message and key:
            fault = _with_key(fault, key)
        delay = self.default_delay + (fault.delay if fault else 0.0)
        if delay:
            await asyncio.sleep(delay)
        if fault is not None and fault.disconnect:
            raise _Cut
        if fault is not None and fault.status is not None:
            await self._send_error(writer, protocol, fault.status, keep_alive, fault)
            return
        if fault is not None and fault.off_schema and isinstance(payload, dict):
            payload = _without_schema(payload)
        if protocol == "models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                    for m in self.models]
            await self._send_json(writer, {"object": "list", "data": data}, keep_alive, fault)
        elif protocol == "ollama_tags":
            tags = [{"name": m, "model": m, "size": 1, "digest": "0" * 12,
                     "modified_at": "2024-01-01T00:00:00Z", "details": {}} for m in self.models]
            await self._send_json(writer, {"models": tags}, keep_alive, fault)
        elif protocol == "health":
            await self._send(writer, 200, b'{"status": "ok"}', keep_alive)
        elif not protocol or not isinstance(payload, dict):  # e.g. litellm's POST /api/show
            await self._send_error(writer, protocol or "openai", 400 if protocol else 404,
                                   keep_alive, None,
                                   "request body must be a JSON object" if protocol
                                   else f"no route for {method} {path}")
        elif protocol == "openai":
            await self._openai(writer, payload, model, keep_alive, fault)
        elif protocol == "anthropic":
            await self._anthropic(writer, payload, keep_alive, fault)
        elif protocol in ("ollama", "ollama_generate"):
            await self._ollama(writer, payload, keep_alive, fault, protocol == "ollama_generate")
        elif protocol == "gemini":
            stream = path.endswith(":streamGenerateContent")
            await self._gemini(writer, payload, model or "gemini", stream, keep_alive, fault)

    def _classify(self, method: str, path: str, payload: Any) -> tuple[str, str | None]:
        body_model = payload.get("model") if isinstance(payload, dict) else None
        if method == "GET":
            if path in ("/v1/models", "/models"):
                return "models", None
            if path == "/api/tags":
                return "ollama_tags", None
            if path in ("/", "/health", "/healthz"):
                return "health", None
            return "", None
        if path.endswith("/chat/completions"):
            azure = _AZURE_PATH.search(path)
            return "openai", (body_model or azure.group(1)) if azure else body_model
        if path.endswith("/messages"):
            return "anthropic", body_model
        if path == "/api/chat":
            return "ollama", body_model
        if path == "/api/generate":
            return "ollama_generate", body_model
        gemini = _GEMINI_PATH.search(path)
        if gemini:
            return "gemini", gemini.group(1)
        return "", body_model

    async def _send_error(self, writer: asyncio.StreamWriter, protocol: str, status: int,
                          keep_alive: bool, fault: Fault | None, text: str | None = None) -> None:
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        message = (fault.message if fault and fault.message else None) or text or \
            f"fake server: injected {status} {reason}"
        kind = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error", 408: "timeout_error",
                429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        if protocol == "anthropic":
            payload: Any = {"type": "error", "error": {"type": kind, "message": message}}
        elif protocol in ("ollama", "ollama_generate", "ollama_tags"):
            payload = {"error": message}
        elif protocol == "gemini":
            payload = {"error": {"code": status, "message": message,
                                 "status": "RESOURCE_EXHAUSTED" if status == 429 else kind.upper()}}
        else:
            payload = {"error": {"message": message, "type": kind, "param": None,
                                 "code": str(status)}}
        extra = {}
        if fault is not None and fault.retry_after is not None:
            ra = fault.retry_after
            extra["retry-after"] = str(int(ra)) if isinstance(ra, (int, float)) and \
                float(ra).is_integer() else str(ra)
        await self._send(writer, status, json.dumps(payload).encode(), keep_alive,
                         extra=extra)

    def _next_id(self) -> int:
        self._counter += 1
        return self._counter

    # -- OpenAI (and Azure, Mistral, vLLM, LiteLLM proxy) --

    async def _openai(self, writer: asyncio.StreamWriter, req: dict[str, Any],
                      model: str | None, keep_alive: bool, fault: Fault | None) -> None:
        messages = req.get("messages") or []
        texts = [_text_of(m.get("content")) for m in messages if isinstance(m, dict)]
        users = [_text_of(m.get("content")) for m in messages
                 if isinstance(m, dict) and m.get("role") == "user"]
        last_user = users[-1] if users else (texts[-1] if texts else "")
        fmt = req.get("response_format")
        fmt = fmt if isinstance(fmt, dict) else {}
        schema = None
        if fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema", {})
        answer = _make_answer(texts, last_user, model or "fake-model",
                              req.get("max_completion_tokens", req.get("max_tokens")),
                              schema, fmt.get("type") == "json_object")
        tool = self._forced_function(req)
        if tool is not None:
            await self._openai_tool_call(writer, req, tool, answer, keep_alive, fault)
            return
        finish = "length" if answer.truncated else "stop"
        ident = f"chatcmpl-fake-{self._next_id()}"
        created = int(time.time())
        usage = self._usage(answer, "openai")
        if not req.get("stream"):
            await self._send_json(writer, {
                "id": ident, "object": "chat.completion", "created": created,
                "model": answer.model,
                "choices": [{"index": 0, "message": {"role": "assistant",
                                                     "content": answer.text},
                             "logprobs": None, "finish_reason": finish}],
                "usage": usage}, keep_alive, fault)
            return

        def event(choices: list[Any], **more: Any) -> bytes:
            chunk = {"id": ident, "object": "chat.completion.chunk", "created": created,
                     "model": answer.model, "choices": choices, **more}
            return b"data: " + json.dumps(chunk).encode() + b"\n\n"

        chunks = []
        for i, piece in enumerate(answer.pieces):
            delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
            chunks.append(event([{"index": 0, "delta": delta, "finish_reason": None}]))
        epilogue = [event([{"index": 0, "delta": {}, "finish_reason": finish}])]
        if (req.get("stream_options") or {}).get("include_usage"):
            epilogue.append(event([], usage=usage))
        epilogue.append(b"data: [DONE]\n\n")
        await self._stream(writer, "text/event-stream", [], chunks, epilogue, fault)

    @staticmethod
    def _forced_function(req: dict[str, Any]) -> dict[str, Any] | None:
        """OpenAI ``tool_choice = {"type": "function", "function": {"name": N}}``: tool N."""
        choice = req.get("tool_choice")
        if not isinstance(choice, dict) or choice.get("type") != "function":
            return None
        name = (choice.get("function") or {}).get("name")
        functions = [t.get("function") or {} for t in req.get("tools") or [] if isinstance(t, dict)]
        return next((f for f in functions if f.get("name") == name), None)

    async def _openai_tool_call(self, writer: asyncio.StreamWriter, req: dict[str, Any],
                                tool: dict[str, Any], answer: _Answer, keep_alive: bool,
                                fault: Fault | None) -> None:
        """Call the forced tool with dummy arguments from its parameters' schema."""
        arguments = _json_answer(tool.get("parameters") or {})
        call = {"id": f"call_fake_{self._next_id()}", "type": "function",
                "function": {"name": tool["name"], "arguments": arguments}}
        ident, created = f"chatcmpl-fake-{self._next_id()}", int(time.time())
        usage = {"prompt_tokens": answer.prompt_tokens, "completion_tokens": 1,
                 "total_tokens": answer.prompt_tokens + 1}
        if not req.get("stream"):
            await self._send_json(writer, {
                "id": ident, "object": "chat.completion", "created": created, "model": answer.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": None,
                                                     "tool_calls": [call]},
                             "logprobs": None, "finish_reason": "tool_calls"}],
                "usage": usage}, keep_alive, fault)
            return

        def event(delta: dict[str, Any] | None, finish: str | None = None, **more: Any) -> bytes:
            choices = [] if delta is None else [{"index": 0, "delta": delta,
                                                 "finish_reason": finish}]
            return b"data: " + json.dumps({"id": ident, "object": "chat.completion.chunk",
                                           "created": created, "model": answer.model,
                                           "choices": choices, **more}).encode() + b"\n\n"

        half = len(arguments) // 2
        head = {**call, "index": 0, "function": {"name": tool["name"], "arguments": ""}}
        chunks = [event({"role": "assistant", "tool_calls": [head]})] + [
            event({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            for piece in (arguments[:half], arguments[half:])]
        epilogue = [event({}, "tool_calls")]
        if (req.get("stream_options") or {}).get("include_usage"):
            epilogue.append(event(None, usage=usage))
        epilogue.append(b"data: [DONE]\n\n")
        await self._stream(writer, "text/event-stream", [], chunks, epilogue, fault)

    # -- Anthropic --

    async def _anthropic(self, writer: asyncio.StreamWriter, req: dict[str, Any],
                         keep_alive: bool, fault: Fault | None) -> None:
        messages = req.get("messages") or []
        system = req.get("system")
        texts = [_text_of(system)] if system else []
        texts += [_text_of(m.get("content")) for m in messages if isinstance(m, dict)]
        users = [_text_of(m.get("content")) for m in messages
                 if isinstance(m, dict) and m.get("role") == "user"]
        model = req.get("model") or "claude-fake"
        tool = self._forced_tool(req)
        schema = tool.get("input_schema", {}) if tool else None
        out_fmt = req.get("output_format") or {}
        if schema is None and out_fmt.get("type") == "json_schema":
            schema = out_fmt.get("schema", {})
        answer = _make_answer(texts, users[-1] if users else "", model, req.get("max_tokens"),
                              schema)
        stop = "max_tokens" if answer.truncated else ("tool_use" if tool else "end_turn")
        ident = f"msg_fake_{self._next_id()}"
        usage = self._usage(answer, "anthropic")
        if tool:
            block: dict[str, Any] = {"type": "tool_use", "id": f"toolu_fake_{ident}",
                                     "name": tool["name"], "input": json.loads(answer.text)}
        else:
            block = {"type": "text", "text": answer.text}
        if not req.get("stream"):
            await self._send_json(writer, {
                "id": ident, "type": "message", "role": "assistant", "model": model,
                "content": [block], "stop_reason": stop, "stop_sequence": None,
                "usage": usage}, keep_alive, fault)
            return

        def event(name: str, data: dict[str, Any]) -> bytes:
            return f"event: {name}\ndata: ".encode() + json.dumps(data).encode() + b"\n\n"

        start_block = dict(block, input={}) if tool else {"type": "text", "text": ""}
        preamble = [
            event("message_start", {"type": "message_start", "message": {
                "id": ident, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {**usage, "output_tokens": 1}}}),
            event("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": start_block}),
        ]
        if tool:
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in answer.pieces]
        else:
            deltas = [{"type": "text_delta", "text": p} for p in answer.pieces]
        chunks = [event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": d}) for d in deltas]
        epilogue = [
            event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            event("message_delta", {"type": "message_delta",
                                    "delta": {"stop_reason": stop, "stop_sequence": None},
                                    "usage": {"output_tokens": usage["output_tokens"]}}),
            event("message_stop", {"type": "message_stop"}),
        ]
        await self._stream(writer, "text/event-stream", preamble, chunks, epilogue, fault)

    @staticmethod
    def _forced_tool(req: dict[str, Any]) -> dict[str, Any] | None:
        """The tool the request forces (litellm's json_tool_call for response_format)."""
        choice = req.get("tool_choice")
        tools = req.get("tools") or []
        if not isinstance(choice, dict):
            return None
        if choice.get("type") == "tool":
            return next((t for t in tools if t.get("name") == choice.get("name")), None)
        if choice.get("type") == "any" and len(tools) == 1:
            return tools[0]
        return None

    # -- Ollama --

    async def _ollama(self, writer: asyncio.StreamWriter, req: dict[str, Any],
                      keep_alive: bool, fault: Fault | None, generate: bool) -> None:
        if generate:
            last_user = str(req.get("prompt", ""))
            texts = [last_user, str(req.get("system") or "")]
        else:
            messages = req.get("messages") or []
            texts = [_text_of(m.get("content")) for m in messages if isinstance(m, dict)]
            users = [_text_of(m.get("content")) for m in messages
                     if isinstance(m, dict) and m.get("role") == "user"]
            last_user = users[-1] if users else ""
        fmt = req.get("format")
        options = req.get("options") or {}
        model = req.get("model") or "llama-fake"
        answer = _make_answer(texts, last_user, model, options.get("num_predict"),
                              fmt if isinstance(fmt, dict) else None, fmt == "json")
        created = "2024-01-01T00:00:00Z"
        done = {"model": model, "created_at": created, "done": True,
                "done_reason": "length" if answer.truncated else "stop",
                "total_duration": 1000, "load_duration": 10,
                "prompt_eval_count": answer.prompt_tokens, "prompt_eval_duration": 100,
                "eval_count": answer.completion_tokens, "eval_duration": 500}

        def piece(text: str) -> dict[str, Any]:
            if generate:
                return {"response": text}
            return {"message": {"role": "assistant", "content": text}}

        if not req.get("stream", True):  # Ollama streams unless told otherwise
            await self._send_json(writer, {**done, **piece(answer.text)}, keep_alive, fault)
            return
        chunks = [json.dumps({"model": model, "created_at": created, **piece(p),
                              "done": False}).encode() + b"\n" for p in answer.pieces]
        epilogue = [json.dumps({**done, **piece("")}).encode() + b"\n"]
        await self._stream(writer, "application/x-ndjson", [], chunks, epilogue, fault)

    # -- Gemini --

    async def _gemini(self, writer: asyncio.StreamWriter, req: dict[str, Any], model: str,
                      stream: bool, keep_alive: bool, fault: Fault | None) -> None:
        contents = req.get("contents") or []
        texts = [_text_of(c.get("parts")) for c in contents if isinstance(c, dict)]
        system = req.get("system_instruction") or req.get("systemInstruction")
        if isinstance(system, dict):
            texts.append(_text_of(system.get("parts")))
        users = [_text_of(c.get("parts")) for c in contents
                 if isinstance(c, dict) and c.get("role", "user") == "user"]
        config = req.get("generationConfig") or req.get("generation_config") or {}
        schema = config.get("responseSchema") or config.get("response_schema") or \
            config.get("responseJsonSchema") or config.get("response_json_schema")
        json_mode = config.get("responseMimeType", config.get("response_mime_type")) == \
            "application/json"
        answer = _make_answer(texts, users[-1] if users else "", model,
                              config.get("maxOutputTokens", config.get("max_output_tokens")),
                              schema, json_mode and schema is None)
        usage = self._usage(answer, "gemini")
        finish = "MAX_TOKENS" if answer.truncated else "STOP"

        def response(text: str, last: bool) -> dict[str, Any]:
            candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"},
                                         "index": 0}
            if last:
                candidate["finishReason"] = finish
            return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model}

        if not stream:
            await self._send_json(writer, response(answer.text, True), keep_alive, fault)
            return
        pieces = answer.pieces
        chunks = [b"data: " + json.dumps(response(p, i == len(pieces) - 1)).encode() + b"\r\n\r\n"
                  for i, p in enumerate(pieces)]
        await self._stream(writer, "text/event-stream", [], chunks, [], fault)


# --- pytest fixture --------------------------------------------------------------------------


@pytest.fixture
def fake_llm_server() -> Iterator[FakeLLMServer]:
    """A started :class:`FakeLLMServer` (fresh per test; starting takes a few ms)."""
    with FakeLLMServer() as server:
        yield server


if __name__ == "__main__":  # a standalone server, e.g. for benchmarks from another process
    import argparse

    parser = argparse.ArgumentParser(description="loopback fake LLM server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args()
    server = FakeLLMServer(port=args.port).start()
    server.default_delay = args.delay
    server.record_requests = False
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
