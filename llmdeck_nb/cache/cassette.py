"""Cassettes: a notebook's cached answers in one portable file.

:func:`export_cassette` reads the call log for the calls wanted (by tag, session or
date), and writes the response-cache entries their answers are stored under (the log's
``cache_key`` column) to one JSON file. :func:`import_cassette` stores them in another
cache, on another machine. A notebook shipped with its cassette then reruns in replay
mode (:mod:`llmdeck_nb.engine.modes`) with no key and the same answers.

What a cassette holds: the cache key (a SHA-256, which already leaves the API key out),
the cached value (answer text, token counts, model id, finish reason), and for people
reading it the model, backend and the logged prompt preview. Every value passes through
:func:`llmdeck_nb.redaction.redact_value` on the way out and again on the way in, so no
key or other secret is ever in a cassette.

``llmdeck cassette export OUT [--tag T] [--since DATE] [--session ID]`` and
``llmdeck cassette import FILE`` do the same from a shell.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmdeck_nb.cache.keys import CACHE_FORMAT_VERSION
from llmdeck_nb.errors import CacheError
from llmdeck_nb.redaction import redact, redact_value

if TYPE_CHECKING:
    import argparse

    from llmdeck_nb.cache.base import ResponseCache
    from llmdeck_nb.calllog.store import CallLog, Since

CASSETTE_FORMAT = "llmdeck-cassette"
CASSETTE_VERSION = 1
_KEY = re.compile(r"[0-9a-f]{64}$")


@dataclass(frozen=True)
class CassetteReport:
    """What an export or an import did."""

    action: str  # "exported" | "imported"
    path: Path
    entries: int
    missing: int = 0  # logged answers no longer in the cache (expired, cleared)

    def __str__(self) -> str:
        missing = (f" ({self.missing} logged answers were no longer in the cache)"
                   if self.missing else "")
        way = "to" if self.action == "exported" else "from"
        return f"{self.action} {self.entries} cached answers {way} {self.path}{missing}"


def export_cassette(log: CallLog, cache: ResponseCache, path: str | Path, *, tag: str | None = None,
                    since: Since | None = None, session_id: str | None = None) -> CassetteReport:
    """Write the cache entries of the logged answers (filtered) to ``path``."""
    frame = log.frame(since=since)
    frame = frame[frame["status"].isin(["ok", "cache_hit"]) & frame["cache_key"].notna()]
    if tag is not None:
        frame = frame[frame["tags"].fillna("").str.split(",").apply(lambda tags: tag in tags)]
    if session_id is not None:
        frame = frame[frame["session_id"] == session_id]
    entries, missing = [], 0
    for row in frame.drop_duplicates("cache_key", keep="last").itertuples(index=False):
        value = cache.get(row.cache_key)
        if value is None:
            missing += 1
            continue
        entries.append(redact_value({"key": row.cache_key, "model": row.model,
                                     "backend": row.backend, "prompt": row.prompt_preview,
                                     "value": value}))
    document = {"format": CASSETTE_FORMAT, "version": CASSETTE_VERSION,
                "cache_format": CACHE_FORMAT_VERSION,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "filters": redact_value({"tag": tag, "since": None if since is None else str(since),
                                         "session": session_id}),
                "entries": entries}
    target = Path(path).expanduser()
    target.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return CassetteReport("exported", target, len(entries), missing)


def import_cassette(cache: ResponseCache, path: str | Path) -> CassetteReport:
    """Store every entry of the cassette at ``path`` in ``cache``."""
    source = Path(path).expanduser()
    entries = _entries(source)
    for entry in entries:
        cache.set(entry["key"], entry["value"])
    return CassetteReport("imported", source, len(entries))


def _entries(source: Path) -> list[dict[str, Any]]:
    where = redact(str(source))
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CacheError(f"no cassette at {where}",
                         hint="give the file `llmdeck cassette export` wrote") from None
    except (OSError, ValueError) as exc:
        raise CacheError(f"{where} is not a cassette: {exc}",
                         hint="give the file `llmdeck cassette export` wrote") from None
    if not isinstance(document, dict) or document.get("format") != CASSETTE_FORMAT:
        raise CacheError(f"{where} is not an llmdeck cassette (no \"format\": "
                         f"\"{CASSETTE_FORMAT}\")",
                         hint="give the file `llmdeck cassette export` wrote")
    if (document.get("version") != CASSETTE_VERSION
        or document.get("cache_format") != CACHE_FORMAT_VERSION):
        raise CacheError(
            f"{where} is cassette version {document.get('version')} for cache format "
            f"{document.get('cache_format')}; this llmdeck_nb reads version {CASSETTE_VERSION} for "
            f"cache format {CACHE_FORMAT_VERSION}",
            hint="export it again with this version of llmdeck_nb")
    entries = document.get("entries")
    if not isinstance(entries, list):
        raise CacheError(f"{where}: \"entries\" must be a list")
    for number, entry in enumerate(entries, 1):
        if not (isinstance(entry, dict) and isinstance(entry.get("key"), str)
                and _KEY.match(entry["key"])
                and isinstance(entry.get("value"), dict)
                and isinstance(entry["value"].get("text"), str)):
            raise CacheError(f"{where}: entry {number} is not a cache entry (a 64-hex \"key\" and "
                             "a \"value\" with \"text\")",
                             hint="nothing was imported; export the cassette again")
    return entries


def cassette_command(action: str, args: argparse.Namespace) -> int:
    """``llmdeck cassette export|import`` (options parsed by :mod:`llmdeck_nb.cli`)."""
    from llmdeck_nb.cache import open_cache
    from llmdeck_nb.calllog.store import CallLog
    from llmdeck_nb.paths import call_log_path, responses_dir

    spec = args.cache
    if spec is None:
        from llmdeck_nb.deck import load_deck

        spec = load_deck().cache_settings
    cache = open_cache(spec, default_dir=responses_dir())
    if cache is None:
        print("llmdeck: the response cache is off (cache = false in the deck); give --cache DIR",
              file=sys.stderr)
        return 2
    with cache:
        if action == "import":
            print(import_cassette(cache, args.file))
            return 0
        with CallLog(args.log or call_log_path()) as log:
            report = export_cassette(log, cache, args.out, tag=args.tag, since=args.since,
                                     session_id=args.session)
    print(report)
    return 0


__all__ = ["CassetteReport", "cassette_command", "export_cassette", "import_cassette"]
