"""Turning what the user passed into chat messages, and what the pre-checks read from them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeGuard

from llmdeck_nb.backends.base import content_text
from llmdeck_nb.errors import RequestRejectedError
from llmdeck_nb.json_types import JsonObject

Messages = list[JsonObject]  # OpenAI-style chat messages

# A rough, provider-independent estimate: about 4 characters per token for English text.
CHARS_PER_TOKEN = 4


def _is_message_list(value: object) -> TypeGuard[Sequence[JsonObject]]:
    return isinstance(value, Sequence) and all(isinstance(m, dict) and "role" in m for m in value)


def build_messages(prompt: str | Sequence[JsonObject], system: str | None = None) -> Messages:
    """A prompt string or an OpenAI-style message list, with ``system`` put first."""
    if isinstance(prompt, str):
        messages: Messages = [{"role": "user", "content": prompt}]
    elif _is_message_list(prompt):
        messages = [dict(m) for m in prompt]
    else:
        raise RequestRejectedError(
            "the prompt must be a string or a list of messages like {'role': 'user', 'content': "
            "'...'}",
            hint="pass a string, or messages in the OpenAI chat format",
        )
    if system:
        messages = [m for m in messages if m["role"] != "system"]
        messages.insert(0, {"role": "system", "content": system})
    return messages


def text_of(messages: Messages) -> str:
    """All text parts joined: what previews, hashes and token estimates read."""
    return "\n".join(content_text(message.get("content")) for message in messages)


def count_parts(messages: Messages, kinds: tuple[str, ...]) -> int:
    """How many content parts of these ``type``s the messages hold."""
    return sum(
        1
        for message in messages
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") in kinds
    )


def count_images(messages: Messages) -> int:
    return count_parts(messages, ("image_url", "image"))


def count_documents(messages: Messages) -> int:
    """PDF documents in the messages (``file`` parts)."""
    return count_parts(messages, ("file", "document"))


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // CHARS_PER_TOKEN)
