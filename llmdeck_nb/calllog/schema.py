"""SQLite schema of the call log, versioned with ``PRAGMA user_version``.

``MIGRATIONS`` is an ordered list of functions (the model is simonw/llm's
``llm/migrations.py``); migration *n* (1-based) takes a file from version ``n - 1`` to
version ``n``. :func:`migrate` applies the missing ones in order, each exactly once, in
one ``BEGIN IMMEDIATE`` transaction together with the ``user_version`` bump, so two
kernels opening an old file at the same moment cannot both upgrade it, and a failed
upgrade leaves the file as it was.

To change the schema: append a new function with ``@migration`` (never edit or reorder
the existing ones: files in the wild have already run them), keep it additive
(``ALTER TABLE calls ADD COLUMN ...``) so old rows survive, and add the column to
``CallRecord`` / ``COLUMNS`` in :mod:`llmdeck_nb.calllog.records`.

Storage conventions:

* ``started_at``: INTEGER microseconds since the Unix epoch, UTC (exact, sortable, and
  converted to ``datetime64[us, UTC]`` in one vectorised call);
* booleans: INTEGER 0/1; ``params``: JSON text; ``tags``: comma-separated text;
* missing values: NULL;
* ``id`` is AUTOINCREMENT: ids only grow and are never reused, even after ``clear()``,
  so a reader can tell "rows were appended" (larger ids) from "rows were deleted"
  (fewer rows than it has seen, and the ``generation`` of the ``log_meta`` table bumped):
  the frame cache of ``CallLog`` and its snapshot next to the file rely on it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from llmdeck_nb.errors import CallLogFormatError

TABLE = "calls"
#: ``PRAGMA application_id`` of a call log file ("LLMD"); 0 (unset) is accepted too.
APPLICATION_ID = 0x4C4C4D44

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_calls_table(conn: sqlite3.Connection) -> None:
    conn.execute(
        f"""
        CREATE TABLE {TABLE} (
            id               INTEGER PRIMARY KEY AUTOINCREMENT,
            call_id          TEXT    NOT NULL,
            attempt          INTEGER NOT NULL DEFAULT 1,
            started_at       INTEGER NOT NULL,  -- microseconds since epoch, UTC
            profile          TEXT,
            requested        TEXT,
            preset           TEXT,
            backend          TEXT,
            provider         TEXT,
            model            TEXT,
            model_id         TEXT,
            endpoint_host    TEXT,
            status           TEXT    NOT NULL DEFAULT 'ok',
            error_type       TEXT,
            error_message    TEXT,
            http_status      INTEGER,
            latency_s        REAL,
            ttft_s           REAL,
            input_tokens     INTEGER,
            output_tokens    INTEGER,
            cost_usd         REAL,
            cost_source      TEXT    NOT NULL DEFAULT 'none',
            cache_hit        INTEGER NOT NULL DEFAULT 0,
            saved_cost_usd   REAL,
            stream           INTEGER NOT NULL DEFAULT 0,
            temperature      REAL,
            max_tokens       INTEGER,
            params           TEXT    NOT NULL DEFAULT '{{}}',
            prompt_hash      TEXT,
            prompt_preview   TEXT,
            response_preview TEXT,
            tags             TEXT    NOT NULL DEFAULT ''
        )
        """
    )
    conn.execute(f"CREATE INDEX {TABLE}_started_at ON {TABLE} (started_at)")
    conn.execute(f"CREATE INDEX {TABLE}_call_id ON {TABLE} (call_id)")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")


@migration
def m002_session_id(conn: sqlite3.Connection) -> None:
    conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN session_id TEXT")
    conn.execute(f"CREATE INDEX {TABLE}_session_id ON {TABLE} (session_id)")


@migration
def m003_cache_key(conn: sqlite3.Connection) -> None:
    """The cache entry of each answer, so a cassette can export a notebook's answers."""
    conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN cache_key TEXT")


#: the turns of notebook conversations (``%%llm --chat``), kept next to the calls they made
CONVERSATIONS_TABLE = "conversation_turns"


@migration
def m004_conversation_turns(conn: sqlite3.Connection) -> None:
    conn.execute(
        f"""
        CREATE TABLE {CONVERSATIONS_TABLE} (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation  TEXT    NOT NULL,
            role          TEXT    NOT NULL,  -- user | assistant
            content       TEXT    NOT NULL,  -- JSON: a string, or a list of message parts
            model         TEXT,
            call_id       TEXT,
            tokens        INTEGER,
            created_at    INTEGER NOT NULL   -- microseconds since epoch, UTC
        )
        """
    )
    conn.execute(f"CREATE INDEX {CONVERSATIONS_TABLE}_name ON {CONVERSATIONS_TABLE} (conversation, "
                 "id)")


@migration
def m005_cache_where(conn: sqlite3.Connection) -> None:
    """Where a cache hit was served: 'local' (llmdeck's cache) or 'proxy' (a LiteLLM proxy's
    own cache, told by its x-litellm-cache-key header). Older hits were all local."""
    conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN cache_where TEXT")
    conn.execute(f"UPDATE {TABLE} SET cache_where = 'local' WHERE cache_hit = 1")


@migration
def m006_provider_cache_and_reasoning(conn: sqlite3.Connection) -> None:
    """Cached, cache-write and reasoning tokens; provider caching's saving (old rows: NULL)."""
    for column, kind in (("cached_tokens", "INTEGER"), ("cache_write_tokens", "INTEGER"),
                         ("reasoning_tokens", "INTEGER"), ("provider_saved_usd", "REAL")):
        conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {column} {kind}")


@migration
def m007_drop_call_id_index(conn: sqlite3.Connection) -> None:
    """Every call's row (cache hits too) is appended in its own transaction, and this index
    of random hex keys dirtied one more random page per commit: ~6 us a call, and WAL
    checkpoints twice as large. Looking a call up by ``call_id`` (``frame(call_id=...)``,
    GET /calls?call_id=) scans the table instead: ~25 ms for 100,000 rows, rarely asked.
    The ``started_at`` index serves ``since=``, ``last=``, ``cost_since`` and the order of
    every read; the ``session_id`` index the panel's spend of one session."""
    conn.execute(f"DROP INDEX IF EXISTS {TABLE}_call_id")


#: one row per key: ``log_id`` (random, made with the file) and ``generation``
META_TABLE = "log_meta"


@migration
def m008_log_meta(conn: sqlite3.Connection) -> None:
    """What a reader needs to trust a copy of the rows it made earlier (the columnar
    snapshot of :mod:`llmdeck_nb.calllog.snapshot`, the frame cache): the file's own id,
    and a ``generation`` that every UPDATE or DELETE of a call row bumps (triggers: by any
    process, any tool). Appends leave it alone: they only add rows with larger ids."""
    conn.execute(f"CREATE TABLE {META_TABLE} (key TEXT PRIMARY KEY, value) WITHOUT ROWID")
    conn.execute(f"INSERT INTO {META_TABLE} VALUES ('log_id', lower(hex(randomblob(16)))), "
                 "('generation', 0)")
    for event in ("UPDATE", "DELETE"):
        conn.execute(
            f"CREATE TRIGGER {TABLE}_{event.lower()}_bumps_generation AFTER {event} ON {TABLE} "
            f"BEGIN UPDATE {META_TABLE} SET value = value + 1 WHERE key = 'generation'; END"
        )


SCHEMA_VERSION = len(MIGRATIONS)


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _check(conn: sqlite3.Connection, version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise CallLogFormatError(
            f"call log {where} was written by a newer llmdeck_nb (schema version {version}; "
            f"this version understands up to {SCHEMA_VERSION})",
            hint="upgrade llmdeck_nb (pip install -U llmdeck-nb), or log to another file",
        )
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    if app_id not in (0, APPLICATION_ID):
        raise CallLogFormatError(
            f"{where} is an SQLite file of another application (application_id {app_id:#x}), "
            "not an llmdeck_nb call log",
            hint="point the call log at another file",
        )
    if version == 0:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
        ).fetchone()
        if exists:
            raise CallLogFormatError(
                f"{where} has a '{TABLE}' table but no call log schema version",
                hint="point the call log at another file",
            )


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction (``BEGIN IMMEDIATE``: the write lock taken at once), committed
    if the block ends normally, rolled back otherwise. ``conn`` is in autocommit mode."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def migrate(conn: sqlite3.Connection, where: str = "(in memory)") -> int:
    """Bring the file up to :data:`SCHEMA_VERSION`; return the version it had before.

    ``conn`` must be in autocommit mode (``isolation_level=None``). ``where`` names the
    file in error messages. Raises :class:`~llmdeck_nb.errors.CallLogFormatError` for a
    file written by a newer schema version or by another application.
    """
    before = user_version(conn)
    _check(conn, before, where)
    if before == SCHEMA_VERSION:
        return before
    with immediate(conn):
        # Re-read under the write lock: another process may have upgraded meanwhile.
        before = user_version(conn)
        _check(conn, before, where)
        for version in range(before + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version - 1](conn)
            conn.execute(f"PRAGMA user_version = {version}")
    return before
