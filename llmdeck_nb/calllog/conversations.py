"""The turns of notebook conversations, stored in the call log file (table
``conversation_turns``, see :mod:`llmdeck_nb.calllog.schema`), so a conversation survives a
kernel restart and sits next to the calls it made.

Like the calls table, every text stored passes through :func:`llmdeck_nb.redaction.redact`
here (the text parts of a message; image and document parts are kept as sent).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmdeck_nb.calllog.schema import CONVERSATIONS_TABLE as TABLE
from llmdeck_nb.calllog.store import CallLog
from llmdeck_nb.redaction import redact


@dataclass(frozen=True, slots=True)
class StoredTurn:
    """One message of a conversation as stored: ``content`` is a string or a list of parts."""

    role: str
    content: str | list[dict[str, Any]]
    model: str | None = None
    call_id: str | None = None
    tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    name: str
    turns: int
    tokens: int
    last_used_us: int


def _redacted(content: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return redact(content)
    return [{**part, "text": redact(part["text"])} if isinstance(part.get("text"), str) else part
            for part in content]


class ConversationStore:
    """Read and write conversation turns in one :class:`CallLog`'s file."""

    def __init__(self, log: CallLog) -> None:
        self.log = log

    def load(self, name: str) -> list[StoredTurn]:
        rows = self.log.query(f"SELECT role, content, model, call_id, tokens FROM {TABLE} "
                              "WHERE conversation = ? ORDER BY id", (name,))
        return [StoredTurn(role, json.loads(content), model, call_id, tokens)
                for role, content, model, call_id, tokens in rows]

    def append(self, name: str, turns: Sequence[StoredTurn]) -> None:
        """Store ``turns`` at the end of ``name`` (one statement: all of them or none)."""
        if not turns:
            return
        now = time.time_ns() // 1000
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(turns))
        args: list[Any] = []
        for turn in turns:
            args += [name, turn.role, json.dumps(_redacted(turn.content), ensure_ascii=False),
                     turn.model, turn.call_id, turn.tokens, now]
        self.log.query(f"INSERT INTO {TABLE} (conversation, role, content, model, call_id, tokens, "
                       f"created_at) VALUES {values}", args)

    def drop_last(self, name: str, count: int) -> int:
        """Delete the last ``count`` turns of ``name``; how many were deleted."""
        if count <= 0:
            return 0
        ids = [row[0] for row in self.log.query(
            f"SELECT id FROM {TABLE} WHERE conversation = ? ORDER BY id DESC LIMIT ?",
            (name, count))]
        if ids:
            self.log.query(f"DELETE FROM {TABLE} WHERE id IN ({', '.join('?' * len(ids))})", ids)
        return len(ids)

    def delete(self, name: str) -> int:
        return len(self.log.query(f"DELETE FROM {TABLE} WHERE conversation = ? RETURNING id",
                                  (name,)))

    def conversations(self) -> list[ConversationInfo]:
        """Every stored conversation, most recently used first."""
        rows = self.log.query("SELECT conversation, count(*), ifnull(sum(tokens), 0), "
                              f"max(created_at) FROM {TABLE} GROUP BY conversation "
                              "ORDER BY max(id) DESC")
        return [ConversationInfo(*row) for row in rows]


__all__ = ["ConversationInfo", "ConversationStore", "StoredTurn"]
