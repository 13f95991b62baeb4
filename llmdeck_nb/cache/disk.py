"""Response cache in a local directory (diskcache: SQLite + files), the default.

Safe across threads and processes (two kernels may share the directory). Values are
stored as JSON text, never pickled. Entries older than ``ttl`` seconds are never
served; when the directory grows past ``size_limit`` bytes, the least recently
*stored* entries are evicted (reads do not write, so a hit stays a plain SELECT).
"""

from __future__ import annotations

import os
from pathlib import Path

from llmdeck_nb.cache.base import ResponseCache, check_ttl
from llmdeck_nb.errors import CacheError
from llmdeck_nb.redaction import redact

#: diskcache's own default (1 GiB), passed explicitly so that reopening a directory
#: without ``size_limit`` does not keep a limit persisted by an earlier session.
DEFAULT_SIZE_LIMIT = 2**30

# sqlite busy timeout: how long a reader/writer waits for another process's lock.
_LOCK_TIMEOUT_S = 10.0


def default_directory() -> Path:
    """``$LLMDECK_CACHE_DIR/responses``, else ``<user cache dir>/llmdeck_nb/responses``
    (``~/.cache/llmdeck_nb/responses`` on Linux): :func:`llmdeck_nb.paths.responses_dir`."""
    from llmdeck_nb.paths import responses_dir

    return responses_dir()


class DiskResponseCache(ResponseCache):
    kind = "disk"

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        ttl: float | None = None,
        size_limit: int | None = None,
    ) -> None:
        super().__init__()
        self.ttl = check_ttl(ttl)
        if size_limit is not None and (
            isinstance(size_limit, bool) or not isinstance(size_limit, int) or size_limit <= 0
        ):
            raise CacheError(
                f"cache size_limit must be a positive number of bytes, got {size_limit!r}",
                hint="e.g. size_limit = 500_000_000 for 500 MB",
            )
        self.size_limit = size_limit
        self.directory = (
            Path(directory).expanduser() if directory is not None else default_directory()
        )
        import sqlite3

        import diskcache

        self._errors: tuple[type[BaseException], ...] = (
            diskcache.Timeout,
            sqlite3.Error,
            OSError,
        )
        try:
            self._cache = diskcache.Cache(
                str(self.directory),
                timeout=_LOCK_TIMEOUT_S,
                size_limit=size_limit or DEFAULT_SIZE_LIMIT,
                eviction_policy="least-recently-stored",
                statistics=0,
                tag_index=0,
            )
        except self._errors as exc:
            raise CacheError(
                f"cannot open the response cache directory {self.location}: {exc}",
                hint="check that the directory is writable, or set another one "
                "(cache = \"/path/to/dir\" in the deck, or cache = false to turn it off)",
            ) from exc
        # Bound methods, looked up once: get() is on the hot path.
        self._cache_get = self._cache.get
        self._cache_set = self._cache.set

    @property
    def location(self) -> str:
        return redact(str(self.directory))

    def _fail(self, action: str, exc: BaseException) -> CacheError:
        return CacheError(
            f"response cache at {self.location}: {action} failed: {type(exc).__name__}: {exc}",
            hint="another process may hold a lock, or the disk is full / read-only; "
            "cache = false in the deck turns the cache off",
        )

    def _load(self, key: str) -> str | None:
        try:
            raw = self._cache_get(key)
        except self._errors as exc:
            raise self._fail("read", exc) from exc
        return raw if isinstance(raw, str) else None

    def _store(self, key: str, text: str) -> None:
        try:
            self._cache_set(key, text, expire=self.ttl)
        except self._errors as exc:
            raise self._fail("write", exc) from exc

    def delete(self, key: str) -> bool:
        try:
            return bool(self._cache.delete(key, retry=True))
        except self._errors as exc:
            raise self._fail("delete", exc) from exc

    def _entries_and_bytes(self) -> tuple[int, int]:
        try:
            self._cache.expire(retry=True)  # expired entries are not entries any more
            return len(self._cache), int(self._cache.volume())
        except self._errors as exc:
            raise self._fail("stats", exc) from exc

    def clear(self) -> int:
        try:
            return int(self._cache.clear(retry=True))
        except self._errors as exc:
            raise self._fail("clear", exc) from exc

    def close(self) -> None:
        self._cache.close()
