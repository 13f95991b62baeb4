"""A response cache whose server was down when the session started.

``Session()`` with a Redis cache that does not answer yet must not fail (nor must
``%load_ext``): it goes on uncached, with one warning, and this object tries to open the
real cache again, at most every :data:`RETRY_INTERVAL_S`, on the calls' own cache reads
and writes. Until it opens, every operation raises
:class:`~llmdeck_nb.errors.CacheUnavailableError`, which the session treats like a cache
that died mid-session (calls go on uncached); once it opens, it is used from then on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from llmdeck_nb.cache.base import CacheStats, ResponseCache
from llmdeck_nb.errors import CacheUnavailableError
from llmdeck_nb.json_types import JsonObject

RETRY_INTERVAL_S = 5.0


class DeferredCache(ResponseCache):
    kind = "deferred"

    def __init__(self, opener: Callable[[], ResponseCache | None],
                 error: CacheUnavailableError) -> None:
        super().__init__()
        self._opener = opener
        self._error = error
        self._next_try = time.monotonic() + RETRY_INTERVAL_S
        self._cache: ResponseCache | None = None
        self._lock = threading.Lock()

    def _inner(self) -> ResponseCache:
        cache = self._cache
        if cache is not None:
            return cache
        with self._lock:
            if self._cache is None:
                if time.monotonic() < self._next_try:
                    raise self._error
                self._next_try = time.monotonic() + RETRY_INTERVAL_S
                try:
                    opened = self._opener()
                except CacheUnavailableError as exc:
                    self._error = exc
                    raise
                if opened is None:  # the spec names no cache: nothing will ever open
                    raise self._error
                self._cache = opened
            return self._cache

    @property
    def opened(self) -> bool:
        return self._cache is not None

    @property
    def location(self) -> str:
        if self._cache is not None:
            return self._cache.location
        return f"(not connected yet: {self._error.message})"

    # the real cache counts hits and misses once it is open
    def get(self, key: str) -> JsonObject | None:
        return self._inner().get(key)

    def set(self, key: str, value: JsonObject) -> None:
        self._inner().set(key, value)

    def stats(self) -> CacheStats:
        return self._inner().stats()

    def _load(self, key: str) -> str | bytes | None:
        return self._inner()._load(key)

    def _store(self, key: str, text: str) -> None:
        self._inner()._store(key, text)

    def delete(self, key: str) -> bool:
        return self._inner().delete(key)

    def _entries_and_bytes(self) -> tuple[int, int]:
        return self._inner()._entries_and_bytes()

    def clear(self) -> int:
        return self._inner().clear()

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()


__all__ = ["RETRY_INTERVAL_S", "DeferredCache"]
