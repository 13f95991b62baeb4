"""What ``%llm_chat`` prints and shows: conversations, their turns, what changed."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from llmdeck_nb.notebook.display import FOOTER_STYLE

if TYPE_CHECKING:
    from llmdeck_nb.calllog.conversations import ConversationInfo
    from llmdeck_nb.engine.conversation import Conversation

CONTINUE = "%%llm --chat cells continue it"


def _turns(count: int) -> str:
    return "1 turn" if count == 1 else f"{count} turns"


def started(conversation: Conversation, dropped: int) -> str:
    again = f" (started over: {_turns(dropped)} forgotten)" if dropped else ""
    return f"llmdeck: conversation '{conversation.name}' is new and current{again}; {CONTINUE}"


def switched(conversation: Conversation) -> str:
    return (f"llmdeck: conversation '{conversation.name}' is current ({_turns(len(conversation))}, "
            f"~{conversation.tokens:,} tokens); {CONTINUE}")


def dropped(count: int, conversation: Conversation) -> str:
    return (f"llmdeck: forgot the last {_turns(count)} of '{conversation.name}'; "
            f"{_turns(len(conversation))} left")


def turn_count(value: str | None) -> int:
    if value is None:
        return 2
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise UsageError(f"%llm_chat drop takes a number of turns (1 or more), got {value!r}")
    return count


def listing(infos: Sequence[ConversationInfo], current: str) -> str:
    """One line per conversation, ``*`` on the current one."""
    width = max(len(info.name) for info in infos)
    lines = []
    for info in infos:
        mark = "*" if info.name == current else " "
        when = (datetime.fromtimestamp(info.last_used_us / 1e6, timezone.utc).astimezone()
                .strftime("last used %Y-%m-%d %H:%M:%S") if info.last_used_us else "empty")
        lines.append(f"{mark} {info.name:<{width}}  {_turns(info.turns):>9}  ~{info.tokens:>6,} "
                     f"tokens  {when}")
    return "\n".join(lines)


def _content_text(content: str | list[dict[str, Any]]) -> str:
    if isinstance(content, str):
        return content
    pieces = []
    for part in content:
        if part.get("type") == "text":
            pieces.append(part.get("text", ""))
        elif part.get("type") == "image_url":
            pieces.append("[image]")
        else:
            filename = part.get("file", {}).get("filename", "")
            pieces.append(f"[document {filename}]".replace(" ]", "]"))
    return "\n".join(pieces)


def show(conversation: Conversation) -> None:
    """The turns as a transcript: Markdown in Jupyter, plain text elsewhere."""
    from IPython.display import display

    if not conversation.turns:
        text = f"conversation '{conversation.name}' has no turns yet; {CONTINUE}"
        display({"text/plain": text,
                 "text/html": f'<div style="{FOOTER_STYLE}">{html.escape(text)}</div>'}, raw=True)
        return
    plain, markdown = [], []
    for number, turn in enumerate(conversation.turns, 1):
        who = "you" if turn.role == "user" else (turn.model or turn.role)
        body = _content_text(turn.content)
        plain.append(f"[{number}] {who}: {body}")
        markdown.append(f"**{number}. {html.escape(who)}**\n\n{body}")
    summary = (f"conversation '{conversation.name}': {_turns(len(conversation))}, "
               f"~{conversation.tokens:,} tokens")
    display({"text/plain": "\n\n".join([*plain, summary]),
             "text/markdown": "\n\n---\n\n".join(markdown)
             + f"\n\n<sub>{html.escape(summary)}</sub>"},
            raw=True)


__all__ = ["dropped", "listing", "show", "started", "switched", "turn_count"]
