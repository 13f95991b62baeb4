"""The one function that builds a response-cache key.

A key is the sha256 (hex) of a canonical JSON document holding everything that
determines the answer: backend name, endpoint, provider model id, messages,
generation parameters, output schema, and :data:`CACHE_FORMAT_VERSION`.

Canonical means: sorted keys, no whitespace, ASCII only (``\\uXXXX`` escapes, so
lone surrogates cannot break the encoding), top-level parameters whose value is
``None`` dropped (``None`` means "not set", the provider default applies), and
integral floats in top-level parameters written as ints (``temperature=1`` from a
TOML preset and ``temperature=1.0`` typed in a cell send the same request).

What is deliberately *not* in the key:

* **The API key.** ``cache_key`` has no parameter for it. The answer does not depend
  on who pays, so two people (or two keys of one person) share entries; and a
  key, even hashed, must never be written to disk. For the same reason, top-level
  params named like credentials (:func:`~llmdeck_nb.redaction.looks_secret`: ``api_key``,
  ``authorization``, ``token``..., not ``max_tokens``) or holding a
  :class:`~llmdeck_nb.redaction.Secret` are dropped, and user:password in the
  endpoint URL or a ``?key=`` query value are removed before hashing.
* Anything the engine does not pass in ``params`` (timeouts, retry settings...):
  keep transport options out of ``params`` and they will not split the cache.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from llmdeck_nb.errors import CacheError
from llmdeck_nb.redaction import Secret, looks_secret, redact

#: Bump when the shape of the stored value dict changes (fields renamed, meaning
#: changed...). It is part of every key, so entries written in an older shape are
#: never served to code expecting the new one (they just age out).
CACHE_FORMAT_VERSION = 1


def _default(obj: Any) -> Any:
    """JSON fallback for values the stdlib encoder does not know, deterministic."""
    if isinstance(obj, Secret):
        raise CacheError(
            "a Secret (credential) was found inside the data of a cache key",
            hint="credentials must not be part of messages, params or schema; "
            "the engine passes the API key separately",
        )
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (set, frozenset)):
        try:
            return sorted(obj)
        except TypeError:
            return sorted(obj, key=repr)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return {"__bytes_sha256__": hashlib.sha256(bytes(obj)).hexdigest()}
    if hasattr(obj, "model_dump"):  # pydantic models
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if hasattr(obj, "isoformat"):  # date, datetime, time
        return obj.isoformat()
    if hasattr(obj, "__fspath__"):  # pathlib.Path
        return str(obj)
    raise CacheError(
        f"cannot build a cache key: a value of type {type(obj).__name__} is not JSON-able",
        hint="pass messages, params and schema as plain JSON types (str, numbers, lists, dicts)",
    )


# A pre-built encoder: json.dumps(..., sort_keys=True, ...) would build one per call.
_encode = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_default
).encode

_endpoint_cache: dict[str, str] = {}


def _canonical_url(url: str) -> str:
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if sep:
        host, slash, path = rest.partition("/")
        if "@" in host:
            host = host.rpartition("@")[2]
        url = f"{scheme.lower()}://{host.lower()}{slash}{path}"
    return redact(url).rstrip("/")


def _canonical_endpoint(endpoint: str) -> str:
    """Endpoint(s) (comma-separated: the engine joins a backend's list) without
    credentials (user:pass@, ?key=...), with lower-case scheme/host, no trailing slash."""
    canon = _endpoint_cache.get(endpoint)
    if canon is None:
        canon = ",".join(_canonical_url(url) for url in endpoint.split(","))
        if len(_endpoint_cache) < 1024:
            _endpoint_cache[endpoint] = canon
    return canon


def _canonical_params(params: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in params.items():
        if value is None or isinstance(value, Secret):
            continue
        if isinstance(name, str) and looks_secret(name):  # the deck's and the call log's rule too
            continue
        if type(value) is float and value.is_integer():
            value = int(value)
        out[name] = value
    return out


class KeyTemplate:
    """:func:`cache_key` for the requests to one backend, endpoint, model id and parameters:
    that part of the canonical document is encoded once, the messages, schema and sample per
    call. The document's keys sort as backend, endpoint, messages, model_id, params, sample,
    schema, v, so the text is the one encoding of the whole document gives, piece by piece."""

    __slots__ = ("_head", "_middle")

    def __init__(self, *, backend: str, endpoint: str | None, model_id: str,
                 params: Mapping[str, Any]) -> None:
        canonical = _canonical_endpoint(endpoint) if endpoint else None
        self._head = (f'{{"backend":{_encoded(backend)},"endpoint":{_encoded(canonical)},'
                      '"messages":')
        params_text = _encoded(_canonical_params(params) if params else {})
        self._middle = f',"model_id":{_encoded(model_id)},"params":{params_text}'

    def key(self, messages: list[dict[str, Any]], schema: dict[str, Any] | None,
            sample: int | None = None) -> str:
        """The cache key (64 hex chars) of a request with these messages, schema, sample."""
        samples = f',"sample":{sample}' if sample is not None and sample > 1 else ""
        text = (f'{self._head}{_encoded(messages)}{self._middle}{samples}'
                f',"schema":{_encoded(schema)},"v":{CACHE_FORMAT_VERSION}}}')
        return hashlib.sha256(text.encode("ascii")).hexdigest()


def _encoded(value: object) -> str:
    try:
        return _encode(value)
    except (TypeError, ValueError) as exc:  # e.g. non-str dict keys mixed with str keys
        raise CacheError(
            f"cannot build a cache key: {exc}",
            hint="pass messages, params and schema as plain JSON types with string keys",
        ) from exc


def cache_key(
    *,
    backend: str,
    endpoint: str | None,
    model_id: str,
    messages: list[dict[str, Any]],
    params: Mapping[str, Any],
    schema: dict[str, Any] | None,
    sample: int | None = None,
) -> str:
    """Return the cache key (64 hex chars) for one request.

    Same request -> same key, whatever the order of ``params`` and whether unset
    params are passed as ``None`` or omitted. There is no API key parameter, on
    purpose: the answer is the same whoever pays, and a key must never reach disk.
    ``sample`` tells repeats of one request apart (``compare(repeat=N)``); the first
    sample (``None`` or 1) has the plain request's key.
    Raises :class:`~llmdeck_nb.errors.CacheError` if a value is not JSON-able.
    """
    template = KeyTemplate(backend=backend, endpoint=endpoint, model_id=model_id, params=params)
    return template.key(messages, schema, sample)
