"""Persistent call log: one :class:`CallRecord` per call attempt, stored by :class:`CallLog`
in SQLite and read back as a pandas DataFrame (pandas is imported only when a frame is
built)."""

from llmdeck_nb.calllog.records import (
    COLUMNS,
    PREVIEW_CHARS,
    CallRecord,
    hash_prompt,
    new_call_id,
    truncate,
)
from llmdeck_nb.calllog.schema import SCHEMA_VERSION
from llmdeck_nb.calllog.store import CallLog

__all__ = [
    "COLUMNS",
    "PREVIEW_CHARS",
    "SCHEMA_VERSION",
    "CallLog",
    "CallRecord",
    "hash_prompt",
    "new_call_id",
    "truncate",
]
