"""What :mod:`.compare` and :mod:`.batch` need of a Session, as a :class:`typing.Protocol`.

They are called by :class:`~llmdeck_nb.engine.session.Session` and call it back; typing
them against this protocol instead of the class keeps ``engine/session.py`` out of their
imports (no import circle), and lets any object with these members drive them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from llmdeck_nb.json_types import JsonObject

if TYPE_CHECKING:
    from llmdeck_nb.deck.resolution import Resolution
    from llmdeck_nb.engine.result import Result

#: a prompt: text, or chat messages (``{"role": ..., "content": ...}``)
Prompt = str | Sequence[JsonObject]


class Caller(Protocol):
    """The members of a Session that a comparison or a batch uses."""

    @property
    def profile(self) -> str:
        """The routing profile calls use when they name none."""

    @property
    def default_model(self) -> str | None:
        """The handle calls use when they name none (None: the deck's choice)."""

    def resolve(self, model: str | None = None, preset: str | None = None,
                profile: str | None = None, *, structured: bool = False,
                **params: Any) -> Resolution:
        """What a call with these arguments would use (nothing is sent)."""

    async def acomplete(self, prompt: Prompt, model: str | None = None,
                        **options: Any) -> Result:
        """One call: the Result, or an LLMDeckError."""


__all__ = ["Caller", "Prompt"]
