"""A real ``openai.OpenAI`` / ``AsyncOpenAI`` whose requests are answered by the deck, in process.

No server and no port: the SDK's HTTP client gets a transport that hands each request
to :func:`llmdeck_nb.server.openai_api.dispatch`, the same code ``llmdeck serve`` runs.
So code written for OpenAI's SDK goes through the deck's routing, presets, cache,
failover and call log (tagged ``openai-client``), and model names are deck models,
aliases and presets::

    client = llmdeck_nb.openai_client()
    client.chat.completions.create(model="best-claude", messages=[...], stream=True)

The SDK's own retries are off by default (``max_retries=0``): the Session already retries
and fails over along the deck's chain. Pass ``max_retries=`` to change that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import openai

from llmdeck_nb.engine import loop
from llmdeck_nb.server.openai_api import WireResponse, dispatch

try:  # openai>=3 speaks httpx2; earlier releases speak httpx (same transport interface)
    import httpx2 as http
except ImportError:  # pragma: no cover - depends on the installed SDK
    import httpx as http  # type: ignore[no-redef]  # the same names, for older SDKs

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Iterator

    from llmdeck_nb.engine.session import Session

BASE_URL = "http://llmdeck.in-process/v1"
# The SDK insists on a key; this placeholder is all it sends (a real OPENAI_API_KEY never is).
PLACEHOLDER_KEY = "llmdeck-in-process"
TAGS = ("openai-client",)


def openai_client(session: Session | None = None, **options: Any) -> openai.OpenAI:
    """An ``openai.OpenAI`` answered by ``session`` (default: the notebook's session)."""
    transport = DeckTransport(_session(session))
    options.setdefault("max_retries", 0)
    return openai.OpenAI(api_key=PLACEHOLDER_KEY, base_url=BASE_URL,
                         http_client=http.Client(transport=transport), **options)


def async_openai_client(session: Session | None = None, **options: Any) -> openai.AsyncOpenAI:
    """An ``openai.AsyncOpenAI`` answered by ``session`` on the caller's event loop."""
    transport = AsyncDeckTransport(_session(session))
    options.setdefault("max_retries", 0)
    return openai.AsyncOpenAI(api_key=PLACEHOLDER_KEY, base_url=BASE_URL,
                              http_client=http.AsyncClient(transport=transport), **options)


def _session(session: Session | None) -> Session:
    if session is not None:
        return session
    from llmdeck_nb.engine.session import default_session

    return default_session()


def _v1_path(request: Any) -> str:
    path = request.url.path
    return path[3:] if path.startswith("/v1") else path


def _response(answer: WireResponse, request: Any, stream: Any = None) -> Any:
    headers = {"content-type": answer.media_type, **answer.headers}
    if stream is None:
        return http.Response(answer.status, headers=headers, content=answer.content,
                             request=request)
    return http.Response(answer.status, headers=headers, stream=stream, request=request)


class DeckTransport(http.BaseTransport):
    """Synchronous requests, run on llmdeck's event loop for this thread (works in Jupyter)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def handle_request(self, request: Any) -> Any:
        answer = loop.run(dispatch(self.session, request.method, _v1_path(request),
                                   request.read(), TAGS))
        stream = _SyncEvents(answer.stream) if answer.stream is not None else None
        return _response(answer, request, stream)


class AsyncDeckTransport(http.AsyncBaseTransport):
    def __init__(self, session: Session) -> None:
        self.session = session

    async def handle_async_request(self, request: Any) -> Any:
        answer = await dispatch(self.session, request.method, _v1_path(request),
                                await request.aread(), TAGS)
        stream = _AsyncEvents(answer.stream) if answer.stream is not None else None
        return _response(answer, request, stream)


async def _next(events: AsyncGenerator[bytes, None]) -> bytes:
    return await events.__anext__()


class _SyncEvents(http.SyncByteStream):
    """The server-sent events of an answer streamed on the background loop, read in step."""

    def __init__(self, events: AsyncGenerator[bytes, None]) -> None:
        self._events = events

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                chunk = loop.run(_next(self._events))
            except StopAsyncIteration:
                return
            yield chunk

    def close(self) -> None:
        loop.run(self._events.aclose())


class _AsyncEvents(http.AsyncByteStream):
    def __init__(self, events: AsyncGenerator[bytes, None]) -> None:
        self._events = events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._events:
            yield chunk

    async def aclose(self) -> None:
        await self._events.aclose()


__all__ = ["AsyncDeckTransport", "DeckTransport", "async_openai_client", "openai_client"]
