"""Response cache: a rerun of a notebook does not pay twice.

``open_cache(spec)`` turns what the deck (``cache = ...``) or the user gives into a
cache object; ``cache_key(...)`` (in :mod:`.keys`, with its ``KeyTemplate`` for many
requests to one model) is the only way keys are built.
Importing this package imports neither diskcache nor redis (they load on first use).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmdeck_nb.cache.base import CacheStats, ResponseCache
from llmdeck_nb.cache.disk import DiskResponseCache, default_directory
from llmdeck_nb.cache.keys import CACHE_FORMAT_VERSION, cache_key
from llmdeck_nb.errors import CacheError

if TYPE_CHECKING:
    from llmdeck_nb.cache.redis import RedisResponseCache

__all__ = [
    "CACHE_FORMAT_VERSION",
    "CacheStats",
    "DiskResponseCache",
    "RedisResponseCache",
    "ResponseCache",
    "cache_key",
    "check_cache_setting",
    "default_directory",
    "open_cache",
]

_URL_SCHEMES = ("redis://", "rediss://", "unix://")
_DISK_OPTIONS = {"directory", "ttl", "size_limit"}
_REDIS_OPTIONS = {"url", "ttl", "namespace"}

# Strings that mean a switch, not a directory: deck values often come through ${VAR}
# substitution, which always yields strings ("${LLMDECK_CACHE:-off}").
_OFF_WORDS = frozenset({"false", "off", "no", "none", "disabled"})
_ON_WORDS = frozenset({"true", "on", "yes", "default"})

_ACCEPTED = (
    "accepted: None or true (default directory), false or \"off\" (no cache), a directory path, "
    "a redis://, rediss:// or unix:// URL, a table/dict "
    "{directory = ..., ttl = ..., size_limit = ...} or {url = ..., ttl = ..., namespace = ...}, "
    "or a ResponseCache object"
)


def __getattr__(name: str) -> Any:
    if name == "RedisResponseCache":  # lazy: the module (and redis) load on first use
        from llmdeck_nb.cache.redis import RedisResponseCache

        return RedisResponseCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _describe(spec: object) -> str:
    if isinstance(spec, str) and spec.startswith(_URL_SCHEMES):
        from llmdeck_nb.cache.redis import redact_url

        return repr(redact_url(spec))
    text = repr(spec)
    return text if len(text) <= 80 else text[:77] + "..."


def open_cache(
    spec: object = None, *, default_dir: str | os.PathLike[str] | None = None
) -> ResponseCache | None:
    """Build the response cache described by ``spec``.

    * ``None`` or ``True``: a :class:`DiskResponseCache` in ``default_dir`` or, without
      one, the user cache directory (``~/.cache/llmdeck_nb/responses`` on Linux).
    * ``False``: no cache (returns None).
    * ``"redis://..."``, ``"rediss://..."``, ``"unix://..."``: a :class:`RedisResponseCache`.
    * the strings ``"off"``, ``"false"``, ``"no"``, ``"none"``, ``"disabled"`` mean
      ``False`` and ``"on"``, ``"true"``, ``"yes"``, ``"default"`` mean ``None`` (any case;
      ``${VAR}`` substitution in the deck yields strings). ``"./off"`` is a directory.
    * any other ``str`` or ``Path``: a :class:`DiskResponseCache` in that directory.
    * a mapping (the deck's ``cache = { ... }`` table): with ``url`` -> Redis
      (``ttl``, ``namespace``); otherwise disk (``directory``, ``ttl``, ``size_limit``;
      no ``directory`` = the default one).
    * a :class:`ResponseCache`: returned as is.

    Anything else raises :class:`~llmdeck_nb.errors.CacheError` listing these forms.
    """
    if isinstance(spec, ResponseCache):
        return spec
    if spec is False:
        return None
    if spec is None or spec is True:
        return DiskResponseCache(default_dir)
    if isinstance(spec, str):
        if not spec.strip():
            raise CacheError("the cache setting is an empty string", hint=_ACCEPTED)
        if spec.startswith(_URL_SCHEMES):
            from llmdeck_nb.cache.redis import RedisResponseCache

            return RedisResponseCache(spec)
        word = spec.strip().lower()
        if word in _OFF_WORDS:
            return None
        if word in _ON_WORDS:
            return DiskResponseCache(default_dir)
        return DiskResponseCache(spec)
    if isinstance(spec, os.PathLike):
        return DiskResponseCache(Path(spec))
    if isinstance(spec, Mapping):
        url, options = _table_options(spec)
        if url is not None:
            from llmdeck_nb.cache.redis import RedisResponseCache

            return RedisResponseCache(url, **options)
        directory = options.pop("directory", None)
        return DiskResponseCache(directory if directory is not None else default_dir, **options)
    raise CacheError(f"cannot make a response cache from {_describe(spec)}", hint=_ACCEPTED)


def _table_options(spec: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Check a cache table: (the Redis URL or None for disk, the other options)."""
    options = dict(spec)
    if any(not isinstance(k, str) for k in options):
        raise CacheError("the cache table has non-string keys", hint=_ACCEPTED)
    if "url" in options:
        unknown = set(options) - _REDIS_OPTIONS
        if unknown:
            raise CacheError(
                f"unknown key(s) for a Redis cache: {', '.join(sorted(unknown))}",
                hint="a Redis cache table takes: " + ", ".join(sorted(_REDIS_OPTIONS)),
            )
        url = options.pop("url")
        if not isinstance(url, str) or not url.startswith(_URL_SCHEMES):
            raise CacheError(
                f"cache url must start with redis://, rediss:// or unix://, "
                f"got {_describe(url)}",
                hint="for a local directory use directory = \"...\" instead of url",
            )
        return url, options
    unknown = set(options) - _DISK_OPTIONS
    if unknown:
        raise CacheError(
            f"unknown key(s) for a disk cache: {', '.join(sorted(unknown))}",
            hint="a disk cache table takes: " + ", ".join(sorted(_DISK_OPTIONS))
            + "; a Redis one takes: " + ", ".join(sorted(_REDIS_OPTIONS)),
        )
    directory = options.get("directory")
    if directory is not None and not isinstance(directory, (str, os.PathLike)):
        raise CacheError(f"cache directory must be a path, got {_describe(directory)}")
    return None, options


def check_cache_setting(spec: object) -> None:
    """Raise :class:`CacheError` if :func:`open_cache` would refuse ``spec``; opens nothing
    (``llmdeck validate`` checks a deck's ``[cache]`` with it)."""
    if isinstance(spec, str) and not spec.strip():
        raise CacheError("the cache setting is an empty string", hint=_ACCEPTED)
    if isinstance(spec, Mapping):
        _table_options(spec)
    elif not (spec is None or isinstance(spec, (bool, str, os.PathLike, ResponseCache))):
        raise CacheError(f"cannot make a response cache from {_describe(spec)}", hint=_ACCEPTED)
