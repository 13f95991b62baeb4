"""The Starlette application of ``llmdeck serve``.

    GET  /health                          no token needed
    POST /v1/chat/completions             OpenAI chat (JSON or SSE)   -> openai_api.dispatch
    GET  /v1/models, /v1/models/{id}      deck models, aliases, presets
    GET  /api/backends                    enabled, available, reason, last check
    POST /api/backends/{name}/test        live probe with latency
    GET  /api/routes?profile=P            which backend serves which model
    POST /api/resolve                     what a call would use, without sending
    GET  /api/calls?since=&model=         the call log as JSON

Every error is OpenAI's error JSON; request bodies are limited in size; with a token,
every route but /health needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from llmdeck_nb import __version__
from llmdeck_nb.server import management
from llmdeck_nb.server.auth import OPEN_PATHS, token_matches
from llmdeck_nb.server.openai_api import JSON, WireResponse, dispatch, error_response
from llmdeck_nb.server.wire import ApiError, dumps, json_object

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from llmdeck_nb.engine.session import Session

logger = logging.getLogger("llmdeck_nb.server")

MAX_BODY_BYTES = 8 * 1024 * 1024  # a chat request with a few images fits; a runaway upload does not
TAGS = ("serve",)


def create_app(session: Session, *, token: str | None = None,
               max_body_bytes: int = MAX_BODY_BYTES) -> Any:
    """The ASGI app serving ``session``; with ``token``, wrapped in the token gate."""
    checks: dict[str, dict[str, Any]] = {}  # backend -> its last /test result

    async def body_of(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            raise _too_large(max_body_bytes)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise _too_large(max_body_bytes)
            chunks.append(chunk)
        return b"".join(chunks)

    async def openai_route(request: Request) -> Response:
        body = await body_of(request) if request.method == "POST" else b""
        return _send(await dispatch(session, request.method, request.path_params["path"],
                                    body, TAGS))

    async def health(request: Request) -> Response:
        return _json({"status": "ok", "version": __version__, "profile": session.profile})

    async def backends(request: Request) -> Response:
        return _json({"object": "list", "data": management.backends(session, checks)})

    async def test_backend(request: Request) -> Response:
        return _json(await management.test_backend(session, request.path_params["name"], checks))

    async def routes(request: Request) -> Response:
        return _json(management.routes(session, request.query_params.get("profile")))

    async def resolve(request: Request) -> Response:
        return _json(management.resolve(session, json_object(await body_of(request))))

    async def calls(request: Request) -> Response:
        return _json(management.calls(session, dict(request.query_params)))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        from llmdeck_nb.backends.registry import aclose_all

        await aclose_all()
        session.close()

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/v1/{path:path}", openai_route, methods=["GET", "POST"]),
            Route("/api/backends", _guarded(backends), methods=["GET"]),
            Route("/api/backends/{name}/test", _guarded(test_backend), methods=["POST"]),
            Route("/api/routes", _guarded(routes), methods=["GET"]),
            Route("/api/resolve", _guarded(resolve), methods=["POST"]),
            Route("/api/calls", _guarded(calls), methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, ApiError: _api_error},
        lifespan=lifespan,
    )
    return TokenGate(app, token) if token else app


Endpoint = Callable[[Request], Awaitable[Response]]


def _guarded(endpoint: Endpoint) -> Endpoint:
    """Management endpoints: any failure becomes an OpenAI-format error answer."""

    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception as exc:  # noqa: BLE001 - the answer is an error body, never a traceback
            return _send(error_response(exc))

    return guarded


def _send(answer: WireResponse) -> Response:
    if answer.stream is not None:
        return StreamingResponse(answer.stream, status_code=answer.status, headers=answer.headers,
                                 media_type=answer.media_type)
    return Response(answer.content, status_code=answer.status, headers=answer.headers,
                    media_type=answer.media_type)


def _json(data: Any) -> Response:
    return Response(dumps(data), media_type=JSON)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body larger than {limit // 1024} KiB", code="request_too_large")


async def _api_error(request: Request, exc: Exception) -> Response:
    return _send(error_response(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"unknown URL: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return _send(error_response(ApiError(exc.status_code, message)))


class TokenGate:
    """ASGI middleware: every HTTP request but /health needs the bearer token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
            if not token_matches(authorization, self._token):
                error = ApiError(401, "missing or wrong token: send 'Authorization: Bearer "
                                 "<token>' (the --token or LLMDECK_SERVE_TOKEN of the server)",
                                 code="invalid_api_key")
                await _send(error_response(error))(scope, receive, send)
                return
        await self.app(scope, receive, send)
