"""The /v1 endpoints over a Session: chat completions (JSON or SSE) and the model list.

:func:`dispatch` is called by the Starlette app of ``llmdeck serve`` and by the
in-process transport of :mod:`llmdeck_nb.openai_inprocess` alike, with the path below
``/v1``; it never raises: every failure is an answer in OpenAI's error format.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmdeck_nb.errors import HandleNotFoundError, LLMDeckError
from llmdeck_nb.redaction import redact
from llmdeck_nb.server.wire import (
    DONE,
    ApiError,
    ChatRequest,
    ChunkWriter,
    api_error,
    completion_body,
    dumps,
    parse_chat_request,
    sse,
)

if TYPE_CHECKING:
    from llmdeck_nb.engine.session import Session

logger = logging.getLogger("llmdeck_nb.server")

JSON = "application/json"
EVENT_STREAM = "text/event-stream"
_END = object()  # put on a stream's queue when the call has finished
_RESTARTED = ApiError(
    502, "the backend's stream broke off and the deck retried, so the text streamed so far is "
    "not one answer; send the request again (the completed answer is in the cache)",
    type="api_error", code="stream_restarted")


@dataclass
class WireResponse:
    """An HTTP answer: a JSON body, or server-sent events from ``stream``."""

    status: int
    content: bytes = b""
    stream: AsyncGenerator[bytes, None] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def media_type(self) -> str:
        return EVENT_STREAM if self.stream is not None else JSON


def error_response(exc: BaseException) -> WireResponse:
    error = api_error(exc)
    if error.status >= 500 and not isinstance(exc, LLMDeckError | ApiError):
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        logger.error("llmdeck serve: internal error: %s", redact(details))
    return WireResponse(error.status, error.content(), headers=error.headers)


Handler = Callable[["Session", str, bytes, tuple[str, ...]], Awaitable[WireResponse]]


async def dispatch(session: Session, method: str, path: str, body: bytes,
                   tags: tuple[str, ...] = ()) -> WireResponse:
    """Answer ``method path`` (the part after ``/v1``)."""
    path = "/" + path.strip("/")
    route, argument = path, ""
    if path.startswith("/models/"):
        route, argument = "/models/{id}", path[len("/models/"):]
    handlers = ROUTES.get(route)
    if handlers is None:
        return error_response(ApiError(404, f"unknown URL: {method} /v1{path}; this server "
                                       "answers /v1/chat/completions and /v1/models",
                                       code="unknown_url"))
    handler = handlers.get(method)
    if handler is None:
        return error_response(ApiError(405, f"{method} is not allowed on /v1{path} (use "
                                       f"{', '.join(handlers)})", code="method_not_allowed"))
    try:
        return await handler(session, argument, body, tags)
    except Exception as exc:  # noqa: BLE001 - every failure is an OpenAI error body, not a traceback
        return error_response(exc)


# --- chat completions ----------------------------------------------------------------------


async def chat_completions(session: Session, _: str, body: bytes,
                           tags: tuple[str, ...]) -> WireResponse:
    request = parse_chat_request(body)
    if not request.stream:
        result = await session.acomplete(**request.session_arguments(tags))
        return WireResponse(200, completion_body(result))
    return await _streamed(session, request, tags)


async def _streamed(session: Session, request: ChatRequest, tags: tuple[str, ...]) -> WireResponse:
    """SSE answer; a call that fails before its first delta gets a plain error status."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    task = asyncio.ensure_future(session.acomplete(on_text=queue.put_nowait,
                                                   **request.session_arguments(tags)))
    task.add_done_callback(lambda _: queue.put_nowait(_END))
    first = await queue.get()
    if first is _END:
        error = task.exception()
        if error is not None:
            return error_response(error)
    writer = ChunkWriter("chatcmpl-" + uuid.uuid4().hex, request.model)

    async def events() -> AsyncGenerator[bytes, None]:
        sent: list[str] = []
        try:
            item = first
            while item is not _END:
                sent.append(item)
                yield writer.delta(item)
                item = await queue.get()
            failure = task.exception()
            if failure is None and "".join(sent) != task.result().text:
                failure = _RESTARTED  # an attempt died mid-answer and the next one started over
            if failure is not None:  # after the first delta: an error event ends the stream
                yield sse(error_response(failure).content.decode())
                return
            result = task.result()
            yield writer.finish(result)
            if request.include_usage:
                yield writer.usage(result)
            yield DONE
        finally:
            if not task.done():  # the client went away: stop the call
                task.cancel()

    return WireResponse(200, stream=events(), headers={"cache-control": "no-cache"})


# --- models --------------------------------------------------------------------------------


def model_objects(session: Session) -> list[dict[str, Any]]:
    """Deck models, aliases and presets, each owned by the backend it routes to."""
    from llmdeck_nb.deck.presentation import routing_rows

    deck, profile = session.deck, session.profile
    objects = [_model_object(row.model, row.backend or "none", "model", row.callable)
               for row in routing_rows(deck, profile)]
    for kind, names in (("alias", deck.aliases), ("preset", deck.presets)):
        for name in names:
            try:
                owner, available = deck.resolve(name, profile).primary.backend.name, True
            except LLMDeckError:
                owner, available = "none", False
            objects.append(_model_object(name, owner, kind, available))
    return objects


def _model_object(name: str, owner: str, kind: str, available: bool) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": owner,
            "llmdeck": {"kind": kind, "available": available}}


async def list_models(session: Session, _: str, body: bytes, tags: tuple[str, ...]) -> WireResponse:
    return WireResponse(200, dumps({"object": "list", "data": model_objects(session)}).encode())


async def retrieve_model(session: Session, name: str, body: bytes,
                         tags: tuple[str, ...]) -> WireResponse:
    for item in model_objects(session):
        if item["id"] == name:
            return WireResponse(200, dumps(item).encode())
    raise HandleNotFoundError(name, session.deck.handles(), profile=session.profile)


ROUTES: dict[str, dict[str, Handler]] = {
    "/chat/completions": {"POST": chat_completions},
    "/models": {"GET": list_models},
    "/models/{id}": {"GET": retrieve_model},
}
