"""Failures -> BackendError: :func:`is_retryable` is the one verdict on what is retried.

Every strategy (and the engine, for a schema mismatch or a spent call budget) builds its
errors here, and each builder asks :func:`is_retryable`, so one table decides:

    408, 429, 500, 502, 503, 504, 529   retryable (429 carries ``retry_after`` from the
                                        ``Retry-After`` header: seconds or an HTTP date)
    any other status >= 400             not retryable; 401/403 name the API key variable,
                                        404 model_id, 400/422 quote the provider
    "connection" refused / dropped      BackendConnectionError, retryable
    "timeout" no answer in time         BackendTimeoutError, retryable
    "malformed" / "cut" answer          BackendResponseError, retryable
    "key_refused" by a LiteLLM proxy    not retryable whatever its status (400 "No connected
                                        db.", 500 "No api key passed in."): set its master key
    "schema_mismatch"                   SchemaMismatchError, not retryable (next candidate)
    "deadline" the call's budget spent  BackendTimeoutError, not retryable
    "no_endpoint", "unexpected"         BackendError, not retryable

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
from typing import Literal
from urllib.parse import urlsplit

from llmdeck_nb.errors import (
    BackendConnectionError,
    BackendError,
    BackendResponseError,
    BackendTimeoutError,
    SchemaMismatchError,
)

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})  # 529: Anthropic overloaded
MAX_DETAIL_CHARS = 300

#: A failure that has no HTTP status of its own (or whose status is not to be trusted).
Failure = Literal["connection", "timeout", "malformed", "cut", "key_refused",
                  "schema_mismatch", "deadline", "no_endpoint", "unexpected"]
_RETRYABLE_FAILURES: dict[Failure, bool] = {
    "connection": True,  # refused, reset before the answer began, DNS
    "timeout": True,  # no answer within the attempt's timeout
    "malformed": True,  # a 2xx answer that is not this protocol's JSON
    "cut": True,  # the answer (stream or body) stopped before its end
    "key_refused": False,  # a LiteLLM proxy refusing the key says 400, 401 or even 500
    "schema_mismatch": False,  # asked again, the model would most likely answer the same
    "deadline": False,  # the call's own total time budget is spent
    "no_endpoint": False,  # the deck names no URL: nothing to retry against
    "unexpected": False,  # an error nobody classified is not assumed to be transient
}


def is_retryable(failure: int | Failure) -> bool:
    """May the same request go to the same backend again? ``failure``: the HTTP status of
    the answer, or the kind of failure that has none (see the table above)."""
    if isinstance(failure, int):
        return failure in RETRYABLE_STATUSES
    return _RETRYABLE_FAILURES[failure]



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


def _message_in(data: object) -> str | None:
    if not isinstance(data, dict):
        return None
    error = data.get("error", data)
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        for key in ("message", "detail", "msg"):
            text = error.get(key)
            if isinstance(text, str):
                return text
    for key in ("message", "detail"):
        text = data.get(key)
        if isinstance(text, str):
            return text
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
    refused_key = _proxy_refused_key(status, detail)  # it says 500 for a missing key
    retryable = is_retryable("key_refused" if refused_key else status)
    retry_after = parse_retry_after(headers) if retryable else None
    cls: type[BackendError] = BackendTimeoutError if status in (408, 504) else BackendError
    variable = key_variable or catalog_key_variable(backend)
    if refused_key:
        hint = f"the proxy refused the key: set {variable or _unnamed_key(backend)} to " \
               "its master key (a LiteLLM proxy without a database accepts no other key)"
    elif status in (401, 403):
        var = f" {variable}" if variable else ""
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


def catalog_key_variable(backend: str) -> str | None:
    """The catalog's usual API key variable for a backend of this name, if it knows one."""
    from llmdeck_nb.backends.catalog import PROVIDER_CATALOG

    known = PROVIDER_CATALOG.get(backend)
    return known.key_vars[0] if known is not None and known.key_vars else None


def _unnamed_key(backend: str) -> str:
    return f"the api_key variable of backend '{backend}'"


def timeout_error(backend: str, timeout: float | None, where: str = "") -> BackendTimeoutError:
    limit = f" within {timeout:g}s" if timeout is not None else ""
    return BackendTimeoutError(
        f"backend '{backend}' gave no answer{limit}{where}",
        backend=backend, retryable=is_retryable("timeout"),
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
            backend=backend, retryable=is_retryable("connection"),
            hint="check the host name in the endpoint, and that this machine is online",
        )
    where = f" at {endpoint}" if endpoint else ""
    tail = f": {shorten(detail)}" if detail else ""
    return BackendConnectionError(
        f"cannot reach backend '{backend}'{where}{tail}",
        backend=backend, retryable=is_retryable("connection"),
        hint="is the server running, and is the endpoint right?",
    )


def response_error(backend: str, detail: str,
                   failure: Literal["malformed", "cut"] = "malformed") -> BackendResponseError:
    """A 2xx answer we cannot use: malformed JSON, or an answer cut before its end."""
    return BackendResponseError(
        f"backend '{backend}' sent an unusable answer: {shorten(detail)}",
        backend=backend, retryable=is_retryable(failure),
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
        return response_error(backend, f"the answer was cut off ({type(exc).__name__}: {exc})",
                              "cut")
    detail = str(exc) or type(exc).__name__
    return connection_error(backend, endpoint, detail)


def schema_mismatch_error(backend: str, detail: str) -> SchemaMismatchError:
    """The answer arrived whole but does not fit the requested schema."""
    return SchemaMismatchError(
        f"{backend} returned text that does not match the schema: {detail[:MAX_DETAIL_CHARS]}",
        backend=backend, retryable=is_retryable("schema_mismatch"),
        hint="try a model with reliable structured output, or a simpler schema",
    )


def deadline_error(backend: str, budget_s: float) -> BackendTimeoutError:
    """The call's own total time budget ran out during an attempt: no time for another."""
    return BackendTimeoutError(
        f"the call's total time budget of {budget_s:g}s ran out while backend "
        f"'{backend}' was answering",
        backend=backend, retryable=is_retryable("deadline"),
        hint="raise RetryPolicy(total_budget_s=...) for long answers, or use a faster model",
    )


def no_endpoint_error(backend: str) -> BackendError:
    return BackendError(
        f"backend '{backend}' has no endpoint",
        backend=backend, retryable=is_retryable("no_endpoint"),
        hint="set `endpoint = \"http://host:port/v1\"` for it in backends.toml",
    )


def unexpected_error(backend: str, what: str, exc: BaseException, detail: str,
                     status: int | None = None) -> BackendError:
    """A library failure nobody classified: named, not retried."""
    return BackendError(
        f"backend '{backend}' ({what}) failed: {type(exc).__name__}: {detail}",
        backend=backend, status=status, retryable=is_retryable("unexpected"),
        hint="see the message; if it names a missing package, install it "
             "(e.g. vertex_ai needs `pip install 'litellm[google]'`)",
    )
