"""``NOT_GIVEN``: an argument left out, told apart from ``None``.

Where ``None`` is a real choice ("no time limit", "no budget"), a default cannot be applied
with ``value or default`` / ``default if value is None``: the caller could never choose
``None``. Such parameters default to :data:`NOT_GIVEN` instead, as httpx's
``USE_CLIENT_DEFAULT`` and the openai SDK's ``NOT_GIVEN`` do::

    Session(budget_usd=None)        # no session limit, whatever the deck's [budget] says
    Session()                       # the deck's [budget] session_usd
    session.complete(p, timeout=None)   # no per-attempt time limit for this call
    session.complete(p)                 # the model's, the backend's, the session's
"""

from __future__ import annotations

from typing import Final, TypeVar, final

T = TypeVar("T")


@final
class NotGiven:
    """The type of :data:`NOT_GIVEN`; test it with ``isinstance``. Truth tests are refused, so
    a stray ``value or default`` fails loudly instead of treating "not given" like ``None``."""

    def __bool__(self) -> bool:
        raise TypeError("NOT_GIVEN has no truth value: test it with isinstance(x, NotGiven)")

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __reduce__(self) -> str:
        return "NOT_GIVEN"  # a pickled copy is the same object


NOT_GIVEN: Final = NotGiven()


def given_or(value: T | NotGiven, default: T) -> T:
    """``value`` when the caller gave one (``None`` included), else ``default``."""
    return default if isinstance(value, NotGiven) else value


__all__ = ["NOT_GIVEN", "NotGiven", "given_or"]
