"""Response cache in Redis, for a team sharing one cache.

Every key is ``{namespace}:v{CACHE_FORMAT_VERSION}:{cache_key}``; :meth:`clear` and
:meth:`stats` only touch this namespace (SCAN, never FLUSHDB/KEYS). Values are JSON
text. The ``redis`` package is imported when the first ``RedisResponseCache`` is
built (``pip install 'llmdeck-nb[redis]'``), never by ``import llmdeck_nb.cache``.

The client is the synchronous one: a GET on a local network costs well under a
millisecond. An async engine that fans out many calls to a distant Redis can run
``get``/``set`` through ``asyncio.to_thread`` (the client is thread-safe).

A password in the URL (``redis://user:password@host``, ``?password=``) never shows
in a message, a repr or :meth:`stats`: :func:`redact_url` removes it.
"""

from __future__ import annotations

import re
from typing import Any

from llmdeck_nb.cache import keys as _keys
from llmdeck_nb.cache.base import ResponseCache, check_ttl
from llmdeck_nb.errors import CacheError, CacheUnavailableError
from llmdeck_nb.redaction import REDACTED, redact, register_secret

URL_SCHEMES = ("redis://", "rediss://", "unix://")

_NAMESPACE = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
_QUERY_PASSWORD = re.compile(r"(?<=[?&]password=)[^&#]*", re.IGNORECASE)
_BATCH = 500


def _url_password(url: str) -> str | None:
    _, sep, rest = url.partition("://")
    if not sep:
        return None
    netloc = rest.split("/", 1)[0].split("?", 1)[0]
    userinfo, at, _ = netloc.rpartition("@")
    if at and ":" in userinfo:
        return userinfo.split(":", 1)[1] or None
    return None


def redact_url(url: str) -> str:
    """``url`` with the password (``user:PASSWORD@``, ``?password=``) replaced."""
    scheme, sep, rest = url.partition("://")
    if sep:
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        netloc, tail = rest[:cut], rest[cut:]
        userinfo, at, host = netloc.rpartition("@")
        if at and ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{REDACTED}@{host}"
        url = f"{scheme}{sep}{netloc}{tail}"
    return redact(_QUERY_PASSWORD.sub(REDACTED, url))


class RedisResponseCache(ResponseCache):
    kind = "redis"

    def __init__(
        self,
        url: str,
        ttl: float | None = None,
        namespace: str = "llmdeck",
        *,
        connect_timeout: float = 2.0,
        timeout: float = 5.0,
    ) -> None:
        super().__init__()
        if not isinstance(url, str) or not url.startswith(URL_SCHEMES):
            raise CacheError(
                f"a Redis cache URL must start with redis://, rediss:// or unix://, "
                f"got {redact_url(str(url))!r}"
            )
        if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
            raise CacheError(
                f"Redis cache namespace {namespace!r} is not allowed",
                hint="use 1-100 letters, digits, '_', '-' or '.' (no ':' or glob characters)",
            )
        self.ttl = check_ttl(ttl)
        self._ttl_ms = max(1, round(self.ttl * 1000)) if self.ttl is not None else None
        self.namespace = namespace
        self.url = redact_url(url)  # the only form of the URL this object keeps
        self._password = _url_password(url)
        if self._password:
            register_secret(self._password)
        self.prefix = f"{namespace}:v{_keys.CACHE_FORMAT_VERSION}:"
        # Every format version of this namespace (clear/stats), and nothing else.
        self._match = f"{namespace}:v[0-9]*:*"

        try:
            import redis
        except ImportError as exc:
            raise CacheError(
                "the Redis response cache needs the redis package",
                hint="pip install 'llmdeck-nb[redis]'  (or pip install redis)",
            ) from exc
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        try:
            self._client = redis.Redis.from_url(
                url, socket_connect_timeout=connect_timeout, socket_timeout=timeout
            )
            self._client.ping()
        except (ValueError, *self._errors) as exc:
            raise self._fail("connect", exc) from None
        self._client_get = self._client.get
        self._client_set = self._client.set

    @property
    def location(self) -> str:
        return f"{self.url} namespace={self.namespace}"

    def _fail(self, action: str, exc: BaseException) -> CacheError:
        detail = f"{type(exc).__name__}: {exc}"
        if self._password and len(self._password) >= 4:
            detail = detail.replace(self._password, REDACTED)
        name = type(exc).__name__
        if "Authentication" in name or "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            hint = "Redis refused the credentials: check the user/password in the cache URL"
        elif isinstance(exc, ValueError):
            hint = "check the URL, e.g. redis://[:password@]host:6379/0 or unix:///path/redis.sock"
        else:
            hint = (
                "is redis-server running and reachable from here? check the host, port and "
                "db in the cache URL, or set cache = false in the deck to turn the cache off"
            )
        unreachable = "refused the credentials" not in hint and not isinstance(exc, ValueError)
        cls = CacheUnavailableError if unreachable else CacheError
        return cls(f"Redis response cache at {self.url}: {action} failed: {detail}", hint=hint)

    # --- storage primitives ------------------------------------------------------

    def _load(self, key: str) -> str | bytes | None:
        try:
            return self._client_get(self.prefix + key)
        except self._errors as exc:
            raise self._fail("read", exc) from None

    def _store(self, key: str, text: str) -> None:
        try:
            self._client_set(self.prefix + key, text, px=self._ttl_ms)
        except self._errors as exc:
            raise self._fail("write", exc) from None

    def delete(self, key: str) -> bool:
        try:
            return bool(self._client.delete(self.prefix + key))
        except self._errors as exc:
            raise self._fail("delete", exc) from None

    def _scan_batches(self) -> Any:
        batch: list[bytes] = []
        for k in self._client.scan_iter(match=self._match, count=1000):
            batch.append(k)
            if len(batch) >= _BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def _entries_and_bytes(self) -> tuple[int, int]:
        import redis

        entries = size = 0
        try:
            for batch in self._scan_batches():
                entries += len(batch)
                try:
                    pipe = self._client.pipeline(transaction=False)
                    for k in batch:
                        pipe.memory_usage(k)
                    sizes = pipe.execute()
                except redis.ResponseError:  # MEMORY disabled (some managed Redis)
                    pipe = self._client.pipeline(transaction=False)
                    for k in batch:
                        pipe.strlen(k)
                    sizes = pipe.execute()
                size += sum(s or 0 for s in sizes)  # None: expired meanwhile
        except self._errors as exc:
            raise self._fail("stats", exc) from None
        return entries, size

    def clear(self) -> int:
        removed = 0
        try:
            for batch in self._scan_batches():
                removed += int(self._client.delete(*batch))
        except self._errors as exc:
            raise self._fail("clear", exc) from None
        return removed

    def close(self) -> None:
        try:
            self._client.close()
        except self._errors:
            pass
