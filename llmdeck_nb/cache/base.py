"""The response-cache interface: what the engine calls, whatever stores the entries.

Values are JSON-able dicts (answer text, token counts, cost, model_id, finish_reason,
created_at...). :meth:`ResponseCache.set` passes every value through
:func:`llmdeck_nb.redaction.redact_value` and stores it as compact JSON text (never
pickle: entries stay readable, and loading one cannot run code). Hits and misses are
counted per cache object (i.e. per session), not stored.

Implementations provide the storage primitives ``_load`` / ``_store`` / ``delete`` /
``_entries_and_bytes`` / ``clear`` / ``close`` and the ``kind`` and ``location``.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from llmdeck_nb.errors import CacheError
from llmdeck_nb.json_types import JsonObject
from llmdeck_nb.redaction import redact_value

_encode_value = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_decode_value = json.loads


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of one cache: this object's hits/misses and the store's size."""

    hits: int
    misses: int
    entries: int
    bytes: int
    location: str  # directory or redacted URL; never a password
    kind: str  # "disk", "redis"

    @property
    def hit_rate(self) -> float | None:
        total = self.hits + self.misses
        return self.hits / total if total else None

    def __str__(self) -> str:
        rate = f"{self.hit_rate:.0%}" if self.hit_rate is not None else "n/a"
        entries = "1 entry" if self.entries == 1 else f"{self.entries} entries"
        return (
            f"{self.kind} cache at {self.location}: {entries}, "
            f"{self.bytes / 1e6:.1f} MB; {self.hits} hits, {self.misses} misses ({rate})"
        )


def encode_value(value: JsonObject) -> str:
    """Redact and serialize a value; CacheError if it is not a JSON-able dict."""
    if not isinstance(value, dict):
        raise CacheError(f"a cache value must be a dict, not {type(value).__name__}")
    try:
        return _encode_value(redact_value(value))
    except (TypeError, ValueError) as exc:
        raise CacheError(
            f"a cache value is not JSON-able: {exc}",
            hint="store plain JSON types (str, numbers, bools, None, lists, dicts)",
        ) from exc


def decode_value(raw: str | bytes | None) -> JsonObject | None:
    """Parse a stored value; None for anything that is not a JSON object."""
    if raw is None:
        return None
    try:
        value = _decode_value(raw)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def check_ttl(ttl: float | None) -> float | None:
    """``ttl`` as float seconds (None: entries never expire); CacheError if not positive."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
        raise CacheError(
            f"cache ttl must be a positive number of seconds, got {ttl!r}",
            hint="e.g. ttl = 86400 for one day; leave it out to keep entries until evicted",
        )
    return float(ttl)


class ResponseCache(ABC):
    """Where answers are kept so that a rerun does not pay twice.

    Subclass it (a test double too: implement the abstract methods). No duck typing
    on purpose: a bare ``diskcache.Cache`` has get/set/stats too, with other meanings.
    Usable as a context manager (closes on exit).
    """

    kind: ClassVar[str] = "?"

    def __init__(self) -> None:
        self._hits = 0
        self._misses = 0
        self._count_lock = threading.Lock()

    # --- what implementations provide ----------------------------------------------

    @abstractmethod
    def _load(self, key: str) -> str | bytes | None:
        """The stored JSON text for ``key`` or None (missing or expired)."""

    @abstractmethod
    def _store(self, key: str, text: str) -> None:
        """Store JSON text under ``key`` (with the cache's ttl)."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Remove one entry; True if it was there."""

    @abstractmethod
    def _entries_and_bytes(self) -> tuple[int, int]:
        """Number of entries and bytes used by the store."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the entries live, redacted (no password)."""

    @abstractmethod
    def clear(self) -> int:
        """Remove every entry of this cache; return how many were removed."""

    @abstractmethod
    def close(self) -> None:
        """Release files/connections."""

    # --- the interface the engine uses -----------------------------------------------

    def get(self, key: str) -> JsonObject | None:
        """The value stored under ``key``, or None. Counts a hit or a miss."""
        value = decode_value(self._load(key))
        with self._count_lock:
            if value is None:
                self._misses += 1
            else:
                self._hits += 1
        return value

    def set(self, key: str, value: JsonObject) -> None:
        """Store ``value`` (redacted, as JSON) under ``key``."""
        self._store(key, encode_value(value))

    def stats(self) -> CacheStats:
        entries, size = self._entries_and_bytes()
        return CacheStats(
            hits=self._hits,
            misses=self._misses,
            entries=entries,
            bytes=size,
            location=self.location,
            kind=self.kind,
        )

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"
