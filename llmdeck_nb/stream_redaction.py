"""Redaction for text that leaves the engine piece by piece (stream deltas).

A key can arrive split across chunks (``"SENTI"`` then ``"NEL-openai..."``): each piece on
its own looks clean. Keys contain no whitespace, so a key that is not complete yet can only
be the trailing run of non-space characters: :class:`StreamRedactor` holds that run back
(at most :func:`~llmdeck_nb.redaction.longest_secret` characters, more while a key-shaped
match keeps growing) and passes everything before it on, redacted. Matches are looked for
with some already-sent text in front, so a label sent earlier (``Bearer ``, ``api_key=``)
still marks what follows it. :meth:`StreamRedactor.flush` releases the rest at the end.
"""

from __future__ import annotations

from collections.abc import Callable

from llmdeck_nb.redaction import REDACTED, longest_secret, redact, secret_spans

CONTEXT_CHARS = 48  # sent text kept in front of the next scan (labels such as "x-api-key: ")


class StreamRedactor:
    """Wraps a text callback: what reaches it is redacted, whatever the chunking."""

    __slots__ = ("_context", "_emit", "_pending", "emitted")

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._context = ""  # the end of what was already passed on (raw)
        self._pending = ""  # received, not passed on yet (raw)
        self.emitted = False  # whether any text reached the callback (a retry must reset it)

    def __call__(self, delta: str) -> None:
        pending = self._pending + delta
        stripped = pending.rstrip()
        if stripped == pending:  # ends inside a word: hold that word (it may be a key's start)
            run = len(pending) - max(pending.rfind(c) for c in " \n\t\r")
            self._release(pending, len(pending) - min(run - 1, longest_secret()))
        else:
            self._release(pending, len(pending))

    def flush(self) -> None:
        """The answer is complete: pass on what was held back."""
        self._release(self._pending, len(self._pending), final=True)

    def discard(self) -> None:
        """The attempt failed: drop what was held back (it is never shown)."""
        self._pending = ""

    def _release(self, pending: str, cut: int, final: bool = False) -> None:
        """Pass on ``pending[:cut]`` redacted (less if a match is still growing)."""
        window = self._context + pending
        offset = len(self._context)
        spans: list[tuple[int, int]] = []
        for start, end in sorted(secret_spans(window)):
            start, end = start - offset, end - offset
            if end <= 0:
                continue  # wholly in text already passed on
            if start >= cut:
                break
            if end >= len(pending) and not final:  # may still grow: wait for its end
                cut = max(start, 0)
                break
            cut = max(cut, end)
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
            else:
                spans.append((start, end))
        out, position = [], 0
        for start, end in spans:
            if start >= cut:
                break
            if start > position:
                out.append(pending[position:start])
            piece = pending[max(start, 0):end]
            cleaned = redact(piece) if start >= 0 else REDACTED
            out.append(cleaned if cleaned != piece else REDACTED)
            position = end
        out.append(pending[position:cut])
        self._context = (self._context + pending[:cut])[-CONTEXT_CHARS:]
        self._pending = pending[cut:]
        text = "".join(out)
        if text:
            self.emitted = True
            self._emit(text)


__all__ = ["StreamRedactor"]
