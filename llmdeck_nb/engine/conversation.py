"""Conversations: follow-up prompts sent with the exchanges before them.

A :class:`Conversation` is a name and its turns (one user or assistant message each).
:class:`Conversations` holds a session's conversations, one of them current, and keeps
them in the call log file (:mod:`llmdeck_nb.calllog.conversations`), so a conversation
survives a kernel restart and can go on with another model. :func:`prepare` builds the
messages of a call (the history, trimmed to the model's context window, then the new
prompt); :func:`finish` adds the exchange to the conversation and tells the Result what
history went with it. The cache key is built from those messages, so it includes the
history: rerunning the same conversation replays it from the cache.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmdeck_nb.calllog.conversations import ConversationInfo, ConversationStore, StoredTurn
from llmdeck_nb.engine.messages import Messages, build_messages, estimate_tokens, text_of
from llmdeck_nb.engine.result import History
from llmdeck_nb.errors import ConversationError

if TYPE_CHECKING:
    from llmdeck_nb.calllog.store import CallLog
    from llmdeck_nb.deck import Resolution
    from llmdeck_nb.engine.caller import Prompt
    from llmdeck_nb.engine.result import Result

DEFAULT_NAME = "chat"
Content = str | list[dict[str, Any]]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class Conversation:
    """A named list of turns; ``messages()`` is what a follow-up sends before its prompt."""

    name: str
    turns: list[StoredTurn] = field(default_factory=list)

    def messages(self) -> Messages:
        return [{"role": turn.role, "content": turn.content} for turn in self.turns]

    @property
    def tokens(self) -> int:
        """Estimated tokens of the whole history (the answers' reported counts where known)."""
        return sum(turn.tokens or estimate_tokens(text_of([{"content": turn.content}]))
                   for turn in self.turns)

    def __len__(self) -> int:
        return len(self.turns)

    def __repr__(self) -> str:
        return f"Conversation({self.name!r}, {len(self.turns)} turns, ~{self.tokens:,} tokens)"


@dataclass(frozen=True, slots=True)
class Prepared:
    """A chat call ready to send: its messages, and what to record once it is answered."""

    conversation: Conversation
    content: Content
    messages: Messages
    history: History
    note: str | None  # why history was left out, if it was


class Conversations:
    """A session's conversations; one is current. Loaded from the log file on first use."""

    def __init__(self, log: CallLog) -> None:
        self.store = ConversationStore(log)
        self._current: str | None = None
        self._loaded: dict[str, Conversation] = {}

    @property
    def current(self) -> Conversation:
        """The current conversation: after a restart, the one used last."""
        if self._current is None:
            stored = self.store.conversations()
            self._current = stored[0].name if stored else DEFAULT_NAME
        return self.get(self._current)

    def get(self, name: str) -> Conversation:
        conversation = self._loaded.get(name)
        if conversation is None:
            conversation = self._loaded[name] = Conversation(name, self.store.load(name))
        return conversation

    def names(self) -> list[str]:
        stored = [info.name for info in self.store.conversations()]
        return stored + [n for n in self._loaded if n not in stored]

    def new(self, name: str | None = None) -> tuple[Conversation, int]:
        """Start ``name`` (default: the next free ``chat-N``) empty and make it current;
        also how many earlier turns of that name were dropped (a rerun notebook starts over)."""
        if name is None:
            taken = set(self.names()) | {self.current.name}
            name = next(f"chat-{n}" for n in range(2, len(taken) + 3) if f"chat-{n}" not in taken)
        _check_name(name)
        dropped = self.store.delete(name)
        self._loaded[name] = Conversation(name)
        self._current = name
        return self._loaded[name], dropped

    def switch(self, name: str) -> Conversation:
        if name not in self.names():
            known = ", ".join(self.names()) or "none yet"
            raise ConversationError(f"no conversation named {name!r} (conversations: {known})",
                                    hint=f"start it with %llm_chat new {name}")
        self._current = name
        return self.get(name)

    def drop(self, count: int, name: str | None = None) -> int:
        """Forget the last ``count`` turns (a prompt and its answer are two turns)."""
        conversation = self.get(name) if name else self.current
        dropped = self.store.drop_last(conversation.name, count)
        del conversation.turns[len(conversation.turns) - dropped:]
        return dropped

    def listing(self) -> list[ConversationInfo]:
        """Every conversation, most recently used first (the current one even if empty)."""
        stored = self.store.conversations()
        if self.current.name not in {info.name for info in stored}:
            stored.insert(0, ConversationInfo(self.current.name, 0, 0, 0))
        return stored

    def record(self, prepared: Prepared, result: Result) -> None:
        turns = [StoredTurn("user", prepared.content,
                            tokens=estimate_tokens(text_of(prepared.messages[-1:]))),
                 StoredTurn("assistant", result.text, result.model, result.call_id,
                            result.output_tokens)]
        self.store.append(prepared.conversation.name, turns)
        prepared.conversation.turns.extend(turns)


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ConversationError(f"{name!r} is not a conversation name",
                                hint="use letters, digits, '_', '-' or '.' (e.g. trip-plan)")


def prepare(conversation: Conversation, prompt: Prompt, resolution: Resolution,
            system: str | None) -> Prepared:
    """The history and the new prompt as messages, the oldest turns left out (a prompt and
    its answer together) until the estimate fits every candidate's context window."""
    content: Content = prompt if isinstance(prompt, str) else [dict(part) for part in prompt]
    history = conversation.messages()
    window, label, reserve = _smallest_window(resolution)
    new = {"role": "user", "content": content}
    messages = build_messages([*history, new], system)
    dropped = 0
    while window is not None and history and estimate_tokens(text_of(messages)) + reserve > window:
        cut = 2 if len(history) > 1 and history[1]["role"] == "assistant" else 1
        history, dropped = history[cut:], dropped + cut
        messages = build_messages([*history, new], system)
    note = None
    if dropped:
        note = (f"history trimmed: the {dropped} oldest turns left out to fit {label}'s context "
                f"window of {window:,} tokens")
    kept = History(conversation.name, len(history), estimate_tokens(text_of(history))
                   if history else 0, dropped)
    return Prepared(conversation, content, messages, kept, note)


def _smallest_window(resolution: Resolution) -> tuple[int | None, str, int]:
    """(context window, whose, tokens kept for the answer) of the tightest candidate."""
    best: tuple[int | None, str, int] = (None, "", 0)
    for candidate in resolution.candidates:
        window = candidate.spec.context_window
        if window is not None and (best[0] is None or window < best[0]):
            max_tokens = candidate.params.get("max_tokens")
            best = (window, candidate.model, max_tokens if isinstance(max_tokens, int) else 0)
    return best


def finish(conversations: Conversations, prepared: Prepared, result: Result) -> Result:
    """Add the exchange to the conversation; the Result says what history went with it."""
    conversations.record(prepared, result)
    result.history = prepared.history
    if prepared.note:
        result.adjustments = (*result.adjustments, prepared.note)
    return result


@functools.cache
def call_options(call: Callable[..., object]) -> frozenset[str]:
    """The named options of ``call`` (:meth:`Session.acomplete`; the rest of its keywords
    are generation parameters), read from its signature so a new option is never sent as
    one. The session passes its method in, so this module does not import it."""
    import inspect

    named = inspect.signature(call).parameters.values()
    keywords = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(p.name for p in named if p.kind in keywords) - {"self", "prompt", "model"}


def split_options(options: dict[str, Any],
                  call: Callable[..., object]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(call options, generation parameters) of ``call``'s (Session.acomplete) keywords."""
    named = call_options(call)
    return ({k: v for k, v in options.items() if k in named},
            {k: v for k, v in options.items() if k not in named})


__all__ = ["DEFAULT_NAME", "Conversation", "Conversations", "Prepared", "finish", "prepare",
           "split_options"]
