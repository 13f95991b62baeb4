"""HTTP status (or transport failure) -> BackendError: the one place that decides retryable.

    408, 429, 500, 502, 503, 504, 529   retryable (429 carries ``retry_after`` from the
                                        ``Retry-After`` header: seconds or an HTTP date)
    connection refused / dropped        BackendConnectionError, retryable
    no answer within the timeout        BackendTimeoutError, retryable
    malformed JSON / answer cut off     BackendResponseError, retryable
    any other 4xx                       not retryable; 401/403 point at the API key
                                        variable, 404 at model_id, 400/422 quote the provider
    a LiteLLM proxy refusing the key    not retryable whatever its status (400 "No connected
                                        db.", 500 "No api key passed in."): set its master key

Messages never carry a key: they are built from the status, the provider's own error
text and the endpoint, and :class:`~llmdeck_nb.errors.LLMDeckError` passes every message
and hint through :func:`~llmdeck_nb.redaction.redact` on the way out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from llmdeck_nb.errors import (
    BackendConnectionError,
    BackendError,
    BackendResponseError,
    BackendTimeoutError,
)

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})  # 529: Anthropic overloaded
MAX_DETAIL_CHARS = 300


def is_retryable_status(status: int | None) -> bool:
    return status in RETRYABLE_STATUSES


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``retry-after-ms``."""
    if not headers:
        return None
    getter = headers.get
    millis = getter("retry-after-ms") or getter("Retry-After-Ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = getter("retry-after") or getter("Retry-After")
    if not value:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def provider_message(body: str | bytes | None) -> str:
    """The provider's own error text from an error body (OpenAI, Anthropic, Ollama, Gemini
    shapes), else the body itself; shortened to :data:`MAX_DETAIL_CHARS`."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    text = body.strip()
    start = text.find("{")
    if start != -1:
        try:
            data = json.loads(text[start:])
        except ValueError:
            data = None
        found = _message_in(data)
        if found:
            text = found
    return shorten(text)


def _message_in(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    error = data.get("error", data)
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        for key in ("message", "detail", "msg"):
            if isinstance(error.get(key), str):
                return error[key]
    for key in ("message", "detail"):
        if isinstance(data.get(key), str):
            return data[key]
    return None


def shorten(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_from_status(
    status: int,
    *,
    backend: str,
    headers: Mapping[str, str] | None = None,
    body: str | bytes | None = None,
    model_id: str | None = None,
    key_variable: str | None = None,
) -> BackendError:
    """The BackendError for an HTTP error answer (``status`` >= 400)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    detail = provider_message(body)
    message = f"backend '{backend}' answered HTTP {status} ({phrase})"
    if detail:
        message += f": {detail}"
    retryable = is_retryable_status(status)
    retry_after = parse_retry_after(headers) if retryable else None
    cls: type[BackendError] = BackendTimeoutError if status in (408, 504) else BackendError
    if _proxy_refused_key(status, detail):
        retryable, retry_after = False, None  # it says 500 for a missing key: not transient
        hint = f"the proxy refused the key: set {key_variable or _key_variable(backend)} to " \
               "its master key (a LiteLLM proxy without a database accepts no other key)"
    elif status in (401, 403):
        var = f" ({key_variable})" if key_variable else ""
        hint = f"check the API key variable{var} for backend '{backend}': is it set, current, " \
               "and allowed to use this model?"
    elif status == 404:
        hint = f"check model_id{f' {model_id!r}' if model_id else ''} and the endpoint of " \
               f"backend '{backend}' (list the provider's models, or %llm_models)"
    elif status in (400, 413, 422):
        hint = "the provider rejected the request: check the parameters and the prompt " \
               "(see its message above)"
    elif status == 429:
        wait = f" (it asks to wait {retry_after:g}s)" if retry_after is not None else ""
        hint = f"rate limited by the provider{wait}: lower concurrency, or use another profile"
    elif retryable:
        hint = "the provider failed on its side; usually transient, try again later"
    else:
        hint = None
    return cls(message, backend=backend, status=status, retryable=retryable,
               retry_after=retry_after, hint=hint)


# What a LiteLLM proxy answers for a missing or unknown key (400, 401 or 500 by version).
_PROXY_AUTH_MARKERS = ("no connected db", "no api key passed in", "malformed api key",
                       "litellm virtual key", "invalid proxy server token")


def _proxy_refused_key(status: int, detail: str) -> bool:
    lowered = detail.lower()
    return status in (400, 401, 403, 500) and any(m in lowered for m in _PROXY_AUTH_MARKERS)


def _key_variable(backend: str) -> str:
    from llmdeck_nb.backends.catalog import PROVIDER_CATALOG

    known = PROVIDER_CATALOG.get(backend)
    return known.key_vars[0] if known is not None and known.key_vars else \
        f"the api_key variable of backend '{backend}'"


def timeout_error(backend: str, timeout: float | None, where: str = "") -> BackendTimeoutError:
    limit = f" within {timeout:g}s" if timeout is not None else ""
    return BackendTimeoutError(
        f"backend '{backend}' gave no answer{limit}{where}",
        backend=backend, retryable=True,
        hint="raise `timeout` for this model in the deck, or check that the server is not stuck",
    )


_DNS_FAILED = ("name or service not known", "nodename nor servname", "name resolution",
               "getaddrinfo failed", "no address associated", "cannot resolve")


def connection_error(
    backend: str, endpoint: str | None, detail: str = ""
) -> BackendConnectionError:
    """The server could not be reached; a failed DNS lookup is said as such, with the host."""
    host = urlsplit(endpoint).hostname if endpoint else None
    if host and any(marker in detail.lower() for marker in _DNS_FAILED):
        return BackendConnectionError(
            f"cannot resolve {host} (backend '{backend}'): the DNS lookup failed "
            f"({shorten(detail)})",
            backend=backend, retryable=True,
            hint="check the host name in the endpoint, and that this machine is online",
        )
    where = f" at {endpoint}" if endpoint else ""
    tail = f": {shorten(detail)}" if detail else ""
    return BackendConnectionError(
        f"cannot reach backend '{backend}'{where}{tail}",
        backend=backend, retryable=True,
        hint="is the server running, and is the endpoint right?",
    )


def response_error(backend: str, detail: str) -> BackendResponseError:
    """A 200 answer we cannot use: malformed JSON, or a stream cut before its end."""
    return BackendResponseError(
        f"backend '{backend}' sent an unusable answer: {shorten(detail)}",
        backend=backend, retryable=True,
        hint="usually transient; if it persists, the endpoint may not speak this provider's "
             "protocol, or a proxy is cutting long answers",
    )


def error_from_transport(
    exc: BaseException,
    *,
    backend: str,
    endpoint: str | None = None,
    timeout: float | None = None,
    answer_started: bool = False,
) -> BackendError:
    """The BackendError for an httpx/socket failure. ``answer_started``: the status line
    had arrived, so a dropped connection means the answer was cut off."""
    import httpx  # already imported by any caller that can raise its errors

    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        return timeout_error(backend, timeout)
    if answer_started and isinstance(exc, (httpx.TransportError, OSError)):
        return response_error(backend, f"the answer was cut off ({type(exc).__name__}: {exc})")
    detail = str(exc) or type(exc).__name__
    return connection_error(backend, endpoint, detail)
